package kerneldiff

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/track"
)

// Generator makes random packet sequences from a seed. Each sequence gets
// its own client address, so sequences never share a tuple and can run
// concurrently; within a sequence tuples are reused on purpose (re-opens,
// packets after expiry).
//
// The sequences are plausible conversations with mistakes: handshakes,
// data, closes, resets, and then retransmissions, sequence and ack numbers
// out of window, bad flag combinations, truncated headers, delays across
// timeouts, ICMP errors about the sequence's own flows, malformed UDP.
type Generator struct {
	rng *rand.Rand
	n   int // sequences made, for client addresses
}

// NewGenerator returns a generator for a seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

// GenSysctls are the lowered timeouts the random sequences are played
// with, so that delays can cross them in seconds. Their order matches the
// kernel defaults' (established > unacknowledged/max_retrans > the rest).
func GenSysctls() track.Sysctls {
	return track.Sysctls{
		"nf_conntrack_tcp_timeout_syn_sent":       "3",
		"nf_conntrack_tcp_timeout_syn_recv":       "3",
		"nf_conntrack_tcp_timeout_established":    "9",
		"nf_conntrack_tcp_timeout_fin_wait":       "3",
		"nf_conntrack_tcp_timeout_close_wait":     "3",
		"nf_conntrack_tcp_timeout_last_ack":       "2",
		"nf_conntrack_tcp_timeout_time_wait":      "3",
		"nf_conntrack_tcp_timeout_close":          "2",
		"nf_conntrack_tcp_timeout_max_retrans":    "5",
		"nf_conntrack_tcp_timeout_unacknowledged": "6",
		"nf_conntrack_udp_timeout":                "3",
		"nf_conntrack_udp_timeout_stream":         "7",
		"nf_conntrack_icmp_timeout":               "3",
		"nf_conntrack_icmpv6_timeout":             "3",
		"nf_conntrack_generic_timeout":            "4",
		"nf_conntrack_gre_timeout":                "3",
		"nf_conntrack_gre_timeout_stream":         "6",
		"nf_conntrack_acct":                       "1",
	}
}

// Sequences makes n sequences.
func (g *Generator) Sequences(n int) []Sequence {
	out := make([]Sequence, n)
	for i := range out {
		out[i] = g.Sequence()
	}
	return out
}

// Sequence makes one sequence.
func (g *Generator) Sequence() Sequence {
	c := g.newConv()
	steps := 2 + g.rng.IntN(11)
	r := g.rng.Float64()
	var kind string
	switch {
	case r < 0.60:
		kind = "tcp"
		g.tcpSequence(c, steps)
	case r < 0.78:
		kind = "udp"
		g.udpSequence(c, steps)
	case r < 0.92:
		kind = "icmp"
		g.icmpSequence(c, steps)
	default:
		kind = "other"
		g.otherSequence(c, steps)
	}
	return Sequence{Name: fmt.Sprintf("%d-%s-%s", g.n, kind, c.family), Steps: c.steps}
}

// conv is a conversation being generated.
type conv struct {
	g              *Generator
	family         track.Family
	client, server netip.Addr
	cport, sport   uint16
	steps          []Step
}

func (g *Generator) newConv() *conv {
	g.n++
	c := &conv{g: g, family: track.FamilyIPv4, cport: uint16(1024 + g.rng.IntN(64000)), sport: []uint16{80, 443, 22, 53, 8080, 5000}[g.rng.IntN(6)]}
	if g.rng.IntN(10) < 3 {
		c.family = track.FamilyIPv6
		a := Client6.As16()
		a[12], a[13], a[14], a[15] = 1, byte(g.n>>16), byte(g.n>>8), byte(g.n)
		c.client, c.server = netip.AddrFrom16(a), Server6
	} else {
		c.client = netip.AddrFrom4([4]byte{127, 16 + byte(g.n>>16), byte(g.n >> 8), byte(g.n)})
		c.server = Server4
	}
	return c
}

// delay draws the pause before a packet: mostly short, sometimes long
// enough to cross a timeout.
func (g *Generator) delay() time.Duration {
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+g.rng.IntN(hi-lo+1)) * time.Millisecond }
	switch r := g.rng.IntN(100); {
	case r < 70:
		return ms(0, 200)
	case r < 90:
		return ms(300, 2500)
	default:
		return ms(2500, 9500)
	}
}

