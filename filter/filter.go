package filter

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// ErrBadFilter wraps every error about filter options.
var ErrBadFilter = errors.New("bad filter")

// portMatch is an optional port (or ICMP id) condition.
type portMatch struct {
	set  bool
	port uint16
}

func (p portMatch) matches(port uint16) bool { return !p.set || p.port == port }

// byteMatch is an optional ICMP type or code condition.
type byteMatch struct {
	set bool
	v   uint8
}

func (b byteMatch) matches(v uint8) bool { return !b.set || b.v == v }

// maskMatch is --src with --mask-src when the mask is not a prefix length
// (conntrack takes any mask: (address & mask) == (network & mask)).
type maskMatch struct {
	set        bool
	net, mask  [16]byte
	v4         bool
	maskString string
}

func (m maskMatch) matches(a netip.Addr) bool {
	if !m.set {
		return true
	}
	if a.Is4() != m.v4 {
		return false
	}
	b := a.As16()
	if m.v4 {
		b = [16]byte{}
		a4 := a.As4()
		copy(b[:], a4[:])
	}
	for i := range b {
		if b[i]&m.mask[i] != m.net[i] {
			return false
		}
	}
	return true
}

// natMatch is --src-nat / --dst-nat / --any-nat with an optional address
// and port ("--src-nat 10.0.0.1:40000").
type natMatch struct {
	set  bool
	addr netip.Addr // invalid = any
	port portMatch
}

// Filter selects flows. The zero Filter matches everything.
type Filter struct {
	Family track.Family // 0 = any
	Proto  track.Proto
	// HasProto distinguishes "-p 0" from no -p.
	HasProto bool

	Src, Dst, ReplySrc, ReplyDst netip.Prefix // invalid = any
	srcMask, dstMask             maskMatch

	sport, dport, replySport, replyDport portMatch
	icmpType, icmpCode                   byteMatch
	icmpID                               portMatch

	States []string // state names (TCP, SCTP or DCCP), any of them

	StatusSet   track.Status // bits that must be set
	StatusClear track.Status // bits that must be clear ("!ASSURED", UNREPLIED)

	Mark, MarkMask uint32
	HasMark        bool

	// Zones compare as conntrack compares them: an entry without a zone of
	// that kind is in zone 0.
	Zone, OrigZone, ReplyZone          uint16
	HasZone, HasOrigZone, HasReplyZone bool

	srcNAT, dstNAT, anyNAT natMatch

	Labels []string // all of them

	args []string // the options as given, for String
}

// SrcPort returns the original source port asked for (--sport), if any.
func (f *Filter) SrcPort() (uint16, bool) { return f.sport.port, f.sport.set }

// DstPort returns the original destination port asked for (--dport), if any.
func (f *Filter) DstPort() (uint16, bool) { return f.dport.port, f.dport.set }

// ReplySrcPort returns the reply source port asked for, if any.
func (f *Filter) ReplySrcPort() (uint16, bool) { return f.replySport.port, f.replySport.set }

// ReplyDstPort returns the reply destination port asked for, if any.
func (f *Filter) ReplyDstPort() (uint16, bool) { return f.replyDport.port, f.replyDport.set }

// Verdict is the answer of Judge: an entry matches, does not, or its source
// does not show what the filter asks about.
type Verdict uint8

// Verdicts.
const (
	No Verdict = iota
	Yes
	Unknown
)

// StatusView says which status bits a source shows. ctnetlink (and ctdiag's
// JSON) carries all 16; text dumps show only a few, as flags.
type StatusView uint8

// Status views.
const (
	// ViewAll: every bit is known (netlink, ctdiag JSON).
	ViewAll StatusView = iota
	// ViewText: /proc/net/nf_conntrack and conntrack -L text. They show
	// SEEN_REPLY (as [UNREPLIED] when clear) and one of [HW_OFFLOAD],
	// [OFFLOAD] or [ASSURED], in that order of precedence: on an offloaded
	// entry ASSURED is not shown either way. Every listed entry is
	// CONFIRMED.
	ViewText
	// ViewXML: conntrack -o xml shows <assured/> and <unreplied/> only.
	ViewXML
)

// textShown are the bits text shows on an entry that is not offloaded.
const textShown = track.StatusSeenReply | track.StatusAssured | track.StatusOffload | track.StatusHWOffload | track.StatusConfirmed

// Shown returns the status bits the view shows for fl.
func (v StatusView) Shown(fl *track.Flow) track.Status {
	switch v {
	case ViewText:
		if fl.Status.Offloaded() {
			return textShown &^ track.StatusAssured
		}
		return textShown
	case ViewXML:
		return track.StatusSeenReply | track.StatusAssured | track.StatusConfirmed
	}
	return ^track.Status(0)
}

// Never returns the status bits the filter tests that the view never shows,
// on any entry: a filter that needs them cannot be judged from such a
// source at all.
func (f *Filter) Never(v StatusView) track.Status {
	need := f.StatusSet | f.StatusClear
	switch v {
	case ViewText:
		return need &^ textShown
	case ViewXML:
		return need &^ (track.StatusSeenReply | track.StatusAssured | track.StatusConfirmed)
	}
	return 0
}

// Match reports whether fl passes every condition, all of its status bits
// being known.
func (f *Filter) Match(fl *track.Flow) bool { return f.Judge(fl, ViewAll) == Yes }

