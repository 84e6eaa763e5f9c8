package analyzer

import (
	"slices"
	"sync"

	"github.com/ctdiag/ctdiag/internal/radix"
)

// addrTally counts addresses, or address and port pairs, one per entry of a
// sample. IPv4 keys (address<<16 | port) are appended to fixed-size blocks
// (appending never copies) and counted only when a ranking is asked for, or
// when the blocks hold as many keys as were counted so far (at least
// compactMin), by a radix sort and a count of runs: appending costs a few
// nanoseconds, where any hash table holding a busy table's tens of
// thousands of peers misses the cache on nearly every entry. The counted
// runs keep one key and its count per distinct key, so memory follows the
// number of different peers, never the length of the input (a dump of one
// line repeated a billion times holds one run), and the keys waiting are
// never many more than the runs: a million entries to one destination wait
// as 65,536 keys, not a million. Only the last sample is ranked, so earlier
// samples drop their keys. IPv6 keys, far fewer in practice, go to a small
// hash table.
type addrTally struct {
	blocks  [][]uint64
	spare   [][]uint64 // emptied blocks, for the keys that come next
	pending int        // keys in blocks
	runs    []uint64   // distinct keys counted so far, sorted
	counts  []uint32   // how many of each
	v6      counts[addrPortKey]
}

// tallyBlock keys per block: 128 KiB.
const tallyBlock = 1 << 14

// compactMin is how many keys at least wait in blocks before they are
// counted: 512 KiB. Waiting for as many as were counted before keeps the
// merging of runs linear in the keys.
const compactMin = 1 << 16

func (t *addrTally) add(k addrKey, port uint16) {
	if !k.v4 {
		t.v6.add(k.hashWith(port), addrPortKey{k, port})
		return
	}
	n := len(t.blocks)
	if n == 0 || len(t.blocks[n-1]) == cap(t.blocks[n-1]) {
		if t.pending >= max(compactMin, len(t.runs)) {
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
	t.blocks[n-1] = append(t.blocks[n-1], uint64(uint32(k.lo))<<16|uint64(port))
	t.pending++
}

// drop frees the keys; the tally counts nothing afterwards.
func (t *addrTally) drop() {
	t.blocks, t.spare, t.pending, t.runs, t.counts = nil, nil, 0, nil, nil
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
		if len(t.spare) < compactMin/tallyBlock {
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

// distinct counts the different keys.
func (t *addrTally) distinct() int {
	t.compact()
	return t.v6.used + len(t.runs)
}

// top ranks the keys: largest count first, ties by address then port,
// IPv4 before IPv6.
func (t *addrTally) top(n int) []ranked[addrPortKey] {
	if n <= 0 {
		return nil
	}
	t.compact()
	out := make([]ranked[addrPortKey], 0, n+1)
	for i, k := range t.runs {
		out = insertRanked(out, ranked[addrPortKey]{v4Key(k), int(t.counts[i])}, n)
	}
	for _, r := range t.v6.top(n, cmpAddrPortKey) {
		out = insertRanked(out, r, n)
	}
	return out
}

// v4Key turns an appended IPv4 key back into an address and port.
func v4Key(k uint64) addrPortKey {
	a := uint32(k >> 16)
	return addrPortKey{addrKey{lo: 0xffff<<32 | uint64(a), v4: true}, uint16(k)}
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
