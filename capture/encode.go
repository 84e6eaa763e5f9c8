package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/ctdiag/ctdiag/track"
)

// Encode builds the wire bytes of p, the inverse of DecodeIP: an IPv4 or IPv6 header and an L4 part
// of p.L4Length bytes holding the header p describes (even a contradictory
// one: a data offset past the end, a wrong UDP length) and zero payload.
// TCP options are written from p.TCP.Options (window scale, SACK-permitted,
// and with HasSACK one SACK block ending at Options.SACK).
// Checksums are correct unless p.BadChecksum.
func Encode(p *track.Packet) ([]byte, error) {
	if p.L4Length < 0 || p.L4Length > 65000 {
		return nil, fmt.Errorf("L4 length %d", p.L4Length)
	}
	l4 := make([]byte, p.L4Length)
	var full []byte // the L4 header as it would be with room for it
	switch p.Proto {
	case track.ProtoTCP:
		full = tcpHeader(p)
	case track.ProtoUDP, track.ProtoUDPLite:
		full = make([]byte, 8)
		binary.BigEndian.PutUint16(full[0:], p.SrcPort)
		binary.BigEndian.PutUint16(full[2:], p.DstPort)
		binary.BigEndian.PutUint16(full[4:], p.UDP.Length)
	case track.ProtoICMP, track.ProtoICMPv6:
		full = make([]byte, 8)
		full[0], full[1] = p.ICMP.Type, p.ICMP.Code
		binary.BigEndian.PutUint16(full[4:], p.ICMP.ID)
		if in := p.ICMP.Inner; in != nil {
			full = append(full, innerBytes(p.Family, in)...)
		}
	case track.ProtoGRE:
		full = greHeader(&p.GRE)
	}
	copy(l4, full)

	var ip []byte
	if p.Family == track.FamilyIPv4 {
		if !p.Src.Is4() || !p.Dst.Is4() {
			return nil, fmt.Errorf("IPv4 packet with addresses %s, %s", p.Src, p.Dst)
		}
		ip = make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
		ip[8] = 64
		ip[9] = byte(p.Proto)
		s, d := p.Src.As4(), p.Dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
	} else {
		if !p.Src.Is6() || !p.Dst.Is6() || p.Src.Is4In6() {
			return nil, fmt.Errorf("IPv6 packet with addresses %s, %s", p.Src, p.Dst)
		}
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = byte(p.Proto)
		ip[7] = 64
		s, d := p.Src.As16(), p.Dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}

	// L4 checksums, over the pseudo-header where the protocol has one.
	var at int = -1
	covered := len(l4)
	pseudo := true
	switch p.Proto {
	case track.ProtoTCP:
		at = 16
	case track.ProtoUDP:
		at = 6
		if p.UDP.Checksum == 0 {
			at = -1 // no checksum
		}
	case track.ProtoUDPLite:
		at = 6
		if c := int(p.UDP.Length); c >= 8 && c <= len(l4) {
			covered = c
		}
		if p.UDP.Checksum == 0 {
			at = -1 // UDPLITE without checksum: invalid, but sendable
		}
	case track.ProtoICMP:
		at, pseudo = 2, false
	case track.ProtoICMPv6:
		at = 2
	}
	if at >= 0 && at+2 <= len(l4) {
		var s uint32
		if pseudo {
			s = pseudoSum(p, len(l4))
		}
		c := ^fold(sum(l4[:covered], s))
		if c == 0 && (p.Proto == track.ProtoUDP) {
			c = 0xffff
		}
		if p.BadChecksum {
			c ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(l4[at:], c)
	}
	return append(ip, l4...), nil
}

func tcpHeader(p *track.Packet) []byte {
	th := &p.TCP
	doff := int(th.DataOffset) * 4
	h := make([]byte, max(doff, 20))
	binary.BigEndian.PutUint16(h[0:], p.SrcPort)
	binary.BigEndian.PutUint16(h[2:], p.DstPort)
	binary.BigEndian.PutUint32(h[4:], th.Seq)
	binary.BigEndian.PutUint32(h[8:], th.Ack)
	h[12] = th.DataOffset << 4
	h[13] = byte(th.Flags)
	binary.BigEndian.PutUint16(h[14:], th.Window)
	opts := tcpOptionBytes(&th.Options, th.Ack)
	if len(h) > 20 {
		copy(h[20:], opts) // the rest stays EOL (0)
	}
	return h
}

// tcpOptionBytes writes the options conntrack reads.
func tcpOptionBytes(o *track.TCPOptions, ack uint32) []byte {
	var b []byte
	if o.HasWScale {
		b = append(b, 1, 3, 3, o.WScale)
	}
	if o.SACKPerm {
		b = append(b, 1, 1, 4, 2)
	}
	if o.HasSACK {
		b = append(b, 1, 1, 5, 10)
		b = binary.BigEndian.AppendUint32(b, o.SACK-1)
		b = binary.BigEndian.AppendUint32(b, o.SACK)
	}
	return b
}

// TCPOptionsLen is how many option bytes Encode writes for o; the data
// offset must leave room for them.
func TCPOptionsLen(o *track.TCPOptions, ack uint32) int { return len(tcpOptionBytes(o, ack)) }

func greHeader(g *track.GREHeader) []byte {
	if g.Version != 1 {
		return []byte{0, g.Version & 7, 0x08, 0x00}
	}
	h := []byte{0x20, 0x01, 0x88, 0x0b, 0, 0, 0, 0}
	if !g.PPP {
		h[2], h[3] = 0x08, 0x00
	}
	binary.BigEndian.PutUint16(h[6:], g.CallID)
	return h
}

// innerBytes is the header an ICMP error quotes: the offending packet's IP
// header and the first 8 bytes of its L4 header.
func innerBytes(family track.Family, in *track.InnerHeader) []byte {
	var ip []byte
	if family == track.FamilyIPv4 {
		ip = make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], 20+40)
		ip[8] = 64
		ip[9] = byte(in.Proto)
		s, d := in.Src.As4(), in.Dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], 40)
		ip[6] = byte(in.Proto)
		ip[7] = 64
		s, d := in.Src.As16(), in.Dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	l4 := make([]byte, 8)
	switch in.Proto {
	case track.ProtoICMP, track.ProtoICMPv6:
		l4[0], l4[1] = in.Type, in.Code
		binary.BigEndian.PutUint16(l4[4:], in.ID)
	case track.ProtoGRE:
		copy(l4, greHeader(&in.GRE))
	default:
		binary.BigEndian.PutUint16(l4[0:], in.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], in.DstPort)
	}
	return append(ip, l4...)
}

func pseudoSum(p *track.Packet, l4len int) uint32 {
	var s uint32
	if p.Family == track.FamilyIPv4 {
		a, b := p.Src.As4(), p.Dst.As4()
		s = sum(a[:], s)
		s = sum(b[:], s)
		s += uint32(p.Proto) + uint32(l4len)
		return s
	}
	a, b := p.Src.As16(), p.Dst.As16()
	s = sum(a[:], s)
	s = sum(b[:], s)
	s += uint32(l4len>>16) + uint32(l4len&0xffff) + uint32(p.Proto)
	return s
}

// sum adds b to s as 16-bit big-endian words (the Internet checksum).
func sum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