// Judge is Match for an entry whose source shows only some status bits: an
// entry that passes every other condition but whose status decides and is
// not shown is Unknown.
func (f *Filter) Judge(fl *track.Flow, v StatusView) Verdict {
	if !f.matchRest(fl) {
		return No
	}
	need := f.StatusSet | f.StatusClear
	if need == 0 {
		return Yes
	}
	shown := v.Shown(fl)
	// A shown bit that already fails decides, whatever the hidden ones are.
	if fl.Status&f.StatusSet&shown != f.StatusSet&shown || fl.Status&f.StatusClear&shown != 0 {
		return No
	}
	if need&^shown != 0 {
		return Unknown
	}
	return Yes
}

// matchRest checks every condition but the status bits.
func (f *Filter) matchRest(fl *track.Flow) bool {
	if f.Family != 0 && fl.Orig.Family != f.Family {
		return false
	}
	if f.HasProto && fl.Orig.Proto != f.Proto {
		return false
	}
	if f.Src.IsValid() && !f.Src.Contains(fl.Orig.Src) ||
		f.Dst.IsValid() && !f.Dst.Contains(fl.Orig.Dst) ||
		f.ReplySrc.IsValid() && !f.ReplySrc.Contains(fl.Reply.Src) ||
		f.ReplyDst.IsValid() && !f.ReplyDst.Contains(fl.Reply.Dst) ||
		!f.srcMask.matches(fl.Orig.Src) || !f.dstMask.matches(fl.Orig.Dst) {
		return false
	}
	if f.sport.set || f.dport.set || f.replySport.set || f.replyDport.set {
		if !fl.Orig.Proto.HasPorts() || fl.Fields.Has(track.FieldGeneric) ||
			!f.sport.matches(fl.Orig.SrcPort) || !f.dport.matches(fl.Orig.DstPort) ||
			!f.replySport.matches(fl.Reply.SrcPort) || !f.replyDport.matches(fl.Reply.DstPort) {
			return false
		}
	}
	if f.icmpType.set || f.icmpCode.set || f.icmpID.set {
		if !fl.Orig.Proto.IsICMP() || !f.icmpType.matches(fl.Orig.Type) ||
			!f.icmpCode.matches(fl.Orig.Code) || !f.icmpID.matches(fl.Orig.ID) {
			return false
		}
	}
	if len(f.States) > 0 && (!fl.HasState() || !slices.Contains(f.States, fl.StateName())) {
		return false
	}
	if f.HasMark && fl.Mark&f.MarkMask != f.Mark {
		return false
	}
	if f.HasZone && fl.Zone != f.Zone ||
		f.HasOrigZone && fl.ZoneOrig != f.OrigZone ||
		f.HasReplyZone && fl.ZoneReply != f.ReplyZone {
		return false
	}
	if f.anyNAT.set {
		if !f.anyNAT.matchSrc(fl) && !f.anyNAT.matchDst(fl) {
			return false
		}
	} else {
		if f.srcNAT.set && !f.srcNAT.matchSrc(fl) {
			return false
		}
		if f.dstNAT.set && !f.dstNAT.matchDst(fl) {
			return false
		}
	}
	if len(f.Labels) > 0 {
		var have []string
		if fl.Ext != nil {
			have = fl.Ext.Labels
		}
		for _, l := range f.Labels {
			if !slices.Contains(have, l) {
				return false
			}
		}
	}
	return true
}

// srcTranslated: replies go to another address than the original source.
func srcTranslated(fl *track.Flow) bool { return fl.Reply.Dst != fl.Orig.Src }

// srcPortTranslated: replies go to another port than the original one.
func srcPortTranslated(fl *track.Flow) bool {
	return fl.Orig.Proto.HasPorts() && fl.Reply.DstPort != fl.Orig.SrcPort
}

func dstTranslated(fl *track.Flow) bool { return fl.Reply.Src != fl.Orig.Dst }

func dstPortTranslated(fl *track.Flow) bool {
	return fl.Orig.Proto.HasPorts() && fl.Reply.SrcPort != fl.Orig.DstPort
}

// matchSrc is conntrack's filter_nat for source NAT, judged from the
// tuples: without an address or port, any translated address or port; with
// an address, a translated address equal to it; with a port, a translated
// port equal to it (both must hold when both are given).
func (n natMatch) matchSrc(fl *track.Flow) bool {
	return n.match(srcTranslated(fl), srcPortTranslated(fl), fl.Reply.Dst, fl.Reply.DstPort)
}

// matchDst: replies come from a translated destination.
func (n natMatch) matchDst(fl *track.Flow) bool {
	return n.match(dstTranslated(fl), dstPortTranslated(fl), fl.Reply.Src, fl.Reply.SrcPort)
}

func (n natMatch) match(addrNAT, portNAT bool, addr netip.Addr, port uint16) bool {
	if !n.addr.IsValid() && !n.port.set {
		return addrNAT || portNAT
	}
	if n.addr.IsValid() && (!addrNAT || addr != n.addr) {
		return false
	}
	return !n.port.set || portNAT && port == n.port.port
}

// IsEmpty reports whether the filter matches everything.
func (f *Filter) IsEmpty() bool { return len(f.args) == 0 }

// String returns the options the filter was built from, quoted where
// needed, so it can be shown and parsed again.
func (f *Filter) String() string {
	out := make([]string, len(f.args))
	for i, a := range f.args {
		out[i] = quoteWord(a)
	}
	return strings.Join(out, " ")
}

// UsesICMPKeys reports whether the filter compares ICMP type, code or id,
// which conntrack's XML leaves out.
func (f *Filter) UsesICMPKeys() bool { return f.icmpType.set || f.icmpCode.set || f.icmpID.set }
