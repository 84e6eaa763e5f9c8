package flowtable

import (
	"bytes"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ctdiag/ctdiag/internal/radix"
	"github.com/ctdiag/ctdiag/track"
)

// Column is what a view can be sorted by.
type Column uint8

// Sortable columns. ColNone keeps the table's order (the kernel's).
const (
	ColNone Column = iota
	ColProto
	ColState
	ColSrc
	ColSport
	ColDst
	ColDport
	ColFlags
	ColTimeout
	ColIdle
	ColAge
	ColBytes
	ColPackets
	ColMark
	ColZone
	NumColumns
)

var columnNames = [NumColumns]string{"table order", "proto", "state", "source", "sport", "destination", "dport",
	"flags", "timeout", "idle", "age", "bytes", "packets", "mark", "zone"}

func (c Column) String() string {
	if c < NumColumns {
		return columnNames[c]
	}
	return "?"
}

// Order is a sort column and direction.
type Order struct {
	Col  Column
	Desc bool
}

// View is a filtered, sorted selection of a table's entries.
type View struct {
	t    *Table
	idx  []int32 // table rows in order; nil means every row in table order
	desc bool
}

// Len is the number of entries in the view.
func (v *View) Len() int {
	if v.idx == nil {
		return v.t.Len()
	}
	return len(v.idx)
}

// Index is the table row shown at position i.
func (v *View) Index(i int) int {
	if v.desc {
		i = v.Len() - 1 - i
	}
	if v.idx == nil {
		return i
	}
	return int(v.idx[i])
}

// Flow rebuilds the entry at position i into f.
func (v *View) Flow(i int, f *track.Flow) { v.t.Flow(v.Index(i), f) }

// Table is the table the view selects from.
func (v *View) Table() *Table { return v.t }

// Reversed returns the same selection in the other direction, without
// sorting again.
func (v *View) Reversed() *View {
	c := *v
	c.desc = !c.desc
	return &c
}

// Select makes a view of the entries that match (nil: all), in order o;
// match may be called from several goroutines at once.
// Matching rebuilds each entry; sorting is a radix sort of 64-bit keys, with
// ties on IPv6 addresses settled by a full comparison, so a million entries
// take tens of milliseconds.
func (t *Table) Select(match func(*track.Flow) bool, o Order) *View {
	v := &View{t: t, desc: o.Desc}
	if match == nil && o.Col == ColNone {
		return v
	}
	if match != nil {
		v.idx = t.filter(match)
	}
	if o.Col == ColNone {
		return v
	}
	if v.idx == nil {
		v.idx = make([]int32, len(t.rows))
		for i := range v.idx {
			v.idx[i] = int32(i)
		}
	}
	t.sort(v.idx, o.Col)
	return v
}

// filter lists the rows that match, in order. Large tables are split
// across GOMAXPROCS goroutines: match must be safe for concurrent use (a
// filter.Filter's Match is).
func (t *Table) filter(match func(*track.Flow) bool) []int32 {
	scan := func(lo, hi int) []int32 {
		var f track.Flow
		out := make([]int32, 0, (hi-lo)/4)
		for i := lo; i < hi; i++ {
			t.Flow(i, &f)
			if match(&f) {
				out = append(out, int32(i))
			}
		}
		return out
	}
	n := runtime.GOMAXPROCS(0)
	if len(t.rows) < 1<<16 || n == 1 {
		return scan(0, len(t.rows))
	}
	parts := make([][]int32, n)
	var wg sync.WaitGroup
	for p := range n {
		lo, hi := len(t.rows)*p/n, len(t.rows)*(p+1)/n
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[p] = scan(lo, hi)
		}()
	}
	wg.Wait()
	return slices.Concat(parts...)
}

// keyed is a row index with its sort key.
type keyed = radix.Keyed

