package analyzer

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/ctdiag/ctdiag/internal/radix"
	"github.com/ctdiag/ctdiag/track"
)

// sample is what one snapshot leaves behind: counts, the groups the rules
// are about, tallies of peers (for the sample that is ranked), and what the
// next sample is compared with.
type sample struct {
	meta     track.Snapshot // without flows
	timeouts track.Timeouts
	// tcpSecs and capSecs are timeouts in seconds, read per entry.
	tcpSecs [10]float64
	capSecs float64

	entries, ipv6            int
	assured, unreplied, half int
	offloaded                int // [OFFLOAD]/[HW_OFFLOAD]: fast-pathed, never evicted, not half-open
	nonEvictable             int // entries the kernel never drops to make room (track.Flow.Evictable)
	acct                     int // entries with counters
	tcp                      [10][numClasses]int
	other                    [256]int // entries by protocol, TCP without a known state included
	// srcs counts every entry's original source, in every sample, to follow
	// the biggest across samples (topSrcs keeps its largest when the tally
	// is dropped); dsts the destinations and ports, in ranked samples only.
	// The groups' rankings are views of both (group.tag).
	srcs, dsts       addrTally
	topSrcs          []ranked[addrPortKey]
	tcpPort, udpPort []int32 // by destination port
	snat, dnat       int
	dns              int       // UDP entries to port 53
	dnsDNAT          int       // of them, translated to another destination
	nat              *natTally // what the ruleset's rules compare with (ranked samples)

	syn, half2 group // SYN_SENT [UNREPLIED] and half-open TCP older than a round trip
	idle       group // ESTABLISHED [ASSURED] idle longer than min_idle
	silent     group // ESTABLISHED [ASSURED] with no packet since the previous sample
	closing    [numCloseKinds]group

	synAll, halfAll, estAll, estAmb int
	overTimeout                     int    // entries with more time left than their state's timeout
	overExample                     string // one of them, described

	// Following ESTABLISHED [ASSURED] entries from the previous sample.
	est          []uint64 // estKey per entry, sorted at EndSample
	estBoth      int      // also in the previous sample
	silentStill  int      // silent in the previous sample and still ESTABLISHED now
	estFollowed  bool     // the previous sample had a table to follow entries from
	idleOver     [2]int   // idle entries longer than 1 day, and than min_idle (idleCandidates)
	idleCounters map[uint64]uint64
	idleChange   [2]int // idle entries with accounting seen before: unchanged, checked

	closed        []uint64 // tuple hashes of TIME_WAIT and CLOSE entries, sorted at EndSample
	closedFilter  []uint64 // a bitmap over hashes in closed, to skip most lookups
	reused        int
	reusedExample *track.Flow

	services map[addrPortKey]*service

	whatIf whatIfs     // timeouts a remedy prices, over this sample's entries
	events *eventTally // events read with no table, summarised

	ranked       bool     // tallies for rankings are kept (the last sample, or any when the count is unknown)
	keysDropped  bool     // dropKeys ran: topSrcs holds the biggest sources
	last         bool     // announced as the last: nothing is kept for a next sample
	alone        bool     // the only sample: no other to compare tuples with
	hashes       []uint64 // tuple hashes, sorted by sortedHashes
	hashesSorted bool
}

// Flag classes of an entry.
const (
	classUnreplied = iota
	classHalf
	classAssured
	numClasses
)

// closeKind groups the closing states by what they mean; TIME_WAIT is
// ordinary churn and is not one of them.
type closeKind int

const (
	closeWait  closeKind = iota // CLOSE_WAIT and LAST_ACK: one side stopped answering
	closeReset                  // CLOSE: reset
	closeFin                    // FIN_WAIT: a FIN not acknowledged
	numCloseKinds
)

func (k closeKind) String() string {
	switch k {
	case closeWait:
		return "CLOSE_WAIT/LAST_ACK"
	case closeReset:
		return "CLOSE"
	}
	return "FIN_WAIT"
}

// states lists the TCP states of a kind, for conntrack -L filters.
func (k closeKind) states() string {
	switch k {
	case closeWait:
		return "CLOSE_WAIT,LAST_ACK"
	case closeReset:
		return "CLOSE"
	}
	return "FIN_WAIT"
}

func closeKindOf(st track.TCPState) (closeKind, bool) {
	switch st {
	case track.TCPCloseWait, track.TCPLastAck:
		return closeWait, true
	case track.TCPClose:
		return closeReset, true
	case track.TCPFinWait:
		return closeFin, true
	}
	return 0, false
}

