package analyzer

import (
	"slices"
	"sync"

	"github.com/ctdiag/ctdiag/internal/radix"
)

// addrTally counts addresses with their ports, one per entry of a sample,
// and with each key the tags of the groups the entry fell in (group.tag):
// one tally serves the sample's ranking and every group's, which are views
// of it (tallyView), so an entry is appended once however many rankings
// count it. IPv4 keys (address<<32 | port<<16 | tags) are appended to
// fixed-size blocks (appending never copies) and counted only when a
// ranking is asked for, or when the blocks hold as many keys as were
// counted so far (at least batch), by a radix sort and a count of
// runs: appending costs a few nanoseconds, where any hash table holding a
// busy table's tens of thousands of peers misses the cache on nearly every
// entry. The counted runs keep one key and its count per distinct key, so
// memory follows the number of different peers, never the length of the
// input (a dump of one line repeated a billion times holds one run), and
// the keys waiting are never many more than the runs: a million entries to
// one destination wait as batch keys at most. Only the last sample
// is ranked, so earlier samples drop their keys. IPv6 keys, far fewer in
// practice, go to a small hash table.
type addrTally struct {
	blocks  [][]uint64
	spare   [][]uint64 // emptied blocks, for the keys that come next
	pending int        // keys in blocks
	runs    []uint64   // distinct keys counted so far, sorted
	counts  []uint32   // how many of each
	batch   int        // keys waiting at least before a count; 0: defaultTallyBatch
	v6      counts[taggedKey]
	// memo keeps each view's ranking once counted: a report asks the same
	// views several times, and each asks walks every run.
	memo map[tallyView]viewRanking
}

// viewRanking is a view's best keys (up to memoTop) and how many it has.
type viewRanking struct {
	best     []ranked[addrPortKey]
	distinct int
}

// memoTop is how many keys a view keeps ranked: more than any ranking of
// a report asks for by default.
const memoTop = 16

// taggedKey is an IPv6 key of a tally: address, port and group tags.
type taggedKey struct {
	addrPortKey
	tags uint16
}

// tallyBlock keys per block: 128 KiB.
const tallyBlock = 1 << 14

// defaultTallyBatch is how many keys at least wait in blocks before they
// are counted (Options.TallyBatch): 8 MiB, so a report of up to a million
// entries counts each tally once, at its end, on both cores
// (prepareRankings). Waiting for as many as were counted before keeps the
// merging of runs linear in the keys.
const defaultTallyBatch = 1 << 20

func (t *addrTally) add(k addrKey, port, tags uint16) {
	t.memo = nil
	if !k.v4 {
		t.v6.add(mix(k.hashWith(port), uint64(tags)), taggedKey{addrPortKey{k, port}, tags})
		return
	}
	n := len(t.blocks)
	if n == 0 || len(t.blocks[n-1]) == cap(t.blocks[n-1]) {
		batch := t.batch
		if batch <= 0 {
			batch = defaultTallyBatch
		}
		if t.pending >= max(batch, len(t.runs)) {
			t.compact()
			n = 0
		}
		if l := len(t.spare); l > 0 {
			t.blocks, t.spare = append(t.blocks, t.spare[l-1]), t.spare[:l-1]
		} else {
			t.blocks = append(t.blocks, make([]uint64, 0, tallyBlock))
		}
		n++
	}
	t.blocks[n-1] = append(t.blocks[n-1], uint64(uint32(k.lo))<<32|uint64(port)<<16|uint64(tags))
	t.pending++
}

// drop frees the keys; the tally counts nothing afterwards.
func (t *addrTally) drop() {
	t.blocks, t.spare, t.pending, t.runs, t.counts, t.memo = nil, nil, 0, nil, nil, nil
	t.v6.drop()
}

// compact counts the keys waiting in blocks into the runs. The sorted keys
// are counted in place first, so the merged runs are made at their final
// size: a tally of a million different peers grown by doubling left three
// times its size behind for the collector.
func (t *addrTally) compact() {
	if t.pending == 0 {
		return
	}
	all := make([]uint64, 0, t.pending)
	for _, b := range t.blocks {
		all = append(all, b...)
		if len(t.spare) < 4 { // enough for the keys that come next, not a hoard
			t.spare = append(t.spare, b[:0])
		}
	}
	t.blocks, t.pending = nil, 0
	radix.Uint64s(all)
	keys, counts := countRuns(all)
	if len(t.runs) == 0 {
		if 2*len(keys) < cap(keys) { // few peers: keep only them
			keys = slices.Clone(keys)
		}
		t.runs, t.counts = keys, counts
		return
	}
	runs := make([]uint64, 0, len(t.runs)+len(keys))
	merged := make([]uint32, 0, cap(runs))
	i, j := 0, 0
	for i < len(t.runs) || j < len(keys) {
		switch {
		case j == len(keys) || i < len(t.runs) && t.runs[i] < keys[j]:
			runs, merged = append(runs, t.runs[i]), append(merged, t.counts[i])
			i++
		case i == len(t.runs) || keys[j] < t.runs[i]:
			runs, merged = append(runs, keys[j]), append(merged, counts[j])
			j++
		default:
			runs, merged = append(runs, keys[j]), append(merged, t.counts[i]+counts[j])
			i, j = i+1, j+1
		}
	}
	t.runs, t.counts = runs, merged
}

