package flowtable

import (
	"cmp"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// realFlows reads every flow of the repository's real captures (the
// 100k table excluded unless long is set: it adds nothing the others lack
// but time).
func realFlows(t testing.TB) []track.Flow {
	t.Helper()
	var paths []string
	for _, g := range []string{"formats/*.txt", "*/*/nf_conntrack.t*.txt", "*/*/conntrack-L*.txt"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "testdata", "kernel-6.18", g))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	var out []track.Flow
	for _, p := range paths {
		d, err := parser.Open(p, parser.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format().IsFlowTable() {
			if err := d.Flows(func(f *track.Flow) error { out = append(out, f.Clone()); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()
	}
	if len(out) < 10000 {
		t.Fatalf("only %d real entries found", len(out))
	}
	return out
}

func build(flows []track.Flow) *Table {
	t := New(len(flows))
	for i := range flows {
		t.Add(&flows[i])
	}
	return t
}

// unusual are entries the compact row cannot hold: they must survive whole.
func unusual() []track.Flow {
	z := netip.MustParseAddr("fe80::1%eth0")
	a6 := netip.MustParseAddr("fe80::2")
	icmpPorts := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoICMP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 7}}
	icmpPorts.Reply = icmpPorts.Orig.Reply()
	zoned := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv6, Proto: track.ProtoUDP, Src: z, Dst: a6, SrcPort: 1, DstPort: 2}}
	zoned.Reply = zoned.Orig.Reply()
	mixed := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 2}}
	mixed.Reply = track.Tuple{Family: track.FamilyIPv6, Proto: track.ProtoTCP, Src: a6, Dst: a6}
	ext := mixed
	ext.Reply = ext.Orig.Reply()
	ext.SetLabels([]string{"a", "b"})
	ext.SetHelper("ftp")
	ext.SetStart(time.Unix(1700000000, 0))
	return []track.Flow{icmpPorts, zoned, mixed, ext}
}

func TestRoundTrip(t *testing.T) {
	flows := append(realFlows(t), unusual()...)
	tab := build(flows)
	if tab.Len() != len(flows) {
		t.Fatalf("Len %d, want %d", tab.Len(), len(flows))
	}
	var f track.Flow
	nat, acct := 0, 0
	for i := range flows {
		tab.Flow(i, &f)
		if !f.Equal(&flows[i]) {
			t.Fatalf("entry %d changed:\n got %+v\nwant %+v", i, f, flows[i])
		}
		if flows[i].SrcNAT() || flows[i].DstNAT() {
			nat++
		}
		if flows[i].Fields.Has(track.FieldOrigCounters) {
			acct++
		}
	}
	if nat == 0 || acct == 0 {
		t.Fatalf("the captures should hold NAT (%d) and accounted (%d) entries", nat, acct)
	}
	if tab.Accounting() != acct {
		t.Errorf("Accounting %d, want %d", tab.Accounting(), acct)
	}
	// A reset table is empty and reusable.
	tab.Reset()
	if tab.Len() != 0 || len(tab.States()) != 0 {
		t.Fatal("Reset left entries")
	}
	tab.Add(&flows[0])
	tab.Flow(0, &f)
	if !f.Equal(&flows[0]) {
		t.Fatal("reuse after Reset")
	}
}

func TestStates(t *testing.T) {
	flows := realFlows(t)
	tab := build(flows)
	type counts struct{ n, u, h, a int }
	want := map[string]*counts{}
	for i := range flows {
		f := &flows[i]
		name := f.Orig.Proto.String()
		if f.HasState() {
			name += " " + f.StateName()
		}
		c := want[name]
		if c == nil {
			c = &counts{}
			want[name] = c
		}
		c.n++
		switch {
		case f.Status.Assured():
			c.a++
		case f.Status.SeenReply():
			c.h++
		default:
			c.u++
		}
	}
	got := tab.States()
	if len(got) != len(want) {
		t.Fatalf("%d state rows, want %d", len(got), len(want))
	}
	total := 0
	for _, s := range got {
		w := want[s.Name]
		if w == nil || s.Count != w.n || s.Unreplied != w.u || s.HalfAssured != w.h || s.Assured != w.a {
			t.Errorf("%s: got %+v, want %+v", s.Name, s, w)
		}
		total += s.Count
	}
	if got[0].Name != "tcp SYN_SENT" {
		t.Errorf("TCP states should come first in lifecycle order, got %q first", got[0].Name)
	}
	u, h, a := tab.Classes()
	if u+h+a != len(flows) || total != len(flows) {
		t.Errorf("classes %d+%d+%d, rows %d, want %d", u, h, a, total, len(flows))
	}
}

