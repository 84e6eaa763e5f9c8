package track_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// UDP, UDPLITE, ICMP, GRE and generic scenarios (docs/KERNEL.md §2).

func udpScenario(t *testing.T, sysctls ...string) *scenario {
	s := newScenario(t, sysctls...)
	s.proto, s.cport, s.sport = track.ProtoUDP, 5000, 53
	return s
}

func TestEngineUDPQueryAndAnswer(t *testing.T) {
	// docs/KERNEL.md §2.3: an answer within 2 s replies the entry but does not
	// assure it; the entry expires 30 s after the last packet.
	s := udpScenario(t)
	s.step("client sends a query", s.udp(fromClient, 30), track.CTNew, "29 [UNREPLIED]")
	s.wait(100 * time.Millisecond)
	s.step("server answers within 2 s", s.udp(fromServer, 80), track.CTEstablished, "29")
	s.wait(time.Second)
	s.step("client queries again within 2 s", s.udp(fromClient, 30), track.CTEstablished, "29")
	s.wait(30 * time.Second)
	s.step("30 s later the entry is gone", track.Verdict{}, track.CTInvalid, "gone")
}

func TestEngineUDPStream(t *testing.T) {
	s := udpScenario(t)
	s.udp(fromClient, 30)
	s.udp(fromServer, 80)
	s.wait(2100 * time.Millisecond)
	s.step("a packet more than 2 s after the first assures", s.udp(fromClient, 30), track.CTEstablished, "119 [ASSURED]")

	s = udpScenario(t)
	s.udp(fromClient, 30)
	s.wait(3 * time.Second)
	s.step("the first reply after 2 s still gets 30 s", s.udp(fromServer, 80), track.CTEstablished, "29")
	s.step("the next packet gets 120 s and ASSURED", s.udp(fromServer, 80), track.CTEstablished, "119 [ASSURED]")

	s = udpScenario(t, "nf_conntrack_udp_timeout=10", "nf_conntrack_udp_timeout_stream=40")
	s.udp(fromClient, 30)
	s.udp(fromServer, 80)
	s.wait(3 * time.Second)
	s.step("stream timeout from the sysctl", s.udp(fromServer, 80), track.CTEstablished, "39 [ASSURED]")
}

func TestEngineUDPMalformed(t *testing.T) {
	s := udpScenario(t)
	p := s.packet(fromClient, track.ProtoUDP)
	p.L4Length, p.Length = 20, 40
	p.UDP = track.UDPHeader{Length: 28}
	s.step("length field past the packet end", s.e.Process(p), track.CTInvalid, "gone")
	p.UDP.Length = 4
	s.step("length field under 8", s.e.Process(p), track.CTInvalid, "gone")
	if got := s.stat(track.CounterInvalid); got != 2 {
		t.Errorf("invalid %d, want 2", got)
	}
}

func TestEngineUDPLite(t *testing.T) {
	// docs/KERNEL.md §2.3: UDPLITE has no 2-second rule.
	s := udpScenario(t)
	s.proto = track.ProtoUDPLite
	s.step("client sends", s.udp(fromClient, 10), track.CTNew, "29 [UNREPLIED]")
	s.step("server answers", s.udp(fromServer, 10), track.CTEstablished, "29")
	s.step("the next packet assures at once", s.udp(fromClient, 10), track.CTEstablished, "119 [ASSURED]")
	p := s.packet(fromClient, track.ProtoUDPLite)
	p.L4Length, p.Length = 18, 38
	p.UDP = track.UDPHeader{Length: 0, Checksum: 0}
	s.step("UDPLITE without a checksum is invalid", s.e.Process(p), track.CTInvalid, "119 [ASSURED]")
}

// icmp sends an ICMP message between the scenario's hosts.
func (s *scenario) icmp(from int, typ, code uint8, id uint16, inner *track.InnerHeader) track.Verdict {
	p := s.packet(from, track.ProtoICMP)
	p.SrcPort, p.DstPort = 0, 0
	p.ICMP = track.ICMPHeader{Type: typ, Code: code, ID: id, Inner: inner}
	p.L4Length, p.Length = 64, 84
	return s.e.Process(p)
}