// countRuns turns sorted keys into their distinct keys (in place, in the
// front of keys) and how many of each.
func countRuns(keys []uint64) ([]uint64, []uint32) {
	distinct := 0
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			distinct++
		}
	}
	counts := make([]uint32, 0, distinct)
	w := 0
	for i, k := range keys {
		if i > 0 && k == keys[w-1] {
			counts[w-1]++
			continue
		}
		keys[w] = k
		counts = append(counts, 1)
		w++
	}
	return keys[:w], counts
}

// tallyView is what one ranking counts in a tally: the entries carrying
// tag (all of them for tag 0), by address and port or by address alone.
type tallyView struct {
	t     *addrTally
	tag   uint16
	ports bool
}

// each calls fn once for every key of the view with its count, IPv4 keys
// in ascending order.
func (v tallyView) each(fn func(k addrPortKey, n int)) {
	t := v.t
	t.compact()
	// Runs are sorted by address, then port, then tags: the keys a view
	// merges are neighbours.
	mask := ^uint64(0xffff) // drop the tags
	if !v.ports {
		mask = ^uint64(0xffffffff)
	}
	var cur uint64
	sum := 0
	for i, k := range t.runs {
		if v.tag != 0 && uint16(k)&v.tag == 0 {
			continue
		}
		if k&mask != cur && sum > 0 {
			fn(v4Key(cur), sum)
			sum = 0
		}
		cur = k & mask
		sum += int(t.counts[i])
	}
	if sum > 0 {
		fn(v4Key(cur), sum)
	}
	if t.v6.used == 0 {
		return
	}
	var v6 counts[addrPortKey]
	for _, s := range t.v6.slots {
		if s.n == 0 {
			continue
		}
		k := t.v6.keys[s.key]
		if v.tag != 0 && k.tags&v.tag == 0 {
			continue
		}
		if !v.ports {
			k.port = 0
		}
		v6.addN(k.hashWith(k.port), k.addrPortKey, s.n)
	}
	for _, s := range v6.slots {
		if s.n != 0 {
			fn(v6.keys[s.key], int(s.n))
		}
	}
}

// distinct counts the different keys.
func (v tallyView) distinct() int { return v.ranking(memoTop).distinct }

// top ranks the keys: largest count first, ties by address then port,
// IPv4 before IPv6.
func (v tallyView) top(n int) []ranked[addrPortKey] {
	if n <= 0 {
		return nil
	}
	best := v.ranking(n).best
	return slices.Clone(best[:min(n, len(best))])
}

// ranking ranks at least n keys of the view, once per view while nothing
// is added.
func (v tallyView) ranking(n int) viewRanking {
	key := tallyView{tag: v.tag, ports: v.ports} // the memo's own tally aside
	if r, ok := v.t.memo[key]; ok && (n <= len(r.best) || len(r.best) == r.distinct) {
		return r
	}
	n = max(n, memoTop)
	var r viewRanking
	r.best = make([]ranked[addrPortKey], 0, n+1)
	v.each(func(k addrPortKey, c int) {
		r.distinct++
		r.best = insertRanked(r.best, ranked[addrPortKey]{k, c}, n)
	})
	if v.t.memo == nil {
		v.t.memo = map[tallyView]viewRanking{}
	}
	v.t.memo[key] = r
	return r
}

// v4Key turns an appended IPv4 key back into an address and port.
func v4Key(k uint64) addrPortKey {
	a := uint32(k >> 32)
	return addrPortKey{addrKey{lo: 0xffff<<32 | uint64(a), v4: true}, uint16(k >> 16)}
}

// insertRanked keeps out the n best, largest count first, ties by key.
func insertRanked(out []ranked[addrPortKey], r ranked[addrPortKey], n int) []ranked[addrPortKey] {
	return keepBest(out, r, n, func(a, b addrPortKey) bool { return cmpAddrPortKey(a, b) < 0 })
}

// keepBest inserts r into out, the n best so far (largest count first, ties
// by less on the keys), and keeps it at n.
func keepBest[K any](out []ranked[K], r ranked[K], n int, less func(a, b K) bool) []ranked[K] {
	better := func(x, y ranked[K]) bool {
		return x.count > y.count || x.count == y.count && less(x.key, y.key)
	}
	if len(out) == n && !better(r, out[n-1]) {
		return out
	}
	k := len(out)
	for k > 0 && better(r, out[k-1]) {
		k--
	}
	out = append(out, ranked[K]{})
	copy(out[k+1:], out[k:])
	out[k] = r
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// prepareRankings sorts the tallies every analysis ranks (sources and
// destinations of the whole table) side by side: the sort is the one part
// of a sample's analysis that waits until its end.
func (s *sample) prepareRankings() {
	var wg sync.WaitGroup
	for _, t := range []*addrTally{&s.srcs, &s.dsts} {
		if t.pending > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.compact()
			}()
		}
	}
	wg.Wait()
}
