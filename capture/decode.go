package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ctdiag/ctdiag/track"
)

// Why a frame gave no packet.
var (
	// ErrNotIP: the frame carries something other than IPv4 or IPv6 (ARP,
	// LLDP, ...). Not an error in the capture; counted apart.
	ErrNotIP = errors.New("not an IP packet")
	// ErrTruncated: the capture holds too few bytes of the packet (snap
	// length) to read the headers conntrack needs.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed: the headers contradict themselves.
	ErrMalformed = errors.New("malformed")
	// ErrLinkType: a link type the reader does not decode.
	ErrLinkType = errors.New("unsupported link type")
)

// fragment is returned by decodeIP for an IP fragment; the reader
// reassembles it.
type fragment struct {
	family   track.Family
	src, dst netip.Addr
	proto    track.Proto
	id       uint32
	offset   int    // of this fragment's payload in the datagram
	more     bool   // more fragments follow
	payload  []byte // captured bytes of this fragment's payload
	payLen   int    // its length per the IP header (may exceed len(payload))
}

// linkPayload strips the link layer and returns the IP packet. gopacket's
// decoders are guarded: a panic in one is a malformed frame, not a crash.
func linkPayload(link layers.LinkType, frame []byte) (ip []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			ip, err = nil, fmt.Errorf("%w: link header: %v", ErrMalformed, v)
		}
	}()
	df := gopacket.NilDecodeFeedback
	var typ layers.EthernetType
	var rest []byte
	switch link {
	case layers.LinkTypeEthernet:
		var eth layers.Ethernet
		if err := eth.DecodeFromBytes(frame, df); err != nil {
			return nil, fmt.Errorf("%w: ethernet header: %v", ErrTruncated, err)
		}
		typ, rest = eth.EthernetType, eth.Payload
		// 802.1Q and QinQ tags.
		for typ == layers.EthernetTypeDot1Q || typ == layers.EthernetTypeQinQ {
			var tag layers.Dot1Q
			if err := tag.DecodeFromBytes(rest, df); err != nil {
				return nil, fmt.Errorf("%w: VLAN tag: %v", ErrTruncated, err)
			}
			typ, rest = tag.Type, tag.Payload
		}
	case layers.LinkTypeLinuxSLL:
		// Read by hand: gopacket v1.3.1's LinuxSLL decoder panics on an
		// address length over 8 (found by FuzzDecode).
		if len(frame) < 16 {
			return nil, fmt.Errorf("%w: Linux cooked header needs 16 bytes, have %d", ErrTruncated, len(frame))
		}
		typ, rest = layers.EthernetType(binary.BigEndian.Uint16(frame[14:16])), frame[16:]
	case layers.LinkTypeLinuxSLL2:
		if len(frame) < 20 {
			return nil, fmt.Errorf("%w: Linux cooked v2 header needs 20 bytes, have %d", ErrTruncated, len(frame))
		}
		typ, rest = layers.EthernetType(binary.BigEndian.Uint16(frame[0:2])), frame[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		var lo layers.Loopback
		if err := lo.DecodeFromBytes(frame, df); err != nil {
			return nil, fmt.Errorf("%w: loopback header: %v", ErrTruncated, err)
		}
		switch lo.Family {
		case layers.ProtocolFamilyIPv4:
			typ = layers.EthernetTypeIPv4
		case layers.ProtocolFamilyIPv6BSD, layers.ProtocolFamilyIPv6FreeBSD, layers.ProtocolFamilyIPv6Darwin, layers.ProtocolFamilyIPv6Linux:
			typ = layers.EthernetTypeIPv6
		}
		rest = lo.Payload
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		// Raw IP (12 and 14 are DLT_RAW on some BSDs and old libpcaps).
		return frame, nil
	default:
		return nil, fmt.Errorf("%w %d (%s)", ErrLinkType, int(link), link)
	}
	switch typ {
	case layers.EthernetTypeIPv4, layers.EthernetTypeIPv6:
		return rest, nil
	}
	return nil, fmt.Errorf("%w: ethertype %#04x", ErrNotIP, uint16(typ))
}

// decodeIP reads an IP packet into p, or returns the fragment it is.
func decodeIP(b []byte, p *track.Packet) (*fragment, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty IP packet", ErrTruncated)
	}
	switch b[0] >> 4 {
	case 4:
		return decodeIPv4(b, p)
	case 6:
		return decodeIPv6(b, p)
	}
	return nil, fmt.Errorf("%w: IP version %d", ErrMalformed, b[0]>>4)
}

