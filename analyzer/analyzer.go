package analyzer

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/ctdiag/ctdiag/internal/radix"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// Options tune an analysis. The zero value is the shipped catalog.
type Options struct {
	Config *rules.Config // nil: rules.DefaultConfig()
	// Sysctls known before any entry is read (e.g. a sysctl -a file given
	// after the dumps): they decide the timeouts entry ages are computed
	// from. A sample's own sysctls read before its entries win; kernel
	// defaults fill the rest.
	Sysctls  track.Sysctls
	Top      int // entries in each ranking; default 5
	Examples int // example entries per finding; default 3
}

// Analyzer accumulates samples and evaluates the catalog over them.
type Analyzer struct {
	cfg    *rules.Config
	opts   Options
	th     thresholds
	done   []*sample
	cur    *sample
	timing string        // set by SetTimes or SetTiming
	hint   track.Sysctls // every sysctl in the inputs (SysctlHint)
	expect int           // samples announced (ExpectSamples); 0 when unknown
	// Tuples seen in TIME_WAIT or CLOSE in the previous sample, to spot
	// their reuse by a new handshake.
	prevClosed map[uint64]struct{}
	// Packet counts of idle established entries in the previous sample, to
	// confirm with accounting that they saw no traffic in between.
	prevIdle map[uint64]uint64
	// Untranslated UDP entries to DNAT services, by tuple: the first
	// sample and time they were seen.
	staleSeen map[uint64]staleRec
}

type staleRec struct {
	first int
	since time.Time
}

// thresholds are the parameters consulted for every entry, read once.
type thresholds struct {
	synMinAge, halfMinAge, minIdle float64
}

// New returns an Analyzer with no samples.
func New(opts Options) *Analyzer {
	if opts.Config == nil {
		opts.Config = rules.DefaultConfig()
	}
	if opts.Top <= 0 {
		opts.Top = 5
	}
	if opts.Examples <= 0 {
		opts.Examples = 3
	}
	c := opts.Config
	return &Analyzer{
		cfg:  c,
		opts: opts,
		th: thresholds{
			synMinAge:  c.Param(rules.SynSentGrowth, "min_age"),
			halfMinAge: c.Param(rules.HalfAssured, "min_age"),
			minIdle:    c.Param(rules.StuckEstablished, "min_idle"),
		},
		prevClosed: map[uint64]struct{}{},
		prevIdle:   map[uint64]uint64{},
		staleSeen:  map[uint64]staleRec{},
	}
}

// Analyze runs the catalog over whole snapshots (for tests and small
// inputs; large ones are streamed through BeginSample/Flow/EndSample).
func Analyze(snaps []track.Snapshot, opts Options) *Result {
	a := New(opts)
	for i := range snaps {
		meta := snaps[i]
		meta.Flows = nil
		a.BeginSample(meta)
		for j := range snaps[i].Flows {
			a.Flow(&snaps[i].Flows[j])
		}
		a.EndSample()
	}
	return a.Result()
}

// sample is what one snapshot leaves behind.
type sample struct {
	meta     track.Snapshot // without flows
	timeouts track.Timeouts

	entries, ipv6                   int
	assured, unreplied, half        int
	acct                            int // entries with counters
	tcp                             [10][3]int
	other                           [256]int  // entries by protocol, TCP without a known state included
	srcs, dsts                      addrTally // every entry's original source and destination
	tcpPort, udpPort                []int32   // by destination port
	snat, dnat                      int
	dns                             int // UDP entries to port 53
	syn, half2, idle, closing       group
	synAll, halfAll, estAll, estAmb int
	overTimeout                     int    // entries with more time left than their state's timeout
	overExample                     string // one of them, described
	idleOver                        [2]int // idle entries longer than 1 day, and than min_idle (idleCandidates)
	idleCounters                    map[uint64]uint64
	idleUnchanged                   int // idle entries whose counters did not move since the last sample
	idleChecked                     int
	closed                          map[uint64]struct{}
	reused                          int
	reusedExample                   *track.Flow
	services                        map[addrPortKey]*service
	ranked                          bool     // tallies for rankings are kept (the last sample, or any when the count is unknown)
	last                            bool     // announced as the last: nothing is kept for a next sample
	alone                           bool     // the only sample: no other to compare tuples with
	hashes                          []uint64 // tuple hashes, sorted by sortedHashes
	hashesSorted                    bool
}

// service is a UDP destination (address, port) as seen in one sample.
type service struct {
	translated, untranslated int
	stale                    []uint64     // tuple hashes of untranslated entries, a bounded few
	examples                 []track.Flow // the first few untranslated entries, to show
}

const maxStalePerService = 16

// class is the flag combination an entry shows.
const (
	classUnreplied = iota
	classHalf
	classAssured
)

