package analyzer

import (
	"sync"

	"github.com/ctdiag/ctdiag/internal/radix"
)

// addrTally counts addresses, or address and port pairs, one per entry of a
// sample. IPv4 keys (address<<16 | port) are appended to fixed-size blocks
// (appending never copies) and counted only when a ranking is asked for, or
// when the blocks hold compactAt keys, by a radix sort and a count of runs:
// appending costs a few nanoseconds, where any hash table holding a busy
// table's tens of thousands of peers misses the cache on nearly every
// entry. The counted runs keep one key and its count per distinct key, so
// memory follows the number of different peers, never the length of the
// input (a dump of one line repeated a billion times holds one run). Only
// the last sample is ranked, so earlier samples drop their keys. IPv6 keys,
// far fewer in practice, go to a small hash table.
type addrTally struct {
	blocks  [][]uint64
	pending int      // keys in blocks
	runs    []uint64 // distinct keys counted so far, sorted
	counts  []uint32 // how many of each
	v6      counts[addrPortKey]
}

// tallyBlock keys per block: 128 KiB.
const tallyBlock = 1 << 14

// compactAt is how many keys wait in blocks before they are counted: 8 MiB.
const compactAt = 1 << 20

func (t *addrTally) add(k addrKey, port uint16) {
	if !k.v4 {
		t.v6.add(k.hashWith(port), addrPortKey{k, port})
		return
	}
	n := len(t.blocks)
	if n == 0 || len(t.blocks[n-1]) == cap(t.blocks[n-1]) {
		if t.pending >= compactAt {
			t.compact()
			n = 0
		}
		t.blocks = append(t.blocks, make([]uint64, 0, tallyBlock))
		n++
	}
	t.blocks[n-1] = append(t.blocks[n-1], uint64(uint32(k.lo))<<16|uint64(port))
	t.pending++
}

// drop frees the keys; the tally counts nothing afterwards.
func (t *addrTally) drop() {
	t.blocks, t.pending, t.runs, t.counts = nil, 0, nil, nil
	t.v6.drop()
}

// compact counts the keys waiting in blocks into the runs.
func (t *addrTally) compact() {
	if t.pending == 0 {
		return
	}
	all := make([]uint64, 0, t.pending)
	for _, b := range t.blocks {
		all = append(all, b...)
	}
	t.blocks, t.pending = nil, 0
	radix.Uint64s(all)
	runs := make([]uint64, 0, len(t.runs)+len(all)/4)
	counts := make([]uint32, 0, cap(runs))
	push := func(k uint64, n uint32) {
		if l := len(runs); l > 0 && runs[l-1] == k {
			counts[l-1] += n
			return
		}
		runs, counts = append(runs, k), append(counts, n)
	}
	i := 0
	for j := 0; j < len(all); {
		k := all[j]
		e := j + 1
		for e < len(all) && all[e] == k {
			e++
		}
		for i < len(t.runs) && t.runs[i] < k {
			push(t.runs[i], t.counts[i])
			i++
		}
		push(k, uint32(e-j))
		j = e
	}
	for ; i < len(t.runs); i++ {
		push(t.runs[i], t.counts[i])
	}
	t.runs, t.counts = runs, counts
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
