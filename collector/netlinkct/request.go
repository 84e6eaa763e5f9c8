package netlinkct

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Request is a ctnetlink request: the netlink type and flags, the
// nfgenmsg family, and encoded attributes. Only the constructors below make
// requests, and every one of them reads.
type Request struct {
	Subsys, Msg uint8
	Flags       uint16
	Family      uint8
	Attrs       []byte
}

// Type is the netlink message type (subsystem << 8 | message).
func (r Request) Type() uint16 { return uint16(r.Subsys)<<8 | uint16(r.Msg) }

// Payload is the message body: nfgenmsg, then the attributes.
func (r Request) Payload() []byte {
	b := make([]byte, nfgenmsgLen, nfgenmsgLen+len(r.Attrs))
	b[0] = r.Family
	b[1] = nfnetlinkV0
	return append(b, r.Attrs...)
}

// DumpFilter narrows a table dump in the kernel. The caller must still
// filter what arrives: a kernel older than the feature ignores it (family:
// 4.20, mark: 4.20, status: 5.15, zone: 6.8) or refuses it (tuples: 5.10).
type DumpFilter struct {
	Family             uint8 // 0 = both
	Mark, MarkMask     uint32
	HasMark            bool
	Status, StatusMask uint32
	HasStatus          bool
	Zone               uint16
	HasZone            bool
	// Orig and Reply match fields of the two tuples exactly. The kernel
	// takes them only with a family: see PerFamily.
	Orig, Reply TupleFilter
}

// TupleFilter selects entries by exact values in one direction's tuple
// (CTA_FILTER). The kernel compares ports of TCP and UDP entries only and
// refuses ports without a protocol, so they count only with HasProto.
type TupleFilter struct {
	Src, Dst               netip.Addr // invalid = any
	Proto                  uint8
	HasProto               bool
	SrcPort, DstPort       uint16
	HasSrcPort, HasDstPort bool
}

// IsEmpty reports whether t matches every tuple.
func (t TupleFilter) IsEmpty() bool { return t.flags() == 0 }

func (t TupleFilter) flags() uint32 {
	var f uint32
	if t.Src.IsValid() {
		f |= filterIPSrc
	}
	if t.Dst.IsValid() {
		f |= filterIPDst
	}
	if t.HasProto {
		f |= filterProto
		if t.HasSrcPort {
			f |= filterSrcPort
		}
		if t.HasDstPort {
			f |= filterDstPort
		}
	}
	return f
}

// IsEmpty reports whether the filter selects everything.
func (f DumpFilter) IsEmpty() bool {
	return f.Family == 0 && !f.HasMark && !f.HasStatus && !f.HasZone && f.Orig.IsEmpty() && f.Reply.IsEmpty()
}

// PerFamily splits f into the dumps that together select what it does.
// The kernel matches tuples only within one address family (an IPv4
// address never equals an IPv6 one), so a tuple filter without a family
// becomes one dump for IPv4 and one for IPv6.
func (f DumpFilter) PerFamily() []DumpFilter {
	if f.Family != 0 || f.Orig.IsEmpty() && f.Reply.IsEmpty() {
		return []DumpFilter{f}
	}
	v4, v6 := f, f
	v4.Family, v6.Family = afINet, afINet6
	return []DumpFilter{v4, v6}
}

// DumpTable asks for every entry of the namespace (IPCTNL_MSG_CT_GET with
// NLM_F_DUMP), optionally narrowed by f. A tuple filter needs f.Family.
func DumpTable(f DumpFilter) Request {
	r := Request{Subsys: SubsysConntrack, Msg: MsgGet, Flags: FlagRequest | FlagDump, Family: f.Family}
	if f.HasMark {
		r.Attrs = appendBE32(r.Attrs, ctaMark, f.Mark)
		r.Attrs = appendBE32(r.Attrs, ctaMarkMask, f.MarkMask)
	}
	if f.HasStatus {
		r.Attrs = appendBE32(r.Attrs, ctaStatus, f.Status)
		r.Attrs = appendBE32(r.Attrs, ctaStatusMask, f.StatusMask)
	}
	if f.HasZone {
		r.Attrs = appendBE16(r.Attrs, ctaZone, f.Zone)
	}
	if of, rf := f.Orig.flags(), f.Reply.flags(); of|rf != 0 {
		r.Attrs = appendNested(r.Attrs, ctaFilter, func(b []byte) []byte {
			if of != 0 {
				b = appendNE32(b, ctaFilterOrigFlags, of)
			}
			if rf != 0 {
				b = appendNE32(b, ctaFilterReplyFlags, rf)
			}
			return b
		})
		if of != 0 {
			r.Attrs = appendTuple(r.Attrs, ctaTupleOrig, f.Orig)
		}
		if rf != 0 {
			r.Attrs = appendTuple(r.Attrs, ctaTupleReply, f.Reply)
		}
	}
	return r
}

