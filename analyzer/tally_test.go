package analyzer

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// The tally ranks exactly as counting with a map and sorting would, IPv4
// and IPv6 mixed.
func TestAddrTallyMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var tally addrTally
	ref := map[netip.AddrPort]int{}
	for i := 0; i < 50000; i++ {
		var a netip.Addr
		if r.IntN(10) == 0 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(r.IntN(40))})
		} else {
			a = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(r.IntN(200))})
		}
		port := uint16(r.IntN(3) * 443)
		tally.add(keyOf(a), port)
		ref[netip.AddrPortFrom(a, port)]++
	}
	type kv struct {
		k netip.AddrPort
		n int
	}
	var want []kv
	for k, n := range ref {
		want = append(want, kv{k, n})
	}
	slices.SortFunc(want, func(x, y kv) int {
		if x.n != y.n {
			return y.n - x.n
		}
		if x.k.Addr().Is4() != y.k.Addr().Is4() {
			if x.k.Addr().Is4() {
				return -1
			}
			return 1
		}
		return x.k.Compare(y.k)
	})
	got := tally.top(20)
	if len(got) != 20 {
		t.Fatalf("%d ranked", len(got))
	}
	for i, g := range got {
		if g.key.addrPort() != want[i].k || g.count != want[i].n {
			t.Errorf("#%d: %v %d, want %v %d", i, g.key.addrPort(), g.count, want[i].k, want[i].n)
		}
	}
}

// Counting in several compactions gives the same ranking as counting at
// the end, and the memory kept is one run per distinct key.
func TestAddrTallyCompacts(t *testing.T) {
	var once, often addrTally
	for i := 0; i < 3*tallyBlock+17; i++ {
		a := keyOf(netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 7)}))
		once.add(a, 80)
		often.add(a, 80)
		if i%5000 == 0 {
			often.compact()
		}
	}
	if got, want := often.top(10), once.top(10); !slices.Equal(got, want) {
		t.Errorf("compacted %v, once %v", got, want)
	}
	if len(often.runs) != 7 || often.distinct() != 7 {
		t.Errorf("%d runs, %d distinct", len(often.runs), often.distinct())
	}
}
