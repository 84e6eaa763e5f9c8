package kerneldiff

import (
	"net/netip"
	"time"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/track"
)

// Script builds a scripted sequence: narrated packets between a client and
// a server, each followed by a comparison of kernel and engine.
type Script struct {
	seq            Sequence
	family         track.Family
	client, server netip.Addr
	cport, sport   uint16
	zone           uint16
	mark           uint32
	gap            time.Duration
	pendingDelay   time.Duration
}

// Directions for Script methods.
const (
	FromClient = false
	FromServer = true
)

// NewScript starts a scenario between client and server (their family
// decides the packets') with ports cport and sport. Steps are spaced by
// gap unless Wait says otherwise.
func NewScript(name string, client, server netip.Addr, cport, sport uint16) *Script {
	fam := track.FamilyIPv4
	if client.Is6() {
		fam = track.FamilyIPv6
	}
	return &Script{seq: Sequence{Name: name}, family: fam, client: client, server: server, cport: cport, sport: sport, gap: 400 * time.Millisecond}
}

// Zone and Mark apply to the following packets (a ruleset in the namespace
// must give them the same zone and mark).
func (s *Script) Zone(z uint16, mark uint32) *Script { s.zone, s.mark = z, mark; return s }

// RandomPorts marks the scenario's reply ports as chosen at random (SNAT).
func (s *Script) RandomPorts() *Script { s.seq.RandomPorts = true; return s }

// Wait makes the next packet come d after the previous one.
func (s *Script) Wait(d time.Duration) *Script {
	s.pendingDelay = d
	return s
}

func (s *Script) base(from bool, proto track.Proto, note string) track.Packet {
	p := track.Packet{Family: s.family, Proto: proto, Src: s.client, Dst: s.server, SrcPort: s.cport, DstPort: s.sport, Zone: s.zone, Mark: s.mark}
	if from { // FromServer
		p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	return p
}

func (s *Script) add(p track.Packet, note string) *Script {
	d := s.gap
	if len(s.seq.Steps) == 0 {
		d = 10 * time.Millisecond
	}
	if s.pendingDelay > 0 {
		d, s.pendingDelay = s.pendingDelay, 0
	}
	s.seq.Steps = append(s.seq.Steps, Step{Delay: d, Packet: p, Note: note})
	return s
}

func (s *Script) ipHeader() int {
	if s.family == track.FamilyIPv6 {
		return 40
	}
	return 20
}

// TCP sends a segment without options.
func (s *Script) TCP(note string, from bool, flags track.TCPFlags, seq, ack uint32, payload int) *Script {
	return s.TCPOpts(note, from, flags, seq, ack, payload, 64240, track.TCPOptions{})
}

// TCPOpts sends a segment with a window and options.
func (s *Script) TCPOpts(note string, from bool, flags track.TCPFlags, seq, ack uint32, payload int, win uint16, o track.TCPOptions) *Script {
	p := s.base(from, track.ProtoTCP, note)
	if !o.HasSACK {
		o.SACK = ack
	}
	doff := uint8(5 + (capture.TCPOptionsLen(&o, ack)+3)/4)
	o.Present = doff > 5
	p.TCP = track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: win, DataOffset: doff, Options: o}
	p.L4Length = int(doff)*4 + payload
	p.Length = s.ipHeader() + p.L4Length
	return s.add(p, note)
}

// UDP sends a datagram (or UDPLITE with proto).
func (s *Script) UDP(note string, from bool, payload int) *Script {
	return s.UDPProto(note, from, track.ProtoUDP, payload, 0)
}

// UDPProto sends UDP or UDPLITE; lengthField 0 means the true length.
func (s *Script) UDPProto(note string, from bool, proto track.Proto, payload int, lengthField int) *Script {
	p := s.base(from, proto, note)
	p.L4Length = 8 + payload
	p.Length = s.ipHeader() + p.L4Length
	if lengthField == 0 {
		lengthField = p.L4Length
	}
	p.UDP = track.UDPHeader{Length: uint16(lengthField), Checksum: 1}
	return s.add(p, note)
}

// ICMP sends an ICMP or ICMPv6 message (per the family), with the header
// of an offending packet when inner is not nil.
func (s *Script) ICMP(note string, from bool, typ, code uint8, id uint16, inner *track.InnerHeader) *Script {
	proto := track.ProtoICMP
	if s.family == track.FamilyIPv6 {
		proto = track.ProtoICMPv6
	}
	p := s.base(from, proto, note)
	p.SrcPort, p.DstPort = 0, 0
	p.ICMP = track.ICMPHeader{Type: typ, Code: code, ID: id, Inner: inner}
	p.L4Length = 8 + 32
	if inner != nil {
		p.L4Length = 8 + s.ipHeader() + 8
	}
	p.Length = s.ipHeader() + p.L4Length
	return s.add(p, note)
}

// Proto sends a packet of a protocol without ports (generic, GRE).
func (s *Script) Proto(note string, from bool, proto track.Proto, gre track.GREHeader) *Script {
	p := s.base(from, proto, note)
	p.SrcPort, p.DstPort = 0, 0
	p.GRE = gre
	p.L4Length = 24
	p.Length = s.ipHeader() + p.L4Length
	return s.add(p, note)
}

// Raw adds a packet built by the caller (addresses and ports filled in).
func (s *Script) Raw(note string, from bool, build func(p *track.Packet)) *Script {
	p := s.base(from, track.ProtoTCP, note)
	build(&p)
	p.Length = s.ipHeader() + p.L4Length
	return s.add(p, note)
}

// Sequence returns the built sequence.
func (s *Script) Sequence() Sequence { return s.seq }