// service is a UDP destination (address, port) as seen in one sample.
type service struct {
	translated, untranslated int
	stale                    []uint64     // tuple hashes of untranslated entries, a bounded few
	examples                 []track.Flow // the first few untranslated entries, to show
}

const maxStalePerService = 16

// estKey packs an ESTABLISHED entry for following: the tuple hash's top 43
// bits, whether it was silent since the sample before (bit 20), and its
// remaining timeout in seconds (20 bits, up to 12 days). Sorted, the keys
// order by hash; a 43-bit hash confuses two of a million entries with a
// chance of about 6 %, which moves a count by one.
const (
	estTimeoutBits = 20
	estSilentBit   = 1 << estTimeoutBits
	estHashShift   = estTimeoutBits + 1
)

func estKey(h uint64, timeout uint32, silent bool) uint64 {
	k := h>>estHashShift<<estHashShift | uint64(min(timeout, 1<<estTimeoutBits-1))
	if silent {
		k |= estSilentBit
	}
	return k
}

// closedFilterBits sizes the bitmap that lets most entries skip the lookup
// of closed tuples: 2^22 bits, 512 KiB.
const closedFilterBits = 22

func (a *Analyzer) newSample(meta track.Snapshot) *sample {
	prev := a.lastSample()
	s := &sample{
		ranked:       a.expect == 0 || len(a.done)+1 >= a.expect,
		last:         a.expect > 0 && len(a.done)+1 >= a.expect,
		alone:        a.expect == 1,
		meta:         meta,
		timeouts:     a.timeoutsFor(meta.Sysctls),
		tcpPort:      make([]int32, 65536),
		udpPort:      make([]int32, 65536),
		idleCounters: make(map[uint64]uint64, len(a.prevIdle)),
		services:     map[addrPortKey]*service{},
	}
	s.setTimeouts(s.timeouts)
	s.srcs.batch, s.dsts.batch = a.opts.TallyBatch, a.opts.TallyBatch
	for i, g := range s.groups() {
		g.tag = 1 << i
		g.dst = tallyView{t: &s.dsts, tag: g.tag, ports: true}
		g.src = tallyView{t: &s.srcs, tag: g.tag}
	}
	if prev != nil { // the next sample is most likely about as big
		s.hashes = make([]uint64, 0, prev.entries+prev.entries/8)
		if !s.last { // the previous sample's keys were handed over at its end
			s.est = make([]uint64, 0, len(a.prevEst.keys)+len(a.prevEst.keys)/8)
			s.closed = make([]uint64, 0, len(a.prevClosed.sorted.keys)+len(a.prevClosed.sorted.keys)/8)
		}
		s.estFollowed = prev.meta.HasTable
	}
	if s.ranked {
		s.whatIf = a.newWhatIfs(s.timeouts)
		s.nat = newNATTally()
	}
	return s
}

// setTimeouts sets the sample's timeouts and their per-entry figures.
func (s *sample) setTimeouts(t track.Timeouts) {
	s.timeouts = t
	for st := range s.tcpSecs {
		s.tcpSecs[st] = t.TCP(track.TCPState(st)).Seconds()
	}
	s.capSecs = t.TCPCap().Seconds()
}

// Flow adds one entry of the current sample.
func (a *Analyzer) Flow(f *track.Flow) error {
	s := a.cur
	if s == nil {
		return fmt.Errorf("analyzer: Flow before BeginSample")
	}
	s.entries++
	class := classUnreplied
	switch {
	case f.Status.Assured():
		class = classAssured
		s.assured++
	case f.Status.Offloaded() && f.Status.SeenReply():
		// Text dumps print [OFFLOAD] instead of [ASSURED]: whether such an
		// entry is assured is not known, and it is not half-open either.
		class = classAssured
		s.offloaded++
	case f.Status.SeenReply():
		class = classHalf
		s.half++
	default:
		s.unreplied++
	}
	if f.Fields.Has(track.FieldOrigCounters) {
		s.acct++
	}
	if !f.Evictable() {
		s.nonEvictable++
	}
	o := &f.Orig
	if o.Family == track.FamilyIPv6 {
		s.ipv6++
	}
	keys := keysOf(o)
	snat := f.SrcNAT()
	if snat {
		s.snat++
	}
	dnat := f.DstNAT()
	if dnat {
		s.dnat++
	}
	a.natEntry(s, f, &keys, snat, dnat)
	h := tupleHash(o, &keys, f.Zone)
	if !s.alone {
		s.hashes = appendHash(s.hashes, h)
	}

	switch o.Proto {
	case track.ProtoTCP:
		s.tcpPort[o.DstPort]++
		if st, ok := f.TCPState(); ok && st.Known() {
			s.tcp[st][class]++
			var gk *entryKeys // the groups tally peers only where ranked
			if s.ranked {
				gk = &keys
			}
			a.tcpEntry(s, f, gk, st, class, h)
		} else {
			s.other[track.ProtoTCP]++
		}
	case track.ProtoUDP:
		s.udpPort[o.DstPort]++
		s.other[track.ProtoUDP]++
		if o.DstPort == 53 {
			s.dns++
		}
		a.udpEntry(s, f, &keys, dnat, h)
	default:
		s.other[o.Proto]++
	}
	// Tallied last, with the tags of the groups the entry fell in.
	s.srcs.add(keys.src, 0, keys.tags)
	if s.ranked {
		s.dsts.add(keys.dst, keys.dstPort, keys.tags)
		s.whatIf.add(f)
	}
	return nil
}

