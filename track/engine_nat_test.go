package track_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Table limits (docs/KERNEL.md §4), NOTRACK and NAT (docs/KERNEL.md §7).

// flood sends one UDP datagram from each of n client ports.
func (s *scenario) flood(first uint16, n int) []track.Verdict {
	var out []track.Verdict
	for i := range n {
		s.cport = first + uint16(i)
		out = append(out, s.udp(fromClient, 1))
	}
	return out
}

func TestEngineEarlyDrop(t *testing.T) {
	// A full table of unreplied entries makes room by early drop. Which
	// entries go is random in the kernel; only the aggregate is asserted.
	s := udpScenario(t, "nf_conntrack_max=64", "nf_conntrack_buckets=16")
	s.flood(10000, 64)
	before := s.e.Len(s.now)
	vs := s.flood(20000, 10)
	evicted := 0
	for _, v := range vs {
		if v.Action != track.ActionCreated {
			t.Fatalf("a new flow in a table of unassured entries: %s (%s), want created", v.Action, v.Reason)
		}
		evicted += v.EarlyDropped
	}
	after := s.e.Len(s.now)
	if before != 64 || after > 64 || after < 64-evicted+10 {
		t.Errorf("entries %d before, %d after 10 new flows and %d evictions", before, after, evicted)
	}
	if got := s.stat(track.CounterEarlyDrop); got != uint64(evicted) || evicted < 10 {
		t.Errorf("early_drop %d, evicted %d; want equal and at least 10", got, evicted)
	}
	if got := s.stat(track.CounterDrop); got != 0 {
		t.Errorf("drop %d, want 0", got)
	}
}

func TestEngineTableFullOfAssured(t *testing.T) {
	// docs/KERNEL.md §4.3: ASSURED entries are never early-dropped; new flows are
	// dropped ("table full, dropping packet").
	s := udpScenario(t, "nf_conntrack_max=8")
	for i := range 8 {
		s.cport = 10000 + uint16(i)
		s.udp(fromClient, 1)
		s.udp(fromServer, 1)
	}
	s.wait(3 * time.Second)
	for i := range 8 {
		s.cport = 10000 + uint16(i)
		s.udp(fromClient, 1) // assures
	}
	vs := s.flood(20000, 6)
	for _, v := range vs {
		if v.Action != track.ActionDropped || v.State != track.CTInvalid {
			t.Fatalf("new flow in a table full of ASSURED entries: %s, want dropped", v.Action)
		}
	}
	if got := s.stat(track.CounterDrop); got != 6 {
		t.Errorf("drop %d, want 6", got)
	}
	if n := s.e.Len(s.now); n != 8 {
		t.Errorf("%d entries, want 8", n)
	}
	s.wait(120 * time.Second)
	s.step("once they expire there is room again", s.udp(fromClient, 1), track.CTNew, "29 [UNREPLIED]")
}

func TestEngineNoLimit(t *testing.T) {
	// docs/KERNEL.md §4.2: nf_conntrack_max=0 means no limit on 6.18.
	s := udpScenario(t, "nf_conntrack_max=0")
	s.flood(10000, 100)
	if n := s.e.Len(s.now); n != 100 {
		t.Errorf("%d entries, want 100", n)
	}
}

func TestEngineNoTrack(t *testing.T) {
	// docs/KERNEL.md §7.2.
	rule, err := track.ParseNoTrackRule("proto udp dport 53")
	if err != nil {
		t.Fatal(err)
	}
	s := newScenarioConfig(t, track.EngineConfig{NoTrack: []track.NoTrackRule{rule}})
	s.proto, s.cport, s.sport = track.ProtoUDP, 5000, 53
	s.step("a NOTRACKed query", s.udp(fromClient, 10), track.CTUntracked, "gone")
	s.step("its answer (sport 53) is tracked, in reverse orientation", s.udp(fromServer, 10), track.CTNew, "29 [UNREPLIED]")
	flows := s.e.Table(s.now)
	if len(flows) != 1 || flows[0].Orig.Src != server4 {
		t.Errorf("want one entry from the server: %+v", flows)
	}
	if st := s.e.Stats(); st.Total(track.CounterInvalid) != 0 {
		t.Errorf("NOTRACK counts nothing")
	}
}

