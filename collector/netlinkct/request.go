package netlinkct

import (
	"encoding/binary"
	"fmt"
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
// 4.20, mark: 4.20, status: 5.15, zone: 6.8).
type DumpFilter struct {
	Family             uint8 // 0 = both
	Mark, MarkMask     uint32
	HasMark            bool
	Status, StatusMask uint32
	HasStatus          bool
	Zone               uint16
	HasZone            bool
}

// IsEmpty reports whether the filter selects everything.
func (f DumpFilter) IsEmpty() bool {
	return f.Family == 0 && !f.HasMark && !f.HasStatus && !f.HasZone
}

// DumpTable asks for every entry of the namespace (IPCTNL_MSG_CT_GET with
// NLM_F_DUMP), optionally narrowed by f.
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
	return r
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
