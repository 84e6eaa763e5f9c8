package exporter

import (
	"sync"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// rec is what the model keeps of an entry besides its key: what the rules
// read (state, status, timeout, mark, zone, a NAT reply tuple). Counters,
// ids and timestamps are left out: events do not carry counters, so kept
// ones would be as old as the last dump and make idle connections look
// silent.
type rec struct {
	timeout uint32 // seconds left when written (flagTimeout)
	seen    uint32 // when written, in ticks since the model's base
	mark    uint32
	status  uint16
	state   uint8
	flags   uint8
}

const (
	flagTimeout uint8 = 1 << iota
	flagState
	flagMark
	flagZone  // the source gave a zone (FieldZone)
	flagReply // NAT: the reply map holds the reply tuple
	flagEvent // last written by an event, not a dump
)

// ticksPerSecond is the resolution of rec.seen: fine enough to order a
// resync against the events around it, coarse enough that a uint32 lasts
// eight years.
const ticksPerSecond = 16

// stateSlots: per protocol, slot 0 is "no state" and 1+n is state n.
const stateSlots = 16

// Classes of entries by status, as everywhere in ctdiag: [UNREPLIED], a
// reply seen but not [ASSURED] (half-assured), [ASSURED].
const (
	classUnreplied = iota
	classHalf
	classAssured
	numClasses
)

func classOf(s track.Status) int {
	switch {
	case s.Assured():
		return classAssured
	case s.SeenReply():
		return classHalf
	}
	return classUnreplied
}

// Counts are the model's entries by protocol, state slot and class.
type Counts [256 * stateSlots][numClasses]int32

// Model is one namespace's table as its events and dumps describe it. It
// keeps every entry compactly (about 60 bytes an IPv4 entry), counts them by
// protocol, state and class as they change, so a reader gets the counts
// without a walk, and streams its entries as track.Flow to the analyzer.
//
// Between dumps, an entry's remaining timeout is counted down from when it
// was last written: packets refresh the kernel's timeout without an event,
// so ages can read higher than the kernel's by up to the time since the
// last dump. After a dump the model equals the table (but for what changed
// during the dump, which the events around it settle).
//
// It is safe for concurrent use: events, dumps and readers take its lock.
type Model struct {
	mu   sync.RWMutex
	base time.Time
	v4   map[key4]rec
	v6   map[key6]rec
	r4   map[key4]reply4 // NAT reply tuples of v4 entries with flagReply
	r6   map[key6]reply6
	odd  map[oddKey]*oddRec

	counts Counts
	n      int

	// resyncs counts dumps in progress; while any is, DESTROY events leave
	// a tombstone so a dump that read the entry before it went does not
	// bring it back.
	resyncs int
	tomb    map[oddKey]struct{}
	// since is the latest start of the dumps in progress. Events are
	// stamped when their batch was read, so one read before a dump began
	// may be applied after the dump wrote its entry: it is stamped since,
	// or End would take the entry for one neither wrote and remove it.
	since uint32
}

// NewModel returns an empty model whose clock starts at base.
func NewModel(base time.Time) *Model {
	return &Model{
		base: base,
		v4:   map[key4]rec{},
		v6:   map[key6]rec{},
		r4:   map[key4]reply4{},
		r6:   map[key6]reply6{},
		odd:  map[oddKey]*oddRec{},
		tomb: map[oddKey]struct{}{},
	}
}

// Len is the number of entries.
func (m *Model) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.n
}

// Counts copies the counts by protocol, state and class.
func (m *Model) Counts(dst *Counts) {
	m.mu.RLock()
	*dst = m.counts
	m.mu.RUnlock()
}

func (m *Model) tick(t time.Time) uint32 {
	d := t.Sub(m.base)
	if d < 0 {
		return 0
	}
	return uint32(d * ticksPerSecond / time.Second)
}

func slotOf(proto track.Proto, state uint8, hasState bool) int {
	if hasState && state < stateSlots-1 {
		return int(proto)*stateSlots + 1 + int(state)
	}
	return int(proto) * stateSlots
}

func (m *Model) count(proto track.Proto, r *rec, d int32) {
	m.counts[slotOf(proto, r.state, r.flags&flagState != 0)][classOf(track.Status(r.status))] += d
	m.n += int(d)
}