// tcpEntry files a TCP entry under the rules that look at TCP states.
func (a *Analyzer) tcpEntry(s *sample, f *track.Flow, keys *entryKeys, st track.TCPState, class int, h uint64) {
	T := s.tcpSecs[st]
	age := T - float64(f.Timeout) // time since the packet that last set the timeout
	// An entry with more time left than its state's timeout got it from
	// somewhere else than a packet under these sysctls (conntrack -I/-U, a
	// timeout policy, sysctls changed since): its age is unknown.
	hasTimeout := f.Fields.Has(track.FieldTimeout) && age >= 0
	if f.Fields.Has(track.FieldTimeout) && age < 0 {
		s.overTimeout++
		if s.overExample == "" {
			s.overExample = fmt.Sprintf("tcp %s with %d s left, its timeout being %.0f s", st, f.Timeout, T)
		}
		age = 0
	}
	switch {
	case st == track.TCPSynSent && class == classUnreplied:
		s.synAll++
		if hasTimeout && age >= a.th.synMinAge {
			s.syn.add(f, keys, age, h, a.opts.Examples)
		}
	case class == classHalf:
		s.halfAll++
		if hasTimeout && age >= a.th.halfMinAge {
			s.half2.add(f, keys, age, h, a.opts.Examples)
		}
	case st == track.TCPEstablished && class == classAssured:
		s.estAll++
		a.establishedEntry(s, f, keys, T, age, hasTimeout, h)
	}
	if k, ok := closeKindOf(st); ok {
		s.closing[k].add(f, keys, age, h, a.opts.Examples)
	}
	if st == track.TCPTimeWait || st == track.TCPClose {
		if !s.last {
			s.closed = appendHash(s.closed, h)
		}
		return
	}
	// From TIME_WAIT or CLOSE the only way to any other state is a new
	// handshake on the same tuple (re-open or resync, docs/KERNEL.md
	// §1.5.1-2).
	if a.prevClosed.has(h) {
		s.reused++
		if s.reusedExample == nil {
			c := f.Clone()
			s.reusedExample = &c
		}
	}
}

// establishedEntry follows an ESTABLISHED [ASSURED] entry: silent since the
// previous sample when its timeout went down (any packet resets it), idle
// for long by its age.
func (a *Analyzer) establishedEntry(s *sample, f *track.Flow, keys *entryKeys, T, age float64, hasTimeout bool, h uint64) {
	silent := false
	if f.Fields.Has(track.FieldTimeout) && s.estFollowed {
		if prev, ok := a.prevEst.find(h>>estHashShift, estHashShift); ok {
			s.estBoth++
			if prev&estSilentBit != 0 {
				s.silentStill++
			}
			if uint64(f.Timeout) < prev&(1<<estTimeoutBits-1) {
				silent = true
				s.silent.add(f, keys, age, h, a.opts.Examples)
			}
		}
	}
	if f.Fields.Has(track.FieldTimeout) && !s.last {
		s.est = appendHash(s.est, estKey(h, f.Timeout, silent))
	}
	// A timeout set by the unacknowledged-data or retransmission caps
	// (docs/KERNEL.md §1.10) is no measure of idleness: only entries above
	// the cap tell their idle age.
	cap := s.capSecs
	if !hasTimeout || (T > cap && float64(f.Timeout) < cap) {
		s.estAmb++
		return
	}
	if age < a.th.minIdle {
		return
	}
	s.idle.add(f, keys, age, h, a.opts.Examples)
	for i, c := range idleCandidates(a.th.minIdle) {
		if age > c {
			s.idleOver[i]++
		}
	}
	if f.Fields.Has(track.FieldOrigCounters) {
		pk := f.OrigCounters.Packets + f.ReplyCounters.Packets
		if !s.last {
			s.idleCounters[h] = pk
		}
		if prev, ok := a.prevIdle[h]; ok {
			s.idleChange[1]++
			if prev == pk {
				s.idleChange[0]++
			}
		}
	}
}

