package track

import "time"

// Fields records which optional parts of a Flow its source provided. The
// kernel prints (and ctnetlink sends) many parts only when an extension
// exists or a value is non-default, so "absent" and "zero" differ: an entry
// created with nf_conntrack_acct=0 has no counters at all, not zero counters.
type Fields uint32

// Optional parts of a Flow.
const (
	FieldTimeout       Fields = 1 << iota // absent on offloaded entries
	FieldState                            // TCP, SCTP or DCCP state
	FieldGRETimeouts                      // /proc "timeout=N, stream_timeout=N" of GRE
	FieldOrigCounters                     // packets=/bytes= of the original direction
	FieldReplyCounters                    // packets=/bytes= of the reply direction
	FieldZoneOrig                         // zone-orig=
	FieldZoneReply                        // zone-reply=
	FieldMark                             // mark=
	FieldSecmark                          // secmark= (conntrack-tools)
	FieldSecctx                           // secctx=
	FieldZone                             // zone=
	FieldDeltaTime                        // delta-time= (timestamp extension)
	FieldStart                            // [start=...] (conntrack -o ktimestamp)
	FieldStop                             // [stop=...]
	FieldHelper                           // helper=
	FieldUse                              // use=
	FieldID                               // id= (conntrack -o id)
	FieldLabels                           // labels= (conntrack -o labels)

	// FieldGeneric marks an entry of a protocol with a known name that the
	// kernel tracked with its generic tracker (DCCP on 6.18, GRE or SCTP when
	// their trackers are absent): /proc prints it as "unknown N" without L4
	// identifiers. Not an optional part, but it decides how the entry prints.
	FieldGeneric
)

// Has reports whether every part in want is present.
func (f Fields) Has(want Fields) bool { return f&want == want }

// Counters are one direction's accounting (nf_conntrack_acct). Bytes count
// the IP layer, headers included.
type Counters struct {
	Packets, Bytes uint64
}

// Flow is one conntrack table entry.
type Flow struct {
	Orig  Tuple // the connection as first seen, before any NAT
	Reply Tuple // what replies look like; differs from Orig.Reply() under NAT

	Fields Fields // which optional parts below are present

	State   uint8  // protocol state number: a TCPState, SCTPState or DCCPState
	Timeout uint32 // remaining seconds, floor(jiffies/HZ) as the kernel prints
	Status  Status

	Mark                uint32
	Use                 uint32 // reference count (2 via /proc, 1 via conntrack -L for an idle entry)
	ID                  uint32 // ctnetlink entry id
	Zone                uint16 // zone for both directions
	ZoneOrig, ZoneReply uint16

	OrigCounters, ReplyCounters Counters

	DeltaTime uint64 // seconds since confirmation (timestamp extension)

	// Ext holds the rarely present parts; nil for almost every entry, which
	// keeps a million-entry table small.
	Ext *FlowExt
}

// FlowExt holds the optional parts few entries have.
type FlowExt struct {
	Secctx  string
	Secmark uint32
	Helper  string
	Labels  []string // label names as conntrack -o labels prints them

	GRETimeout, GREStreamTimeout uint32 // GRE's per-entry timeouts (s)

	Start, Stop time.Time // conntrack -o ktimestamp, second precision in text
}

// ext returns f.Ext, allocating it on first use.
func (f *Flow) ext() *FlowExt {
	if f.Ext == nil {
		f.Ext = &FlowExt{}
	}
	return f.Ext
}

// SetSecctx sets the security context and marks it present.
func (f *Flow) SetSecctx(s string) { f.ext().Secctx = s; f.Fields |= FieldSecctx }

// SetSecmark sets the secmark and marks it present.
func (f *Flow) SetSecmark(m uint32) { f.ext().Secmark = m; f.Fields |= FieldSecmark }

// SetHelper sets the helper name and marks it present.
func (f *Flow) SetHelper(h string) { f.ext().Helper = h; f.Fields |= FieldHelper }

// SetLabels sets the label names and marks them present.
func (f *Flow) SetLabels(l []string) { f.ext().Labels = l; f.Fields |= FieldLabels }

// SetStart sets the start timestamp and marks it present.
func (f *Flow) SetStart(t time.Time) { f.ext().Start = t; f.Fields |= FieldStart }

// SetStop sets the stop timestamp and marks it present.
func (f *Flow) SetStop(t time.Time) { f.ext().Stop = t; f.Fields |= FieldStop }

// SetGRETimeouts sets GRE's per-entry timeouts and marks them present.
func (f *Flow) SetGRETimeouts(timeout, stream uint32) {
	e := f.ext()
	e.GRETimeout, e.GREStreamTimeout = timeout, stream
	f.Fields |= FieldGRETimeouts
}

