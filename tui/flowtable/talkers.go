package flowtable

import (
	"bytes"
	"cmp"
	"container/heap"
	"fmt"
	"math/bits"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/ctdiag/ctdiag/internal/radix"
	"github.com/ctdiag/ctdiag/track"
)

// Dimension is what talkers are ranked by.
type Dimension uint8

// Dimensions of the talkers ranking.
const (
	BySource      Dimension = iota // original source address
	ByDestination                  // original destination address
	ByDestPort                     // protocol and original destination port
	ByStatePeer                    // state (or status) with source and destination:port
	NumDimensions
)

func (d Dimension) String() string {
	switch d {
	case BySource:
		return "source"
	case ByDestination:
		return "destination"
	case ByDestPort:
		return "destination port"
	case ByStatePeer:
		return "state × peer"
	}
	return "?"
}

// Talker is one key of a ranking.
type Talker struct {
	Key   string
	Count int
	Share float64 // of all entries
	// Filter is the `ctdiag list` filter (the TUI's / prompt) that selects
	// exactly these entries.
	Filter string
}

// Ranking is the top of one dimension.
type Ranking struct {
	Dimension Dimension
	Top       []Talker
	Distinct  int // how many keys there were in all
	Total     int // entries ranked
}

// peerKey is a state×peer key: state (or status class for protocols
// without states), addresses and destination port.
type peerKey struct {
	src, dst [16]byte
	dport    uint16
	fam      track.Family
	proto    track.Proto
	slot     uint8 // state, or 0x80|class for protocols without states
}

func (t *Table) peerKeyOf(r *row) peerKey {
	k := peerKey{src: r.src, dst: r.dst, fam: r.family, proto: r.proto}
	if r.proto.HasPorts() && !r.fields.Has(track.FieldGeneric) {
		k.dport = r.p2
	}
	if r.fields.Has(track.FieldState) {
		k.slot = r.state
	} else {
		k.slot = 0x80 | r.class
	}
	return k
}