// BeginSample starts a sample (meta without flows).
func (a *Analyzer) BeginSample(meta track.Snapshot) error {
	meta.Flows = nil
	prev := a.lastSample()
	a.cur = &sample{
		ranked:       a.expect == 0 || len(a.done)+1 >= a.expect,
		last:         a.expect > 0 && len(a.done)+1 >= a.expect,
		alone:        a.expect == 1,
		meta:         meta,
		timeouts:     a.timeoutsFor(meta.Sysctls),
		tcpPort:      make([]int32, 65536),
		udpPort:      make([]int32, 65536),
		idleCounters: make(map[uint64]uint64, len(a.prevIdle)),
		closed:       make(map[uint64]struct{}, len(a.prevClosed)),
		services:     map[addrPortKey]*service{},
	}
	if prev != nil { // the next sample is most likely about as big
		a.cur.hashes = make([]uint64, 0, prev.entries+prev.entries/8)
	}
	return nil
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
	case f.Status.SeenReply():
		class = classHalf
		s.half++
	default:
		s.unreplied++
	}
	if f.Fields.Has(track.FieldOrigCounters) {
		s.acct++
	}
	o := &f.Orig
	if o.Family == track.FamilyIPv6 {
		s.ipv6++
	}
	keys := keysOf(o)
	if s.ranked {
		s.srcs.add(keys.src, 0)
		s.dsts.add(keys.dst, 0)
	}
	if f.SrcNAT() {
		s.snat++
	}
	dnat := f.DstNAT()
	if dnat {
		s.dnat++
	}
	h := tupleHash(o, &keys, f.Zone)
	if !s.alone {
		s.hashes = append(s.hashes, h)
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
	return nil
}

// tcpEntry files a TCP entry under the rules that look at TCP states.
func (a *Analyzer) tcpEntry(s *sample, f *track.Flow, keys *entryKeys, st track.TCPState, class int, h uint64) {
	T := s.timeouts.TCP(st).Seconds()
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
		// A timeout set by the unacknowledged-data or retransmission caps
		// (docs/KERNEL.md §1.10) is no measure of idleness: only entries above the
		// cap tell their idle age.
		cap := s.timeouts.TCPCap().Seconds()
		if !hasTimeout || (T > cap && float64(f.Timeout) < cap) {
			s.estAmb++
			break
		}
		if age >= a.th.minIdle {
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
					s.idleChecked++
					if prev == pk {
						s.idleUnchanged++
					}
				}
			}
		}
	}
	switch st {
	case track.TCPFinWait, track.TCPCloseWait, track.TCPLastAck, track.TCPTimeWait, track.TCPClose:
		s.closing.add(f, keys, age, h, a.opts.Examples)
		if (st == track.TCPTimeWait || st == track.TCPClose) && !s.last {
			s.closed[h] = struct{}{}
		}
	}
	if st != track.TCPTimeWait && st != track.TCPClose {
		// From TIME_WAIT or CLOSE the only way to any other state is a new
		// handshake on the same tuple (re-open or resync, docs/KERNEL.md §1.5.1-2).
		if _, ok := a.prevClosed[h]; ok {
			s.reused++
			if s.reusedExample == nil {
				c := f.Clone()
				s.reusedExample = &c
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
		a.cur.timeouts = a.timeoutsFor(a.cur.meta.Sysctls)
	}
	return nil
}

// ExpectSamples is told how many samples will come (parser.SampleCounter):
// only the last is ranked (who holds the table, where the stuck entries
// go), so the others skip the tallies that rankings need.
func (a *Analyzer) ExpectSamples(n int) { a.expect = n }

// SysctlHint takes every sysctl the inputs hold, before the first sample
// (parser.SysctlHinter): samples that carry none of their own are read with
// these rather than the kernel's defaults.
func (a *Analyzer) SysctlHint(s track.Sysctls) {
	a.hint = s
}

// timeoutsFor resolves a sample's timeouts: its own sysctls, then those the
// caller gave, then those found elsewhere in the inputs, then the kernel's
// defaults.
func (a *Analyzer) timeoutsFor(own track.Sysctls) track.Timeouts {
	sys := track.Sysctls{}
	for _, layer := range []track.Sysctls{a.hint, a.opts.Sysctls, own} {
		for k, v := range layer {
			sys[k] = v
		}
	}
	return track.NewTimeouts(sys)
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
	a.prevClosed, s.closed = s.closed, nil
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
	return nil
}

// lastSample is the last sample ended, nil before the first.
func (a *Analyzer) lastSample() *sample {
	if len(a.done) == 0 {
		return nil
	}
	return a.done[len(a.done)-1]
}

// dropKeys frees what only a ranking of this sample would need.
func (s *sample) dropKeys() {
	s.srcs.drop()
	s.dsts.drop()
	for _, g := range []*group{&s.syn, &s.half2, &s.idle, &s.closing} {
		g.dst.drop()
		g.src.drop()
	}
}

// SetTimes replaces the samples' times (e.g. from --interval) and says
// where they came from.
func (a *Analyzer) SetTimes(times []time.Time, how string) {
	for i := range a.done {
		if i < len(times) {
			a.done[i].meta.Time = times[i]
		}
	}
	a.timing = how
}

// SetTiming says where the samples' times came from ("file names",
// "bundle manifest", ...), for the summary.
func (a *Analyzer) SetTiming(how string) { a.timing = how }

// Samples is the number of samples read so far.
func (a *Analyzer) Samples() int { return len(a.done) }

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
		sortHashes(s.hashes)
		s.hashes = slices.Compact(s.hashes)
		s.hashesSorted = true
	}
	return s.hashes
}

// sortHashes sorts a sample's tuple hashes: a million per sample, and
// comparison sorting them would cost more than parsing them.
func sortHashes(h []uint64) { radix.Uint64s(h) }