// Proto is the entry's L4 protocol.
func (f *Flow) Proto() Proto { return f.Orig.Proto }

// Family is the entry's L3 family.
func (f *Flow) Family() Family { return f.Orig.Family }

// HasState reports whether the entry carries a protocol state.
func (f *Flow) HasState() bool { return f.Fields&FieldState != 0 }

// TCPState returns the TCP state; ok is false for non-TCP entries or when
// the source gave no state.
func (f *Flow) TCPState() (s TCPState, ok bool) {
	if f.Orig.Proto != ProtoTCP || !f.HasState() {
		return 0, false
	}
	return TCPState(f.State), true
}

// StateName is the protocol state's name, or "" when the entry has none.
func (f *Flow) StateName() string {
	if !f.HasState() {
		return ""
	}
	return StateName(f.Orig.Proto, f.State)
}

// Unreplied reports whether no reply has been seen ([UNREPLIED]).
func (f *Flow) Unreplied() bool { return !f.Status.SeenReply() }

// HalfAssured reports the state between [UNREPLIED] and [ASSURED]: a reply
// was seen but the entry is not assured (e.g. TCP SYN_RECV, or UDP that only
// exchanged one request and answer within 2 s).
func (f *Flow) HalfAssured() bool { return f.Status.SeenReply() && !f.Status.Assured() }

// Evictable says whether the kernel may drop the entry to make room in a
// full table (docs/KERNEL.md §4.3): early drop takes entries that are not
// ASSURED, and the garbage collector, once the table is 95 % full, also
// takes ASSURED TCP entries that are already closing (FIN_WAIT to CLOSE,
// tcp_can_early_drop). An offloaded entry is kept: a text dump does not even
// say whether it is assured.
func (f *Flow) Evictable() bool {
	return Evictable(f.Orig.Proto, f.State, f.HasState(), f.Status)
}

// Evictable is Flow.Evictable for an entry known by its protocol, state and
// status alone (a model that counts entries by those).
func Evictable(p Proto, state uint8, hasState bool, status Status) bool {
	switch {
	case status.Offloaded():
		return false
	case !status.Assured():
		return true
	}
	if p == ProtoTCP && hasState {
		switch TCPState(state) {
		case TCPFinWait, TCPCloseWait, TCPLastAck, TCPTimeWait, TCPClose:
			return true
		}
	}
	return false
}

// SrcNAT reports whether the reply tuple shows a source translation: replies
// go to an address or port other than the original source. This is how
// conntrack-tools decides --src-nat from the tuples alone.
func (f *Flow) SrcNAT() bool {
	return f.Reply.Dst != f.Orig.Src || (f.Orig.Proto.HasPorts() && f.Reply.DstPort != f.Orig.SrcPort)
}

// DstNAT reports whether the reply tuple shows a destination translation:
// replies come from an address or port other than the original destination.
func (f *Flow) DstNAT() bool {
	return f.Reply.Src != f.Orig.Dst || (f.Orig.Proto.HasPorts() && f.Reply.SrcPort != f.Orig.DstPort)
}

// Clone returns a deep copy (Ext and Labels are not shared).
func (f *Flow) Clone() Flow {
	c := *f
	if f.Ext != nil {
		e := *f.Ext
		if e.Labels != nil {
			e.Labels = append([]string(nil), e.Labels...)
		}
		c.Ext = &e
	}
	return c
}

// Equal reports whether two flows hold the same values, comparing the
// optional parts by content and times by instant.
func (f *Flow) Equal(g *Flow) bool {
	a, b := *f, *g
	ea, eb := a.Ext, b.Ext
	a.Ext, b.Ext = nil, nil
	if a != b {
		return false
	}
	if ea == nil || eb == nil {
		return isEmptyExt(ea) && isEmptyExt(eb)
	}
	if ea.Secctx != eb.Secctx || ea.Secmark != eb.Secmark || ea.Helper != eb.Helper ||
		ea.GRETimeout != eb.GRETimeout || ea.GREStreamTimeout != eb.GREStreamTimeout ||
		!ea.Start.Equal(eb.Start) || !ea.Stop.Equal(eb.Stop) || len(ea.Labels) != len(eb.Labels) {
		return false
	}
	for i := range ea.Labels {
		if ea.Labels[i] != eb.Labels[i] {
			return false
		}
	}
	return true
}

func isEmptyExt(e *FlowExt) bool {
	return e == nil || (e.Secctx == "" && e.Secmark == 0 && e.Helper == "" && len(e.Labels) == 0 &&
		e.GRETimeout == 0 && e.GREStreamTimeout == 0 && e.Start.IsZero() && e.Stop.IsZero())
}