func (c *conv) add(p track.Packet) {
	delay := c.g.delay()
	if len(c.steps) == 0 {
		delay = time.Duration(c.g.rng.IntN(50)) * time.Millisecond
	}
	c.steps = append(c.steps, Step{Delay: delay, Packet: p})
}

// base returns a packet from the client (fromServer false) or the server.
func (c *conv) base(fromServer bool, proto track.Proto) track.Packet {
	p := track.Packet{Family: c.family, Proto: proto, Src: c.client, Dst: c.server, SrcPort: c.cport, DstPort: c.sport}
	if fromServer {
		p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	return p
}

func (c *conv) ipHeader() int {
	if c.family == track.FamilyIPv6 {
		return 40
	}
	return 20
}

// TCP.

type tcpEnd struct {
	isn, next uint32 // initial and next sequence number
	acked     uint32 // what this end has acknowledged of the peer
	win       uint16
	wscale    int // -1: none offered
	sackOK    bool
}

type tcpConv struct {
	*conv
	end  [2]tcpEnd // client, server
	last *track.Packet
}

func (g *Generator) tcpSequence(c *conv, n int) {
	t := &tcpConv{conv: c}
	for i := range t.end {
		t.end[i] = tcpEnd{isn: g.rng.Uint32(), win: uint16(1 + g.rng.IntN(65535)), wscale: -1}
		t.end[i].next = t.end[i].isn
		if g.rng.IntN(2) == 0 {
			t.end[i].wscale = g.rng.IntN(16)
		}
		t.end[i].sackOK = g.rng.IntN(2) == 0
	}
	// Start like a real connection most of the time, or mid-stream.
	if g.rng.IntN(10) < 8 {
		t.syn(false)
		if g.rng.IntN(10) < 8 {
			t.synack()
			if g.rng.IntN(10) < 8 {
				t.segment(false, track.TCPAck, 0)
			}
		}
	}
	for len(c.steps) < n {
		t.randomStep()
	}
}

func (t *tcpConv) send(fromServer bool, flags track.TCPFlags, seq, ack uint32, payload int, opts track.TCPOptions, doff uint8) {
	p := t.base(fromServer, track.ProtoTCP)
	e := &t.end[b2i(fromServer)]
	if !opts.HasSACK {
		opts.SACK = ack
	}
	optLen := capture.TCPOptionsLen(&opts, ack)
	if doff == 0 {
		doff = uint8(5 + (optLen+3)/4)
	}
	opts.Present = doff > 5
	p.TCP = track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: e.win, DataOffset: doff, Options: opts}
	p.L4Length = int(doff)*4 + payload
	p.Length = t.ipHeader() + p.L4Length
	t.add(p)
	t.last = &t.steps[len(t.steps)-1].Packet
}

func (t *tcpConv) synOpts(e *tcpEnd) track.TCPOptions {
	var o track.TCPOptions
	if e.wscale >= 0 {
		o.HasWScale, o.WScale = true, uint8(e.wscale)
	}
	o.SACKPerm = e.sackOK
	return o
}

func (t *tcpConv) syn(fromServer bool) {
	e := &t.end[b2i(fromServer)]
	if t.g.rng.IntN(4) == 0 {
		e.isn = t.g.rng.Uint32() // a new ISN
	}
	e.next = e.isn + 1
	t.send(fromServer, track.TCPSyn, e.isn, 0, 0, t.synOpts(e), 0)
}

func (t *tcpConv) synack() {
	s, c := &t.end[1], &t.end[0]
	s.next = s.isn + 1
	ack := c.next
	if t.g.rng.IntN(10) == 0 {
		ack += uint32(t.g.rng.IntN(1000)) - 500 // a wrong ack
	}
	s.acked = ack
	t.send(true, track.TCPSyn|track.TCPAck, s.isn, ack, 0, t.synOpts(s), 0)
}

// segment sends an ACK-class segment with payload bytes of data.
func (t *tcpConv) segment(fromServer bool, flags track.TCPFlags, payload int) {
	e, peer := &t.end[b2i(fromServer)], &t.end[1-b2i(fromServer)]
	seq, ack := e.next, peer.next
	var opts track.TCPOptions
	switch r := t.g.rng.IntN(100); {
	case r < 8:
		seq -= uint32(t.g.rng.IntN(300000)) // old data
	case r < 14:
		seq += uint32(50000 + t.g.rng.IntN(2000000)) // far ahead
	case r < 18:
		ack += uint32(1 + t.g.rng.IntN(100000)) // acks data never sent
	case r < 22:
		ack -= uint32(60000 + t.g.rng.IntN(500000)) // very old ack
	case r < 27 && peer.sackOK:
		opts.SACK, opts.HasSACK = ack+uint32(t.g.rng.IntN(3000)), true // a SACK block
	}
	if t.g.rng.IntN(20) == 0 {
		e.win = 0
	} else if t.g.rng.IntN(5) == 0 {
		e.win = uint16(1 + t.g.rng.IntN(65535))
	}
	adv := uint32(payload)
	if flags&track.TCPFin != 0 {
		adv++
	}
	if seq == e.next {
		e.next += adv
	}
	e.acked = ack
	t.send(fromServer, flags, seq, ack, payload, opts, 0)
}