// recOf packs f; ok is false when f needs the odd map (status bits the
// kernel does not have yet).
func recOf(f *track.Flow, seen uint32, byEvent bool) (rec, bool) {
	r := rec{seen: seen, status: uint16(f.Status), state: f.State, mark: f.Mark, timeout: f.Timeout}
	if f.Fields.Has(track.FieldTimeout) {
		r.flags |= flagTimeout
	}
	if f.Fields.Has(track.FieldState) {
		r.flags |= flagState
	}
	if f.Fields.Has(track.FieldMark) {
		r.flags |= flagMark
	}
	if f.Fields.Has(track.FieldZone) {
		r.flags |= flagZone
	}
	if byEvent {
		r.flags |= flagEvent
	}
	return r, f.Status>>16 == 0
}

// Event applies one conntrack event at time now.
func (m *Model) Event(ev *track.Event, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &ev.Flow
	seen := max(m.tick(now), m.since) // since is 0 outside dumps
	switch ev.Type {
	case track.EventDestroy:
		m.remove(f)
		if m.resyncs > 0 {
			m.tomb[oddKey{f.Orig, f.Zone}] = struct{}{}
		}
	case track.EventNew:
		if m.resyncs > 0 {
			delete(m.tomb, oddKey{f.Orig, f.Zone})
		}
		m.put(f, seen, true, false)
	case track.EventUpdate:
		m.put(f, seen, true, true)
	}
}

// put stores f. merge (UPDATE events) keeps what the event does not carry:
// an event has the tuples and status, and the state, timeout and mark only
// when they changed or are set.
func (m *Model) put(f *track.Flow, seen uint32, byEvent, merge bool) {
	k4, k6, s := keyOf(&f.Orig, f.Zone)
	r, fits := recOf(f, seen, byEvent)
	switch {
	case !fits || s == shapeOdd:
	case s == shape4:
		if rep, plain, ok := natOf4(f); ok {
			if old, had := m.v4[k4]; had {
				if merge {
					mergeRec(&r, &old, seen)
				}
				m.count(k4.proto, &old, -1)
				if old.flags&flagReply != 0 && plain {
					delete(m.r4, k4)
				}
			} else if len(m.odd) > 0 {
				m.removeOdd(oddKey{f.Orig, f.Zone})
			}
			if !plain {
				r.flags |= flagReply
				m.r4[k4] = rep
			}
			m.v4[k4] = r
			m.count(k4.proto, &r, 1)
			return
		}
	case s == shape6:
		if rep, plain, ok := natOf6(f); ok {
			if old, had := m.v6[k6]; had {
				if merge {
					mergeRec(&r, &old, seen)
				}
				m.count(k6.proto, &old, -1)
				if old.flags&flagReply != 0 && plain {
					delete(m.r6, k6)
				}
			} else if len(m.odd) > 0 {
				m.removeOdd(oddKey{f.Orig, f.Zone})
			}
			if !plain {
				r.flags |= flagReply
				m.r6[k6] = rep
			}
			m.v6[k6] = r
			m.count(k6.proto, &r, 1)
			return
		}
	}
	// Kept whole: first take it out of the compact maps if it was there.
	m.removeShaped(k4, k6, s)
	m.putOdd(f, seen, byEvent, merge)
}

// oddRec is an entry kept whole, with when it was written.
type oddRec struct {
	f       track.Flow
	seen    uint32
	byEvent bool
}

// putOdd keeps an entry whole.
func (m *Model) putOdd(f *track.Flow, seen uint32, byEvent, merge bool) {
	k := oddKey{f.Orig, f.Zone}
	o := &oddRec{f: f.Clone(), seen: seen, byEvent: byEvent}
	c := &o.f
	if old, had := m.odd[k]; had {
		if merge {
			if !c.Fields.Has(track.FieldState) && old.f.Fields.Has(track.FieldState) {
				c.State, c.Fields = old.f.State, c.Fields|track.FieldState
			}
			if !c.Fields.Has(track.FieldMark) && old.f.Fields.Has(track.FieldMark) {
				c.Mark, c.Fields = old.f.Mark, c.Fields|track.FieldMark
			}
			if !c.Fields.Has(track.FieldTimeout) && old.f.Fields.Has(track.FieldTimeout) {
				r := rec{timeout: old.f.Timeout, seen: old.seen}
				c.Timeout, c.Fields = remaining(&r, seen), c.Fields|track.FieldTimeout
			}
			c.Status |= old.f.Status & sticky
		}
		m.countFlow(&old.f, -1)
	}
	m.odd[k] = o
	m.countFlow(c, 1)
}

func (m *Model) removeOdd(k oddKey) {
	if old, ok := m.odd[k]; ok {
		m.countFlow(&old.f, -1)
		delete(m.odd, k)
	}
}

