package tui

import (
	"cmp"
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// request is what the UI asks of a refresh.
type request struct {
	seek int // recordings: the sample to show; -1 for the next one

	match   func(*track.Flow) bool // the flows pane's filter (nil: all)
	query   string
	order   flowtable.Order
	talkers flowtable.Dimension
	ranking bool // rank talkers (the pane is visible)
	topN    int
}

// pipeline turns a Source into Frames: it reads a sample into a fresh
// flowtable.Table, feeds the analyzer, and works out rates, pressure and
// history. It runs in tea.Cmds, one refresh at a time, never on the UI
// goroutine; the frames it returns are never touched again.
type pipeline struct {
	src  Source
	rec  Recording // nil for live sources
	opts analyzer.Options
	now  func() time.Time

	an      *analyzer.Analyzer
	next    int // recordings: the next sample the analyzer takes (in order, once each)
	inAn    int // samples in the current analyzer
	results map[int]*analyzer.Result
	latest  int // sample index of the latest result (-1: none)

	samples map[int]*sampleRec // recordings: by index; live: the last two
	history []common.Point     // live: ring of the last maxHistory
	sizes   []sizeAt           // live: the table's last sizes, for its growth
	// hint is every sysctl of a recording's inputs (track.SysctlHinter):
	// as in ctdiag report, a sample that read none of its own is read with
	// them, and nf_conntrack_max read once applies to every sample.
	hint   track.Sysctls
	seq    int
	live   int           // live samples read
	events []track.Event // live: the last maxEvents; recordings: the sample's own

	// Live analysis cadence: analysis runs every analyzeEvery samples, set
	// from what it costs in CPU, so that a refresh every interval stays
	// under common.CPUBudget of one core on average.
	analyzeEvery, sinceAnalysis int
	cpuPlain, cpuAnalysed       time.Duration // per refresh, averaged
	window                      int           // samples an analyzer takes before it restarts
	lastLen                     int
}

// sampleRec is what is kept of a sample: what later samples are compared
// with and what its pressure is computed from.
type sampleRec struct {
	time    time.Time
	stats   track.Stats
	sysctls track.Sysctls // its own, over those carried from earlier samples
	own     track.Sysctls // read with this sample
	count   uint64        // nf_conntrack_count when read, else the entries listed
	size    analyzer.TableSize
	listed  int
	assured int
	max     uint64
	hasMax  bool
	ownMax  bool // read with this sample, not carried from an earlier one
	point   common.Point
	// ruleset is the firewall ruleset read with the sample (nil: none);
	// only the few nearest the sample shown are kept (see keepRulesets).
	ruleset *track.Ruleset
	// Entries created and destroyed, counted from events when the source
	// delivered any; eventsLost when some were lost (lower bounds).
	created, destroyed int
	hasEvents          bool
	eventsLost         bool
}

// sizeAt is the table's size at a time.
type sizeAt struct {
	time time.Time
	size analyzer.TableSize // its Offset is set when a history is made
}

const (
	maxHistory = 600 // points kept for sparklines (10 min at 1 s)
	maxEvents  = 4096
	maxSizes   = 8 // sizes a live source keeps: growth is measured over the last few
)

func newPipeline(src Source, opts analyzer.Options, now func() time.Time) *pipeline {
	p := &pipeline{src: src, opts: opts, now: now, results: map[int]*analyzer.Result{},
		samples: map[int]*sampleRec{}, latest: -1, analyzeEvery: 1}
	if r, ok := src.(Recording); ok {
		p.rec = r
	}
	p.an = analyzer.New(opts)
	return p
}

// sink receives one sample: into the table always, into the analyzer when
// this sample is analysed.
type sink struct {
	table   *flowtable.Table
	an      *analyzer.Analyzer // nil: not analysed
	now     func() time.Time   // live sources: stamps a sample that has no time
	meta    track.Snapshot
	events  []track.Event
	entries int
	assured int // entries the kernel never evicts to make room (track.Flow.Evictable)
	hint    track.Sysctls
}

func (s *sink) BeginSample(meta track.Snapshot) error {
	if meta.Time.IsZero() && s.now != nil {
		meta.Time = s.now()
	}
	s.meta = meta
	if s.an != nil {
		return s.an.BeginSample(meta)
	}
	return nil
}

func (s *sink) Flow(f *track.Flow) error {
	s.entries++
	if !f.Evictable() {
		s.assured++
	}
	if s.table != nil {
		s.table.Add(f)
	}
	if s.an != nil {
		return s.an.Flow(f)
	}
	return nil
}

func (s *sink) Extra(x *track.Snapshot) error {
	// The events are kept apart (s.events), entries come through Flow.
	x2 := *x
	x2.Events, x2.Flows = nil, nil
	s.meta.Merge(&x2)
	s.events = append(s.events, x.Events...)
	if len(s.events) > 2*track.MaxEvents { // only the latest are shown
		s.events = append(s.events[:0], s.events[len(s.events)-track.MaxEvents:]...)
	}
	if s.an != nil {
		return s.an.Extra(x)
	}
	return nil
}

// SysctlHint passes on the sysctls a walk knows before its first sample
// (track.SysctlHinter, where the parser offers it) to the analyzer, if it
// takes them.
func (s *sink) SysctlHint(x track.Sysctls) {
	s.hint = x
	if s.an != nil {
		s.an.SysctlHint(x)
	}
}

func (s *sink) EndSample() error {
	if s.an != nil {
		return s.an.EndSample()
	}
	return nil
}

// refresh reads one sample and makes its frame.
func (p *pipeline) refresh(ctx context.Context, req request) (*common.Frame, ReadReport, error) {
	start, cpu0 := time.Now(), cpuTime()
	idx := p.live
	if p.rec != nil {
		idx = p.rec.Position()
		if req.seek >= 0 {
			idx = max(0, min(req.seek, p.rec.Len()-1))
		}
		// The analyzer takes samples in order, once each: catch up on any
		// skipped over.
		for p.next < idx {
			if err := p.analyse(ctx, p.next); err != nil {
				return nil, ReadReport{}, err
			}
		}
		p.rec.Seek(idx)
	}
	table := flowtable.New(p.lastLen + p.lastLen/8)
	analyse := p.shouldAnalyse(idx)
	rep, err := p.read(ctx, idx, table, analyse)
	if err != nil {
		return nil, rep, err
	}
	p.lastLen = table.Len()
	f := p.frame(idx, table, req)
	f.Took = time.Since(start)
	if p.rec == nil {
		p.live++
		p.noteCost(cpuTime()-cpu0, analyse)
	}
	f.AnalyzeEvery = p.analyzeEvery
	f.Malformed, f.Skipped = rep.Malformed, rep.Skipped
	return f, rep, nil
}

// analyse reads sample idx of a recording (the next the analyzer takes)
// into the analyzer, and into a table that is dropped once its state
// counts are kept for the sparklines.
func (p *pipeline) analyse(ctx context.Context, idx int) error {
	p.rec.Seek(idx)
	_, err := p.read(ctx, idx, flowtable.New(p.lastLen+p.lastLen/8), true)
	return err
}

// shouldAnalyse decides whether sample idx goes to the analyzer.
func (p *pipeline) shouldAnalyse(idx int) bool {
	if p.rec != nil {
		return idx == p.next // recordings: every sample, once
	}
	return p.sinceAnalysis+1 >= p.analyzeEvery || p.latest < 0
}

// noteCost adapts the live analysis cadence to what refreshes cost: with
// plain refreshes costing c and analysis adding a, analysing every k
// samples costs c + a/k per interval on average; k is the smallest that
// fits the budget (at most 60: findings never go stale for longer).
func (p *pipeline) noteCost(cpu time.Duration, analysed bool) {
	ewma := func(old, v time.Duration) time.Duration {
		if old == 0 {
			return v
		}
		return (old*3 + v) / 4
	}
	if analysed {
		p.cpuAnalysed = ewma(p.cpuAnalysed, cpu)
		p.sinceAnalysis = 0
	} else {
		p.cpuPlain = ewma(p.cpuPlain, cpu)
		p.sinceAnalysis++
	}
	if p.cpuPlain == 0 {
		p.analyzeEvery = 2 // measure a plain refresh next
		return
	}
	interval := p.src.Describe().Interval
	if interval <= 0 {
		interval = time.Second
	}
	extra := p.cpuAnalysed - p.cpuPlain
	room := time.Duration(common.CPUBudget*float64(interval)) - p.cpuPlain
	switch {
	case extra <= 0:
		p.analyzeEvery = 1
	case room <= 0:
		p.analyzeEvery = 60
	default:
		p.analyzeEvery = min(60, max(1, int(math.Ceil(float64(extra)/float64(room)))))
	}
}

// read streams sample idx into table (nil: only the analyzer) and records
// it.
func (p *pipeline) read(ctx context.Context, idx int, table *flowtable.Table, analyse bool) (ReadReport, error) {
	s := &sink{table: table}
	if p.rec == nil {
		s.now = p.now
	}
	if analyse {
		if p.window > 0 && p.inAn >= p.window {
			// The analyzer keeps what it needs of every sample (about
			// 35 MB per million entries): start afresh after a window so
			// memory stays bounded in a session that never ends.
			p.an, p.inAn = analyzer.New(p.opts), 0
		}
		s.an = p.an
	}
	rep, err := p.src.Read(ctx, s)
	if err != nil {
		return rep, err
	}
	if s.hint != nil {
		p.hint = s.hint
	}
	rec := &sampleRec{time: s.meta.Time, stats: s.meta.Stats, own: s.meta.Sysctls, listed: s.entries, assured: s.assured, ruleset: s.meta.Ruleset}
	prev := p.samples[idx-1]
	rec.sysctls = track.Sysctls{}
	if prev != nil {
		maps.Copy(rec.sysctls, prev.sysctls)
		rec.max, rec.hasMax = prev.max, prev.hasMax
	}
	maps.Copy(rec.sysctls, s.meta.Sysctls)
	if v, ok := s.meta.Sysctls.Int("nf_conntrack_max"); ok {
		rec.max, rec.hasMax, rec.ownMax = uint64(v), true, true
	}
	if s.meta.HasMax {
		rec.max, rec.hasMax, rec.ownMax = s.meta.Max, true, true
	}
	rec.count = uint64(s.entries)
	if s.meta.HasCount {
		rec.count = s.meta.Count
	}
	rec.size = analyzer.TableSize{Count: s.meta.Count, HasCount: s.meta.HasCount, Listed: s.entries, HasTable: s.meta.HasTable}
	rec.point = common.Point{Time: s.meta.Time, Entries: s.entries}
	if table != nil {
		table.SetTimeouts(track.NewTimeouts(p.timeoutSysctls(rec)))
		rec.point.States = map[string]int{}
		for _, sc := range table.States() {
			rec.point.States[sc.Name] = sc.Count
		}
		u, h, a := table.Classes()
		rec.point.Classes = [3]int{u, h, a}
	}
	if et := s.meta.EventTotals; et.Followed {
		// A source that follows events counts them all (the sample may
		// carry only the latest).
		rec.hasEvents, rec.eventsLost = true, len(s.meta.EventLosses) > 0
		rec.created, rec.destroyed = et.Created, et.Destroyed
	} else {
		for i := range s.events {
			rec.hasEvents = true
			switch s.events[i].Type {
			case track.EventNew:
				rec.created++
			case track.EventDestroy:
				rec.destroyed++
			}
		}
	}
	p.samples[idx] = rec
	if p.rec != nil && table != nil {
		p.events = s.events
	}
	if p.rec == nil {
		delete(p.samples, idx-2)
		p.sizes = append(p.sizes, sizeAt{time: rec.time, size: rec.size})
		if len(p.sizes) > maxSizes {
			p.sizes = append([]sizeAt(nil), p.sizes[len(p.sizes)-maxSizes:]...)
		}
		p.history = append(p.history, rec.point)
		if len(p.history) > maxHistory {
			p.history = p.history[len(p.history)-maxHistory:]
		}
		if len(s.events) > 0 {
			p.events = append(p.events, s.events...)
			if len(p.events) > maxEvents {
				p.events = append([]track.Event(nil), p.events[len(p.events)-maxEvents:]...)
			}
		}
	}
	if analyse {
		p.inAn++
		if p.rec != nil {
			p.next++
		}
		res := p.an.Result()
		if p.rec == nil {
			clear(p.results)
		}
		p.window = analysisWindow(s.entries)
		p.results[idx], p.latest = res, idx
	}
	return rep, nil
}

// keepRulesets is how many samples of a recording keep their rulesets
// (a kube-proxy ruleset is megabytes): those nearest the one shown.
const keepRulesets = 8

// rulesetOf gives the frame the ruleset in force at sample idx, its
// outline, and each rule's counter movement since the ruleset read with
// an earlier sample; rulesets of samples far from idx are let go.
func (p *pipeline) rulesetOf(f *common.Frame, idx int) {
	f.RulesetSample = -1
	var with []int
	for i, r := range p.samples {
		if r.ruleset != nil {
			with = append(with, i)
		}
	}
	slices.SortFunc(with, func(a, b int) int { return cmp.Compare(abs(a-idx), abs(b-idx)) })
	for _, i := range with[min(len(with), keepRulesets):] {
		p.samples[i].ruleset = nil
	}
	at, before := -1, -1
	for i := idx; i >= 0 && (at < 0 || before < 0); i-- {
		if r := p.samples[i]; r != nil && r.ruleset != nil {
			if at < 0 {
				at = i
			} else {
				before = i
			}
		}
		if p.rec == nil && i < idx-1 {
			break // a live source keeps the last two samples
		}
	}
	if at < 0 {
		for _, i := range with {
			if i > idx && p.samples[i] != nil && p.samples[i].ruleset != nil && (at < 0 || i < at) {
				at = i
			}
		}
	}
	if at < 0 {
		return
	}
	rs := p.samples[at].ruleset
	f.Ruleset, f.RulesetSample, f.RulesetOutline = rs, at, rs.Outline(false)
	if before < 0 {
		return
	}
	prev := map[string]uint64{}
	for _, r := range p.samples[before].ruleset.Rules() {
		if r.Rule.HasCounter {
			prev[r.Key()] = r.Rule.Counter.Packets
		}
	}
	secs := p.samples[at].time.Sub(p.samples[before].time).Seconds()
	f.RuleDeltas = map[string]common.RuleDelta{}
	for _, r := range rs.Rules() {
		was, ok := prev[r.Key()]
		if !ok || !r.Rule.HasCounter || r.Rule.Counter.Packets < was {
			continue
		}
		d := common.RuleDelta{Packets: r.Rule.Counter.Packets - was}
		if secs > 0 && !p.samples[at].time.IsZero() && !p.samples[before].time.IsZero() {
			d.PerSec, d.HasRate = float64(d.Packets)/secs, true
		}
		f.RuleDeltas[r.Key()] = d
	}
}

// analysisWindow is how many samples one analyzer takes: about 100 MB of
// retained state, never fewer than 3 samples (growth needs two) nor more
// than 120.
func analysisWindow(entries int) int {
	return max(3, min(120, 3_000_000/max(1, entries)))
}

// frame assembles what the panes show for sample idx.
func (p *pipeline) frame(idx int, table *flowtable.Table, req request) *common.Frame {
	p.seq++
	rec := p.samples[idx]
	f := &common.Frame{
		Seq:     p.seq,
		Source:  p.src.Describe(),
		Sample:  idx,
		Time:    rec.time,
		Table:   table,
		Sysctls: rec.sysctls,
	}
	if p.rec != nil {
		f.Samples = p.rec.Len()
		for i := max(0, idx-maxHistory+1); i <= idx; i++ {
			if r := p.samples[i]; r != nil {
				f.History = append(f.History, r.point)
			}
		}
	} else {
		f.History = append([]common.Point(nil), p.history...)
	}
	f.Events = p.events
	// The newest analysis at or before this sample.
	for i := idx; i >= 0; i-- {
		if r, ok := p.results[i]; ok {
			f.Result, f.ResultSample = r, i
			break
		}
		if p.rec == nil {
			break
		}
	}
	if f.Result == nil && p.rec == nil && p.latest >= 0 {
		f.Result, f.ResultSample = p.results[p.latest], p.latest
	}
	p.rulesetOf(f, idx)
	f.Pressure = p.pressure(idx)
	f.Offset, f.HasOffset = p.offset(idx)
	f.StatsSample = p.statsSample(idx)
	f.Rates = p.rates(idx, f.Result)
	f.View = table.Select(req.match, req.order)
	f.ViewQuery, f.ViewOrder = req.query, req.order
	if req.ranking {
		r := table.Talkers(req.talkers, req.topN)
		f.Talkers = &r
	}
	return f
}

// timeoutSysctls are the sysctls a sample's entries are read with, layered
// as the analyzer layers them: a recording's sysctls (the hint) under the
// ones the caller gave under the sample's own; without a hint (a live
// source), those carried from earlier samples under its own.
func (p *pipeline) timeoutSysctls(rec *sampleRec) track.Sysctls {
	if p.hint == nil {
		out := maps.Clone(rec.sysctls)
		maps.Copy(out, p.opts.Sysctls)
		maps.Copy(out, rec.own)
		return out
	}
	out := maps.Clone(p.hint)
	maps.Copy(out, p.opts.Sysctls)
	maps.Copy(out, rec.own)
	return out
}

// pressure is sample idx's pressure, from analyzer.PressureOf with what
// ctdiag report gives it: the count (nf_conntrack_count when read, else
// the entries listed) against the latest nf_conntrack_max read up to the
// sample (else the one a recording read with another sample), the entries
// early drop cannot evict, the table's recent sizes when the samples are
// timed, the steady state the analysis found, and the catalog's forecast
// gate.
func (p *pipeline) pressure(idx int) common.Pressure {
	rec := p.samples[idx]
	in := analyzer.PressureInput{Count: rec.count, Max: rec.max, HasMax: rec.hasMax, NonEvictable: uint64(rec.assured),
		Gate: analyzer.ForecastGate(p.opts.Config)}
	out := common.Pressure{CountFromKern: rec.count != uint64(rec.listed), Listed: rec.listed,
		Assured: rec.assured, Evictable: rec.listed - rec.assured}
	switch {
	case rec.ownMax:
	case rec.hasMax:
		out.MaxElsewhere = "an earlier sample"
	default:
		if v, ok := p.hint.Int("nf_conntrack_max"); ok && v >= 0 {
			in.Max, in.HasMax = uint64(v), true
			out.MaxElsewhere = "another sample of the recording"
		}
	}
	in.History = p.sizeHistory(idx)
	// The steady state needs the entries followed between samples: the
	// analysis of this sample has it (a live source's latest, when this one
	// was not analysed).
	if res := p.results[idx]; res != nil {
		in.SteadyState = res.Summary.Pressure.SteadyState
	} else if res := p.results[p.latest]; p.rec == nil && res != nil {
		in.SteadyState = res.Summary.Pressure.SteadyState
	}
	out.Pressure = analyzer.PressureOf(in)
	if in.HasMax && in.Max > 0 {
		out.Free = int64(in.Max) - int64(rec.count)
	}
	return out
}

// sizeHistory is the table's size over the samples up to idx, in seconds
// from the first, as the analyzer takes it: none unless every sample has a
// time and each is later than the one before.
func (p *pipeline) sizeHistory(idx int) []analyzer.SizePoint {
	var sizes []sizeAt
	if p.rec == nil {
		sizes = p.sizes
	} else {
		for i := 0; i <= idx; i++ {
			r := p.samples[i]
			if r == nil {
				return nil
			}
			sizes = append(sizes, sizeAt{time: r.time, size: r.size})
		}
	}
	if len(sizes) < 2 {
		return nil
	}
	pts := make([]analyzer.TableSize, len(sizes))
	for i, s := range sizes {
		if s.time.IsZero() || i > 0 && !s.time.After(sizes[i-1].time) {
			return nil
		}
		pts[i] = s.size
		pts[i].Offset = s.time.Sub(sizes[0].time).Seconds()
	}
	return analyzer.SizeHistory(pts)
}

// offset is how long after a recording's first sample sample idx was
// taken, when the samples have times.
func (p *pipeline) offset(idx int) (time.Duration, bool) {
	first, cur := p.samples[0], p.samples[idx]
	if p.rec == nil || first == nil || cur == nil || first.time.IsZero() || cur.time.IsZero() {
		return 0, false
	}
	return cur.time.Sub(first.time), true
}

// statsSample is, for a sample that read no statistics, the recording's
// sample that did (the nearest), or -1.
func (p *pipeline) statsSample(idx int) int {
	if p.rec == nil || len(p.samples[idx].stats.CPUs) > 0 {
		return -1
	}
	best := -1
	for i, r := range p.samples {
		if len(r.stats.CPUs) > 0 && (best < 0 || abs(i-idx) < abs(best-idx) || abs(i-idx) == abs(best-idx) && i > best) {
			best = i
		}
	}
	return best
}

func abs(n int) int { return max(n, -n) }

// rates compares sample idx with the one before it.
func (p *pipeline) rates(idx int, res *analyzer.Result) common.Rates {
	var r common.Rates
	cur, prev := p.samples[idx], p.samples[idx-1]
	for c := track.Counter(0); c < track.NumCounters; c++ {
		if cur.stats.Has(c) {
			r.Counters[c] = common.CounterRate{Known: true, Total: cur.stats.Total(c)}
		}
	}
	if prev == nil {
		return r
	}
	r.HasPrev = true
	if !cur.time.IsZero() && !prev.time.IsZero() && cur.time.After(prev.time) {
		r.Seconds = cur.time.Sub(prev.time).Seconds()
	}
	for c := track.Counter(0); c < track.NumCounters; c++ {
		cr := &r.Counters[c]
		if cr.Known && prev.stats.Has(c) && cr.Total >= prev.stats.Total(c) {
			cr.HasDelta, cr.Delta = true, cr.Total-prev.stats.Total(c)
			cr.PerSec = r.Per(float64(cr.Delta))
		}
	}
	switch {
	case cur.hasEvents:
		r.HasNew, r.FromEvents, r.EventsLost = true, true, cur.eventsLost
		r.New, r.Destroyed = r.Per(float64(cur.created)), r.Per(float64(cur.destroyed))
	case res != nil && res.Summary.Samples > 1:
		// The analyzer follows tuples between its last two samples.
		r.HasNew = true
		if res.Summary.NewPerSec > 0 || res.Summary.GonePerSec > 0 || r.Seconds > 0 {
			r.New, r.Destroyed = res.Summary.NewPerSec, res.Summary.GonePerSec
		} else {
			r.New, r.Destroyed = float64(res.Summary.NewBetween), float64(res.Summary.GoneBetween)
		}
	}
	return r
}
