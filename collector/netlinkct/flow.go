package netlinkct

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Decoder turns conntrack messages into track values. The zero value is
// ready to use.
type Decoder struct {
	// Labels names connection-label bits, index = bit (connlabel.conf). A
	// set bit without a name is named by its number, so no label is lost.
	Labels []string
}

// Flow decodes the attributes of a conntrack message (a dump entry or an
// event) into f, overwriting it. family is the message's nfgen_family. now
// is when the message was read: delta-time (seconds since the entry was
// confirmed, as /proc and conntrack -L print it) is computed from it.
//
// f.Fields records exactly what the kernel sent: ctnetlink sends counters
// only for entries with the accounting extension, timestamps only with the
// timestamp extension, no timeout or protocol state for offloaded entries,
// and events carry only what changed. Zone 0 is the absence of CTA_ZONE, so
// FieldZone is always set. Unknown attributes are skipped (newer kernels add
// them); malformed ones are an error wrapping ErrMalformed.
func (d *Decoder) Flow(family uint8, b []byte, now time.Time, f *track.Flow) error {
	*f = track.Flow{Fields: track.FieldZone}
	var (
		a          = newAttrs(b)
		start      uint64
		stop       uint64
		origL4     bool
		haveOrig   bool
		labels     []byte
		secctx     string
		helper     string
		haveSecctx bool
		haveHelper bool
	)
	for a.next() {
		switch a.typ {
		case ctaTupleOrig:
			var zone uint16
			var hasZone bool
			origL4, zone, hasZone = d.tuple(&a, family, &f.Orig)
			haveOrig = true
			if hasZone {
				f.ZoneOrig = zone
				f.Fields |= track.FieldZoneOrig
			}
		case ctaTupleReply:
			_, zone, hasZone := d.tuple(&a, family, &f.Reply)
			if hasZone {
				f.ZoneReply = zone
				f.Fields |= track.FieldZoneReply
			}
		case ctaStatus:
			f.Status = track.Status(a.be32("status"))
		case ctaProtoinfo:
			if st, ok := protoinfoState(&a); ok {
				f.State = st
				f.Fields |= track.FieldState
			}
		case ctaHelp:
			helper, haveHelper = nestedString(&a, ctaHelpName)
		case ctaTimeout:
			f.Timeout = a.be32("timeout")
			f.Fields |= track.FieldTimeout
		case ctaMark:
			f.Mark = a.be32("mark")
			f.Fields |= track.FieldMark
		case ctaCountersOrig:
			f.OrigCounters = counters(&a)
			f.Fields |= track.FieldOrigCounters
		case ctaCountersReply:
			f.ReplyCounters = counters(&a)
			f.Fields |= track.FieldReplyCounters
		case ctaUse:
			f.Use = a.be32("use")
			f.Fields |= track.FieldUse
		case ctaID:
			f.ID = a.be32("id")
			f.Fields |= track.FieldID
		case ctaZone:
			f.Zone = a.be16("zone")
		case ctaSecmark:
			if m := a.be32("secmark"); a.err == nil {
				f.SetSecmark(m)
			}
		case ctaSecctx:
			secctx, haveSecctx = nestedString(&a, ctaSecctxName)
		case ctaTimestamp:
			start, stop = timestamps(&a)
		case ctaLabels:
			labels = a.data
		}
	}
	if a.err != nil {
		return a.err
	}
	if !haveOrig || !f.Orig.IsValid() {
		return fmt.Errorf("%w: entry without an original tuple", ErrMalformed)
	}
	if f.Orig.Proto.HasPorts() && !origL4 {
		// The generic tracker (DCCP on 6.16+, or a protocol whose tracker
		// is not built) sends no L4 identifiers: /proc prints "unknown N".
		f.Fields |= track.FieldGeneric
	}
	if start != 0 {
		ref := uint64(now.UnixNano())
		if stop != 0 {
			ref = stop
		}
		if ref > start {
			f.DeltaTime = (ref - start) / uint64(time.Second)
		}
		f.Fields |= track.FieldDeltaTime
		if stop != 0 {
			f.SetStart(time.Unix(0, int64(start)).UTC())
			f.SetStop(time.Unix(0, int64(stop)).UTC())
		}
	}
	if haveHelper && helper != "" {
		f.SetHelper(helper)
	}
	if haveSecctx {
		f.SetSecctx(secctx)
	}
	if names := d.labelNames(labels); len(names) > 0 {
		f.SetLabels(names)
	}
	return nil
}