// idleCandidates are the established timeouts a remedy prices: 1 day, and
// the idle threshold itself.
func idleCandidates(minIdle float64) [2]float64 {
	return [2]float64{86400, minIdle}
}

// udpEntry records UDP entries per destination, to find untranslated
// entries to services that are otherwise DNATed.
func (a *Analyzer) udpEntry(s *sample, f *track.Flow, keys *entryKeys, dnat bool, h uint64) {
	key := addrPortKey{keys.dst, keys.dstPort}
	svc := s.services[key]
	if svc == nil {
		svc = &service{}
		s.services[key] = svc
	}
	if dnat {
		svc.translated++
		return
	}
	svc.untranslated++
	if len(svc.stale) < maxStalePerService {
		svc.stale = append(svc.stale, h)
	}
	if len(svc.examples) < a.opts.Examples {
		svc.examples = append(svc.examples, f.Clone())
	}
}

// Extra merges records read beside the table into the current sample.
func (a *Analyzer) Extra(x *track.Snapshot) error {
	if a.cur == nil {
		return fmt.Errorf("analyzer: Extra before BeginSample")
	}
	x2 := *x
	x2.Flows = nil // entries come through Flow
	a.cur.meta.Merge(&x2)
	if len(x.Sysctls) > 0 {
		a.cur.setTimeouts(a.timeoutsFor(a.cur.meta.Sysctls))
		if a.cur.ranked {
			a.cur.whatIf = a.newWhatIfs(a.cur.timeouts)
		}
	}
	return nil
}

// Event tallies one event of the current sample as the parser reads it
// (track.EventSink): an event log of any length costs its tallies, where
// the snapshot would keep only its latest events. As for events that come
// in the snapshot, only a sample without a table is summarised from them.
func (a *Analyzer) Event(ev *track.Event) error {
	if a.cur == nil {
		return fmt.Errorf("analyzer: Event before BeginSample")
	}
	if !a.cur.meta.HasTable {
		a.cur.tallyEvent(ev, a.lastSample())
	}
	return nil
}

// tallyEvent adds an event to the sample's summary, which carries on from
// the previous sample's.
func (s *sample) tallyEvent(ev *track.Event, prev *sample) {
	if s.events == nil {
		s.events = &eventTally{}
		if prev != nil && prev.events != nil {
			s.events = prev.events
		}
	}
	s.events.add(ev)
}

// EndSample closes the current sample: what the next one is compared with
// is kept, the rest dropped.
func (a *Analyzer) EndSample() error {
	s := a.cur
	if s == nil {
		return fmt.Errorf("analyzer: EndSample without BeginSample")
	}
	if v, ok := s.meta.Sysctls.Int("nf_conntrack_max"); ok && !s.meta.HasMax {
		s.meta.Max, s.meta.HasMax = uint64(v), true
	}
	// Untranslated entries to services that have translated ones are stale
	// candidates; remember when each was first seen.
	seen := map[uint64]staleRec{}
	for _, svc := range s.services {
		if svc.translated == 0 {
			continue
		}
		for _, h := range svc.stale {
			rec, ok := a.staleSeen[h]
			if !ok {
				rec = staleRec{first: len(a.done), since: s.meta.Time}
			}
			seen[h] = rec
		}
	}
	a.staleSeen = seen
	radix.Uint64s(s.closed)
	a.prevClosed = newHashSet(s.closed)
	s.closed = nil
	radix.Uint64s(s.est)
	a.prevEst, s.est = newSortedIndex(s.est), nil
	if !s.meta.HasTable {
		for i := range s.meta.Events {
			s.tallyEvent(&s.meta.Events[i], a.lastSample())
		}
	}
	s.meta.Events = nil // only their totals are used, and they can be many
	a.prevIdle, s.idleCounters = s.idleCounters, nil
	if n := len(a.done); n > 0 {
		a.done[n-1].dropKeys() // only the last sample is ranked
	}
	if n := len(a.done); n > 1 {
		a.done[n-2].hashes = nil // only the last two are compared
	}
	a.done = append(a.done, s)
	a.cur = nil
	a.taken = nil
	return nil
}

// compactAt is how many keys a set kept as a slice holds before its
// repeats are sorted out: 8 MiB.
const compactAt = 1 << 20

