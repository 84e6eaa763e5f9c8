package track

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestTupleIsAMapKeyAndReplyInverts(t *testing.T) {
	orig := Tuple{
		Family: FamilyIPv4, Proto: ProtoTCP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		SrcPort: 40000, DstPort: 80,
	}
	seen := map[Tuple]int{orig: 1}
	same := orig
	if seen[same] != 1 {
		t.Fatal("an equal tuple must find the same map entry")
	}
	r := orig.Reply()
	want := Tuple{Family: FamilyIPv4, Proto: ProtoTCP, Src: orig.Dst, Dst: orig.Src, SrcPort: 80, DstPort: 40000}
	if r != want {
		t.Fatalf("Reply() = %v, want %v", r, want)
	}
	if r.Reply() != orig {
		t.Fatal("Reply() twice must give back the original")
	}
	if _, ok := seen[r]; ok {
		t.Fatal("the reply tuple is a different key")
	}
}

func TestICMPReplyTypes(t *testing.T) {
	// docs/KERNEL.md §5.1: the reply tuple carries the inverse type: 8→0, 13→14, 15→16,
	// 17→18, 128→129, 139→140.
	cases := []struct {
		proto     Proto
		typ, want uint8
	}{
		{ProtoICMP, 8, 0}, {ProtoICMP, 0, 8}, {ProtoICMP, 13, 14}, {ProtoICMP, 15, 16},
		{ProtoICMP, 17, 18}, {ProtoICMPv6, 128, 129}, {ProtoICMPv6, 139, 140}, {ProtoICMPv6, 129, 128},
		{ProtoICMP, 3, 3}, // no inverse: unchanged
	}
	for _, c := range cases {
		tu := Tuple{Family: FamilyIPv4, Proto: c.proto, Type: c.typ, ID: 7}
		if got := tu.Reply(); got.Type != c.want || got.ID != 7 {
			t.Errorf("%v type %d: reply type %d id %d, want %d id 7", c.proto, c.typ, got.Type, got.ID, c.want)
		}
	}
}

func TestGREKeysSwap(t *testing.T) {
	tu := Tuple{Family: FamilyIPv4, Proto: ProtoGRE, SrcKey: 1, DstKey: 2}
	if r := tu.Reply(); r.SrcKey != 2 || r.DstKey != 1 {
		t.Fatalf("GRE keys not swapped: %+v", r)
	}
}

func TestTCPStateNames(t *testing.T) {
	want := []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
	for i, name := range want {
		if got := TCPState(i).String(); got != name {
			t.Errorf("TCPState(%d) = %q, want %q", i, got, name)
		}
		if s, ok := ParseTCPState(name); !ok || int(s) != i {
			t.Errorf("ParseTCPState(%q) = %d,%v", name, s, ok)
		}
	}
	if s, ok := ParseTCPState("LISTEN"); !ok || s != TCPSynSent2 {
		t.Errorf("LISTEN is the old name of state 9, got %v %v", s, ok)
	}
	if got := TCPState(12).String(); got != "UNKNOWN(12)" {
		t.Errorf("unknown state prints %q", got)
	}
	if TCPState(12).Known() || !TCPSynSent2.Known() {
		t.Error("Known() wrong")
	}
	if _, ok := ParseTCPState("ESTABLISHED "); ok {
		t.Error("names are exact")
	}
}

func TestStatusBitsAndNames(t *testing.T) {
	// docs/KERNEL.md §3: 16 bits, values 0x1 … 0x8000.
	want := []string{"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT", "SEQ_ADJUST",
		"SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT", "TEMPLATE", "UNTRACKED", "HELPER", "OFFLOAD", "HW_OFFLOAD"}
	for i, name := range want {
		bit := Status(1) << i
		if got := bit.Names(); !slices.Equal(got, []string{name}) {
			t.Errorf("bit %d names %v, want %s", i, got, name)
		}
		if b, ok := ParseStatusBit(name); !ok || b != bit {
			t.Errorf("ParseStatusBit(%q) = %#x", name, b)
		}
	}
	if StatusHWOffload != 0x8000 || StatusAssured != 0x4 || StatusSeenReply != 0x2 {
		t.Fatal("status values differ from the kernel's")
	}
	s := StatusSeenReply | StatusAssured | StatusConfirmed
	if s.String() != "SEEN_REPLY|ASSURED|CONFIRMED" || !s.Assured() || !s.SeenReply() || s.Expected() {
		t.Errorf("status %#x: %s", uint32(s), s)
	}
	if b, ok := ParseStatusBit("ips_nat_clash"); !ok || b != StatusUntracked {
		t.Error("NAT_CLASH is the in-kernel name of bit 12")
	}
	if (Status(1) << 20).String() != "BIT_20" {
		t.Error("unknown bits must still print")
	}
}

func TestCounterNamesAndAliases(t *testing.T) {
	for name, want := range map[string]Counter{
		"clash_resolve": CounterClashResolve, "clashres": CounterClashResolve,
		"chaintoolong": CounterChainTooLong, "chainlength": CounterChainTooLong,
		"error": CounterError, "icmp_error": CounterError, "searched": CounterSearched,
		"insert_failed": CounterInsertFailed, "early_drop": CounterEarlyDrop,
	} {
		if got, ok := ParseCounter(name); !ok || got != want {
			t.Errorf("ParseCounter(%q) = %v %v, want %v", name, got, ok, want)
		}
	}
	if _, ok := ParseCounter("entries"); ok {
		t.Error("entries is a global count, not a per-CPU counter")
	}
}