func natEngine(t *testing.T, rules ...string) *scenario {
	t.Helper()
	var nat []track.NATRule
	for _, r := range rules {
		rule, err := track.ParseNATRule(r)
		if err != nil {
			t.Fatal(err)
		}
		nat = append(nat, rule)
	}
	s := newScenarioConfig(t, track.EngineConfig{NAT: nat, Seed: 1})
	s.proto = track.ProtoUDP
	return s
}

func TestEngineSNAT(t *testing.T) {
	// docs/KERNEL.md §7.3 (6.18 (observed): SNAT udp/8888 to 127.0.0.3).
	s := natEngine(t, "snat to 127.0.0.3 proto udp dport 8888")
	s.cport, s.sport = 9000, 8888
	s.udp(fromClient, 1)
	s.client = netip.MustParseAddr("127.0.0.5")
	s.udp(fromClient, 1) // same port, collides
	s.client, s.cport = client4, 300
	s.udp(fromClient, 1)

	nat := netip.MustParseAddr("127.0.0.3")
	got := map[netip.Addr]map[uint16]track.Flow{}
	for _, f := range s.e.Table(s.now) {
		if got[f.Orig.Src] == nil {
			got[f.Orig.Src] = map[uint16]track.Flow{}
		}
		got[f.Orig.Src][f.Orig.SrcPort] = f
	}
	kept := got[client4][9000]
	if kept.Reply.Dst != nat || kept.Reply.DstPort != 9000 || kept.Status&track.StatusSrcNAT == 0 {
		t.Errorf("127.0.0.1:9000 should keep its port: reply %v status %v", kept.Reply, kept.Status)
	}
	moved := got[netip.MustParseAddr("127.0.0.5")][9000]
	if moved.Reply.Dst != nat || moved.Reply.DstPort < 1024 || moved.Reply.DstPort == 9000 {
		t.Errorf("127.0.0.5:9000 collides and needs some free port >= 1024: reply %v", moved.Reply)
	}
	low := got[client4][300]
	if low.Reply.DstPort != 300 {
		t.Errorf("127.0.0.1:300 should keep port 300: reply %v", low.Reply)
	}
	// Replies come back to the translated address and find the entry.
	p := s.packet(fromServer, track.ProtoUDP)
	p.Src, p.SrcPort, p.Dst, p.DstPort = server4, 8888, nat, moved.Reply.DstPort
	p.L4Length, p.Length, p.UDP.Length = 9, 29, 9
	if v := s.e.Process(p); v.State != track.CTEstablished || !v.Reply || v.Orig != moved.Orig {
		t.Errorf("reply to the remapped port: %+v", v)
	}
}

func TestEngineDNAT(t *testing.T) {
	// docs/KERNEL.md §7.3 6.18 example: DNAT udp/8890 to 127.0.0.9:9999.
	s := natEngine(t, "dnat to 127.0.0.9 ports 9999 proto udp dport 8890")
	s.cport, s.sport = 9200, 8890
	s.udp(fromClient, 1)
	flows := s.e.Table(s.now)
	want := track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: netip.MustParseAddr("127.0.0.9"), Dst: client4, SrcPort: 9999, DstPort: 9200}
	if len(flows) != 1 || flows[0].Reply != want || flows[0].Status&track.StatusDstNAT == 0 || flows[0].Status&track.StatusSrcNAT != 0 {
		t.Fatalf("reply tuple %+v; want %+v with DST_NAT only", flows, want)
	}
	if flows[0].Status&(track.StatusSrcNATDone|track.StatusDstNATDone) != track.StatusSrcNATDone|track.StatusDstNATDone {
		t.Errorf("both NAT setups ran (null binding for SNAT): %v", flows[0].Status)
	}
}

func TestEngineMasqueradeWithoutAddress(t *testing.T) {
	s := natEngine(t, "masquerade proto udp")
	s.step("masquerade on an interface without an address drops", s.udp(fromClient, 1), track.CTInvalid, "gone")
}