// appendTuple writes the fields of t that its flags name, laid out as the
// kernel dumps a tuple.
func appendTuple(b []byte, typ uint16, t TupleFilter) []byte {
	return appendNested(b, typ, func(b []byte) []byte {
		if t.Src.IsValid() || t.Dst.IsValid() {
			b = appendNested(b, ctaTupleIP, func(b []byte) []byte {
				src, dst := uint16(ctaIPv4Src), uint16(ctaIPv4Dst)
				if t.Src.Is6() || t.Dst.Is6() {
					src, dst = ctaIPv6Src, ctaIPv6Dst
				}
				if t.Src.IsValid() {
					b = appendBytes(b, src, t.Src.AsSlice())
				}
				if t.Dst.IsValid() {
					b = appendBytes(b, dst, t.Dst.AsSlice())
				}
				return b
			})
		}
		if t.HasProto {
			b = appendNested(b, ctaTupleProto, func(b []byte) []byte {
				b = appendBytes(b, ctaProtoNum, []byte{t.Proto})
				if t.HasSrcPort {
					b = appendBE16(b, ctaProtoSrcPort, t.SrcPort)
				}
				if t.HasDstPort {
					b = appendBE16(b, ctaProtoDstPort, t.DstPort)
				}
				return b
			})
		}
		return b
	})
}

// DumpStatsCPU asks for the per-CPU statistics.
func DumpStatsCPU() Request {
	return Request{Subsys: SubsysConntrack, Msg: MsgGetStatsCPU, Flags: FlagRequest | FlagDump}
}

// DumpExpectStatsCPU asks for the per-CPU expectation statistics.
func DumpExpectStatsCPU() Request {
	return Request{Subsys: SubsysExpect, Msg: MsgExpGetStatsCPU, Flags: FlagRequest | FlagDump}
}

// GetGlobalStats asks for the entry count and maximum. The kernel answers
// with one message flagged NLM_F_MULTI but no NLMSG_DONE after it
// (ctnetlink_stat_ct_fill_info), so the request asks for an
// acknowledgement to mark the end.
func GetGlobalStats() Request {
	return Request{Subsys: SubsysConntrack, Msg: MsgGetStats, Flags: FlagRequest | FlagAck}
}

// DumpExpectations asks for every expectation of the namespace.
func DumpExpectations() Request {
	return Request{Subsys: SubsysExpect, Msg: MsgExpGet, Flags: FlagRequest | FlagDump}
}

// Check refuses any netlink message that could change conntrack state. It
// accepts only netfilter conntrack and expectation requests of the get,
// dump and statistics kinds, without the NEW-request modifiers; everything
// else (NEW, DELETE, the counter-zeroing GET_CTRZERO, other subsystems) is
// ErrWrite. Every request ctdiag sends passes through it.
func Check(typ, flags uint16) error {
	subsys, msg := uint8(typ>>8), uint8(typ)
	ok := false
	switch subsys {
	case SubsysConntrack:
		switch msg {
		case MsgGet, MsgGetStatsCPU, MsgGetStats, MsgGetDying, MsgGetUnconfirmed:
			ok = true
		}
	case SubsysExpect:
		switch msg {
		case MsgExpGet, MsgExpGetStatsCPU:
			ok = true
		}
	}
	// NLM_F_REPLACE/EXCL/CREATE/APPEND share bits with the GET modifiers
	// ROOT/MATCH/ATOMIC: only the dump bits (ROOT|MATCH) are allowed.
	if flags&FlagRequest == 0 || flags&(FlagCreate|FlagAppend) != 0 {
		ok = false
	}
	if !ok {
		return fmt.Errorf("%w: netlink type %#04x flags %#04x", ErrWrite, typ, flags)
	}
	return nil
}

func appendAttrHeader(b []byte, typ uint16, payload int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+payload))
	return binary.NativeEndian.AppendUint16(b, typ)
}

func appendBE32(b []byte, typ uint16, v uint32) []byte {
	b = appendAttrHeader(b, typ, 4)
	return binary.BigEndian.AppendUint32(b, v)
}

func appendBE16(b []byte, typ uint16, v uint16) []byte {
	b = appendAttrHeader(b, typ, 2)
	b = binary.BigEndian.AppendUint16(b, v)
	return append(b, 0, 0) // pad to 4
}

func appendNE32(b []byte, typ uint16, v uint32) []byte {
	b = appendAttrHeader(b, typ, 4)
	return binary.NativeEndian.AppendUint32(b, v)
}

// appendBytes writes an attribute with payload v, padded to 4 bytes.
func appendBytes(b []byte, typ uint16, v []byte) []byte {
	b = appendAttrHeader(b, typ, len(v))
	b = append(b, v...)
	for n := len(v); n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// appendNested writes a nested attribute whose payload body appends.
func appendNested(b []byte, typ uint16, body func([]byte) []byte) []byte {
	start := len(b)
	b = appendAttrHeader(b, typ|nlaFNested, 0)
	b = body(b)
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	return b
}
