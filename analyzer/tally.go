package analyzer

import (
	"sync"

	"github.com/ctdiag/ctdiag/internal/radix"
)

// addrTally counts addresses, or address and port pairs, one per entry of a
// sample. IPv4 keys (address<<16 | port) are appended to fixed-size blocks
// (appending never copies) and counted only when a ranking is asked for, by
// a radix sort and a count of runs: appending costs a few nanoseconds, where
// any hash table holding a busy table's tens of thousands of peers misses
// the cache on nearly every entry. Only the last sample is ranked, so
// earlier samples drop their keys. IPv6 keys, far fewer in practice, go to a
// small hash table.
type addrTally struct {
	blocks [][]uint64
	sorted bool // blocks is one sorted block
	v6     counts[addrPortKey]
}

// tallyBlock keys per block: 128 KiB.
const tallyBlock = 1 << 14

func (t *addrTally) add(k addrKey, port uint16) {
	if !k.v4 {
		t.v6.add(k.hashWith(port), addrPortKey{k, port})
		return
	}
	n := len(t.blocks)
	if n == 0 || len(t.blocks[n-1]) == cap(t.blocks[n-1]) || t.sorted {
		t.blocks = append(t.blocks, make([]uint64, 0, tallyBlock))
		t.sorted = false
		n++
	}
	t.blocks[n-1] = append(t.blocks[n-1], uint64(uint32(k.lo))<<16|uint64(port))
}

// drop frees the keys; the tally counts nothing afterwards.
func (t *addrTally) drop() {
	t.blocks, t.sorted = nil, false
	t.v6.drop()
}

// keys gathers the IPv4 keys into one sorted slice.
func (t *addrTally) keys() []uint64 {
	if t.sorted {
		return t.blocks[0]
	}
	total := 0
	for _, b := range t.blocks {
		total += len(b)
	}
	all := make([]uint64, 0, total)
	for _, b := range t.blocks {
		all = append(all, b...)
	}
	radix.Uint64s(all)
	t.blocks, t.sorted = [][]uint64{all}, true
	return all
}

// distinct counts the different keys.
func (t *addrTally) distinct() int {
	n := t.v6.used
	if len(t.blocks) > 0 {
		keys := t.keys()
		for i := range keys {
			if i == 0 || keys[i] != keys[i-1] {
				n++
			}
		}
	}
	return n
}

// top ranks the keys: largest count first, ties by address then port,
// IPv4 before IPv6.
func (t *addrTally) top(n int) []ranked[addrPortKey] {
	if n <= 0 {
		return nil
	}
	out := make([]ranked[addrPortKey], 0, n+1)
	if len(t.blocks) > 0 {
		keys := t.keys()
		for i := 0; i < len(keys); {
			j := i + 1
			for j < len(keys) && keys[j] == keys[i] {
				j++
			}
			out = insertRanked(out, ranked[addrPortKey]{v4Key(keys[i]), j - i}, n)
			i = j
		}
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
		if len(t.blocks) > 1 || len(t.blocks) == 1 && !t.sorted {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.keys()
			}()
		}
	}
	wg.Wait()
}
