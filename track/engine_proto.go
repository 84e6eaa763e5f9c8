package track

import "fmt"

// The other protocol trackers (docs/KERNEL.md §2): UDP and UDPLITE, ICMP and ICMPv6
// (including errors RELATED to the flow they are about), GRE and the
// generic tracker.

// resKind is what a protocol tracker decided.
type resKind uint8

const (
	resAccept  resKind = iota // accepted, state and timeout updated
	resIgnore                 // accepted, entry left as it was
	resInvalid                // no conntrack
	resDrop                   // invalid and dropped
	resRepeat                 // old entry goes, look the packet up again
	resKill                   // accepted, then the entry is deleted
)

type result struct {
	kind   resKind
	reason string
}

// handle is nf_conntrack_handle_packet: the tracker of the entry's protocol.
func (e *Engine) handle(c *conn, p *Packet, dir int, created bool, now uint32) result {
	switch c.orig.proto {
	case ProtoTCP:
		return e.tcpPacket(c, p, dir, created, now)
	case ProtoUDP:
		return e.udpPacket(c, p, dir, now, false)
	case ProtoUDPLite:
		return e.udpPacket(c, p, dir, now, true)
	case ProtoICMP, ProtoICMPv6:
		return e.icmpPacket(c, p, dir, now)
	case ProtoGRE:
		return e.grePacket(c, p, dir, now)
	}
	e.refresh(c, p, dir, now, e.timeouts.generic)
	return result{kind: resAccept}
}

// udpError rejects malformed datagrams (udp_error, udplite_error).
func (e *Engine) udpError(p *Packet, lite bool) (string, bool) {
	if p.L4Length < 8 {
		return "short packet", true
	}
	length := int(p.UDP.Length)
	if lite {
		if length != 0 && (length < 8 || length > p.L4Length) {
			return "invalid checksum coverage", true
		}
		if p.UDP.Checksum == 0 {
			return "checksum missing", true // UDPLITE mandates checksums
		}
	} else if length > p.L4Length || length < 8 {
		return "truncated/malformed packet", true
	}
	if e.checksum && p.BadChecksum && (lite || p.UDP.Checksum != 0) {
		return "bad checksum", true
	}
	return "", false
}

// udpPacket is nf_conntrack_udp_packet and _udplite_packet (docs/KERNEL.md §2.3).
// The first packet after SEEN_REPLY makes the entry a stream (ASSURED,
// long timeout), for UDP only if it comes more than 2 s after creation.
func (e *Engine) udpPacket(c *conn, p *Packet, dir int, now uint32, lite bool) result {
	if reason, bad := e.udpError(p, lite); bad {
		return result{kind: resInvalid, reason: reason}
	}
	if !c.status.SeenReply() {
		e.refresh(c, p, dir, now, e.timeouts.udp)
		return result{kind: resAccept}
	}
	timeout, stream := e.timeouts.udp, false
	if lite || int32(c.created+2*HZ-now) < 0 { // time_after(jiffies, stream_ts)
		timeout, stream = e.timeouts.udpStream, true
	}
	e.refresh(c, p, dir, now, timeout)
	if stream && c.status&StatusNATClash == 0 {
		c.status |= StatusAssured
	}
	return result{kind: resAccept}
}

// icmpOwnFamily: ICMP in IPv4, ICMPv6 in IPv6. The other pairings reach the
// trackers but are refused there.
func icmpOwnFamily(p *Packet) bool {
	return (p.Proto == ProtoICMP && p.Family == FamilyIPv4) || (p.Proto == ProtoICMPv6 && p.Family == FamilyIPv6)
}

// icmpValidNew: the query types that may create an entry.
func icmpValidNew(proto Proto, typ uint8) bool {
	if proto == ProtoICMP {
		return typ == 8 || typ == 13 || typ == 15 || typ == 17
	}
	return typ == 128 || typ == 139
}