func TestEngineICMPEcho(t *testing.T) {
	// docs/KERNEL.md §2.4.
	s := newScenario(t)
	s.proto, s.cport, s.sport = track.ProtoICMP, 0, 0
	echo := track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoICMP, Src: client4, Dst: server4, Type: 8, ID: 4242}
	look := func() string { return describe(s.e, s.now.Add(10*time.Millisecond), echo) }
	check := func(narration string, v track.Verdict, state track.CTState, entry string) {
		t.Helper()
		if got := look(); v.State != state || got != entry {
			t.Errorf("%s: got %s (%s), entry %q; want %s, %q", narration, v.State, v.Reason, got, state, entry)
		}
	}
	check("client pings", s.icmp(fromClient, 8, 0, 4242, nil), track.CTNew, "29 [UNREPLIED]")
	s.wait(time.Second)
	check("server answers", s.icmp(fromServer, 0, 0, 4242, nil), track.CTEstablished, "29")
	check("a duplicate answer is still tracked", s.icmp(fromServer, 0, 0, 4242, nil), track.CTEstablished, "29")

	s = newScenario(t)
	check("a lone echo reply is invalid", s.icmp(fromServer, 0, 0, 7, nil), track.CTInvalid, "gone")
	check("a router advertisement has no reply type", s.icmp(fromServer, 9, 0, 0, nil), track.CTInvalid, "gone")
	if got := s.stat(track.CounterInvalid); got != 2 {
		t.Errorf("invalid %d, want 2", got)
	}
	check("type 40 is an icmp error", s.icmp(fromServer, 40, 0, 0, nil), track.CTInvalid, "gone")
	if got := s.stat(track.CounterError); got != 1 {
		t.Errorf("error %d, want 1", got)
	}
}

func TestEngineICMPErrorRelated(t *testing.T) {
	// docs/KERNEL.md §2.4: an error about a tracked flow is RELATED, and neither
	// refreshes nor replies the entry.
	s := udpScenario(t)
	s.udp(fromClient, 30)
	s.wait(5 * time.Second)
	about := &track.InnerHeader{Src: client4, Dst: server4, Proto: track.ProtoUDP, SrcPort: 5000, DstPort: 53}
	v := s.icmp(fromServer, 3, 3, 0, about)
	s.step("server says port unreachable", v, track.CTRelated, "24 [UNREPLIED]")
	if !v.Reply {
		t.Errorf("the error travels in the reply direction: Reply = false")
	}
	wrong := &track.InnerHeader{Src: client4, Dst: server4, Proto: track.ProtoUDP, SrcPort: 5000, DstPort: 54}
	s.step("an error about an unknown flow", s.icmp(fromServer, 3, 3, 0, wrong), track.CTInvalid, "24 [UNREPLIED]")
	p := s.packet(fromServer, track.ProtoICMP)
	p.Dst = netip.MustParseAddr("127.0.0.9")
	p.ICMP = track.ICMPHeader{Type: 3, Code: 3, Inner: about}
	p.L4Length, p.Length = 36, 56
	s.step("an error sent to another address", s.e.Process(p), track.CTInvalid, "24 [UNREPLIED]")
	if got := s.stat(track.CounterError); got != 2 {
		t.Errorf("error %d, want 2", got)
	}
	if got := s.stat(track.CounterInvalid); got != 0 {
		t.Errorf("invalid %d, want 0 (ICMP errors count in error)", got)
	}
}

func TestEngineICMPv6(t *testing.T) {
	s := newScenario(t)
	s.client, s.server = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	send := func(from int, typ uint8) track.Verdict {
		p := s.packet(from, track.ProtoICMPv6)
		p.SrcPort, p.DstPort = 0, 0
		p.ICMP = track.ICMPHeader{Type: typ, ID: 9}
		p.L4Length, p.Length = 16, 56
		return s.e.Process(p)
	}
	echo := track.Tuple{Family: track.FamilyIPv6, Proto: track.ProtoICMPv6, Src: s.client, Dst: s.server, Type: 128, ID: 9}
	for _, tc := range []struct {
		narration string
		from      int
		typ       uint8
		state     track.CTState
		entry     string
	}{
		{"neighbour solicitation is untracked", fromClient, 135, track.CTUntracked, "gone"},
		{"client pings", fromClient, 128, track.CTNew, "29 [UNREPLIED]"},
		{"server answers", fromServer, 129, track.CTEstablished, "29"},
	} {
		v := send(tc.from, tc.typ)
		if got := describe(s.e, s.now.Add(10*time.Millisecond), echo); v.State != tc.state || got != tc.entry {
			t.Errorf("%s: got %s, %q; want %s, %q", tc.narration, v.State, got, tc.state, tc.entry)
		}
	}
}