func (t *tcpConv) rst(fromServer bool) {
	e, peer := &t.end[b2i(fromServer)], &t.end[1-b2i(fromServer)]
	seq := e.next
	switch t.g.rng.IntN(5) {
	case 0:
		seq += uint32(1 + t.g.rng.IntN(20000)) // in window, not exact
	case 1:
		seq -= uint32(1 + t.g.rng.IntN(20000)) // old
	case 2:
		seq = 0
	}
	flags, ack := track.TCPRst, uint32(0)
	if t.g.rng.IntN(2) == 0 {
		flags |= track.TCPAck
		ack = peer.next
	}
	t.send(fromServer, flags, seq, ack, 0, track.TCPOptions{}, 0)
}

func (t *tcpConv) randomStep() {
	g := t.g
	fromServer := g.rng.IntN(2) == 0
	switch r := g.rng.IntN(100); {
	case r < 30:
		payload := 0
		if g.rng.IntN(2) == 0 {
			payload = 1 + g.rng.IntN(1400)
		}
		flags := track.TCPAck
		if payload > 0 {
			flags |= track.TCPPsh
		}
		t.segment(fromServer, flags, payload)
	case r < 40:
		t.segment(fromServer, track.TCPFin|track.TCPAck, 0)
	case r < 50:
		t.rst(fromServer)
	case r < 58:
		t.syn(fromServer)
	case r < 62:
		t.synack()
	case r < 72 && t.last != nil:
		// Retransmit the previous packet, up to four times.
		p := *t.last
		for range 1 + g.rng.IntN(4) {
			t.add(p)
		}
	case r < 80:
		// An odd flag combination.
		combos := []track.TCPFlags{track.TCPFin, track.TCPSyn | track.TCPFin, track.TCPSyn | track.TCPRst, 0,
			track.TCPAck | track.TCPUrg, track.TCPSyn | track.TCPUrg, track.TCPFin | track.TCPAck | track.TCPUrg,
			track.TCPAck | track.TCPEce | track.TCPCwr, track.TCPFin | track.TCPPsh | track.TCPUrg, track.TCPRst | track.TCPFin}
		e, peer := &t.end[b2i(fromServer)], &t.end[1-b2i(fromServer)]
		t.send(fromServer, combos[g.rng.IntN(len(combos))], e.next, peer.next, 0, track.TCPOptions{}, 0)
	case r < 84:
		// A header shorter than its data offset, or a data offset under 5.
		e, peer := &t.end[b2i(fromServer)], &t.end[1-b2i(fromServer)]
		p := t.base(fromServer, track.ProtoTCP)
		p.TCP = track.TCPHeader{Seq: e.next, Ack: peer.next, Flags: track.TCPAck, Window: e.win, DataOffset: uint8(g.rng.IntN(16))}
		p.L4Length = 20 + g.rng.IntN(20)
		if int(p.TCP.DataOffset)*4 <= p.L4Length && p.TCP.DataOffset >= 5 {
			p.TCP.DataOffset = 15
		}
		p.Length = t.ipHeader() + p.L4Length
		t.add(p)
	default:
		// A new connection on the same tuple (re-open after close).
		t.syn(g.rng.IntN(5) == 0)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UDP and UDPLITE.

func (g *Generator) udpSequence(c *conv, n int) {
	proto := track.ProtoUDP
	if g.rng.IntN(6) == 0 {
		proto = track.ProtoUDPLite
	}
	for len(c.steps) < n {
		fromServer := len(c.steps) > 0 && g.rng.IntN(2) == 0
		p := c.base(fromServer, proto)
		payload := g.rng.IntN(200)
		p.L4Length = 8 + payload
		p.Length = c.ipHeader() + p.L4Length
		p.UDP = track.UDPHeader{Length: uint16(p.L4Length), Checksum: 1}
		switch r := g.rng.IntN(100); {
		case r < 5:
			p.UDP.Length = uint16(p.L4Length + 1 + g.rng.IntN(10)) // past the end
		case r < 8:
			p.UDP.Length = uint16(g.rng.IntN(8))
		case r < 11:
			p.UDP.Checksum = 0
		case r < 14 && proto == track.ProtoUDPLite:
			p.UDP.Length = 0 // full coverage
		}
		c.add(p)
	}
}

// ICMP and ICMPv6: echo, other queries, unknown types, and errors about a
// UDP or TCP flow of the same sequence.

func (g *Generator) icmpSequence(c *conv, n int) {
	proto := track.ProtoICMP
	req, rep := uint8(8), uint8(0)
	if c.family == track.FamilyIPv6 {
		proto, req, rep = track.ProtoICMPv6, 128, 129
	}
	id := uint16(g.rng.IntN(65536))
	flowProto := track.ProtoUDP
	if g.rng.IntN(3) == 0 {
		flowProto = track.ProtoTCP
	}
	for len(c.steps) < n {
		fromServer := g.rng.IntN(2) == 0
		p := c.base(fromServer, proto)
		p.SrcPort, p.DstPort = 0, 0
		p.L4Length = 8 + g.rng.IntN(56)
		typ := req
		switch r := g.rng.IntN(100); {
		case r < 35:
			if fromServer {
				typ = rep
			}
		case r < 45:
			typ = rep
		case r < 50:
			if proto == track.ProtoICMP {
				typ = []uint8{13, 14, 15, 17, 9, 10, 19, 30, 40}[g.rng.IntN(9)]
			} else {
				typ = []uint8{139, 140, 133, 135, 136, 143, 200, 150}[g.rng.IntN(8)]
			}
		case r < 72:
			// The flow an error can be about.
			f := c.base(false, flowProto)
			if flowProto == track.ProtoTCP {
				f.TCP = track.TCPHeader{Seq: g.rng.Uint32(), Flags: track.TCPSyn, Window: 1000, DataOffset: 5}
				f.L4Length = 20
			} else {
				f.L4Length = 8 + 20
				f.UDP = track.UDPHeader{Length: 28, Checksum: 1}
			}
			f.Length = c.ipHeader() + f.L4Length
			c.add(f)
			continue
		default:
			// An error about that flow, right or wrong.
			in := &track.InnerHeader{Src: c.client, Dst: c.server, Proto: flowProto, SrcPort: c.cport, DstPort: c.sport}
			if g.rng.IntN(5) == 0 {
				in.DstPort++ // about a flow that does not exist
			}
			if proto == track.ProtoICMP {
				typ = []uint8{3, 11, 4, 12, 5}[g.rng.IntN(5)]
			} else {
				typ = []uint8{1, 3, 2, 4}[g.rng.IntN(4)]
			}
			p.Src, p.Dst = c.server, c.client
			if g.rng.IntN(5) == 0 {
				p.Dst = c.server // sent to the wrong address
			}
			p.ICMP = track.ICMPHeader{Type: typ, Code: uint8(g.rng.IntN(4)), Inner: in}
			p.L4Length = 8 + c.ipHeader() + 8
			p.Length = c.ipHeader() + p.L4Length
			c.add(p)
			continue
		}
		p.ICMP = track.ICMPHeader{Type: typ, ID: id}
		if g.rng.IntN(30) == 0 {
			p.L4Length = 4 // shorter than an ICMP header
		}
		p.Length = c.ipHeader() + p.L4Length
		c.add(p)
	}
}

// GRE and generic protocols.

func (g *Generator) otherSequence(c *conv, n int) {
	proto := []track.Proto{track.ProtoGRE, track.ProtoGRE, 253, track.ProtoDCCP, 99}[g.rng.IntN(5)]
	var gre track.GREHeader
	if proto == track.ProtoGRE && g.rng.IntN(3) == 0 {
		gre = track.GREHeader{Version: 1, PPP: g.rng.IntN(4) != 0, CallID: uint16(g.rng.IntN(65536))}
	}
	for len(c.steps) < n {
		fromServer := len(c.steps) > 0 && g.rng.IntN(2) == 0
		p := c.base(fromServer, proto)
		p.SrcPort, p.DstPort = 0, 0
		p.GRE = gre
		p.L4Length = 8 + g.rng.IntN(100)
		p.Length = c.ipHeader() + p.L4Length
		c.add(p)
	}
}
