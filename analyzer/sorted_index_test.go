package analyzer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The directory finds exactly what a binary search of the keys finds, for
// keys present and absent, compared whole or above a shift, at sizes
// around the powers of two where the directory grows.
func TestSortedIndexFindsAsBinarySearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 1000, 1023, 1024, 1025, 50000} {
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = r.Uint64()
			if i > 0 && r.IntN(5) == 0 {
				keys[i] = keys[i-1] ^ uint64(r.IntN(1<<estHashShift)) // same hash, another timeout
			}
		}
		slices.Sort(keys)
		x := newSortedIndex(keys)
		for _, shift := range []uint{0, estHashShift} {
			probes := append(slices.Clone(keys), r.Uint64(), 0, ^uint64(0))
			for range 2000 {
				probes = append(probes, r.Uint64())
			}
			for _, p := range probes {
				want := p >> shift
				i, _ := slices.BinarySearchFunc(keys, want, func(k, w uint64) int {
					switch {
					case k>>shift < w:
						return -1
					case k>>shift > w:
						return 1
					}
					return 0
				})
				wantOK := i < len(keys) && keys[i]>>shift == want
				got, ok := x.find(want, shift)
				if ok != wantOK || ok && got != keys[i] {
					t.Fatalf("n=%d shift=%d probe %#x: got %#x %v, want %v", n, shift, p, got, ok, wantOK)
				}
			}
		}
	}
}