func decodeIPv4(b []byte, p *track.Packet) (*fragment, error) {
	if len(b) < 20 {
		return nil, fmt.Errorf("%w: IPv4 header needs 20 bytes, have %d", ErrTruncated, len(b))
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	switch {
	case ihl < 20:
		return nil, fmt.Errorf("%w: IPv4 header length %d", ErrMalformed, ihl)
	case total < ihl:
		return nil, fmt.Errorf("%w: IPv4 total length %d < header length %d", ErrMalformed, total, ihl)
	case len(b) < ihl:
		return nil, fmt.Errorf("%w: IPv4 header with options needs %d bytes, have %d", ErrTruncated, ihl, len(b))
	}
	if len(b) > total {
		b = b[:total] // link-layer padding
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	proto := track.Proto(b[9])
	flags := binary.BigEndian.Uint16(b[6:8])
	if off, more := int(flags&0x1fff)*8, flags&0x2000 != 0; off != 0 || more {
		return &fragment{family: track.FamilyIPv4, src: src, dst: dst, proto: proto, id: uint32(binary.BigEndian.Uint16(b[4:6])),
			offset: off, more: more, payload: b[ihl:], payLen: total - ihl}, nil
	}
	*p = track.Packet{Time: p.Time, Family: track.FamilyIPv4, Src: src, Dst: dst, Proto: proto, Length: total, L4Length: total - ihl}
	return nil, decodeL4(b[ihl:], p)
}

// IPv6 extension headers conntrack skips (ipv6_skip_exthdr).
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6Auth     = 51
	ip6NoNext   = 59
	ip6DestOpts = 60
)

func decodeIPv6(b []byte, p *track.Packet) (*fragment, error) {
	if len(b) < 40 {
		return nil, fmt.Errorf("%w: IPv6 header needs 40 bytes, have %d", ErrTruncated, len(b))
	}
	payLen := int(binary.BigEndian.Uint16(b[4:6]))
	if payLen == 0 {
		return nil, fmt.Errorf("%w: IPv6 jumbogram or zero payload length", ErrMalformed)
	}
	total := 40 + payLen
	if len(b) > total {
		b = b[:total]
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	next, off := b[6], 40
	for {
		switch next {
		case ip6HopByHop, ip6Routing, ip6DestOpts, ip6Auth, ip6Fragment:
		case ip6NoNext:
			*p = track.Packet{Time: p.Time, Family: track.FamilyIPv6, Src: src, Dst: dst, Proto: track.Proto(next), Length: total, Unparsable: true}
			return nil, nil
		default:
			*p = track.Packet{Time: p.Time, Family: track.FamilyIPv6, Src: src, Dst: dst, Proto: track.Proto(next), Length: total, L4Length: total - off}
			return nil, decodeL4(b[min(off, len(b)):], p)
		}
		if total < off+8 {
			return nil, fmt.Errorf("%w: IPv6 extension header past the packet end", ErrMalformed)
		}
		if len(b) < off+8 {
			return nil, fmt.Errorf("%w: IPv6 extension header", ErrTruncated)
		}
		hdrLen := (int(b[off+1]) + 1) * 8
		switch next {
		case ip6Auth:
			hdrLen = (int(b[off+1]) + 2) * 4
		case ip6Fragment:
			hdrLen = 8
			fo := binary.BigEndian.Uint16(b[off+2 : off+4])
			if offset, more := int(fo&^7), fo&1 != 0; offset != 0 || more {
				// Everything after the fragment header belongs to the
				// fragmentable part, which only reassembly can read.
				return &fragment{family: track.FamilyIPv6, src: src, dst: dst, proto: track.Proto(b[off]),
					id: binary.BigEndian.Uint32(b[off+4 : off+8]), offset: offset, more: more,
					payload: b[min(off+8, len(b)):], payLen: total - off - 8}, nil
			}
			// An atomic fragment is a whole packet.
		}
		next = b[off]
		off += hdrLen
		if off > total {
			return nil, fmt.Errorf("%w: IPv6 extension header past the packet end", ErrMalformed)
		}
	}
}

// decodeL4 reads the L4 header fields conntrack uses. b holds the captured
// bytes from the L4 header on; p.L4Length is the length per the IP header.
func decodeL4(b []byte, p *track.Packet) error {
	l4 := p.L4Length
	have := min(len(b), l4)
	need := func(n int, what string) error {
		if have < n {
			return fmt.Errorf("%w: %s %s needs %d bytes, captured %d", ErrTruncated, p.Proto, what, n, have)
		}
		return nil
	}
	switch p.Proto {
	case track.ProtoTCP, track.ProtoUDP, track.ProtoUDPLite, track.ProtoSCTP:
		if l4 < 4 {
			p.Unparsable = true // no ports: conntrack cannot build a tuple
			return nil
		}
		if err := need(4, "ports"); err != nil {
			return err
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
	}
	switch p.Proto {
	case track.ProtoTCP:
		if l4 < 20 {
			return nil // DataOffset 0: the engine finds it truncated, as the kernel does
		}
		if err := need(20, "header"); err != nil {
			return err
		}
		th := &p.TCP
		th.Seq = binary.BigEndian.Uint32(b[4:8])
		th.Ack = binary.BigEndian.Uint32(b[8:12])
		th.DataOffset = b[12] >> 4
		th.Flags = track.TCPFlags(b[13])
		th.Window = binary.BigEndian.Uint16(b[14:16])
		doff := int(th.DataOffset) * 4
		if doff < 20 || doff > l4 {
			return nil // the engine rejects it ("truncated packet")
		}
		if err := need(doff, "options"); err != nil {
			return err
		}
		th.Options = track.ParseTCPOptions(b[20:doff], th.Ack)
	case track.ProtoUDP, track.ProtoUDPLite:
		if l4 < 8 {
			return nil // the engine rejects it ("short packet")
		}
		if err := need(8, "header"); err != nil {
			return err
		}
		p.UDP.Length = binary.BigEndian.Uint16(b[4:6])
		p.UDP.Checksum = binary.BigEndian.Uint16(b[6:8])
	case track.ProtoICMP, track.ProtoICMPv6:
		h := &p.ICMP
		if l4 < 8 {
			h.Short = true
			if have >= 2 {
				h.Type, h.Code = b[0], b[1]
			}
			return nil
		}
		if err := need(8, "header"); err != nil {
			return err
		}
		h.Type, h.Code = b[0], b[1]
		h.ID = binary.BigEndian.Uint16(b[4:6])
		if icmpCarriesHeader(p.Proto, h.Type) {
			h.Inner = decodeInner(p.Family, b[8:have])
		}
	case track.ProtoGRE:
		if have >= 4 {
			p.GRE.Version = b[1] & 7
			p.GRE.PPP = binary.BigEndian.Uint16(b[2:4]) == 0x880b
		}
		if p.GRE.Version == 1 && have >= 8 {
			p.GRE.CallID = binary.BigEndian.Uint16(b[6:8])
		}
	}
	return nil
}

// icmpCarriesHeader: the error types whose body is the offending packet.
func icmpCarriesHeader(proto track.Proto, typ uint8) bool {
	if proto == track.ProtoICMP {
		switch typ {
		case 3, 4, 5, 11, 12:
			return true
		}
		return false
	}
	return typ >= 1 && typ <= 4
}

// decodeInner reads the packet header inside an ICMP error: an IP header and
// at least the first 8 bytes of its L4 header (fewer for ports only).
func decodeInner(family track.Family, b []byte) *track.InnerHeader {
	in := &track.InnerHeader{}
	var l4 []byte
	switch family {
	case track.FamilyIPv4:
		if len(b) < 20 || b[0]>>4 != 4 {
			return nil
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return nil
		}
		in.Src = netip.AddrFrom4([4]byte(b[12:16]))
		in.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		in.Proto = track.Proto(b[9])
		l4 = b[ihl:]
	case track.FamilyIPv6:
		if len(b) < 40 || b[0]>>4 != 6 {
			return nil
		}
		in.Src = netip.AddrFrom16([16]byte(b[8:24]))
		in.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		next, off := b[6], 40
		for next == ip6HopByHop || next == ip6Routing || next == ip6DestOpts || next == ip6Auth || next == ip6Fragment {
			if len(b) < off+8 {
				return nil
			}
			n := (int(b[off+1]) + 1) * 8
			if next == ip6Auth {
				n = (int(b[off+1]) + 2) * 4
			}
			if next == ip6Fragment {
				if binary.BigEndian.Uint16(b[off+2:off+4])&^7 != 0 {
					return nil
				}
				n = 8
			}
			next = b[off]
			off += n
		}
		if off > len(b) {
			return nil
		}
		in.Proto = track.Proto(next)
		l4 = b[off:]
	default:
		return nil
	}
	switch in.Proto {
	case track.ProtoTCP, track.ProtoUDP, track.ProtoUDPLite, track.ProtoSCTP:
		if len(l4) < 4 {
			return nil
		}
		in.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		in.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case track.ProtoICMP, track.ProtoICMPv6:
		if len(l4) < 8 {
			return nil
		}
		in.Type, in.Code = l4[0], l4[1]
		in.ID = binary.BigEndian.Uint16(l4[4:6])
	case track.ProtoGRE:
		if len(l4) >= 4 {
			in.GRE.Version = l4[1] & 7
			in.GRE.PPP = binary.BigEndian.Uint16(l4[2:4]) == 0x880b
		}
		if in.GRE.Version == 1 && len(l4) >= 8 {
			in.GRE.CallID = binary.BigEndian.Uint16(l4[6:8])
		}
	}
	return in
}

// DecodeIP decodes one whole (unfragmented) IPv4 or IPv6 packet into p,
// keeping p.Time. It is what the reader uses after the link layer, exposed
// for callers that craft packets (tests sending the same bytes to the
// kernel and to the engine).
func DecodeIP(b []byte, p *track.Packet) error {
	f, err := decodeIP(b, p)
	if err == nil && f != nil {
		return fmt.Errorf("%w: an IP fragment needs reassembly", ErrMalformed)
	}
	return err
}
