package analyzer

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// Every view of the tally (all entries or one tag's, by address and port
// or by address alone) ranks and counts exactly as a map of that view's
// keys would, IPv4 and IPv6 mixed.
func TestAddrTallyMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var tally addrTally
	type entry struct {
		ap   netip.AddrPort
		tags uint16
	}
	var entries []entry
	for i := 0; i < 50000; i++ {
		var a netip.Addr
		if r.IntN(10) == 0 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(r.IntN(40))})
		} else {
			a = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(r.IntN(200))})
		}
		port := uint16(r.IntN(3) * 443)
		tags := uint16(r.IntN(8)) // groups 1, 2 and 4, any mix
		tally.add(keyOf(a), port, tags)
		entries = append(entries, entry{netip.AddrPortFrom(a, port), tags})
	}
	// Ask each view twice, a key added in between: the second answer
	// counts it (the ranking is kept only while nothing is added).
	extra := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 9, 9}), 9)
	for range 3000 {
		tally.add(keyOf(extra.Addr()), extra.Port(), 7)
	}
	if got := (tallyView{t: &tally, ports: true}).top(1); len(got) != 1 || got[0].key.addrPort() != extra || got[0].count != 3000 {
		t.Fatalf("top %v, want %v 3000 times", got, extra)
	}
	for range 2000 {
		tally.add(keyOf(extra.Addr()), extra.Port(), 7)
		entries = append(entries, entry{extra, 7})
	}
	for range 3000 {
		entries = append(entries, entry{extra, 7})
	}
	for _, tag := range []uint16{0, 1, 2, 4} {
		for _, ports := range []bool{true, false} {
			ref := map[netip.AddrPort]int{}
			for _, e := range entries {
				if tag != 0 && e.tags&tag == 0 {
					continue
				}
				k := e.ap
				if !ports {
					k = netip.AddrPortFrom(k.Addr(), 0)
				}
				ref[k]++
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
			v := tallyView{t: &tally, tag: tag, ports: ports}
			if got := v.distinct(); got != len(ref) {
				t.Errorf("tag %d ports %v: %d distinct, want %d", tag, ports, got, len(ref))
			}
			got := v.top(20)
			if len(got) != 20 {
				t.Fatalf("tag %d ports %v: %d ranked", tag, ports, len(got))
			}
			for i, g := range got {
				if g.key.addrPort() != want[i].k || g.count != want[i].n {
					t.Errorf("tag %d ports %v #%d: %v %d, want %v %d", tag, ports, i, g.key.addrPort(), g.count, want[i].k, want[i].n)
				}
			}
		}
	}
}

// Each group has its own bit in the tallies' 16-bit tags.
func TestGroupsFitTheTags(t *testing.T) {
	s := New(Options{}).newSample(track.Snapshot{})
	seen := uint16(0)
	for _, g := range s.groups() {
		if g.tag == 0 || g.tag&(g.tag-1) != 0 || seen&g.tag != 0 {
			t.Fatalf("group tag %#x: want a bit of its own (seen %#x)", g.tag, seen)
		}
		seen |= g.tag
		if g.dst.t != &s.dsts || g.src.t != &s.srcs || g.dst.tag != g.tag || g.src.tag != g.tag {
			t.Fatalf("group tag %#x: views not on the sample's tallies", g.tag)
		}
	}
}

// Counting in several compactions gives the same ranking as counting at
// the end, and the memory kept is one run per distinct key.
func TestAddrTallyCompacts(t *testing.T) {
	var once, often addrTally
	for i := 0; i < 3*tallyBlock+17; i++ {
		a := keyOf(netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 7)}))
		once.add(a, 80, 0)
		often.add(a, 80, 0)
		if i%5000 == 0 {
			often.compact()
		}
	}
	oftenView, onceView := tallyView{t: &often, ports: true}, tallyView{t: &once, ports: true}
	if got, want := oftenView.top(10), onceView.top(10); !slices.Equal(got, want) {
		t.Errorf("compacted %v, once %v", got, want)
	}
	if len(often.runs) != 7 || oftenView.distinct() != 7 {
		t.Errorf("%d runs, %d distinct", len(often.runs), oftenView.distinct())
	}
}

// A tally counts its keys as it goes once batch keys wait (the exporter's
// memory bound), and only at the end by default (a report's speed): with
// few distinct keys, the waiting ones never pass the batch by more than a
// block.
func TestAddrTallyBatch(t *testing.T) {
	var small, large addrTally
	small.batch = 2 * tallyBlock
	most := 0
	for i := range 20 * tallyBlock {
		j := i % 1000
		a := keyOf(netip.AddrFrom4([4]byte{10, 0, byte(j >> 8), byte(j)}))
		small.add(a, 80, 0)
		large.add(a, 80, 0)
		most = max(most, small.pending)
	}
	if most > small.batch+tallyBlock || len(small.runs) == 0 {
		t.Errorf("batch %d: up to %d keys waited, %d counted", small.batch, most, len(small.runs))
	}
	if large.pending != 20*tallyBlock || len(large.runs) != 0 {
		t.Errorf("default batch: %d waiting, %d counted before a ranking", large.pending, len(large.runs))
	}
	s, l := tallyView{t: &small, ports: true}, tallyView{t: &large, ports: true}
	if s.distinct() != 1000 || !slices.Equal(s.top(5), l.top(5)) {
		t.Errorf("batch changed the counts: %d distinct, %v against %v", s.distinct(), s.top(5), l.top(5))
	}
}
