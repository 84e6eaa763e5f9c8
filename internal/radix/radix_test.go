package radix

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortAgreesWithSlices: random keys of several widths and lengths
// (both sides of the small-slice cut-off) sort as slices.Sort does, and
// SortKeyed is stable.
func TestSortAgreesWithSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 255, 256, 1000, 70000} {
		for _, mask := range []uint64{0, 1, 0xffff, 0xffff_0000, 1<<63 | 0xff, ^uint64(0)} {
			keys := make([]uint64, n)
			ks := make([]Keyed, n)
			for i := range keys {
				keys[i] = r.Uint64() & mask
				ks[i] = Keyed{Key: keys[i], Index: int32(i)}
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			Uint64s(keys)
			if !slices.Equal(keys, want) {
				t.Fatalf("Uint64s n=%d mask=%#x: not sorted", n, mask)
			}
			SortKeyed(ks)
			for i := range ks {
				if ks[i].Key != want[i] || i > 0 && ks[i].Key == ks[i-1].Key && ks[i].Index < ks[i-1].Index {
					t.Fatalf("SortKeyed n=%d mask=%#x: at %d %+v after %+v", n, mask, i, ks[i], ks[max(i-1, 0)])
				}
			}
		}
	}
}

func BenchmarkSortKeyed1M(b *testing.B) {
	for _, c := range []struct {
		name string
		mask uint64
	}{{"port", 0xffff}, {"ipv4+port", 1<<48 - 1}, {"hash", ^uint64(0)}} {
		b.Run(c.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			orig := make([]Keyed, 1<<20)
			for i := range orig {
				orig[i] = Keyed{Key: r.Uint64() & c.mask, Index: int32(i)}
			}
			ks := make([]Keyed, len(orig))
			for b.Loop() {
				copy(ks, orig)
				SortKeyed(ks)
			}
		})
	}
}