func TestEngineGenericAndGRE(t *testing.T) {
	// docs/KERNEL.md §2.5.
	s := newScenario(t)
	s.proto, s.cport, s.sport = 253, 0, 0
	s.step("protocol 253 is tracked generically", s.udp(fromClient, 10), track.CTNew, "599 [UNREPLIED]")
	s.step("a reply does not assure it", s.udp(fromServer, 10), track.CTEstablished, "599")
	s.step("nor does a third packet", s.udp(fromClient, 10), track.CTEstablished, "599")

	s = newScenario(t)
	s.proto, s.cport, s.sport = track.ProtoGRE, 0, 0
	s.step("GRE starts unreplied", s.udp(fromClient, 10), track.CTNew, "29 [UNREPLIED]")
	s.step("a reply gets the unreplied timeout", s.udp(fromServer, 10), track.CTEstablished, "29")
	s.step("the next packet assures with the stream timeout", s.udp(fromClient, 10), track.CTEstablished, "179 [ASSURED]")
	flows := s.e.Table(s.now)
	if len(flows) != 1 || flows[0].Ext == nil || flows[0].Ext.GRETimeout != 30 || flows[0].Ext.GREStreamTimeout != 180 {
		t.Errorf("GRE entry should carry timeout=30, stream_timeout=180: %+v", flows)
	}

	s = newScenario(t)
	s.proto, s.cport, s.sport = track.ProtoDCCP, 0, 0
	s.udp(fromClient, 10)
	flows = s.e.Table(s.now)
	if len(flows) != 1 || !flows[0].Fields.Has(track.FieldGeneric) || flows[0].Orig.SrcPort != 0 {
		t.Errorf("DCCP is tracked generically on 6.18 (unknown 33, no ports): %+v", flows)
	}
}

func TestEngineTimeoutDisplay(t *testing.T) {
	// docs/KERNEL.md §5.1, §8.4: floor(jiffies left / HZ); gone when no jiffy is left.
	s := udpScenario(t)
	s.udp(fromClient, 10)
	for _, tc := range []struct {
		after time.Duration
		entry string
	}{
		{0, "30 [UNREPLIED]"},
		{4 * time.Millisecond, "29 [UNREPLIED]"},
		{29996 * time.Millisecond, "0 [UNREPLIED]"},
		{30 * time.Second, "gone"},
	} {
		if got := describe(s.e, s.now.Add(tc.after), s.orig()); got != tc.entry {
			t.Errorf("%v after the packet: %q, want %q", tc.after, got, tc.entry)
		}
	}
}

func TestEngineLoopbackCountsInvalidTwice(t *testing.T) {
	// docs/KERNEL.md §4.6: over lo an INVALID packet is tracked again at PRE_ROUTING.
	s := newScenarioConfig(t, track.EngineConfig{Loopback: true})
	s.tcp(fromClient, finack, 1, 1, 0)
	if got := s.stat(track.CounterInvalid); got != 2 {
		t.Errorf("invalid %d after one bad packet over loopback, want 2", got)
	}
}

func TestEngineMarkAndZone(t *testing.T) {
	s := udpScenario(t)
	p := s.packet(fromClient, track.ProtoUDP)
	p.Zone, p.Mark = 5, 16
	p.L4Length, p.Length = 10, 30
	p.UDP.Length = 10
	s.e.Process(p)
	flows := s.e.Table(s.now)
	if len(flows) != 1 || flows[0].Zone != 5 || flows[0].Mark != 16 {
		t.Fatalf("want one entry with zone=5 mark=16: %+v", flows)
	}
	s.step("the same tuple in zone 0 is another entry", s.udp(fromClient, 2), track.CTNew, "29 [UNREPLIED]")
	if n := s.e.Len(s.now); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
}

func TestEngineAccounting(t *testing.T) {
	s := udpScenario(t, "nf_conntrack_acct=1", "nf_conntrack_timestamp=1")
	s.udp(fromClient, 1)
	s.wait(1500 * time.Millisecond)
	s.udp(fromServer, 1)
	flows := s.e.Table(s.now)
	if len(flows) != 1 {
		t.Fatalf("%d entries", len(flows))
	}
	f := flows[0]
	if f.OrigCounters != (track.Counters{Packets: 1, Bytes: 29}) || f.ReplyCounters != (track.Counters{Packets: 1, Bytes: 29}) || f.DeltaTime != 1 {
		t.Errorf("counters %+v %+v delta-time %d; want 1/29 each way, delta-time 1", f.OrigCounters, f.ReplyCounters, f.DeltaTime)
	}
}

func TestEngineSnapshot(t *testing.T) {
	s := udpScenario(t, "nf_conntrack_max=1000")
	s.udp(fromClient, 1)
	s.tcp(fromClient, finack, 1, 1, 0) // a different protocol, invalid
	snap := s.e.Snapshot(s.now)
	if len(snap.Flows) != 1 || snap.Count != 1 || !snap.HasCount || snap.Max != 1000 || !snap.HasMax ||
		snap.Source.Kind != track.SourceEngine || snap.Stats.Total(track.CounterInvalid) != 1 {
		t.Errorf("snapshot %+v", snap)
	}
	if v, _ := snap.Sysctls.Get("nf_conntrack_max"); v != "1000" {
		t.Errorf("snapshot sysctls say nf_conntrack_max=%q", v)
	}
}
