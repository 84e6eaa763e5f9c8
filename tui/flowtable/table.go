package flowtable

import (
	"net/netip"

	"github.com/ctdiag/ctdiag/track"
)

// ctuple is one direction's addresses and L4 identifiers. An IPv4 address
// sits in the first 4 bytes. p1/p2 are the ports, the GRE keys, or ICMP's
// type<<8|code and id, whichever the protocol has.
type ctuple struct {
	src, dst [16]byte
	p1, p2   uint16
}

// row is an entry as the table keeps it: what every entry has. The rest
// (NAT reply tuples, counters, zones per direction, timestamps, rare
// extensions) lives in an auxRec, only for entries that have any.
type row struct {
	ctuple
	proto   track.Proto
	family  track.Family
	state   uint8
	class   uint8 // classUnreplied, classHalf or classAssured
	status  track.Status
	timeout uint32
	fields  track.Fields
	mark    uint32
	use     uint32
	zone    uint16
	aux     int32 // index+1 into Table.aux; 0 when the row is the whole entry
}

// auxRec is what a row cannot hold. An entry whose tuples break the usual
// invariants (an IPv6 zone, fields its protocol does not use) is kept whole
// in full, so nothing is ever lost.
type auxRec struct {
	full                *track.Flow
	reply               ctuple // when hasReply: NAT changed the reply tuple
	hasReply            bool
	zoneOrig, zoneReply uint16
	id                  uint32
	delta               uint64
	orig, replyC        track.Counters
	ext                 *track.FlowExt
}

// Classes of entries by their status flags.
const (
	classUnreplied = iota // [UNREPLIED]: no reply seen
	classHalf             // a reply seen, not [ASSURED]
	classAssured          // [ASSURED]
	numClasses
)

func classOf(s track.Status) uint8 {
	switch {
	case s.Assured():
		return classAssured
	case s.SeenReply():
		return classHalf
	}
	return classUnreplied
}

// stateSlots: a state index per protocol: 0 for no state, 1+state otherwise.
const stateSlots = 16

func stateSlot(f *track.Flow) int {
	if f.HasState() && f.State < stateSlots-1 {
		return 1 + int(f.State)
	}
	return 0
}

// Table is one sample's entries with their state counts.
type Table struct {
	rows []row
	aux  []auxRec

	// states counts entries by protocol and state slot, per class.
	states [256 * stateSlots][numClasses]int32
	acct   int // entries with counters
	stamps int // entries with a start time (delta-time)

	timeouts track.Timeouts
}

// New returns an empty table with room for n entries.
func New(n int) *Table {
	return &Table{rows: make([]row, 0, n)}
}

// Reset empties the table, keeping its storage for the next sample.
func (t *Table) Reset() {
	t.rows = t.rows[:0]
	clear(t.aux)
	t.aux = t.aux[:0]
	t.states = [256 * stateSlots][numClasses]int32{}
	t.acct, t.stamps = 0, 0
	t.timeouts = track.Timeouts{}
}

// SetTimeouts sets the timeouts in force for this sample: idle ages are
// computed from them.
func (t *Table) SetTimeouts(tm track.Timeouts) { t.timeouts = tm }

// Timeouts returns what SetTimeouts set.
func (t *Table) Timeouts() track.Timeouts { return t.timeouts }

// Len is the number of entries.
func (t *Table) Len() int { return len(t.rows) }

// Accounting reports how many entries carry packet and byte counters.
func (t *Table) Accounting() int { return t.acct }

// Timestamps reports how many entries carry their age (delta-time, from
// nf_conntrack_timestamp).
func (t *Table) Timestamps() int { return t.stamps }

// Add appends a copy of f. It writes the row in place: at a million
// entries a sample, copies of 68-byte rows and 36-byte tuples would cost
// as much as the rest.
func (t *Table) Add(f *track.Flow) {
	t.rows = append(t.rows, row{})
	r := &t.rows[len(t.rows)-1]
	r.proto, r.family, r.state, r.class = f.Orig.Proto, f.Orig.Family, f.State, classOf(f.Status)
	r.status, r.timeout, r.fields = f.Status, f.Timeout, f.Fields
	r.mark, r.use, r.zone = f.Mark, f.Use, f.Zone
	t.states[int(r.proto)*stateSlots+stateSlot(f)][r.class]++
	if f.Fields.Has(track.FieldOrigCounters) {
		t.acct++
	}
	if f.Fields.Has(track.FieldDeltaTime) {
		t.stamps++
	}
	if !encodeTuple(&f.Orig, &r.ctuple) {
		t.keepWhole(r, f)
		return
	}
	var a *auxRec
	if !plainReply(f) && f.Reply != f.Orig.Reply() {
		if f.Reply.Family != f.Orig.Family || f.Reply.Proto != f.Orig.Proto {
			t.keepWhole(r, f)
			return
		}
		a = t.newAux(r)
		if !encodeTuple(&f.Reply, &a.reply) {
			*a = auxRec{}
			t.keepWhole(r, f)
			return
		}
		a.hasReply = true
	}
	if f.ZoneOrig != 0 || f.ZoneReply != 0 || f.ID != 0 || f.DeltaTime != 0 ||
		f.OrigCounters != (track.Counters{}) || f.ReplyCounters != (track.Counters{}) || f.Ext != nil {
		if a == nil {
			a = t.newAux(r)
		}
		a.zoneOrig, a.zoneReply, a.id, a.delta = f.ZoneOrig, f.ZoneReply, f.ID, f.DeltaTime
		a.orig, a.replyC = f.OrigCounters, f.ReplyCounters
		if f.Ext != nil {
			c := f.Clone()
			a.ext = c.Ext
		}
	}
}

