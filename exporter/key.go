package exporter

import (
	"net/netip"

	"github.com/ctdiag/ctdiag/track"
)

// The model keys entries by original tuple and zone, as the kernel does.
// IPv4 and IPv6 entries live in separate maps so that an IPv4 key is 16
// bytes, not 40: at a million entries the key is most of the memory. The
// L4 identifiers fit two uint16s (ports, GRE keys, or ICMP's type<<8|code
// and id), as tui/flowtable packs them.

// key4 is an IPv4 entry's original tuple and zone.
type key4 struct {
	src, dst [4]byte
	p1, p2   uint16
	zone     uint16
	proto    track.Proto
}

// key6 is an IPv6 entry's original tuple and zone.
type key6 struct {
	src, dst [16]byte
	p1, p2   uint16
	zone     uint16
	proto    track.Proto
}

// reply4 and reply6 are a NAT-changed reply tuple (same family and
// protocol as the original).
type reply4 struct {
	src, dst [4]byte
	p1, p2   uint16
}

type reply6 struct {
	src, dst [16]byte
	p1, p2   uint16
}

// oddKey keys the rare entries that fit neither key shape (an IPv6 zone,
// identifiers a protocol does not use, tuples of different families): they
// are kept whole.
type oddKey struct {
	t    track.Tuple
	zone uint16
}

// l4 packs a tuple's L4 identifiers; ok is false when the tuple carries
// identifiers its protocol does not use.
func l4(t *track.Tuple) (p1, p2 uint16, ok bool) {
	switch {
	case t.Proto.HasPorts():
		return t.SrcPort, t.DstPort, t.Type == 0 && t.Code == 0 && t.ID == 0 && t.SrcKey == 0 && t.DstKey == 0
	case t.Proto.IsICMP():
		return uint16(t.Type)<<8 | uint16(t.Code), t.ID, t.SrcPort == 0 && t.DstPort == 0 && t.SrcKey == 0 && t.DstKey == 0
	case t.Proto == track.ProtoGRE:
		return t.SrcKey, t.DstKey, t.SrcPort == 0 && t.DstPort == 0 && t.Type == 0 && t.Code == 0 && t.ID == 0
	}
	return 0, 0, t.SrcPort == 0 && t.DstPort == 0 && t.Type == 0 && t.Code == 0 && t.ID == 0 && t.SrcKey == 0 && t.DstKey == 0
}

// unl4 is the inverse of l4.
func unl4(t *track.Tuple, p1, p2 uint16) {
	switch {
	case t.Proto.HasPorts():
		t.SrcPort, t.DstPort = p1, p2
	case t.Proto.IsICMP():
		t.Type, t.Code, t.ID = uint8(p1>>8), uint8(p1), p2
	case t.Proto == track.ProtoGRE:
		t.SrcKey, t.DstKey = p1, p2
	}
}

// shape says which map an entry goes to.
type shape uint8

const (
	shapeOdd shape = iota
	shape4
	shape6
)

// keyOf computes the entry's key. Everything but the odd shape round-trips
// exactly through decode.
func keyOf(t *track.Tuple, zone uint16) (k4 key4, k6 key6, s shape) {
	p1, p2, ok := l4(t)
	if !ok {
		return k4, k6, shapeOdd
	}
	switch {
	case t.Family == track.FamilyIPv4 && t.Src.Is4() && t.Dst.Is4():
		return key4{src: t.Src.As4(), dst: t.Dst.As4(), p1: p1, p2: p2, zone: zone, proto: t.Proto}, k6, shape4
	case t.Family == track.FamilyIPv6 && t.Src.Is6() && t.Dst.Is6() && !t.Src.Is4In6() && !t.Dst.Is4In6() &&
		t.Src.Zone() == "" && t.Dst.Zone() == "":
		return k4, key6{src: t.Src.As16(), dst: t.Dst.As16(), p1: p1, p2: p2, zone: zone, proto: t.Proto}, shape6
	}
	return k4, k6, shapeOdd
}

func (k *key4) tuple() track.Tuple {
	t := track.Tuple{Family: track.FamilyIPv4, Proto: k.proto, Src: netip.AddrFrom4(k.src), Dst: netip.AddrFrom4(k.dst)}
	unl4(&t, k.p1, k.p2)
	return t
}

func (k *key6) tuple() track.Tuple {
	t := track.Tuple{Family: track.FamilyIPv6, Proto: k.proto, Src: netip.AddrFrom16(k.src), Dst: netip.AddrFrom16(k.dst)}
	unl4(&t, k.p1, k.p2)
	return t
}

// natReply4 packs a reply tuple that differs from the original's inverse;
// ok is false when it cannot be packed (the entry is then kept whole).
func natReply4(orig, r *track.Tuple) (reply4, bool) {
	p1, p2, ok := l4(r)
	if !ok || r.Family != orig.Family || r.Proto != orig.Proto || !r.Src.Is4() || !r.Dst.Is4() {
		return reply4{}, false
	}
	return reply4{src: r.Src.As4(), dst: r.Dst.As4(), p1: p1, p2: p2}, true
}

func natReply6(orig, r *track.Tuple) (reply6, bool) {
	p1, p2, ok := l4(r)
	if !ok || r.Family != orig.Family || r.Proto != orig.Proto || !r.Src.Is6() || !r.Dst.Is6() ||
		r.Src.Is4In6() || r.Dst.Is4In6() || r.Src.Zone() != "" || r.Dst.Zone() != "" {
		return reply6{}, false
	}
	return reply6{src: r.Src.As16(), dst: r.Dst.As16(), p1: p1, p2: p2}, true
}

func (r *reply4) tuple(proto track.Proto) track.Tuple {
	t := track.Tuple{Family: track.FamilyIPv4, Proto: proto, Src: netip.AddrFrom4(r.src), Dst: netip.AddrFrom4(r.dst)}
	unl4(&t, r.p1, r.p2)
	return t
}

func (r *reply6) tuple(proto track.Proto) track.Tuple {
	t := track.Tuple{Family: track.FamilyIPv6, Proto: proto, Src: netip.AddrFrom16(r.src), Dst: netip.AddrFrom16(r.dst)}
	unl4(&t, r.p1, r.p2)
	return t
}