// appendHash appends a key to a set kept as a slice, sorting out the
// repeats whenever it is full and large: a table is held as its distinct
// tuples, so an input that repeats one line endlessly costs one key.
func appendHash(hs []uint64, h uint64) []uint64 {
	if len(hs) == cap(hs) && len(hs) >= compactAt {
		radix.Uint64s(hs)
		hs = slices.Compact(hs)
	}
	return append(hs, h)
}

// topSources is how many sources of each sample are kept to follow the
// biggest one across samples.
const topSources = 8

// hashSet is a sorted set of tuple hashes with a bitmap in front, so that
// the many entries not in it are rejected with one memory read.
type hashSet struct {
	sorted sortedIndex
	filter []uint64
}

func newHashSet(sorted []uint64) hashSet {
	if len(sorted) == 0 {
		return hashSet{}
	}
	hs := hashSet{sorted: newSortedIndex(slices.Compact(sorted)), filter: make([]uint64, 1<<closedFilterBits/64)}
	for _, h := range hs.sorted.keys {
		b := h >> (64 - closedFilterBits)
		hs.filter[b/64] |= 1 << (b % 64)
	}
	return hs
}

func (hs hashSet) has(h uint64) bool {
	if len(hs.filter) == 0 {
		return false
	}
	b := h >> (64 - closedFilterBits)
	if hs.filter[b/64]&(1<<(b%64)) == 0 {
		return false
	}
	_, ok := hs.sorted.find(h, 0)
	return ok
}

// lastSample is the last sample ended, nil before the first.
func (a *Analyzer) lastSample() *sample {
	if len(a.done) == 0 {
		return nil
	}
	return a.done[len(a.done)-1]
}

// dropKeys frees what only a ranking of this sample would need. The
// biggest sources are kept, to follow them across samples.
func (s *sample) dropKeys() {
	if s.keysDropped {
		return
	}
	s.keysDropped = true
	s.topSrcs = s.sources().top(topSources)
	s.srcs.drop()
	s.dsts.drop()
	s.whatIf = whatIfs{}
	s.nat = nil
}

// sources ranks the sample's sources, destinations its destination
// addresses: every entry, ports aside.
func (s *sample) sources() tallyView      { return tallyView{t: &s.srcs} }
func (s *sample) destinations() tallyView { return tallyView{t: &s.dsts} }

// groups lists the sample's groups; each has one bit of the tallies' tags,
// so there may be 16 at most (TestGroupsFitTheTags).
func (s *sample) groups() []*group {
	out := []*group{&s.syn, &s.half2, &s.idle, &s.silent}
	for k := range s.closing {
		out = append(out, &s.closing[k])
	}
	return out
}

// tableSize is the sample's entry count: nf_conntrack_count when read,
// else the entries listed.
func (s *sample) tableSize() float64 {
	if s.meta.HasCount {
		return float64(s.meta.Count)
	}
	return float64(s.entries)
}

func (s *sample) tcpCount(st track.TCPState) int {
	n := 0
	for _, c := range s.tcp[st] {
		n += c
	}
	return n
}

// closeCount is how many entries of a closing kind the sample holds.
func (s *sample) closeCount(k closeKind) int { return s.closing[k].count }

// tupleHash identifies an entry across samples: its original tuple and
// zone. 64 bits: a collision among millions of entries is negligible.
func tupleHash(t *track.Tuple, k *entryKeys, zone uint16) uint64 {
	h := mix(k.src.hi, k.src.lo)
	h = mix(h, k.dst.hi)
	h = mix(h, k.dst.lo)
	l4 := uint64(t.SrcPort)<<48 | uint64(t.DstPort)<<32 | uint64(t.Type)<<24 | uint64(t.Code)<<16 | uint64(t.ID)
	l4 ^= uint64(t.SrcKey)<<40 ^ uint64(t.DstKey)<<8
	return mix(h, l4^uint64(t.Proto)<<56^uint64(zone)<<8^uint64(t.Family))
}

// mix is a 64-bit multiply-xorshift step (wyhash's mum).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return hi ^ lo
}

// sortedHashes sorts the sample's tuple hashes on first use: only the last
// two samples are ever compared, so a single sample never pays for it.
func (s *sample) sortedHashes() []uint64 {
	if !s.hashesSorted {
		radix.Uint64s(s.hashes)
		s.hashes = slices.Compact(s.hashes)
		s.hashesSorted = true
	}
	return s.hashes
}

// staleRec is when an untranslated UDP entry was first seen.
type staleRec struct {
	first int
	since time.Time
}