func comparePeers(a, b peerKey) int {
	switch {
	case a.proto != b.proto:
		return int(a.proto) - int(b.proto)
	case a.slot != b.slot:
		return int(a.slot) - int(b.slot)
	case a.fam != b.fam:
		return int(a.fam) - int(b.fam)
	}
	if c := bytes.Compare(a.src[:], b.src[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.dst[:], b.dst[:]); c != 0 {
		return c
	}
	return int(a.dport) - int(b.dport)
}

func compareAddr(fa, fb track.Family, a, b *[16]byte) int {
	if fa != fb {
		return int(fa) - int(fb)
	}
	return bytes.Compare(a[:], b[:])
}

// Talkers ranks the entries by d and returns the n largest keys, ties by
// key so the order is stable.
func (t *Table) Talkers(d Dimension, n int) Ranking {
	rk := Ranking{Dimension: d, Total: len(t.rows)}
	switch d {
	case BySource, ByDestination:
		addr := func(r *row) *[16]byte {
			if d == ByDestination {
				return &r.dst
			}
			return &r.src
		}
		top, distinct := t.rank(n, func(r *row) rowKey {
			a := addr(r)
			if r.family == track.FamilyIPv4 {
				return rowKey{key: uint64(be32(a)), exact: true}
			}
			return rowKey{key: mix(le64(a[:8]), le64(a[8:]))}
		}, func(a, b *row) int { return compareAddr(a.family, b.family, addr(a), addr(b)) })
		rk.Distinct = distinct
		opt := "-s "
		if d == ByDestination {
			opt = "-d "
		}
		for _, e := range top {
			r := &t.rows[e.first]
			a := decodeAddr(*addr(r), r.family)
			rk.Top = append(rk.Top, Talker{Key: a.String(), Count: e.count, Filter: opt + a.String()})
		}
	case ByDestPort:
		var tcp, udp [65536]int32
		other := map[uint32]int32{}
		for i := range t.rows {
			r := &t.rows[i]
			switch {
			case !r.proto.HasPorts() || r.fields.Has(track.FieldGeneric):
			case r.proto == track.ProtoTCP:
				tcp[r.p2]++
			case r.proto == track.ProtoUDP:
				udp[r.p2]++
			default:
				other[uint32(r.proto)<<16|uint32(r.p2)]++
			}
		}
		for p := range tcp {
			if tcp[p] > 0 {
				other[uint32(track.ProtoTCP)<<16|uint32(p)] = tcp[p]
			}
			if udp[p] > 0 {
				other[uint32(track.ProtoUDP)<<16|uint32(p)] = udp[p]
			}
		}
		rk.Distinct = len(other)
		h := &minHeap[uint32]{cmp: func(a, b uint32) int { return int(a) - int(b) }}
		for k, c := range other {
			h.offer(counted[uint32]{k, int(c)}, n)
		}
		for _, e := range h.sorted() {
			proto, port := track.Proto(e.key>>16), strconv.Itoa(int(e.key&0xffff))
			rk.Top = append(rk.Top, Talker{Key: proto.String() + "/" + port, Count: e.count,
				Filter: "-p " + proto.String() + " --dport " + port})
		}
	case ByStatePeer:
		top, distinct := t.rank(n, func(r *row) rowKey {
			k := t.peerKeyOf(r)
			rest := uint32(k.dport)<<16 | uint32(k.proto)<<8 | uint32(k.slot)
			if k.fam == track.FamilyIPv4 {
				return rowKey{key: uint64(be32(&k.src))<<32 | uint64(be32(&k.dst)), aux: rest, exact: true}
			}
			h := mix(le64(k.src[:8]), le64(k.src[8:]))
			h = mix(h, le64(k.dst[:8]))
			h = mix(h, le64(k.dst[8:]))
			return rowKey{key: mix(h, uint64(rest))}
		}, func(a, b *row) int { return comparePeers(t.peerKeyOf(a), t.peerKeyOf(b)) })
		rk.Distinct = distinct
		for _, e := range top {
			rk.Top = append(rk.Top, statePeer(t.peerKeyOf(&t.rows[e.first]), e.count))
		}
	}
	for i := range rk.Top {
		rk.Top[i].Share = float64(rk.Top[i].Count) / float64(max(1, rk.Total))
	}
	return rk
}

// group is a run of rows with one key: the first row holding it, and how many.
type group struct {
	first int32
	count int
}

// rowKey is a row's ranking key. An exact key (Key and Aux together equal
// for two rows exactly when the rows' keys are equal) is grouped without
// going back to the rows; otherwise Key is a hash, and rows of equal hash
// are compared in full.
type rowKey struct {
	key   uint64
	aux   uint32
	exact bool
}

// rank counts rows by key without a map. The (key, row) pairs are
// radix-sorted, exact keys (IPv4) apart from hashed ones (IPv6): runs of
// an exact key are split by Aux alone, runs of a hash are checked row by
// row against the full key (a collision splits the run), which costs a
// cache miss per row and so is kept to the hashed rows. A million
// distinct keys cost 16 MB and tens of milliseconds instead of a 200 MB map.
func (t *Table) rank(n int, keyOf func(*row) rowKey, compare func(a, b *row) int) (top []group, distinct int) {
	parts := 1
	if len(t.rows) >= 1<<16 {
		parts = runtime.GOMAXPROCS(0)
	}
	// Each part writes its exact keys to the front of its own range of ks
	// and its hashed ones aside; the ranges are then closed up in place.
	ks := make([]keyed, len(t.rows))
	exactN, hashed := make([]int, parts), make([][]keyed, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, hi := len(t.rows)*p/parts, len(t.rows)*(p+1)/parts
			w := lo
			var hs []keyed
			for i := lo; i < hi; i++ {
				k := keyOf(&t.rows[i])
				if k.exact {
					ks[w] = keyed{Key: k.key, Index: int32(i), Aux: k.aux}
					w++
				} else {
					hs = append(hs, keyed{Key: k.key, Index: int32(i)})
				}
			}
			exactN[p], hashed[p] = w-lo, hs
		}()
	}
	wg.Wait()
	nExact := 0
	for p := range parts {
		lo := len(t.rows) * p / parts
		nExact += copy(ks[nExact:], ks[lo:lo+exactN[p]])
	}
	exact := ks[:nExact]
	h := &minHeap[int32]{cmp: func(a, b int32) int { return compare(&t.rows[a], &t.rows[b]) }}
	offer := func(run []keyed) {
		distinct++
		h.offer(counted[int32]{first(run), len(run)}, n)
	}
	byKey := func(a, b keyed) int { return cmp.Compare(a.Key, b.Key) }
	byAux := func(a, b keyed) int { return cmp.Compare(a.Aux, b.Aux) }
	byRow := func(a, b keyed) int { return compare(&t.rows[a.Index], &t.rows[b.Index]) }
	radix.SortKeyed(exact)
	runs(exact, byKey, func(run []keyed) { split(run, byAux, offer) })
	// The hashed keys (IPv6, usually few) reuse the space after the exact
	// ones; a run of equal hashes that holds several keys is a collision.
	hs := ks[nExact:nExact]
	for _, h := range hashed {
		hs = append(hs, h...)
	}
	radix.SortKeyed(hs)
	runs(hs, byKey, func(run []keyed) { split(run, byRow, offer) })
	for _, e := range h.sorted() {
		top = append(top, group{first: e.key, count: e.count})
	}
	return top, distinct
}

