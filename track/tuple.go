package track

import (
	"fmt"
	"net/netip"
)

// Tuple is one direction of a tracked connection: the kernel's
// nf_conntrack_tuple. It is a comparable value and can be used as a map key.
//
// Which L4 fields are meaningful depends on Proto: SrcPort/DstPort for TCP,
// UDP, UDPLITE, SCTP and DCCP; Type/Code/ID for ICMP and ICMPv6; SrcKey/DstKey
// for GRE; none for other protocols. Unused fields are zero.
type Tuple struct {
	Src, Dst netip.Addr
	Family   Family
	Proto    Proto

	SrcPort, DstPort uint16

	Type, Code uint8  // ICMP type and code (the tuple's own, e.g. 8 then 0 in reply)
	ID         uint16 // ICMP echo identifier, host order

	SrcKey, DstKey uint16 // GRE keys as the kernel prints them (low 16 bits)
}

// IsValid reports whether the tuple has a family and both addresses of that
// family.
func (t Tuple) IsValid() bool {
	switch t.Family {
	case FamilyIPv4:
		return t.Src.Is4() && t.Dst.Is4()
	case FamilyIPv6:
		return t.Src.Is6() && t.Dst.Is6()
	}
	return false
}

// icmpReplyType maps ICMP query types to their answers, both ways, as the
// kernel's invert tables do (nf_conntrack_proto_icmp.c, _icmpv6.c).
func icmpReplyType(p Proto, typ uint8) (uint8, bool) {
	if p == ProtoICMP {
		switch typ {
		case 8:
			return 0, true
		case 0:
			return 8, true
		case 13, 15, 17:
			return typ + 1, true
		case 14, 16, 18:
			return typ - 1, true
		}
		return 0, false
	}
	switch typ {
	case 128, 139:
		return typ + 1, true
	case 129, 140:
		return typ - 1, true
	}
	return 0, false
}

// Reply returns the inverse of t: the tuple the kernel expects for packets
// flowing the other way when no NAT is involved (nf_ct_invert_tuple).
// Addresses, ports and GRE keys swap; an ICMP query type becomes its reply
// type. An ICMP type with no inverse keeps its type (the kernel refuses to
// track such packets, so no entry ever has one).
func (t Tuple) Reply() Tuple {
	r := t
	r.Src, r.Dst = t.Dst, t.Src
	r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
	r.SrcKey, r.DstKey = t.DstKey, t.SrcKey
	if t.Proto.IsICMP() {
		if inv, ok := icmpReplyType(t.Proto, t.Type); ok {
			r.Type = inv
		}
	}
	return r
}

// String renders the tuple for people, e.g. "tcp 10.0.0.1:40000 -> 10.0.0.2:80".
func (t Tuple) String() string {
	switch {
	case t.Proto.HasPorts():
		return fmt.Sprintf("%s %s -> %s", t.Proto, netip.AddrPortFrom(t.Src, t.SrcPort), netip.AddrPortFrom(t.Dst, t.DstPort))
	case t.Proto.IsICMP():
		return fmt.Sprintf("%s %s -> %s type=%d code=%d id=%d", t.Proto, t.Src, t.Dst, t.Type, t.Code, t.ID)
	case t.Proto == ProtoGRE:
		return fmt.Sprintf("gre %s -> %s key=0x%x/0x%x", t.Src, t.Dst, t.SrcKey, t.DstKey)
	}
	return t.Proto.String() + " " + t.Src.String() + " -> " + t.Dst.String()
}