// newAux gives row r a side record.
func (t *Table) newAux(r *row) *auxRec {
	if r.aux == 0 {
		t.aux = append(t.aux, auxRec{})
		r.aux = int32(len(t.aux))
	}
	return &t.aux[r.aux-1]
}

// keepWhole keeps an unusual entry whole; the row still carries what
// sorting and counting read.
func (t *Table) keepWhole(r *row, f *track.Flow) {
	c := f.Clone()
	r.ctuple = ctuple{p1: c.Orig.SrcPort, p2: c.Orig.DstPort}
	putAddr(&r.src, c.Orig.Src)
	putAddr(&r.dst, c.Orig.Dst)
	*t.newAux(r) = auxRec{full: &c}
}

// plainReply is the common case of f.Reply == f.Orig.Reply() without
// building the inverse: a protocol with ports, no NAT. (Reply() would swap
// the same fields; ICMP and the rest take the general comparison.)
func plainReply(f *track.Flow) bool {
	o, r := &f.Orig, &f.Reply
	return o.Proto.HasPorts() && r.Proto == o.Proto && r.Family == o.Family &&
		r.Src == o.Dst && r.Dst == o.Src && r.SrcPort == o.DstPort && r.DstPort == o.SrcPort &&
		r.Type == o.Type && r.Code == o.Code && r.ID == o.ID && r.SrcKey == o.DstKey && r.DstKey == o.SrcKey
}

// Flow rebuilds entry i into f.
func (t *Table) Flow(i int, f *track.Flow) {
	r := &t.rows[i]
	var a *auxRec
	if r.aux != 0 {
		a = &t.aux[r.aux-1]
		if a.full != nil {
			*f = a.full.Clone()
			return
		}
	}
	*f = track.Flow{
		Orig:    decodeTuple(&r.ctuple, r.family, r.proto),
		Fields:  r.fields,
		State:   r.state,
		Timeout: r.timeout,
		Status:  r.status,
		Mark:    r.mark,
		Use:     r.use,
		Zone:    r.zone,
	}
	f.Reply = f.Orig.Reply()
	if a == nil {
		return
	}
	if a.hasReply {
		f.Reply = decodeTuple(&a.reply, r.family, r.proto)
	}
	f.ZoneOrig, f.ZoneReply, f.ID, f.DeltaTime = a.zoneOrig, a.zoneReply, a.id, a.delta
	f.OrigCounters, f.ReplyCounters = a.orig, a.replyC
	if a.ext != nil {
		e := *a.ext
		if e.Labels != nil {
			e.Labels = append([]string(nil), e.Labels...)
		}
		f.Ext = &e
	}
}

// encodeTuple packs t into c; false when t does not fit the usual shape
// (the caller then keeps the entry whole).
func encodeTuple(t *track.Tuple, c *ctuple) bool {
	switch t.Family {
	case track.FamilyIPv4:
		if !t.Src.Is4() || !t.Dst.Is4() {
			return false
		}
	case track.FamilyIPv6:
		if !t.Src.Is6() || !t.Dst.Is6() || t.Src.Zone() != "" || t.Dst.Zone() != "" {
			return false
		}
	default:
		return false
	}
	switch {
	case t.Proto.HasPorts():
		if t.Type != 0 || t.Code != 0 || t.ID != 0 || t.SrcKey != 0 || t.DstKey != 0 {
			return false
		}
		c.p1, c.p2 = t.SrcPort, t.DstPort
	case t.Proto.IsICMP():
		if t.SrcPort != 0 || t.DstPort != 0 || t.SrcKey != 0 || t.DstKey != 0 {
			return false
		}
		c.p1, c.p2 = uint16(t.Type)<<8|uint16(t.Code), t.ID
	case t.Proto == track.ProtoGRE:
		if t.SrcPort != 0 || t.DstPort != 0 || t.Type != 0 || t.Code != 0 || t.ID != 0 {
			return false
		}
		c.p1, c.p2 = t.SrcKey, t.DstKey
	default:
		if t.SrcPort != 0 || t.DstPort != 0 || t.Type != 0 || t.Code != 0 || t.ID != 0 || t.SrcKey != 0 || t.DstKey != 0 {
			return false
		}
	}
	putAddr(&c.src, t.Src)
	putAddr(&c.dst, t.Dst)
	return true
}

func decodeTuple(c *ctuple, fam track.Family, p track.Proto) track.Tuple {
	t := track.Tuple{Family: fam, Proto: p}
	if fam == track.FamilyIPv4 {
		t.Src = netip.AddrFrom4([4]byte(c.src[:4]))
		t.Dst = netip.AddrFrom4([4]byte(c.dst[:4]))
	} else {
		t.Src, t.Dst = netip.AddrFrom16(c.src), netip.AddrFrom16(c.dst)
	}
	switch {
	case p.HasPorts():
		t.SrcPort, t.DstPort = c.p1, c.p2
	case p.IsICMP():
		t.Type, t.Code, t.ID = uint8(c.p1>>8), uint8(c.p1), c.p2
	case p == track.ProtoGRE:
		t.SrcKey, t.DstKey = c.p1, c.p2
	}
	return t
}

// putAddr stores an address: IPv4 in the first 4 bytes (the rest zero),
// IPv6 as is.
func putAddr(dst *[16]byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		*dst = [16]byte{v[0], v[1], v[2], v[3]}
		return
	}
	*dst = a.As16()
}