// naiveTop ranks with a map of strings and a full sort.
func naiveTop(flows []track.Flow, key func(*track.Flow) string) []Talker {
	m := map[string]int{}
	for i := range flows {
		m[key(&flows[i])]++
	}
	var out []Talker
	for k, c := range m {
		out = append(out, Talker{Key: k, Count: c})
	}
	slices.SortFunc(out, func(a, b Talker) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

func TestTalkers(t *testing.T) {
	flows := realFlows(t)
	tab := build(flows)
	keys := map[Dimension]func(*track.Flow) string{
		BySource:      func(f *track.Flow) string { return f.Orig.Src.String() },
		ByDestination: func(f *track.Flow) string { return f.Orig.Dst.String() },
	}
	for d, key := range keys {
		checkTalkers(t, tab, flows, d, key, 5)
	}
	for _, d := range []Dimension{ByDestPort, ByStatePeer} {
		got := tab.Talkers(d, 8)
		if len(got.Top) == 0 {
			t.Fatalf("%v: empty", d)
		}
		for i, g := range got.Top {
			if i > 0 && g.Count > got.Top[i-1].Count {
				t.Errorf("%v: not descending at %d", d, i)
			}
			if n := countMatching(t, flows, g.Filter); n != g.Count {
				t.Errorf("%v %s: filter %q selects %d, want %d", d, g.Key, g.Filter, n, g.Count)
			}
		}
	}
}

func countMatching(t *testing.T, flows []track.Flow, args string) int {
	t.Helper()
	flt := parseFilter(t, args)
	n := 0
	for i := range flows {
		if flt.Match(&flows[i]) {
			n++
		}
	}
	return n
}

func parseFilter(t testing.TB, args string) *filter.Filter {
	t.Helper()
	fs := pflag.NewFlagSet("f", pflag.ContinueOnError)
	fl := filter.Register(fs)
	if err := fs.Parse(splitArgs(args)); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	f, err := fl.Filter()
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return f
}

func splitArgs(s string) []string {
	var out []string
	cur := ""
	for _, c := range s {
		if c == ' ' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(c)
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// reference compares two entries by column the slow, obvious way.
func reference(col Column, tm track.Timeouts) func(a, b *track.Flow) int {
	ports := func(f *track.Flow) bool { return f.Orig.Proto.HasPorts() && !f.Fields.Has(track.FieldGeneric) }
	portKey := func(f *track.Flow, p uint16) int {
		if !ports(f) {
			return 1 << 20
		}
		return int(p)
	}
	addr := func(f *track.Flow, a netip.Addr, p uint16) string {
		fam := "4"
		if f.Orig.Family == track.FamilyIPv6 {
			fam = "6"
		}
		if !ports(f) {
			p = 0
		}
		b := a.As16()
		return fmt.Sprintf("%s%x%05d", fam, b, p)
	}
	return func(a, b *track.Flow) int {
		switch col {
		case ColProto:
			return cmp.Compare(a.Orig.Proto, b.Orig.Proto)
		case ColState:
			sa, sb := 0xffff, 0xffff
			if a.HasState() {
				sa = int(a.State)
			}
			if b.HasState() {
				sb = int(b.State)
			}
			if sa != sb {
				return cmp.Compare(sa, sb)
			}
			return cmp.Compare(a.Orig.Proto, b.Orig.Proto)
		case ColSrc:
			return cmp.Compare(addr(a, a.Orig.Src, a.Orig.SrcPort), addr(b, b.Orig.Src, b.Orig.SrcPort))
		case ColDst:
			return cmp.Compare(addr(a, a.Orig.Dst, a.Orig.DstPort), addr(b, b.Orig.Dst, b.Orig.DstPort))
		case ColSport:
			return cmp.Compare(portKey(a, a.Orig.SrcPort), portKey(b, b.Orig.SrcPort))
		case ColDport:
			return cmp.Compare(portKey(a, a.Orig.DstPort), portKey(b, b.Orig.DstPort))
		case ColTimeout:
			return cmp.Compare(a.Timeout, b.Timeout)
		case ColIdle:
			ia, ib := IdleAge(a, tm), IdleAge(b, tm)
			if ia.Known != ib.Known {
				if ia.Known {
					return -1
				}
				return 1
			}
			return cmp.Compare(ia.Idle/time.Second, ib.Idle/time.Second)
		case ColAge:
			ha, hb := a.Fields.Has(track.FieldDeltaTime), b.Fields.Has(track.FieldDeltaTime)
			if ha != hb {
				if ha {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.DeltaTime, b.DeltaTime)
		case ColBytes:
			return cmp.Compare(a.OrigCounters.Bytes+a.ReplyCounters.Bytes, b.OrigCounters.Bytes+b.ReplyCounters.Bytes)
		case ColPackets:
			return cmp.Compare(a.OrigCounters.Packets+a.ReplyCounters.Packets, b.OrigCounters.Packets+b.ReplyCounters.Packets)
		case ColMark:
			return cmp.Compare(a.Mark, b.Mark)
		case ColZone:
			return cmp.Compare(a.Zone, b.Zone)
		case ColFlags:
			return cmp.Compare(classOf(a.Status), classOf(b.Status))
		}
		return 0
	}
}

func TestSortMatchesReference(t *testing.T) {
	flows := realFlows(t)
	// The 100k table is all IPv4 and IPv6 mixed: include it here, where
	// radix passes and IPv6 ties matter.
	flows = append(flows, bigTable(t)...)
	tab := build(flows)
	tab.SetTimeouts(track.NewTimeouts(nil))
	for col := ColProto; col < NumColumns; col++ {
		v := tab.Select(nil, Order{Col: col})
		if v.Len() != len(flows) {
			t.Fatalf("%v: %d rows", col, v.Len())
		}
		want := make([]int, len(flows))
		for i := range want {
			want[i] = i
		}
		ref := reference(col, tab.timeouts)
		slices.SortStableFunc(want, func(i, j int) int { return ref(&flows[i], &flows[j]) })
		for i := range want {
			if g := v.Index(i); g != want[i] {
				t.Fatalf("%v: position %d holds row %d, want %d (%v vs %v)", col, i, g, want[i], flows[g].Orig, flows[want[i]].Orig)
			}
		}
		r := v.Reversed()
		if r.Index(0) != v.Index(v.Len()-1) || r.Len() != v.Len() {
			t.Fatalf("%v: reversed view", col)
		}
	}
}

func TestFilterView(t *testing.T) {
	flows := realFlows(t)
	tab := build(flows)
	for _, args := range []string{"-p tcp --state ESTABLISHED", "-u UNREPLIED", "-p udp", "--src-nat", "-f ipv6", "-p tcp --dport 8080 -u ASSURED"} {
		flt := parseFilter(t, args)
		v := tab.Select(flt.Match, Order{Col: ColSrc})
		want := countMatching(t, flows, args)
		if v.Len() != want {
			t.Errorf("%q: %d rows, want %d", args, v.Len(), want)
		}
		var f track.Flow
		for i := 0; i < v.Len(); i++ {
			v.Flow(i, &f)
			if !flt.Match(&f) {
				t.Fatalf("%q: row %d does not match", args, i)
			}
		}
	}
	if v := tab.Select(nil, Order{}); v.Len() != len(flows) || v.Index(3) != 3 {
		t.Error("the unfiltered, unsorted view is the table")
	}
}

func TestIdleAge(t *testing.T) {
	tm := track.NewTimeouts(track.Sysctls{"net.netfilter.nf_conntrack_tcp_timeout_established": "3600"})
	tcp := func(st track.TCPState, rem uint32, status track.Status) *track.Flow {
		return &track.Flow{Orig: track.Tuple{Proto: track.ProtoTCP}, Fields: track.FieldTimeout | track.FieldState,
			State: uint8(st), Timeout: rem, Status: status}
	}
	cases := []struct {
		f      *track.Flow
		idle   time.Duration
		known  bool
		capped bool
	}{
		{tcp(track.TCPEstablished, 3590, track.StatusAssured), 10 * time.Second, true, false},
		{tcp(track.TCPEstablished, 290, track.StatusAssured), 10 * time.Second, true, true}, // capped at 300 (docs/KERNEL.md §1.10)
		{tcp(track.TCPSynSent, 100, 0), 20 * time.Second, true, false},
		{tcp(track.TCPTimeWait, 500, 0), 0, false, false}, // more than TIME_WAIT's 120 s: unknown
		{&track.Flow{Orig: track.Tuple{Proto: track.ProtoUDP}, Fields: track.FieldTimeout, Timeout: 25}, 5 * time.Second, true, false},
		{&track.Flow{Orig: track.Tuple{Proto: track.ProtoUDP}, Fields: track.FieldTimeout, Timeout: 100, Status: track.StatusAssured | track.StatusSeenReply}, 20 * time.Second, true, false},
		{&track.Flow{Orig: track.Tuple{Proto: track.ProtoTCP}, Fields: track.FieldState, State: uint8(track.TCPEstablished)}, 0, false, false}, // offloaded
	}
	for i, c := range cases {
		a := IdleAge(c.f, tm)
		if a.Idle != c.idle || a.Known != c.known || a.Capped != c.capped {
			t.Errorf("case %d: %+v", i, a)
		}
	}
}

// TestSortIPv6Runs: a thousand IPv6 clients in one /64 (a key tie on the
// first 63 bits for all of them) sort exactly by address, then port.
func TestSortIPv6Runs(t *testing.T) {
	var flows []track.Flow
	for i := range 1000 {
		var a [16]byte
		copy(a[:], []byte{0xfd, 0, 0x02, 0x30, 0, 0, 0, byte(i % 2)})
		a[15], a[14], a[9] = byte(i*7), byte(i*13), byte(i%5)
		f := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv6, Proto: track.ProtoTCP,
			Src: netip.AddrFrom16(a), Dst: netip.MustParseAddr("fd00::1"), SrcPort: uint16(40000 + i%3), DstPort: 443}}
		f.Reply = f.Orig.Reply()
		flows = append(flows, f)
	}
	tab := build(flows)
	v := tab.Select(nil, Order{Col: ColSrc})
	ref := reference(ColSrc, track.NewTimeouts(nil))
	var prev track.Flow
	for i := range v.Len() {
		var f track.Flow
		v.Flow(i, &f)
		if i > 0 && ref(&prev, &f) > 0 {
			t.Fatalf("position %d: %v after %v", i, f.Orig, prev.Orig)
		}
		prev = f
	}
}

// TestTalkersMatchNaiveOnBigTable: on the real 100,000-entry table (large
// enough for the parallel key building and the radix sort of several
// passes, IPv4 and IPv6 mixed) every dimension has the distinct count and
// the top counts that counting with a map gives.
func TestTalkersMatchNaiveOnBigTable(t *testing.T) {
	flows := append(realFlows(t), bigTable(t)...)
	tab := build(flows)
	port := func(f *track.Flow) uint16 {
		if f.Orig.Proto.HasPorts() && !f.Fields.Has(track.FieldGeneric) {
			return f.Orig.DstPort
		}
		return 0
	}
	keys := map[Dimension]func(*track.Flow) string{
		BySource:      func(f *track.Flow) string { return f.Orig.Src.String() },
		ByDestination: func(f *track.Flow) string { return f.Orig.Dst.String() },
		ByStatePeer: func(f *track.Flow) string {
			slot := "class " + strconv.Itoa(int(classOf(f.Status)))
			if f.Fields.Has(track.FieldState) {
				slot = "state " + strconv.Itoa(int(f.State))
			}
			return fmt.Sprint(f.Orig.Proto, slot, f.Orig.Src, f.Orig.Dst, port(f))
		},
	}
	for d, key := range keys {
		checkTalkers(t, tab, flows, d, key, 10)
	}
}

// checkTalkers compares the top n of dimension d with counting key in a
// map: the distinct count, each count, and the filter each row offers.
func checkTalkers(t *testing.T, tab *Table, flows []track.Flow, d Dimension, key func(*track.Flow) string, n int) {
	t.Helper()
	want := naiveTop(flows, key)
	got := tab.Talkers(d, n)
	if got.Distinct != len(want) || len(got.Top) != n {
		t.Fatalf("%v: %d distinct, %d top; want %d distinct", d, got.Distinct, len(got.Top), len(want))
	}
	for i, g := range got.Top {
		if g.Count != want[i].Count {
			t.Errorf("%v #%d: %s %d, want count %d", d, i, g.Key, g.Count, want[i].Count)
		}
		if c := countMatching(t, flows, g.Filter); c != g.Count {
			t.Errorf("%v #%d: filter %q selects %d, want %d", d, i, g.Filter, c, g.Count)
		}
	}
}

// bigTable is the real 100,000-entry table captured on this kernel.
func bigTable(t *testing.T) []track.Flow {
	t.Helper()
	big, err := parser.ReadSamples([]parser.Input{{Path: "../../testdata/kernel-6.18/table-100k/proc-nf_conntrack-100k.txt.gz"}}, parser.Options{})
	if err != nil || len(big.Snapshots) != 1 || len(big.Snapshots[0].Flows) != 100000 {
		t.Fatalf("reading the 100k table: %v", err)
	}
	return big.Snapshots[0].Flows
}
