package analyzer

import (
	"fmt"
	"sort"

	"github.com/ctdiag/ctdiag/track"
)

// timeline is the samples with their offsets in seconds from the first.
type timeline struct {
	s       []*sample
	timed   bool // every sample has a time, strictly increasing
	offsets []float64
}

func (a *Analyzer) timeline() timeline {
	t := timeline{s: a.done, timed: len(a.done) > 1}
	for i, s := range a.done {
		if s.meta.Time.IsZero() || i > 0 && !s.meta.Time.After(a.done[i-1].meta.Time) {
			t.timed = false
		}
	}
	for _, s := range a.done {
		off := -1.0
		if t.timed {
			off = s.meta.Time.Sub(a.done[0].meta.Time).Seconds()
		}
		t.offsets = append(t.offsets, off)
	}
	return t
}

func (t timeline) last() *sample  { return t.s[len(t.s)-1] }
func (t timeline) first() *sample { return t.s[0] }

func (t timeline) span() float64 {
	if !t.timed {
		return 0
	}
	return t.offsets[len(t.offsets)-1]
}

// series is one value per sample.
func (t timeline) series(name string, f func(*sample) float64) Series {
	out := Series{Name: name}
	for i, s := range t.s {
		out.Points = append(out.Points, Point{Sample: i, Offset: t.offsets[i], Value: f(s)})
	}
	return out
}

// growth is how a value moved over the samples: per second when timed,
// whether it never went down, and first to last.
type growth struct {
	perSec     float64
	rising     bool // non-decreasing and last > first
	first, end float64
}

func (t timeline) growth(f func(*sample) float64) growth {
	g := growth{first: f(t.first()), end: f(t.last())}
	if len(t.s) < 2 {
		return g
	}
	g.rising = g.end > g.first
	for i := 1; i < len(t.s); i++ {
		if f(t.s[i]) < f(t.s[i-1]) {
			g.rising = false
		}
	}
	if t.timed && t.span() > 0 {
		g.perSec = (g.end - g.first) / t.span()
	}
	return g
}

// counterDelta is how much a statistics counter grew between the first and
// the last sample that carry statistics; ok is false without two such
// samples, or when the counter went backwards (another namespace, a
// reboot).
func (t timeline) counterDelta(c track.Counter) (delta uint64, perSec float64, ok bool) {
	var first, last *sample
	fi, li := -1, -1
	for i, s := range t.s {
		if s.meta.Stats.Has(c) {
			if first == nil {
				first, fi = s, i
			}
			last, li = s, i
		}
	}
	if first == nil || first == last {
		return 0, 0, false
	}
	a, b := first.meta.Stats.Total(c), last.meta.Stats.Total(c)
	if b < a {
		return 0, 0, false
	}
	delta = b - a
	if t.timed && t.offsets[li] > t.offsets[fi] {
		perSec = float64(delta) / (t.offsets[li] - t.offsets[fi])
	}
	return delta, perSec, true
}

// counterTotal is a counter's value in the last sample that has it.
func (t timeline) counterTotal(c track.Counter) (uint64, bool) {
	for i := len(t.s) - 1; i >= 0; i-- {
		if t.s[i].meta.Stats.Has(c) {
			return t.s[i].meta.Stats.Total(c), true
		}
	}
	return 0, false
}

// tableSize is the sample's entry count: nf_conntrack_count when read,
// else the entries listed.
func (s *sample) tableSize() float64 {
	if s.meta.HasCount {
		return float64(s.meta.Count)
	}
	return float64(s.entries)
}

// maxOf returns the latest nf_conntrack_max known in the timeline.
func (t timeline) maxOf() (uint64, bool) {
	for i := len(t.s) - 1; i >= 0; i-- {
		if t.s[i].meta.HasMax {
			return t.s[i].meta.Max, true
		}
	}
	return 0, false
}

// memTotal is the latest known RAM size, 0 when unknown.
func (t timeline) memTotal() uint64 {
	for i := len(t.s) - 1; i >= 0; i-- {
		if m := t.s[i].meta.MemTotal; m > 0 {
			return m
		}
	}
	return 0
}

// sysctls merges the samples' sysctls, later ones winning.
func (t timeline) sysctls() track.Sysctls {
	out := track.Sysctls{}
	for _, s := range t.s {
		for k, v := range s.meta.Sysctls {
			out[k] = v
		}
	}
	return out
}

