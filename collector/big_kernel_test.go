package collector

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelDump200k fills a namespace with 200,000 entries over netlink
// and checks that the streamed dump returns each of them exactly once,
// with its tuples, state, status, mark and timeout.
func TestKernelDump200k(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack")
	const n = 200000
	ns := netnstest.NewNS(t)
	if max := netnstest.ConntrackMax(t); max < n {
		t.Skipf("nf_conntrack_max is %d: a namespace cannot hold %d entries (the limit is the machine's; no test changes it)", max, n)
	}
	fill(t, ns, 0, n)
	index := make(map[track.Tuple]int, n)
	for i := range n {
		index[ctfill.Entry(i).Orig] = i
	}
	c := openIn(t, ns, Config{})
	seen := make([]bool, n)
	got := 0
	info, err := c.Flows(context.Background(), DumpFilter{}, func(f *track.Flow) error {
		got++
		i, ok := index[f.Orig]
		if !ok {
			t.Fatalf("unexpected entry %v", f.Orig)
		}
		if seen[i] {
			t.Fatalf("entry %d twice", i)
		}
		seen[i] = true
		want := ctfill.Entry(i)
		if f.Reply != want.Reply || f.State != want.State || f.Fields.Has(track.FieldState) != want.Fields.Has(track.FieldState) ||
			f.Status != want.Status|track.StatusConfirmed || f.Mark != want.Mark ||
			f.Timeout > ctfill.Timeout || f.Timeout < ctfill.Timeout-120 {
			t.Fatalf("entry %d:\n got  %+v\n want %+v", i, *f, want)
		}
		return nil
	})
	if err != nil || info.Entries != n || got != n {
		t.Fatalf("dump: %d entries (%d delivered), %v", info.Entries, got, err)
	}
	if out := strings.TrimSpace(string(ns.MustOutput(t, "conntrack", "-C"))); out != strconv.Itoa(n) {
		t.Errorf("conntrack -C says %s", out)
	}
	// A kernel filter on the IPv6 entries (every tenth) returns exactly them.
	flt, _ := filter.Parse([]string{"-f", "ipv6"})
	v6 := 0
	info, err = c.Flows(context.Background(), KernelFilter(flt), func(f *track.Flow) error {
		if f.Orig.Family == track.FamilyIPv6 {
			v6++
		}
		return nil
	})
	if err != nil || !info.KernelFiltered || info.Entries != n/10 || v6 != n/10 {
		t.Errorf("ipv6 dump: %d entries, %d IPv6, filtered in the kernel %v, %v", info.Entries, v6, info.KernelFiltered, err)
	}
}

// TestKernelAllNetnsSeesEachNamespace: two namespaces with 30 and 70
// entries both appear in the summary with their counts and states.
func TestKernelAllNetnsSeesEachNamespace(t *testing.T) {
	netnstest.Require(t)
	small, big := netnstest.NewNS(t), netnstest.NewNS(t)
	for _, x := range []struct {
		ns *netnstest.NS
		n  int
	}{{small, 30}, {big, 70}} {
		fill(t, x.ns, 0, x.n)
	}
	sums, err := SummarizeNamespaces(context.Background(), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]NetnsSummary{}
	own := 0
	for _, s := range sums {
		found[s.Name] = s
		if s.Own {
			own++
		}
	}
	for _, x := range []struct {
		ns         *netnstest.NS
		count, est int
		topIsEstab bool
	}{{small, 30, 18, true}, {big, 70, 42, true}} {
		s, ok := found[x.ns.Name]
		if !ok {
			t.Fatalf("%s missing from %d namespaces", x.ns.Name, len(sums))
		}
		top := s.TopStates(1)
		if s.Err != nil || s.Count != uint64(x.count) || s.Matched != x.count || s.Max == 0 ||
			len(top) != 1 || top[0].Name != "tcp ESTABLISHED" || top[0].Count != x.est || s.Source.Kind != track.SourceNetlink {
			t.Errorf("%s: %+v (top %v)", x.ns.Name, s, top)
		}
	}
	if own != 1 {
		t.Errorf("%d namespaces marked as ctdiag's own", own)
	}
}