func TestStatsTotalAndPresence(t *testing.T) {
	var s Stats
	s.CPU(1).Set(CounterDrop, 5)
	s.CPU(0).Set(CounterDrop, 2)
	s.CPU(0).Set(CounterEarlyDrop, 1)
	if s.CPUs[0].CPU != 0 || s.CPUs[1].CPU != 1 {
		t.Fatalf("CPUs out of order: %+v", s.CPUs)
	}
	if s.Total(CounterDrop) != 7 || s.Total(CounterEarlyDrop) != 1 {
		t.Fatal("wrong totals")
	}
	if !s.Has(CounterEarlyDrop) || s.Has(CounterClashResolve) {
		t.Fatal("presence wrong")
	}
}

func TestSysctlsShortNames(t *testing.T) {
	s := Sysctls{"net.netfilter.nf_conntrack_max": "262144", "net.nf_conntrack_max": "262144"}
	if v, ok := s.Int("nf_conntrack_max"); !ok || v != 262144 {
		t.Fatal("short name lookup failed")
	}
	if _, ok := s.Int("nf_conntrack_buckets"); ok {
		t.Fatal("absent must be absent")
	}
}

func TestFlowNATFromTuples(t *testing.T) {
	a := netip.MustParseAddr
	f := Flow{
		Orig:  Tuple{Family: FamilyIPv4, Proto: ProtoTCP, Src: a("10.0.0.2"), Dst: a("10.1.0.1"), SrcPort: 5000, DstPort: 80},
		Reply: Tuple{Family: FamilyIPv4, Proto: ProtoTCP, Src: a("10.1.0.1"), Dst: a("10.1.0.254"), SrcPort: 80, DstPort: 5000},
	}
	if !f.SrcNAT() || f.DstNAT() {
		t.Fatal("masquerade entry: SNAT only")
	}
	f.Reply = f.Orig.Reply()
	if f.SrcNAT() || f.DstNAT() {
		t.Fatal("untranslated entry")
	}
}

func TestFlowEqualAndClone(t *testing.T) {
	f := Flow{Timeout: 5}
	f.SetLabels([]string{"a"})
	g := f.Clone()
	if !f.Equal(&g) {
		t.Fatal("clone must be equal")
	}
	g.Ext.Labels[0] = "b"
	if f.Ext.Labels[0] != "a" || f.Equal(&g) {
		t.Fatal("clone must not share labels")
	}
	h := Flow{Timeout: 5, Ext: &FlowExt{}}
	k := Flow{Timeout: 5}
	if !h.Equal(&k) {
		t.Fatal("an empty Ext equals no Ext")
	}
}

func TestTimeoutsFromSysctlsAndDefaults(t *testing.T) {
	tm := NewTimeouts(Sysctls{"net.netfilter.nf_conntrack_tcp_timeout_time_wait": "30"})
	if tm.TCP(TCPTimeWait) != 30*time.Second {
		t.Error("a set sysctl wins")
	}
	if tm.TCP(TCPEstablished) != 432000*time.Second || tm.TCP(TCPSynSent2) != 120*time.Second || tm.TCP(TCPClose) != 10*time.Second {
		t.Error("defaults of docs/KERNEL.md §2.1")
	}
	if u, s := tm.UDP(); u != 30*time.Second || s != 120*time.Second {
		t.Error("UDP defaults of docs/KERNEL.md §2.3")
	}
	if NewTimeouts(nil).Get("nf_conntrack_generic_timeout") != 600*time.Second {
		t.Error("generic default")
	}
}

// One spelling, one precedence: a later layer wins whether either spelled
// the name bare (as flags do) or dotted (as sysctl -a does).
func TestLayerSysctls(t *testing.T) {
	file := Sysctls{"net.netfilter.nf_conntrack_udp_timeout": "30"}
	flag := Sysctls{"nf_conntrack_udp_timeout": "5"}
	if v, _ := LayerSysctls(file, flag).Get("nf_conntrack_udp_timeout"); v != "5" {
		t.Errorf("flag over file: %q", v)
	}
	if v, _ := LayerSysctls(flag, file).Get("net.netfilter.nf_conntrack_udp_timeout"); v != "30" {
		t.Errorf("file over flag: %q", v)
	}
	if l := LayerSysctls(file, flag); len(l) != 1 {
		t.Errorf("two spellings kept: %v", l)
	}
	if NewTimeouts(LayerSysctls(file, flag)).Get("nf_conntrack_udp_timeout").Seconds() != 5 {
		t.Error("timeouts read the later layer")
	}
}

// What the kernel may drop to make room: not ASSURED, or ASSURED TCP that
// is closing (the collector's drop at 95 %); never an offloaded entry.
func TestEvictable(t *testing.T) {
	for _, c := range []struct {
		proto  Proto
		state  TCPState
		status Status
		want   bool
	}{
		{ProtoTCP, TCPSynSent, 0, true},
		{ProtoTCP, TCPEstablished, StatusSeenReply | StatusAssured, false},
		{ProtoTCP, TCPTimeWait, StatusSeenReply | StatusAssured, true},
		{ProtoTCP, TCPCloseWait, StatusSeenReply | StatusAssured, true},
		{ProtoTCP, TCPEstablished, StatusSeenReply | StatusOffload, false},
		{ProtoUDP, 0, StatusSeenReply | StatusAssured, false},
		{ProtoUDP, 0, StatusSeenReply, true},
	} {
		f := Flow{Orig: Tuple{Proto: c.proto}, Status: c.status}
		if c.proto == ProtoTCP {
			f.State, f.Fields = uint8(c.state), FieldState
		}
		if got := f.Evictable(); got != c.want {
			t.Errorf("%s %s %v: evictable %v", c.proto, c.state, c.status, got)
		}
	}
}