// summary computes the key figures.
func (a *Analyzer) summary(t timeline) Summary {
	l := t.last()
	sum := Summary{
		Samples:     len(t.s),
		SpanSeconds: t.span(),
		Entries:     l.entries,
		Count:       l.meta.Count,
		HasCount:    l.meta.HasCount,
		Assured:     l.assured,
		Unreplied:   l.unreplied,
		HalfAssured: l.half,
		IPv6:        l.ipv6,
	}
	switch {
	case a.timing != "":
		sum.Timing = a.timing
	case t.timed:
		sum.Timing = "sample times"
	default:
		sum.Timing = "none"
	}
	sum.Pressure = t.pressure()
	sum.Max, sum.HasMax = sum.Pressure.Max, sum.Pressure.HasMax
	sum.Utilisation, sum.Headroom = sum.Pressure.Utilisation, sum.Pressure.Headroom
	sum.States = l.states()
	if len(t.s) > 1 {
		sum.EntriesGrowthPerSec = sum.Pressure.GrowthPerSec
		prev := t.s[len(t.s)-2]
		sum.NewBetween, sum.GoneBetween = diffSorted(prev.sortedHashes(), l.sortedHashes())
		dt := 0.0
		if t.timed {
			dt = t.offsets[len(t.s)-1] - t.offsets[len(t.s)-2]
			if dt > 0 {
				sum.NewPerSec, sum.GonePerSec = float64(sum.NewBetween)/dt, float64(sum.GoneBetween)/dt
			}
		}
		// The last sample's events are those since the one before.
		if et := l.meta.EventTotals; et.Followed {
			sum.EventsFollowed = true
			sum.EventsCreated, sum.EventsDestroyed = et.Created, et.Destroyed
			sum.EventsLost = len(l.meta.EventLosses)
			if dt > 0 {
				sum.CreatedPerSec, sum.DestroyedPerSec = float64(et.Created)/dt, float64(et.Destroyed)/dt
			}
		}
	}
	for _, c := range []track.Counter{track.CounterDrop, track.CounterEarlyDrop, track.CounterInvalid,
		track.CounterInsertFailed, track.CounterClashResolve, track.CounterChainTooLong, track.CounterError, track.CounterFound} {
		cur, ok := t.counterTotal(c)
		if !ok {
			continue
		}
		d := Delta{Name: c.String(), Current: cur}
		if delta, perSec, ok := t.counterDelta(c); ok {
			d.HasDelta, d.Delta = true, delta
			d.HasRate, d.PerSec = t.timed, perSec
		}
		sum.StatsDeltas = append(sum.StatsDeltas, d)
	}
	sum.Notes = a.notes(t)
	return sum
}

// pressure is the last sample's pressure figures (PressureOf).
func (t timeline) pressure() Pressure {
	l := t.last()
	in := PressureInput{Count: uint64(l.tableSize()), NonEvictable: uint64(l.assured)}
	in.Max, in.HasMax = t.maxOf()
	if t.timed {
		for i, s := range t.s {
			in.History = append(in.History, SizePoint{Offset: t.offsets[i], Size: s.tableSize()})
		}
	}
	return PressureOf(in)
}

// states lists the sample's entries by protocol and state.
func (s *sample) states() []StateCount {
	var out []StateCount
	for st := range s.tcp {
		n := s.tcp[st][0] + s.tcp[st][1] + s.tcp[st][2]
		if n > 0 {
			out = append(out, StateCount{Name: "tcp " + track.TCPState(st).String(), Count: n})
		}
	}
	for p, n := range s.other {
		if n > 0 {
			out = append(out, StateCount{Name: track.Proto(p).String(), Count: n})
		}
	}
	for i := range out {
		if s.entries > 0 {
			out[i].Share = float64(out[i].Count) / float64(s.entries)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// diffSorted counts hashes only in cur (new) and only in prev (gone).
func diffSorted(prev, cur []uint64) (added, gone int) {
	i, j := 0, 0
	for i < len(prev) && j < len(cur) {
		switch {
		case prev[i] == cur[j]:
			i++
			j++
		case prev[i] < cur[j]:
			gone++
			i++
		default:
			added++
			j++
		}
	}
	return added + len(cur) - j, gone + len(prev) - i
}

// notes say what the analysis could not judge, and what to give it.
func (a *Analyzer) notes(t timeline) []string {
	var out []string
	l := t.last()
	switch {
	case len(t.s) == 1:
		out = append(out, "one sample: growth, rates and flows followed across samples need two or more (several dumps in order, or a live --samples run)")
	case !t.timed:
		out = append(out, "samples without times: growth is shown per sample, not per second (give --interval)")
	}
	if !l.ranked {
		out = append(out, fmt.Sprintf("the samples stopped before the %d announced: the last one read was not prepared for rankings, so who holds the table is not shown", a.expect))
	}
	if _, ok := t.maxOf(); !ok {
		out = append(out, "nf_conntrack_max unknown: utilisation and headroom need it (add sysctl -a or /proc/sys/net/netfilter/nf_conntrack_max)")
	}
	if _, ok := t.counterTotal(track.CounterDrop); !ok {
		out = append(out, "no statistics: drops, invalid packets and insert failures need conntrack -S or /proc/net/stat/nf_conntrack")
	}
	if l.entries > 0 && l.acct == 0 {
		out = append(out, "no entry has counters (nf_conntrack_acct=0): idle connections are judged from timeouts alone")
	}
	if l.overTimeout > 0 {
		out = append(out, fmt.Sprintf("%d TCP entries have more time left than their state's timeout (e.g. %s): their timeouts were set by ctnetlink (conntrack -I/-U) or a timeout policy, or the sysctls in force differ from those assumed; their ages are unknown and they are left out of age-based rules", l.overTimeout, l.overExample))
	}
	if !a.sysctlsKnown(t) {
		out = append(out, "no timeout sysctls read: timeouts are assumed to be this kernel's defaults (e.g. established 432000 s); add sysctl -a output if they were changed")
	}
	if l.estAmb > 0 {
		out = append(out, fmt.Sprintf("%d ESTABLISHED entries carry a capped timeout (unacknowledged data or retransmissions, spec §1.10): their idle age is unknown", l.estAmb))
	}
	return out
}

// sysctlsKnown: some timeout sysctl was read (or given), so ages are
// computed from the values in force rather than defaults.
func (a *Analyzer) sysctlsKnown(t timeline) bool {
	for _, given := range []track.Sysctls{a.opts.Sysctls, a.hint} {
		if _, ok := given.Get("nf_conntrack_tcp_timeout_established"); ok {
			return true
		}
	}
	for _, s := range t.s {
		if _, ok := s.meta.Sysctls.Get("nf_conntrack_tcp_timeout_established"); ok {
			return true
		}
	}
	return false
}