// icmpPacket is nf_conntrack_icmp_packet / _icmpv6_packet: every accepted
// packet refreshes the entry; it is never ASSURED (docs/KERNEL.md §2.4).
func (e *Engine) icmpPacket(c *conn, p *Packet, dir int, now uint32) result {
	if !icmpOwnFamily(p) {
		return result{kind: resInvalid, reason: "ICMP of the other IP family"}
	}
	if typ := uint8(c.orig.b >> 8); !icmpValidNew(c.orig.proto, typ) {
		return result{kind: resInvalid, reason: fmt.Sprintf("invalid new with type %d", typ)}
	}
	timeout := e.timeouts.icmp
	if c.orig.proto == ProtoICMPv6 {
		timeout = e.timeouts.icmpv6
	}
	e.refresh(c, p, dir, now, timeout)
	return result{kind: resAccept}
}

// icmpIsError: ICMPv4 error types conntrack relates to a flow.
func icmpIsError(typ uint8) bool {
	switch typ {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// icmpv6Untracked: neighbour discovery and MLD are never tracked (docs/KERNEL.md §2.4).
func icmpv6Untracked(typ uint8) bool {
	switch typ {
	case 130, 131, 132, 133, 134, 135, 136, 143, 151, 152:
		return true
	}
	return false
}

// icmpError is nf_conntrack_handle_icmp: it settles error messages (and
// broken ICMP) before the normal lookup. done says it did.
func (e *Engine) icmpError(p *Packet, now uint32) (Verdict, bool) {
	fail := func(reason string) (Verdict, bool) {
		e.stats[CounterError]++
		return Verdict{State: CTInvalid, Action: ActionInvalid, Reason: reason}, true
	}
	h := &p.ICMP
	if h.Short {
		return fail("short packet")
	}
	if e.checksum && p.BadChecksum {
		return fail("bad checksum")
	}
	if p.Proto == ProtoICMP {
		if h.Type > 18 {
			return fail("invalid icmp type")
		}
		if !icmpIsError(h.Type) {
			return Verdict{}, false
		}
	} else {
		if icmpv6Untracked(h.Type) {
			return Verdict{State: CTUntracked, Action: ActionUntracked, Reason: "ICMPv6 neighbour discovery / MLD"}, true
		}
		if h.Type >= 128 {
			return Verdict{}, false
		}
	}
	in := h.Inner
	if in == nil {
		return fail("no embedded header")
	}
	inner := &Packet{Family: p.Family, Src: in.Src, Dst: in.Dst, Proto: in.Proto, Zone: p.Zone,
		SrcPort: in.SrcPort, DstPort: in.DstPort, GRE: in.GRE,
		ICMP: ICMPHeader{Type: in.Type, Code: in.Code, ID: in.ID}}
	k, ok := keyOf(inner).invert()
	if !ok {
		return fail("embedded ICMP type has no reply type")
	}
	id, dir, found := e.t.lookup(k, now)
	if !found {
		return fail("no entry for the embedded packet")
	}
	c := e.t.conn(id)
	if kd := e.t.keyAt(c, dir); kd.dst != p.Dst.As16() {
		return fail(fmt.Sprintf("outer daddr %s != inner %s", p.Dst, kd.tuple().Dst))
	}
	return Verdict{State: CTRelated, Action: ActionRelated, Reply: dir == dirReply, Orig: c.orig.tuple()}, true
}

// grePacket is nf_conntrack_gre_packet: the timeouts are fixed at creation
// (the engine's sysctls do not change during a run); the first packet after
// a reply makes the entry ASSURED with the stream timeout (docs/KERNEL.md §2.5).
func (e *Engine) grePacket(c *conn, p *Packet, dir int, now uint32) result {
	if !c.status.SeenReply() {
		e.refresh(c, p, dir, now, e.timeouts.gre)
		return result{kind: resAccept}
	}
	e.refresh(c, p, dir, now, e.timeouts.greStream)
	if c.status&StatusNATClash == 0 {
		c.status |= StatusAssured
	}
	return result{kind: resAccept}
}