func (t *Table) sort(idx []int32, col Column) {
	ks := make([]keyed, len(idx))
	// Keys are built on every core for a large view. Entries without a
	// value (unknownLast) then get the key after the largest real one, so
	// the radix sort visits only the bits real keys use, not all 64.
	parts := 1
	if len(idx) >= 1<<16 {
		parts = runtime.GOMAXPROCS(0)
	}
	maxKnown := make([]uint64, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f track.Flow
			memo := map[uint32]Age{}
			m := uint64(0)
			for j := len(idx) * p / parts; j < len(idx)*(p+1)/parts; j++ {
				i := idx[j]
				var k uint64
				if col == ColIdle {
					k = t.idleKey(int(i), memo)
				} else {
					k = t.key(int(i), col, &f)
				}
				if k != unknownLast {
					m = max(m, k)
				}
				ks[j] = keyed{Key: k, Index: i}
			}
			maxKnown[p] = m
		}()
	}
	wg.Wait()
	if m := slices.Max(maxKnown); m < unknownLast-1 && col != ColSrc && col != ColDst {
		for j := range ks {
			if ks[j].Key == unknownLast {
				ks[j].Key = m + 1
			}
		}
	}
	if col == ColSrc || col == ColDst {
		// IPv4 keys (48 bits) sort apart from IPv6 ones (bit 63 set), so
		// neither pays for the other's bits; all IPv4 keys come first.
		v4 := stablePartition(ks, func(k keyed) bool { return k.Key&(1<<63) == 0 })
		radix.SortKeyed(ks[:v4])
		radix.SortKeyed(ks[v4:])
		t.settleTies(ks, col)
	} else {
		radix.SortKeyed(ks)
	}
	for j := range ks {
		idx[j] = ks[j].Index
	}
}

// stablePartition moves the elements for which first is true ahead of
// the others, each side keeping its order, and returns how many there are.
func stablePartition(ks []keyed, first func(keyed) bool) int {
	var rest []keyed
	n := 0
	for _, k := range ks {
		if first(k) {
			ks[n] = k
			n++
		} else {
			rest = append(rest, k)
		}
	}
	copy(ks[n:], rest)
	return n
}

const unknownLast = ^uint64(0)

// key is a 64-bit sort key; exact except for IPv6 addresses, whose ties
// settleTies resolves.
func (t *Table) key(i int, col Column, f *track.Flow) uint64 {
	r := &t.rows[i]
	ports := r.proto.HasPorts() && !r.fields.Has(track.FieldGeneric)
	switch col {
	case ColProto:
		return uint64(r.proto)
	case ColState:
		if !r.fields.Has(track.FieldState) {
			return 0xffff<<8 | uint64(r.proto)
		}
		return uint64(r.state)<<8 | uint64(r.proto)
	case ColSrc, ColDst:
		a, p := r.src, r.p1
		if col == ColDst {
			a, p = r.dst, r.p2
		}
		if !ports {
			p = 0
		}
		if r.family == track.FamilyIPv4 {
			return uint64(a[0])<<40 | uint64(a[1])<<32 | uint64(a[2])<<24 | uint64(a[3])<<16 | uint64(p)
		}
		return 1<<63 | beUint64(a[:8])>>1
	case ColSport, ColDport:
		if !ports {
			return unknownLast
		}
		if col == ColSport {
			return uint64(r.p1)
		}
		return uint64(r.p2)
	case ColFlags:
		return uint64(r.class)
	case ColTimeout:
		if !r.fields.Has(track.FieldTimeout) {
			return unknownLast
		}
		return uint64(r.timeout)
	case ColIdle:
		t.Flow(i, f)
		a := IdleAge(f, t.timeouts)
		if !a.Known {
			return unknownLast
		}
		return uint64(a.Idle / time.Second)
	case ColAge:
		if !r.fields.Has(track.FieldDeltaTime) {
			return unknownLast
		}
		a := &t.aux[r.aux-1]
		if a.full != nil {
			return a.full.DeltaTime
		}
		return a.delta
	case ColBytes, ColPackets:
		if r.aux == 0 {
			return 0
		}
		a := &t.aux[r.aux-1]
		o, rc := a.orig, a.replyC
		if a.full != nil {
			o, rc = a.full.OrigCounters, a.full.ReplyCounters
		}
		if col == ColBytes {
			return o.Bytes + rc.Bytes
		}
		return o.Packets + rc.Packets
	case ColMark:
		return uint64(r.mark)
	case ColZone:
		return uint64(r.zone)
	}
	return 0
}

