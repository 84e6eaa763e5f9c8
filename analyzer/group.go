package analyzer

import (
	"net/netip"
	"sort"

	"github.com/ctdiag/ctdiag/track"
)

// group gathers the entries one rule is about, in one sample: how many,
// where they go and come from, how old, and a few examples.
type group struct {
	count    int
	dst      map[netip.AddrPort]int // original destination address and port
	src      map[netip.Addr]int     // original source address
	oldest   float64                // seconds
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

func (g *group) add(f *track.Flow, age float64, h uint64, keep int) {
	if g.dst == nil {
		g.dst = map[netip.AddrPort]int{}
		g.src = map[netip.Addr]int{}
	}
	g.count++
	g.dst[netip.AddrPortFrom(f.Orig.Dst, f.Orig.DstPort)]++
	g.src[f.Orig.Src]++
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

// ranked is one key of a ranking with its count.
type ranked[K any] struct {
	key   K
	count int
}

// topN ranks a count map, largest first, ties by key text so the order is
// stable.
func topN[K comparable](m map[K]int, n int, text func(K) string) []ranked[K] {
	out := make([]ranked[K], 0, len(m))
	for k, c := range m {
		out = append(out, ranked[K]{k, c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].count != out[j].count {
			return out[i].count > out[j].count
		}
		return text(out[i].key) < text(out[j].key)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