// runs calls fn with every run of elements equal under cmp in ks, which
// is ordered by cmp.
func runs(ks []keyed, compare func(a, b keyed) int, fn func(run []keyed)) {
	for lo := 0; lo < len(ks); {
		hi := lo + 1
		for hi < len(ks) && compare(ks[hi], ks[lo]) == 0 {
			hi++
		}
		fn(ks[lo:hi])
		lo = hi
	}
}

// split calls fn with each group of run equal under cmp: the whole run
// when all are equal (the usual case, checked without sorting), else its
// runs once ordered by cmp.
func split(run []keyed, compare func(a, b keyed) int, fn func(run []keyed)) {
	if !slices.ContainsFunc(run[1:], func(k keyed) bool { return compare(k, run[0]) != 0 }) {
		fn(run)
		return
	}
	slices.SortStableFunc(run, compare)
	runs(run, compare, fn)
}

// first is the smallest row index of a run, so the row named for a key
// does not depend on the sort.
func first(run []keyed) int32 {
	m := run[0].Index
	for _, k := range run[1:] {
		m = min(m, k.Index)
	}
	return m
}

// be32 is the IPv4 address held in the first four bytes of a.
func be32(a *[16]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// mix is a 64-bit multiply-xorshift step (wyhash's mum).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return hi ^ lo
}

// statePeer names a state×peer key and the filter selecting it.
func statePeer(k peerKey, count int) Talker {
	src, dst := decodeAddr(k.src, k.fam), decodeAddr(k.dst, k.fam)
	state, filt := "", "-p "+k.proto.String()
	if k.slot&0x80 == 0 {
		state = track.StateName(k.proto, k.slot)
		filt += " --state " + state
	} else {
		switch k.slot &^ 0x80 {
		case classUnreplied:
			state, filt = "UNREPLIED", filt+" -u UNREPLIED"
		case classHalf:
			state, filt = "REPLIED", filt+" -u SEEN_REPLY,!ASSURED"
		default:
			state, filt = "ASSURED", filt+" -u ASSURED"
		}
	}
	to := dst.String()
	filt += " -s " + src.String() + " -d " + dst.String()
	if k.proto.HasPorts() && k.dport != 0 {
		to = netip.AddrPortFrom(dst, k.dport).String()
		filt += " --dport " + strconv.Itoa(int(k.dport))
	}
	return Talker{Key: fmt.Sprintf("%s %s %s → %s", k.proto, state, src, to), Count: count, Filter: filt}
}

func decodeAddr(b [16]byte, fam track.Family) netip.Addr {
	if fam == track.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

type counted[K any] struct {
	key   K
	count int
}

// minHeap keeps the n largest counts offered, smallest on top: fewer
// entries, or for equal counts the larger key (so smaller keys win ties).
// O(keys log n): a million keys are never sorted to show ten.
type minHeap[K any] struct {
	s   []counted[K]
	cmp func(a, b K) int
}

func (h *minHeap[K]) offer(e counted[K], n int) {
	if h.Len() < n {
		heap.Push(h, e)
	} else if n > 0 && h.less(h.s[0], e) {
		h.s[0] = e
		heap.Fix(h, 0)
	}
}

// sorted empties the heap, largest first.
func (h *minHeap[K]) sorted() []counted[K] {
	out := make([]counted[K], h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(counted[K])
	}
	return out
}

func (h *minHeap[K]) less(a, b counted[K]) bool {
	if a.count != b.count {
		return a.count < b.count
	}
	return h.cmp(a.key, b.key) > 0
}
func (h *minHeap[K]) Len() int           { return len(h.s) }
func (h *minHeap[K]) Less(i, j int) bool { return h.less(h.s[i], h.s[j]) }
func (h *minHeap[K]) Swap(i, j int)      { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *minHeap[K]) Push(x any)         { h.s = append(h.s, x.(counted[K])) }
func (h *minHeap[K]) Pop() any {
	e := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return e
}