// removeShaped takes an entry out of the compact maps.
func (m *Model) removeShaped(k4 key4, k6 key6, s shape) {
	switch s {
	case shape4:
		if r, ok := m.v4[k4]; ok {
			m.count(k4.proto, &r, -1)
			m.drop4(k4, &r)
		}
	case shape6:
		if r, ok := m.v6[k6]; ok {
			m.count(k6.proto, &r, -1)
			m.drop6(k6, &r)
		}
	}
}

// drop4 removes an entry whose count was already taken off.
func (m *Model) drop4(k key4, r *rec) {
	delete(m.v4, k)
	if r.flags&flagReply != 0 {
		delete(m.r4, k)
	}
}

func (m *Model) drop6(k key6, r *rec) {
	delete(m.v6, k)
	if r.flags&flagReply != 0 {
		delete(m.r6, k)
	}
}

func (m *Model) countFlow(f *track.Flow, d int32) {
	m.counts[slotOf(f.Orig.Proto, f.State, f.HasState())][classOf(f.Status)] += d
	m.n += int(d)
}

// sticky are the status bits the kernel never clears while an entry lives.
const sticky = track.StatusSeenReply | track.StatusAssured | track.StatusConfirmed

// mergeRec fills what an UPDATE event left out from the entry it updates.
func mergeRec(r, old *rec, seen uint32) {
	r.status |= old.status & uint16(sticky)
	if r.flags&flagState == 0 && old.flags&flagState != 0 {
		r.state, r.flags = old.state, r.flags|flagState
	}
	if r.flags&flagMark == 0 && old.flags&flagMark != 0 {
		r.mark, r.flags = old.mark, r.flags|flagMark
	}
	if r.flags&flagZone == 0 && old.flags&flagZone != 0 {
		r.flags |= flagZone
	}
	if r.flags&flagTimeout == 0 && old.flags&flagTimeout != 0 {
		r.timeout, r.flags = remaining(old, seen), r.flags|flagTimeout
	}
}

// remaining is the entry's timeout at tick now, counted down from when it
// was written.
func remaining(r *rec, now uint32) uint32 {
	if now <= r.seen {
		return r.timeout
	}
	gone := (now - r.seen) / ticksPerSecond
	if gone >= r.timeout {
		return 0
	}
	return r.timeout - gone
}

// natOf4 says how f's reply tuple is kept: plain (the inverse of the
// original), packed, or not at all (ok false: keep f whole).
func natOf4(f *track.Flow) (rep reply4, plain, ok bool) {
	if f.Reply == f.Orig.Reply() {
		return rep, true, true
	}
	rep, ok = natReply4(&f.Orig, &f.Reply)
	return rep, false, ok
}

func natOf6(f *track.Flow) (rep reply6, plain, ok bool) {
	if f.Reply == f.Orig.Reply() {
		return rep, true, true
	}
	rep, ok = natReply6(&f.Orig, &f.Reply)
	return rep, false, ok
}

// remove deletes the entry f names, if the model has it.
func (m *Model) remove(f *track.Flow) {
	k4, k6, s := keyOf(&f.Orig, f.Zone)
	m.removeShaped(k4, k6, s)
	if len(m.odd) > 0 {
		m.removeOdd(oddKey{f.Orig, f.Zone})
	}
}

// Resync is a full dump being applied to the model: Begin, Add for every
// entry dumped, then End, which removes what the dump did not have and no
// event touched meanwhile (entries whose DESTROY event was lost).
type Resync struct {
	m     *Model
	start uint32
	added int
	ended bool
}

// BeginResync starts applying a dump taken from now on.
func (m *Model) BeginResync(now time.Time) *Resync {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resyncs++
	start := m.tick(now)
	m.since = max(m.since, start)
	return &Resync{m: m, start: start}
}

// Add applies one dumped entry read at now. An entry an event wrote since
// the dump began keeps what the event said (the dump may have read it
// before the change), and one destroyed since stays gone.
func (r *Resync) Add(f *track.Flow, now time.Time) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	r.added++
	k := oddKey{f.Orig, f.Zone}
	if _, gone := m.tomb[k]; gone {
		return
	}
	seen := m.tick(now)
	k4, k6, s := keyOf(&f.Orig, f.Zone)
	switch s {
	case shape4:
		if old, ok := m.v4[k4]; ok && old.flags&flagEvent != 0 && old.seen >= r.start {
			return
		}
	case shape6:
		if old, ok := m.v6[k6]; ok && old.flags&flagEvent != 0 && old.seen >= r.start {
			return
		}
	}
	if old, ok := m.odd[k]; ok && old.byEvent && old.seen >= r.start {
		return
	}
	m.put(f, seen, false, false)
}

