package kerneldiff

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// The scripted scenarios are the engine's narrated scenarios (track's
// engine_*_test.go), played against the kernel: the kernel's entries must
// equal the engine's after every step. Each namespace below has the
// settings its scenarios need.

const (
	syn    = track.TCPSyn
	ack    = track.TCPAck
	fin    = track.TCPFin
	rst    = track.TCPRst
	psh    = track.TCPPsh | track.TCPAck
	synack = track.TCPSyn | track.TCPAck
	finack = track.TCPFin | track.TCPAck
	rstack = track.TCPRst | track.TCPAck
)

// clients hands out a client address per scenario.
type clients struct{ n int }

func (c *clients) next(v6 bool) netip.Addr {
	c.n++
	if v6 {
		a := Client6.As16()
		a[13], a[14], a[15] = 0x20, byte(c.n>>8), byte(c.n)
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{127, 20, byte(c.n >> 8), byte(c.n)})
}

func (c *clients) tcp(name string, v6 bool) *Script {
	server := Server4
	if v6 {
		server = Server6
	}
	return NewScript(name, c.next(v6), server, 40000, 80)
}

func (c *clients) udp(name string) *Script { return NewScript(name, c.next(false), Server4, 5000, 53) }

// defaultScenarios run with this kernel's default timeouts (and accounting
// on, so counters are compared too).
func defaultScenarios() []Sequence {
	var c clients
	var out []Sequence
	add := func(s *Script) { out = append(out, s.Sequence()) }

	for _, v6 := range []bool{false, true} {
		add(c.tcp(fmt.Sprintf("lifecycle(v6=%v)", v6), v6).
			TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
			TCP("server answers SYN-ACK", FromServer, synack, 5000, 1001, 0).
			TCP("client ACKs", FromClient, ack, 1001, 5001, 0).
			TCP("client sends 100 bytes", FromClient, psh, 1001, 5001, 100).
			TCP("server ACKs all data", FromServer, ack, 5001, 1101, 0).
			TCP("client sends FIN", FromClient, finack, 1101, 5001, 0).
			TCP("server ACKs the FIN", FromServer, ack, 5001, 1102, 0).
			TCP("server sends FIN", FromServer, finack, 5001, 1102, 0).
			TCP("client ACKs the FIN", FromClient, ack, 1102, 5002, 0).
			TCP("client re-opens with a new SYN", FromClient, syn, 90000, 0, 0))
	}
	add(c.tcp("pickup", false).
		TCP("client ACK picked up", FromClient, ack, 1000, 7000, 0).
		TCP("server ACK is the first reply", FromServer, ack, 7000, 1000, 0).
		TCP("client ACK assures", FromClient, ack, 1000, 7000, 0))
	for i, f := range []track.TCPFlags{synack, finack, rst, fin, syn | fin, syn | rst, 0} {
		add(c.tcp(fmt.Sprintf("new-entry-%s", f), false).
			TCP(fmt.Sprintf("lone %s on an unknown tuple", f), FromClient, f, 1000+uint32(i), 7000, 0))
	}
	hs := func(name string) *Script {
		return c.tcp(name, false).
			TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
			TCP("server answers SYN-ACK", FromServer, synack, 5000, 1001, 0).
			TCP("client ACKs", FromClient, ack, 1001, 5001, 0)
	}
	s := hs("bad-flags")
	for _, f := range []track.TCPFlags{fin, syn | fin, syn | rst, 0, rst | fin} {
		s.TCP(fmt.Sprintf("%s is an invalid combination", f), FromClient, f, 1001, 5001, 0)
	}
	s.Raw("header shorter than its data offset", FromClient, func(p *track.Packet) {
		p.TCP = track.TCPHeader{Seq: 1001, Ack: 5001, Flags: ack, Window: 500, DataOffset: 8}
		p.L4Length = 24
	})
	s.Raw("data offset under 5", FromClient, func(p *track.Packet) {
		p.TCP = track.TCPHeader{Seq: 1001, Ack: 5001, Flags: ack, Window: 500, DataOffset: 3}
		p.L4Length = 20
	})
	add(s)
	add(c.tcp("invalid-and-ignored", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).Wait(time.Second).
		TCP("client ACKs before any SYN-ACK (invalid)", FromClient, ack, 1001, 5001, 0).
		TCP("server ACK in SYN_SENT (ignored)", FromServer, ack, 5001, 1001, 0))
	add(c.tcp("syn-retransmit", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).Wait(2*time.Second).
		TCP("client retransmits the SYN (timeout not renewed)", FromClient, syn, 1000, 0, 0).
		TCP("client SYN with a new ISN", FromClient, syn, 77777, 0, 0))
	add(c.tcp("rst-ack-before-reply", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
		TCP("server refuses with RST-ACK", FromServer, rstack, 0, 1001, 0))
	add(c.tcp("rst-before-reply", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
		TCP("client gives up with RST", FromClient, rst, 1001, 0, 0))
	add(hs("rst-checks").
		TCP("server RST with an old sequence number is invalid", FromServer, rst, 4000, 0, 0).
		TCP("server RST in window but not exact keeps the state", FromServer, rst, 5100, 0, 0).
		TCP("server RST at the acked sequence closes", FromServer, rst, 5001, 0, 0))
	add(hs("reopen-after-server-rst").
		TCP("server resets", FromServer, rst, 5001, 0, 0).Wait(time.Second).
		TCP("client SYN after the server's RST is ignored", FromClient, syn, 9000, 0, 0))
	add(hs("reopen-after-own-rst").
		TCP("client resets", FromClient, rst, 1001, 0, 0).
		TCP("client SYN after its own RST re-opens", FromClient, syn, 9000, 0, 0))
	add(hs("reopen-roles-switched").
		TCP("client FIN", FromClient, finack, 1001, 5001, 0).
		TCP("server FIN", FromServer, finack, 5001, 1002, 0).
		TCP("client last ACK", FromClient, ack, 1002, 5002, 0).
		TCP("server SYN in TIME_WAIT re-opens", FromServer, syn, 9000, 0, 0))
	add(hs("resync").
		TCP("server resets", FromServer, rst, 5001, 0, 0).
		TCP("client SYN with a new ISN is ignored", FromClient, syn, 20000, 0, 0).
		TCP("server SYN-ACK for it resyncs", FromServer, synack, 60000, 20001, 0).
		TCP("client ACK completes the new handshake", FromClient, ack, 20001, 60001, 0))
	add(hs("challenge-ack").
		TCP("client FIN", FromClient, finack, 1001, 5001, 0).
		TCP("server FIN", FromServer, finack, 5001, 1002, 0).
		TCP("client SYN in LAST_ACK is ignored", FromClient, syn, 30000, 0, 0).
		TCP("server challenge ACK leaves LAST_ACK", FromServer, ack, 5002, 1002, 0))
	add(c.tcp("simultaneous-open", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
		TCP("server sends its own SYN", FromServer, syn, 5000, 0, 0).
		TCP("server SYN-ACKs", FromServer, synack, 5000, 1001, 0).
		TCP("client ACKs", FromClient, ack, 1001, 5001, 0))
	add(hs("window").
		TCP("data 900000 past the window is invalid", FromClient, psh, 901001, 5001, 100).
		TCP("an ACK for data never sent is invalid", FromClient, ack, 1001, 9999999, 0).
		TCP("client sends 1000 bytes", FromClient, psh, 1001, 5001, 1000).
		TCP("server ACKs them", FromServer, ack, 5001, 2001, 0).
		TCP("a retransmission of acked data is ignored", FromClient, psh, 1001-200000+1<<32, 5001, 100))
	s = hs("retransmissions").
		TCP("client sends 10 bytes", FromClient, psh, 1001, 5001, 10).
		TCP("server ACKs", FromServer, ack, 5001, 1011, 0)
	for i := range 4 {
		s.TCP(fmt.Sprintf("client sends the same 10 bytes again (%d)", i+1), FromClient, psh, 1011, 5001, 10)
	}
	add(s)
	ws := track.TCPOptions{HasWScale: true, WScale: 7, SACKPerm: true}
	add(c.tcp("window-scale", false).
		TCPOpts("client SYN offers wscale 7", FromClient, syn, 1000, 0, 0, 64240, ws).
		TCPOpts("server SYN-ACK offers wscale 7", FromServer, synack, 5000, 1001, 0, 65160, ws).
		TCPOpts("client ACKs with window 1000 (128000 scaled)", FromClient, ack, 1001, 5001, 0, 1000, track.TCPOptions{}).
		TCPOpts("server segment 70000 bytes ahead fits", FromServer, psh, 75001, 1001, 100, 509, track.TCPOptions{}))
	add(c.tcp("window-unscaled", false).
		TCPOpts("client SYN offers wscale 7", FromClient, syn, 1000, 0, 0, 64240, ws).
		TCPOpts("server SYN-ACK without wscale", FromServer, synack, 5000, 1001, 0, 65160, track.TCPOptions{SACKPerm: true}).
		TCPOpts("client ACKs with window 1000", FromClient, ack, 1001, 5001, 0, 1000, track.TCPOptions{}).
		TCPOpts("server segment 70000 bytes ahead is invalid", FromServer, psh, 75001, 1001, 100, 509, track.TCPOptions{}))
	add(hs("out-of-window-fin-rst").
		TCP("client FIN out of window", FromClient, finack, 901001, 5001, 0).
		TCP("server RST out of window lowers the timeout", FromServer, rstack, 905001, 1001, 0))
	add(c.tcp("rst-after-own-syn", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
		TCP("server ACK in SYN_SENT is ignored", FromServer, ack, 7000, 1001, 0).
		TCP("client retransmits its SYN", FromClient, syn, 1000, 0, 0).
		TCP("client RST acking the ignored ACK is invalid", FromClient, rstack, 1001, 7000, 0))

	// UDP and UDPLITE (docs/KERNEL.md §2.3).
	add(c.udp("udp-query-answer").
		UDP("client sends a query", FromClient, 30).
		UDP("server answers within 2 s", FromServer, 80).
		UDP("client queries again within 2 s", FromClient, 30))
	add(c.udp("udp-stream").
		UDP("client sends", FromClient, 30).
		UDP("server answers", FromServer, 80).Wait(2500*time.Millisecond).
		UDP("a packet more than 2 s after the first assures", FromClient, 30))
	add(c.udp("udp-late-reply").
		UDP("client sends", FromClient, 30).Wait(2500*time.Millisecond).
		UDP("the first reply after 2 s still gets 30 s", FromServer, 80).
		UDP("the next packet gets 120 s and ASSURED", FromServer, 80))
	add(c.udp("udp-malformed").
		UDPProto("length field past the end", FromClient, track.ProtoUDP, 12, 40).
		UDPProto("length field under 8", FromClient, track.ProtoUDP, 12, 4).
		UDP("a good datagram", FromClient, 12))
	add(c.udp("udplite").
		UDPProto("client sends UDPLITE", FromClient, track.ProtoUDPLite, 10, 0).
		UDPProto("server answers", FromServer, track.ProtoUDPLite, 10, 0).
		UDPProto("the next packet assures at once", FromClient, track.ProtoUDPLite, 10, 0).
		UDPProto("coverage 8 (header only) is fine", FromClient, track.ProtoUDPLite, 10, 8).
		UDPProto("coverage past the end is invalid", FromClient, track.ProtoUDPLite, 10, 60).
		Raw("UDPLITE without a checksum is invalid", FromClient, func(p *track.Packet) {
			p.Proto = track.ProtoUDPLite
			p.L4Length = 18
			p.UDP = track.UDPHeader{Length: 0, Checksum: 0}
		}))

	// ICMP (docs/KERNEL.md §2.4).
	for _, v6 := range []bool{false, true} {
		req, rep := uint8(8), uint8(0)
		server := Server4
		if v6 {
			req, rep, server = 128, 129, Server6
		}
		add(NewScript(fmt.Sprintf("icmp-echo(v6=%v)", v6), c.next(v6), server, 0, 0).
			ICMP("client pings", FromClient, req, 0, 4242, nil).
			ICMP("server answers", FromServer, rep, 0, 4242, nil).
			ICMP("a duplicate answer", FromServer, rep, 0, 4242, nil))
		add(NewScript(fmt.Sprintf("icmp-lone-reply(v6=%v)", v6), c.next(v6), server, 0, 0).
			ICMP("a lone echo reply is invalid", FromServer, rep, 0, 7, nil))
		client := c.next(v6)
		udp := &track.InnerHeader{Src: client, Dst: server, Proto: track.ProtoUDP, SrcPort: 5000, DstPort: 53}
		other := &track.InnerHeader{Src: client, Dst: server, Proto: track.ProtoUDP, SrcPort: 5000, DstPort: 54}
		unreach, code := uint8(3), uint8(3)
		if v6 {
			unreach, code = 1, 4
		}
		add(NewScript(fmt.Sprintf("icmp-error(v6=%v)", v6), client, server, 5000, 53).
			UDP("client sends a datagram", FromClient, 20).
			ICMP("server says port unreachable (RELATED)", FromServer, unreach, code, 0, udp).
			ICMP("an error about an unknown flow", FromServer, unreach, code, 0, other).
			ICMP("an error sent to the wrong address", FromClient, unreach, code, 0, udp))
	}
	add(NewScript("icmp-types", c.next(false), Server4, 0, 0).
		ICMP("router advertisement has no reply type", FromServer, 9, 0, 0, nil).
		ICMP("timestamp request", FromClient, 13, 0, 77, nil).
		ICMP("timestamp reply", FromServer, 14, 0, 77, nil).
		ICMP("type 40 is an ICMP error", FromServer, 40, 0, 0, nil))
	add(NewScript("icmpv6-nd", c.next(true), Server6, 0, 0).
		ICMP("neighbour solicitation is untracked", FromClient, 135, 0, 0, nil).
		ICMP("MLD report is untracked", FromClient, 143, 0, 0, nil).
		ICMP("node information query", FromClient, 139, 0, 5, nil))

	// Generic, GRE, DCCP (docs/KERNEL.md §2.5).
	for _, p := range []track.Proto{253, track.ProtoDCCP, track.ProtoGRE} {
		add(NewScript(fmt.Sprintf("proto-%d", p), c.next(false), Server4, 0, 0).
			Proto("client sends", FromClient, p, track.GREHeader{}).
			Proto("server answers", FromServer, p, track.GREHeader{}).
			Proto("client again", FromClient, p, track.GREHeader{}))
	}
	add(NewScript("gre-pptp", c.next(false), Server4, 0, 0).
		Proto("GRE v1 PPP with call id 7", FromClient, track.ProtoGRE, track.GREHeader{Version: 1, PPP: true, CallID: 7}).
		Proto("GRE v1 of another protocol is invalid", FromClient, track.ProtoGRE, track.GREHeader{Version: 1, CallID: 8}))
	return out
}

// shortScenarios run with the random test's lowered timeouts.
func shortScenarios() []Sequence {
	var c clients
	c.n = 1000
	var out []Sequence
	add := func(s *Script) { out = append(out, s.Sequence()) }
	add(c.tcp("expiry-and-new-entry", false).
		TCP("client sends SYN", FromClient, syn, 1000, 0, 0).Wait(3500*time.Millisecond).
		TCP("after syn_sent=3 the SYN creates a fresh entry", FromClient, syn, 1000, 0, 0).
		TCP("server answers", FromServer, synack, 5000, 1001, 0).
		TCP("client ACKs (established=9)", FromClient, ack, 1001, 5001, 0).
		TCP("client sends data (unacknowledged=6)", FromClient, psh, 1001, 5001, 10))
	add(c.tcp("syn-sent2-keeps-the-syn-timeout", false).
		TCP("client sends SYN (syn_sent=3)", FromClient, syn, 1000, 0, 0).Wait(time.Second).
		TCP("server SYN: SYN_SENT2, timeout not renewed (about 2 s left, not 120)", FromServer, syn, 5000, 0, 0).
		TCP("server retransmits its SYN: refreshed, but no ACK seen yet (last_win 0) caps 120 s at max_retrans=5", FromServer, syn, 5000, 0, 0))
	add(c.udp("udp-expiry").
		UDP("client sends", FromClient, 10).Wait(3500*time.Millisecond).
		UDP("udp_timeout=3 has passed: a new entry", FromClient, 10))
	add(NewScript("icmp-expiry", c.next(false), Server4, 0, 0).
		ICMP("client pings", FromClient, 8, 0, 1, nil).Wait(3500*time.Millisecond).
		ICMP("the reply after icmp_timeout=3 is invalid", FromServer, 0, 0, 1, nil))
	return out
}

func TestKernelEngineScripted(t *testing.T) {
	netnstest.Require(t) // before the subtests, so that the test itself skips too
	short := GenSysctls()
	for _, tc := range []struct {
		name    string
		sysctls track.Sysctls
		seqs    []Sequence
	}{
		{"defaults", track.Sysctls{"nf_conntrack_acct": "1"}, defaultScenarios()},
		{"short-timeouts", short, shortScenarios()},
		{"loose=0", track.Sysctls{"nf_conntrack_tcp_loose": "0"}, []Sequence{
			NewScript("pickup-refused", Client4, Server4, 40000, 80).
				TCP("mid-stream ACK is invalid with loose=0", FromClient, ack, 1000, 7000, 0).
				TCP("a SYN is still fine", FromClient, syn, 1000, 0, 0).Sequence()}},
		{"be_liberal=1", track.Sysctls{"nf_conntrack_tcp_be_liberal": "1"}, []Sequence{
			NewScript("liberal-window", Client4, Server4, 40000, 80).
				TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
				TCP("server answers SYN-ACK", FromServer, synack, 5000, 1001, 0).
				TCP("client ACKs", FromClient, ack, 1001, 5001, 0).
				TCP("data 900000 past the window is accepted", FromClient, psh, 901001, 5001, 100).
				TCP("an old RST is still invalid", FromServer, rst, 4000, 0, 0).Sequence()}},
		{"ignore_invalid_rst=1", track.Sysctls{"nf_conntrack_tcp_ignore_invalid_rst": "1"}, []Sequence{
			NewScript("old-rst-accepted", Client4, Server4, 40000, 80).
				TCP("client sends SYN", FromClient, syn, 1000, 0, 0).
				TCP("server answers SYN-ACK", FromServer, synack, 5000, 1001, 0).
				TCP("client ACKs", FromClient, ack, 1001, 5001, 0).
				TCP("an old RST is not invalid", FromServer, rst, 4000, 0, 0).Sequence()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runScripted(t, tc.sysctls, "", track.EngineConfig{}, tc.seqs)
		})
	}
}

// rulesRuleset gives zones and marks, NOTRACK and NAT the scripted rules
// scenarios need; rulesConfig is the same for the engine.
const rulesRuleset = `table inet ctdiag_rules {
	chain raw_out {
		type filter hook output priority raw;
		udp dport 7777 ct zone set 5
		udp sport 7777 ct zone set 5
		udp dport 5353 notrack
	}
	chain mark_out {
		type filter hook output priority filter;
		udp dport 7777 ct mark set 16
	}
}
table ip ctdiag_nat {
	chain post {
		type nat hook postrouting priority 100;
		udp dport 8888 snat to 127.0.0.3
		udp dport 8889 snat to 127.0.0.3:20000-20010
		tcp dport 8892 snat to 127.0.0.4:30000-30000
		udp dport 9911 masquerade
	}
	chain out {
		type nat hook output priority -100;
		udp dport 8890 dnat to 127.0.0.9:9999
		udp dport 8891 dnat to 127.0.0.9:7000-7010
	}
}
`

func rulesConfig(t *testing.T) track.EngineConfig {
	var cfg track.EngineConfig
	for _, r := range []string{"snat to 127.0.0.3 proto udp dport 8888", "snat to 127.0.0.3 ports 20000-20010 proto udp dport 8889",
		"snat to 127.0.0.4 ports 30000 proto tcp dport 8892", "masquerade proto udp dport 9911",
		"dnat to 127.0.0.9 ports 9999 proto udp dport 8890", "dnat to 127.0.0.9 ports 7000-7010 proto udp dport 8891"} {
		rule, err := track.ParseNATRule(r)
		if err != nil {
			t.Fatal(err)
		}
		cfg.NAT = append(cfg.NAT, rule)
	}
	nt, err := track.ParseNoTrackRule("proto udp dport 5353")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NoTrack = []track.NoTrackRule{nt}
	return cfg
}

func TestKernelEngineRules(t *testing.T) {
	netnstest.Require(t) // before the subtests, so that the test itself skips too
	a, b := netip.MustParseAddr("127.30.0.1"), netip.MustParseAddr("127.30.0.5")
	seqs := []Sequence{
		NewScript("zone-and-mark", netip.MustParseAddr("127.30.1.1"), Server4, 7000, 7777).Zone(5, 16).
			UDP("client sends in zone 5 with mark 16", FromClient, 10).
			UDP("server answers in zone 5", FromServer, 10).Sequence(),
		NewScript("notrack-one-way", netip.MustParseAddr("127.30.2.1"), Server4, 6000, 5353).
			UDP("a NOTRACKed query", FromClient, 10).
			UDP("its answer is tracked in reverse", FromServer, 10).Sequence(),
		NewScript("snat-keeps-port", a, Server4, 9000, 8888).
			UDP("SNAT to 127.0.0.3 keeps port 9000", FromClient, 1).Sequence(),
		NewScript("snat-low-port", a, Server4, 300, 8888).
			UDP("SNAT keeps port 300", FromClient, 1).Sequence(),
		NewScript("dnat", netip.MustParseAddr("127.30.3.1"), Server4, 9200, 8890).
			UDP("DNAT to 127.0.0.9:9999", FromClient, 1).Sequence(),
		NewScript("dnat-port-range", netip.MustParseAddr("127.30.3.2"), Server4, 9300, 8891).
			UDP("DNAT to 127.0.0.9:7000-7010 takes the first port, 7000", FromClient, 1).
			UDP("the client again: the same entry", FromClient, 1).Sequence(),
		NewScript("dnat-port-range-reply", netip.MustParseAddr("127.30.3.3"), Server4, 9301, 8891).
			UDP("another client, DNAT to 7000", FromClient, 1).
			Raw("the answer comes from 127.0.0.9:7000", FromServer, func(p *track.Packet) {
				p.Proto, p.Src, p.SrcPort = track.ProtoUDP, netip.MustParseAddr("127.0.0.9"), 7000
				p.L4Length, p.UDP = 9, track.UDPHeader{Length: 9, Checksum: 1}
			}).Sequence(),
		NewScript("snat-port-range", netip.MustParseAddr("127.30.5.1"), Server4, 9000, 8889).RandomPorts().
			UDP("SNAT into 20000-20010 picks a port of the range", FromClient, 1).Sequence(),
		NewScript("snat-single-port", netip.MustParseAddr("127.30.6.1"), Server4, 40000, 8892).
			TCP("SNAT to the single port 30000", FromClient, syn, 1000, 0, 0).
			Raw("the SYN-ACK comes back to 127.0.0.4:30000", FromServer, func(p *track.Packet) {
				p.Dst, p.DstPort = netip.MustParseAddr("127.0.0.4"), 30000
				p.TCP = track.TCPHeader{Seq: 5000, Ack: 1001, Flags: synack, Window: 64240, DataOffset: 5}
				p.L4Length = 20
			}).Sequence(),
		NewScript("masquerade-no-address", netip.MustParseAddr("127.30.4.1"), Server4, 9000, 9911).
			UDP("masquerade on lo finds no address and drops", FromClient, 1).Sequence(),
	}
	collide := NewScript("snat-collision", b, Server4, 9000, 8888).RandomPorts()
	collide.seq.Steps = append(collide.seq.Steps, Step{Delay: 1500 * time.Millisecond}) // after snat-keeps-port
	collide.UDP("the same port from another client collides: some port >= 1024", FromClient, 1)
	collide.seq.Steps = collide.seq.Steps[1:]
	collide.seq.Steps[0].Delay = 1500 * time.Millisecond
	seqs = append(seqs, collide.Sequence())
	runScripted(t, track.Sysctls{}, rulesRuleset, rulesConfig(t), seqs)
}

// runScripted plays scripted sequences in a fresh namespace; every
// checkpoint must agree.
func runScripted(t *testing.T, sysctls track.Sysctls, ruleset string, extra track.EngineConfig, seqs []Sequence) {
	ns := NewNamespace(t, sysctls)
	if ruleset != "" {
		ns.Nft(t, ruleset)
	}
	sender, err := NewSender(ns.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	cfg := ns.EngineConfig(t)
	cfg.NAT, cfg.NoTrack = extra.NAT, extra.NoTrack
	e, err := track.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var trace []string
	r := NewRunner(ns, sender, e, Options{Concurrency: len(seqs), Trace: true, MaxReports: 100,
		Logf: func(f string, a ...any) { trace = append(trace, fmt.Sprintf(f, a...)) }})
	res, err := r.Run(seqs)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, s := range seqs {
		steps += len(s.Steps)
	}
	equal, diff := res.FinalStatsEqual()
	t.Logf("%d scripted scenarios, %d packets, %d checkpoints: %d scenarios agree at every step; statistics agree at %d of %d readings and at the end (%v): %v",
		len(seqs), steps, res.Checkpoints, res.Agreeing, res.StatAgree, res.StatChecks, equal, res.FinalEngine)
	if res.Agreeing != len(seqs) || !equal || testing.Verbose() {
		sort.Strings(trace)
		t.Log(strings.Join(trace, "\n"))
	}
	for _, d := range res.Disagreements {
		t.Errorf("%s", d)
	}
	for _, d := range res.StatDiffs {
		t.Logf("statistics differ during the run %s", d)
	}
	if !equal {
		t.Errorf("statistics differ at the end: %s", diff)
	}
}