// idleKey is the idle column's key without rebuilding the entry: the full
// timeout depends only on protocol, state and flags, so it is looked up
// once per combination (memo) and the entry's remaining timeout applied.
func (t *Table) idleKey(i int, memo map[uint32]Age) uint64 {
	r := &t.rows[i]
	if !r.fields.Has(track.FieldTimeout) {
		return unknownLast
	}
	k := uint32(r.proto)<<16 | uint32(r.state)<<8 | uint32(r.class)<<4
	if r.fields.Has(track.FieldState) {
		k |= 1
	}
	if r.fields.Has(track.FieldGeneric) {
		k |= 2
	}
	a, ok := memo[k]
	if !ok {
		// With no time remaining, IdleAge gives the state's full timeout,
		// or for ESTABLISHED the cap (marked Capped) that applies to
		// entries at or below it.
		a = IdleAge(&track.Flow{Orig: track.Tuple{Proto: r.proto}, Fields: r.fields, State: r.state, Status: r.status}, t.timeouts)
		memo[k] = a
	}
	if a.Full == 0 {
		return unknownLast
	}
	full, rem := a.Full, time.Duration(r.timeout)*time.Second
	if a.Capped && rem > a.Full {
		full = t.timeouts.TCP(track.TCPEstablished)
	}
	if rem > full {
		return unknownLast
	}
	return uint64((full - rem) / time.Second)
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// settleTies orders runs of equal keys among IPv6 rows (whose key holds
// only the address's first 63 bits) by the whole address, then the port:
// small runs by comparison, large ones (a /64 full of clients) by three
// more stable radix passes, least significant first.
func (t *Table) settleTies(ks []keyed, col Column) {
	port := func(r *row, p uint16) uint64 {
		if r.proto.HasPorts() && !r.fields.Has(track.FieldGeneric) {
			return uint64(p)
		}
		return 0
	}
	addrPort := func(k keyed) (*[16]byte, uint64) {
		r := &t.rows[k.Index]
		if col == ColSrc {
			return &r.src, port(r, r.p1)
		}
		return &r.dst, port(r, r.p2)
	}
	cmp := func(a, b keyed) int {
		aa, ap := addrPort(a)
		ba, bp := addrPort(b)
		if c := bytes.Compare(aa[:], ba[:]); c != 0 {
			return c
		}
		return int(ap) - int(bp)
	}
	rekey := func(run []keyed, f func(addr *[16]byte, port uint64) uint64) {
		for j := range run {
			a, p := addrPort(run[j])
			run[j].Key = f(a, p)
		}
		radix.SortKeyed(run)
	}
	for lo := 0; lo < len(ks); {
		hi := lo + 1
		for hi < len(ks) && ks[hi].Key == ks[lo].Key {
			hi++
		}
		run := ks[lo:hi]
		switch {
		case len(run) < 2 || ks[lo].Key&(1<<63) == 0:
		case len(run) < 256:
			slices.SortStableFunc(run, cmp)
		default:
			rekey(run, func(_ *[16]byte, p uint64) uint64 { return p })
			rekey(run, func(a *[16]byte, _ uint64) uint64 { return beUint64(a[8:]) })
			rekey(run, func(a *[16]byte, _ uint64) uint64 { return uint64(a[7] & 1) }) // the bit the key dropped
		}
		lo = hi
	}
}