// tuple decodes a CTA_TUPLE_* nest. l4 reports whether L4 identifiers were
// present; zone is CTA_TUPLE_ZONE (a directional zone).
func (d *Decoder) tuple(a *attrs, family uint8, t *track.Tuple) (l4 bool, zone uint16, hasZone bool) {
	t.Family = track.Family(family)
	in := newAttrs(a.data)
	for in.next() {
		switch in.typ {
		case ctaTupleIP:
			ip := newAttrs(in.data)
			for ip.next() {
				addr, ok := netip.AddrFromSlice(ip.data)
				switch ip.typ {
				case ctaIPv4Src, ctaIPv4Dst:
					if !ok || !addr.Is4() {
						ip.bad("IPv4 address")
						break
					}
					t.Family = track.FamilyIPv4
				case ctaIPv6Src, ctaIPv6Dst:
					if !ok || !addr.Is6() {
						ip.bad("IPv6 address")
						break
					}
					t.Family = track.FamilyIPv6
				default:
					continue
				}
				if ip.typ == ctaIPv4Src || ip.typ == ctaIPv6Src {
					t.Src = addr
				} else {
					t.Dst = addr
				}
			}
			in.adopt(&ip)
		case ctaTupleProto:
			p := newAttrs(in.data)
			for p.next() {
				switch p.typ {
				case ctaProtoNum:
					t.Proto = track.Proto(p.u8("protocol"))
				case ctaProtoSrcPort:
					t.SrcPort = p.be16("source port")
					l4 = true
				case ctaProtoDstPort:
					t.DstPort = p.be16("destination port")
					l4 = true
				case ctaProtoICMPID, ctaProtoICMPv6ID:
					t.ID = p.be16("ICMP id")
					l4 = true
				case ctaProtoICMPType, ctaProtoICMPv6Type:
					t.Type = p.u8("ICMP type")
					l4 = true
				case ctaProtoICMPCode, ctaProtoICMPv6Code:
					t.Code = p.u8("ICMP code")
					l4 = true
				}
			}
			in.adopt(&p)
		case ctaTupleZone:
			zone, hasZone = in.be16("tuple zone"), true
		}
	}
	a.adopt(&in)
	if t.Proto == track.ProtoGRE {
		// GRE keys travel in the port attributes (nf_ct_port_tuple_to_nlattr).
		t.SrcKey, t.DstKey = t.SrcPort, t.DstPort
		t.SrcPort, t.DstPort = 0, 0
	}
	return l4, zone, hasZone
}

// adopt takes over a nested iterator's error.
func (a *attrs) adopt(in *attrs) {
	if in.err != nil && a.err == nil {
		a.err = in.err
	}
}

// protoinfoState returns the state byte of CTA_PROTOINFO_{TCP,SCTP,DCCP}.
func protoinfoState(a *attrs) (uint8, bool) {
	in := newAttrs(a.data)
	var st uint8
	var ok bool
	for in.next() {
		switch in.typ {
		case ctaProtoinfoTCP, ctaProtoinfoSCTP, ctaProtoinfoDCCP:
			p := newAttrs(in.data)
			for p.next() {
				if p.typ == ctaStateInfo {
					st, ok = p.u8("protocol state"), true
				}
			}
			in.adopt(&p)
		}
	}
	a.adopt(&in)
	return st, ok && a.err == nil
}

func counters(a *attrs) track.Counters {
	var c track.Counters
	in := newAttrs(a.data)
	for in.next() {
		switch in.typ {
		case ctaCountersPackets:
			c.Packets = in.be64("packets")
		case ctaCountersBytes:
			c.Bytes = in.be64("bytes")
		case ctaCounters32Packets:
			c.Packets = uint64(in.be32("packets"))
		case ctaCounters32Bytes:
			c.Bytes = uint64(in.be32("bytes"))
		}
	}
	a.adopt(&in)
	return c
}

func timestamps(a *attrs) (start, stop uint64) {
	in := newAttrs(a.data)
	for in.next() {
		switch in.typ {
		case ctaTimestampStart:
			start = in.be64("start")
		case ctaTimestampStop:
			stop = in.be64("stop")
		}
	}
	a.adopt(&in)
	return start, stop
}

func nestedString(a *attrs, typ uint16) (string, bool) {
	in := newAttrs(a.data)
	var s string
	var ok bool
	for in.next() {
		if in.typ == typ {
			s, ok = in.str(), true
		}
	}
	a.adopt(&in)
	return s, ok
}

// labelNames lists the names of the set bits of a CTA_LABELS bitmap (host
// order unsigned longs, bit 0 first, as nf_connlabels keeps them).
func (d *Decoder) labelNames(b []byte) []string {
	var names []string
	for i, c := range b {
		for bit := 0; bit < 8; bit++ {
			if c&(1<<bit) == 0 {
				continue
			}
			n := labelBit(i, bit)
			if n < len(d.Labels) && d.Labels[n] != "" {
				names = append(names, d.Labels[n])
			} else {
				names = append(names, strconv.Itoa(n))
			}
		}
	}
	return names
}

// Event decodes a conntrack event message. now is the receive time, used
// for the event's time unless the kernel stamped it (CTA_TIMESTAMP_EVENT,
// Linux 6.14+ with nf_conntrack_timestamp=1). ok is false for messages that
// are not conntrack events (expectation events, control messages).
func (d *Decoder) Event(m *Message, now time.Time, ev *track.Event) (ok bool, err error) {
	if m.Subsys() != SubsysConntrack {
		return false, nil
	}
	switch m.Msg() {
	case MsgNew:
		if m.Flags&(FlagCreate|FlagExcl) != 0 {
			ev.Type = track.EventNew
		} else {
			ev.Type = track.EventUpdate
		}
	case MsgDelete:
		ev.Type = track.EventDestroy
	default:
		return false, nil
	}
	if err := d.Flow(m.Family, m.Attrs, now, &ev.Flow); err != nil {
		return true, err
	}
	ev.Time = now
	if ts := eventTimestamp(m.Attrs); ts != 0 {
		ev.Time = time.Unix(0, int64(ts))
	}
	ev.Userspace = m.PortID != 0
	ev.PortID = m.PortID
	ev.Progname = ""
	return true, nil
}

func eventTimestamp(b []byte) uint64 {
	a := newAttrs(b)
	for a.next() {
		if a.typ == ctaTimestampEvent {
			return a.be64("event timestamp")
		}
	}
	return 0
}

// labelBit is the label number of bit `bit` of byte i of CTA_LABELS. The
// kernel keeps labels as unsigned longs (64-bit words) in host order.
func labelBit(i, bit int) int {
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 { // big endian
		return (i/8)*64 + (7-i%8)*8 + bit
	}
	return i*8 + bit
}