// Added is how many entries the dump gave.
func (r *Resync) Added() int { return r.added }

// End removes the entries neither the dump nor an event wrote since Begin,
// and returns how many.
func (r *Resync) End() int {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.ended {
		return 0
	}
	r.ended = true
	m.endResync()
	removed := 0
	for k, v := range m.v4 {
		if v.seen < r.start {
			m.count(k.proto, &v, -1)
			m.drop4(k, &v)
			removed++
		}
	}
	for k, v := range m.v6 {
		if v.seen < r.start {
			m.count(k.proto, &v, -1)
			m.drop6(k, &v)
			removed++
		}
	}
	for k, o := range m.odd {
		if o.seen < r.start {
			m.countFlow(&o.f, -1)
			delete(m.odd, k)
			removed++
		}
	}
	return removed
}

// Abort gives up a dump that failed: nothing is removed.
func (r *Resync) Abort() {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if !r.ended {
		r.ended = true
		r.m.endResync()
	}
}

func (m *Model) endResync() {
	m.resyncs--
	if m.resyncs == 0 {
		clear(m.tomb)
		m.since = 0
	}
}

// eachChunk is how many entries Each copies under the read lock at a
// time: events wait at most that long (a few hundred microseconds), not for
// a whole evaluation.
const eachChunk = 2048

// Each streams every entry as it is at now (remaining timeouts counted
// down) into fn; f is reused. Entries are copied out a chunk at a time
// under the read lock and fn runs without it, so events keep being applied
// during a long evaluation: like a kernel dump, the walk is not an atomic
// snapshot (an entry changed meanwhile may be seen before or after the
// change, one added may be missed, one deleted is not seen afterwards).
func (m *Model) Each(now time.Time, fn func(f *track.Flow) error) error {
	buf := make([]track.Flow, 0, eachChunk)
	flush := func() error {
		for i := range buf {
			if err := fn(&buf[i]); err != nil {
				return err
			}
		}
		buf = buf[:0]
		return nil
	}
	// yield hands a full chunk to fn with the lock released. Go's map
	// iteration allows changes between two steps; the lock orders them.
	yield := func() error {
		if len(buf) < eachChunk {
			return nil
		}
		m.mu.RUnlock()
		err := flush()
		m.mu.RLock()
		return err
	}
	m.mu.RLock()
	t := m.tick(now)
	for k, r := range m.v4 {
		buf = append(buf, track.Flow{Orig: k.tuple()})
		f := &buf[len(buf)-1]
		if r.flags&flagReply != 0 {
			rep := m.r4[k]
			f.Reply = rep.tuple(k.proto)
		} else {
			f.Reply = f.Orig.Reply()
		}
		fill(f, &r, k.zone, t)
		if err := yield(); err != nil {
			m.mu.RUnlock()
			return err
		}
	}
	for k, r := range m.v6 {
		buf = append(buf, track.Flow{Orig: k.tuple()})
		f := &buf[len(buf)-1]
		if r.flags&flagReply != 0 {
			rep := m.r6[k]
			f.Reply = rep.tuple(k.proto)
		} else {
			f.Reply = f.Orig.Reply()
		}
		fill(f, &r, k.zone, t)
		if err := yield(); err != nil {
			m.mu.RUnlock()
			return err
		}
	}
	for _, o := range m.odd {
		buf = append(buf, o.f.Clone())
		f := &buf[len(buf)-1]
		if f.Fields.Has(track.FieldTimeout) {
			r := rec{timeout: f.Timeout, seen: o.seen}
			f.Timeout = remaining(&r, t)
		}
		if err := yield(); err != nil {
			m.mu.RUnlock()
			return err
		}
	}
	m.mu.RUnlock()
	return flush()
}

// fill sets the parts of f a rec holds.
func fill(f *track.Flow, r *rec, zone uint16, now uint32) {
	f.Status = track.Status(r.status)
	f.Mark, f.State, f.Zone = r.mark, r.state, zone
	if r.flags&flagTimeout != 0 {
		f.Fields |= track.FieldTimeout
		f.Timeout = remaining(r, now)
	}
	if r.flags&flagState != 0 {
		f.Fields |= track.FieldState
	}
	if r.flags&flagMark != 0 {
		f.Fields |= track.FieldMark
	}
	if r.flags&flagZone != 0 {
		f.Fields |= track.FieldZone
	}
}
