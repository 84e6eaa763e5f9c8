package analyzer

import "math/bits"

// sortedIndex finds keys in a sorted slice of uniformly spread 64-bit keys
// (tuple hashes) with a directory of their top bits: one read of the
// directory and one of the few keys it points at, where a binary search
// of a million keys misses the cache about twenty times. The directory
// has one or two slots per key: 4 to 8 bytes a key.
type sortedIndex struct {
	keys []uint64
	dir  []uint32 // dir[b]: the first key whose top bits are b or more
	bits uint
}

func newSortedIndex(sorted []uint64) sortedIndex {
	if len(sorted) == 0 {
		return sortedIndex{}
	}
	n := uint(bits.Len(uint(len(sorted))))
	x := sortedIndex{keys: sorted, dir: make([]uint32, 1<<n+1), bits: n}
	b := 0
	for i, k := range sorted {
		for top := int(k >> (64 - n)); b <= top; b++ {
			x.dir[b] = uint32(i)
		}
	}
	for ; b < len(x.dir); b++ {
		x.dir[b] = uint32(len(sorted))
	}
	return x
}

// find returns the first key whose bits above shift are want<<shift's, and
// whether there is one.
func (x sortedIndex) find(want uint64, shift uint) (uint64, bool) {
	if len(x.keys) == 0 {
		return 0, false
	}
	b := (want << shift) >> (64 - x.bits)
	lo, hi := int(x.dir[b]), int(x.dir[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.keys[m]>>shift < want {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(x.keys) && x.keys[lo]>>shift == want {
		return x.keys[lo], true
	}
	return 0, false
}
