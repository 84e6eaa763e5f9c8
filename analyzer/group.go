package analyzer

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"sort"

	"github.com/ctdiag/ctdiag/track"
)

// group gathers the entries one rule is about, in one sample: how many,
// where they go and come from, how old, and a few examples.
type group struct {
	count    int
	tag      uint16    // the group's bit in the tags of the sample's tallies
	dst      tallyView // original destination address and port
	src      tallyView // original source address
	oldest   float64   // seconds
	sumAge   float64
	examples []example
}

// example is an entry kept to show. The oldest are kept (ties broken by
// tuple hash), so the choice does not depend on the order entries came in.
type example struct {
	age  float64
	hash uint64
	flow track.Flow
}

// entryKeys are an entry's addresses as keys, made once per entry for
// every tally that counts it.
type entryKeys struct {
	src, dst addrKey
	dstPort  uint16
	tags     uint16 // the groups the entry fell in
}

func keysOf(t *track.Tuple) entryKeys {
	return entryKeys{src: keyOf(t.Src), dst: keyOf(t.Dst), dstPort: t.DstPort}
}

// add counts an entry in the group; k is nil when the sample is not
// ranked (its peers are not tallied).
func (g *group) add(f *track.Flow, k *entryKeys, age float64, h uint64, keep int) {
	g.count++
	if k != nil {
		k.tags |= g.tag
	}
	g.sumAge += age
	if age > g.oldest {
		g.oldest = age
	}
	if len(g.examples) == keep && !older(age, h, g.examples[keep-1]) {
		return
	}
	e := example{age: age, hash: h, flow: f.Clone()}
	i := sort.Search(len(g.examples), func(i int) bool { return older(age, h, g.examples[i]) })
	if len(g.examples) < keep {
		g.examples = append(g.examples, example{})
	}
	copy(g.examples[i+1:], g.examples[i:len(g.examples)-1])
	g.examples[i] = e
}

func older(age float64, h uint64, than example) bool {
	return age > than.age || age == than.age && h < than.hash
}

func (g *group) meanAge() float64 {
	if g.count == 0 {
		return 0
	}
	return g.sumAge / float64(g.count)
}

// counts tallies keys in an open-addressing table of 16-byte slots
// (linear probing on the caller's 64-bit hash), the keys themselves kept
// aside in the order first seen. A busy table's sources number tens of
// thousands; small slots keep the probing in cache, which decides the cost
// here. A key is known by its hash alone: two keys of a million sharing a
// 64-bit hash would merge, a chance of about 3 in 10^8.
type counts[K comparable] struct {
	slots []countSlot
	keys  []K
	used  int
}

type countSlot struct {
	h   uint64
	n   int32 // 0: empty
	key int32 // index into keys
}

func (c *counts[K]) add(h uint64, k K) { c.addN(h, k, 1) }

// addN counts k n times.
func (c *counts[K]) addN(h uint64, k K, n int32) {
	if 4*(c.used+1) > 3*len(c.slots) {
		c.grow()
	}
	mask := uint64(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &c.slots[i]
		switch {
		case s.n == 0:
			*s = countSlot{h: h, n: n, key: int32(len(c.keys))}
			c.keys = append(c.keys, k)
			c.used++
			return
		case s.h == h:
			s.n += n
			return
		}
	}
}

func (c *counts[K]) grow() {
	old := c.slots
	c.slots = make([]countSlot, max(64, 2*len(old)))
	mask := uint64(len(c.slots) - 1)
	for _, s := range old {
		if s.n == 0 {
			continue
		}
		i := s.h & mask
		for c.slots[i].n != 0 {
			i = (i + 1) & mask
		}
		c.slots[i] = s
	}
}

// top ranks the keys, largest count first, ties by cmp.
func (c *counts[K]) top(n int, cmp func(a, b K) int) []ranked[K] {
	if n <= 0 {
		return nil
	}
	out := make([]ranked[K], 0, n+1)
	for _, s := range c.slots {
		if s.n != 0 {
			out = keepBest(out, ranked[K]{c.keys[s.key], int(s.n)}, n, func(a, b K) bool { return cmp(a, b) < 0 })
		}
	}
	return out
}

// drop frees the table; the analyzer ranks only the last sample.
func (c *counts[K]) drop() { c.slots, c.keys, c.used = nil, nil, 0 }

// addrKey is an address as a map key without pointers: netip.Addr holds
// a zone handle, which makes the runtime hash and scan it the slow way, and
// a group may count a million of them.
type addrKey struct {
	hi, lo uint64
	v4     bool
}

func keyOf(a netip.Addr) addrKey {
	if a.Is4() { // the common case, without the 16-byte detour
		b := a.As4()
		return addrKey{lo: 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:])), v4: true}
	}
	b := a.As16()
	return addrKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), a.Is4()}
}

func (k addrKey) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	a := netip.AddrFrom16(b)
	if k.v4 {
		return a.Unmap()
	}
	return a
}

func (k addrKey) hashWith(port uint16) uint64 { return mix(k.hi, k.lo^uint64(port)<<48) }

// cmpAddrKey orders IPv4 before IPv6, then by address.
func cmpAddrKey(a, b addrKey) int {
	switch {
	case a.v4 != b.v4:
		if a.v4 {
			return -1
		}
		return 1
	case a.hi != b.hi:
		return cmp.Compare(a.hi, b.hi)
	}
	return cmp.Compare(a.lo, b.lo)
}

// addrPortKey is an address and port as a map key.
type addrPortKey struct {
	addrKey
	port uint16
}

func (k addrPortKey) addrPort() netip.AddrPort { return netip.AddrPortFrom(k.addr(), k.port) }

func cmpAddrPortKey(a, b addrPortKey) int {
	if c := cmpAddrKey(a.addrKey, b.addrKey); c != 0 {
		return c
	}
	return cmp.Compare(a.port, b.port)
}

// ranked is one key of a ranking with its count.
type ranked[K any] struct {
	key   K
	count int
}

// topN ranks a map by the count of each value, largest first, ties broken
// by less on the keys so the order never depends on map iteration. It keeps
// only the n best while scanning: the maps hold up to a million keys.
func topN[K comparable, V any](m map[K]V, n int, less func(a, b K) bool, count func(V) int) []ranked[K] {
	if n <= 0 {
		return nil
	}
	out := make([]ranked[K], 0, n+1)
	for k, v := range m {
		out = keepBest(out, ranked[K]{k, count(v)}, n, less)
	}
	return out
}

// countOf reads plain counts for topN.
func countOf[V int | int32](v V) int { return int(v) }

func lessString(a, b string) bool { return a < b }
