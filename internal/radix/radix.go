package radix

import (
	"cmp"
	"math/bits"
	"runtime"
	"slices"
	"sync"
)

// Keyed is an index into the caller's rows with its sort key. Aux rides
// along unsorted (it fills what would be padding): a second key the
// caller can order runs of equal Key by without going back to its rows.
type Keyed struct {
	Key   uint64
	Index int32
	Aux   uint32
}

// digit is the width of one pass: 2,048 counters and as many write streams
// stay in the L1/L2 caches and TLB, where 16-bit digits spread a pass's
// writes over 65,536 places and ran slower despite fewer passes.
const digit = 11

// small is the length below which a comparison sort is cheaper.
const small = 256

// passes returns the shifts of the digits to sort by, least significant
// first: digits start at the lowest bit in which keys differ, and a digit
// in which no key differs from another is skipped (keys packing two
// fields, such as two addresses, often have such gaps).
func passes(and, or uint64) []int {
	vary := and ^ or
	var shifts []int
	for shift := bits.TrailingZeros64(vary); shift < 64 && vary>>shift != 0; shift += digit {
		if (vary>>shift)&(1<<digit-1) != 0 {
			shifts = append(shifts, shift)
		}
	}
	return shifts
}

// Uint64s sorts keys in ascending order.
func Uint64s(keys []uint64) {
	if len(keys) < small {
		slices.Sort(keys)
		return
	}
	and, or := ^uint64(0), uint64(0)
	for _, v := range keys {
		and &= v
		or |= v
	}
	shifts := passes(and, or)
	if len(shifts) == 0 {
		return
	}
	tmp := make([]uint64, len(keys))
	src, dst := keys, tmp
	var count [1 << digit]int
	for _, shift := range shifts {
		clear(count[:])
		for _, v := range src {
			count[(v>>shift)&(1<<digit-1)]++
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for _, v := range src {
			d := (v >> shift) & (1<<digit - 1)
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// parallelMin is the length from which SortKeyed splits each pass across
// cores: below it, starting goroutines costs more than it saves.
const parallelMin = 1 << 16

// SortKeyed sorts ks by Key, stably: equal keys keep their order. Long
// slices are sorted on up to GOMAXPROCS cores: each pass counts and
// scatters its parts in parallel, each part writing to its own offsets
// within every digit, which keeps the sort stable.
func SortKeyed(ks []Keyed) {
	n := len(ks)
	if n < small {
		slices.SortStableFunc(ks, func(a, b Keyed) int { return cmp.Compare(a.Key, b.Key) })
		return
	}
	parts := 1
	if n >= parallelMin {
		parts = max(1, min(runtime.GOMAXPROCS(0), 8))
	}
	bound := func(p int) int { return n * p / parts }
	each := func(fn func(p, lo, hi int)) {
		if parts == 1 {
			fn(0, 0, n)
			return
		}
		var wg sync.WaitGroup
		for p := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(p, bound(p), bound(p+1))
			}()
		}
		wg.Wait()
	}
	ands, ors := make([]uint64, parts), make([]uint64, parts)
	each(func(p, lo, hi int) {
		and, or := ^uint64(0), uint64(0)
		for _, k := range ks[lo:hi] {
			and &= k.Key
			or |= k.Key
		}
		ands[p], ors[p] = and, or
	})
	and, or := ^uint64(0), uint64(0)
	for p := range parts {
		and &= ands[p]
		or |= ors[p]
	}
	shifts := passes(and, or)
	if len(shifts) == 0 {
		return
	}
	tmp := make([]Keyed, n)
	src, dst := ks, tmp
	count := make([][1 << digit]int, parts)
	for _, shift := range shifts {
		each(func(p, lo, hi int) {
			c := &count[p]
			clear(c[:])
			for _, k := range src[lo:hi] {
				c[(k.Key>>shift)&(1<<digit-1)]++
			}
		})
		// Part p of digit d starts after every smaller digit and after
		// the parts before p within d.
		pos := 0
		for d := range 1 << digit {
			for p := range parts {
				c := count[p][d]
				count[p][d] = pos
				pos += c
			}
		}
		each(func(p, lo, hi int) {
			c := &count[p]
			for _, k := range src[lo:hi] {
				d := (k.Key >> shift) & (1<<digit - 1)
				dst[c[d]] = k
				c[d]++
			}
		})
		src, dst = dst, src
	}
	if &src[0] != &ks[0] {
		copy(ks, src)
	}
}
