package analyzer

import (
	"fmt"
	"math"
	"sort"

	"github.com/ctdiag/ctdiag/track"
)

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
		Offloaded:   l.offloaded,
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
	for _, s := range t.s {
		sum.TableRead = sum.TableRead || s.meta.HasTable
	}
	sum.States = l.states()
	if len(t.s) > 1 {
		prev := t.s[len(t.s)-2]
		dt := 0.0
		if t.timed {
			dt = t.offsets[len(t.s)-1] - t.offsets[len(t.s)-2]
		}
		if l.meta.HasTable && prev.meta.HasTable {
			sum.NewBetween, sum.GoneBetween = diffSorted(prev.sortedHashes(), l.sortedHashes())
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
	sum.Pressure = t.pressure(a.steadyState(t, &sum), ForecastGate(a.cfg))
	sum.Peak = t.peak()
	sum.Events = a.eventSummary(t)
	sum.Notes = a.notes(t)
	return sum
}

// steadyState is the size the table settles at with the last step's
// arrivals and departures (Little's law: arrivals × entries / departures,
// the kernel's own counts when events were followed); +Inf when the table
// keeps what it gains (few left), 0 when unknown: untimed samples have no
// growth to forecast, so none is needed.
func (a *Analyzer) steadyState(t timeline, sum *Summary) float64 {
	arrived, gone, ok := lastStep(t, sum)
	if !ok || !t.timed {
		return 0
	}
	prev := t.s[len(t.s)-2]
	step := t.offsets[len(t.offsets)-1] - t.offsets[len(t.offsets)-2]
	// Keeping what it gains is few departures beside the table and beside
	// the arrivals: a pool of 200,000 long-lived entries that lost 1,571
	// while 1,530 came is in balance, however small both are beside it,
	// where a table that lost 121 while 5,278 came keeps what it gains.
	// Beside the table is per second (its entries live keptLifetime on
	// average or longer), so a sample read late, a longer step with more
	// departures, does not turn such a table into one in balance.
	switch {
	case arrived == 0:
		return 0
	case gone*keptLifetime <= step*prev.tableSize() && gone <= arrived/2:
		return math.Inf(1)
	}
	return arrived * prev.tableSize() / gone
}

// lastStep is how many entries arrived and how many left between the last
// two samples: the kernel's own counts when events were followed, else the
// tuples followed from one table to the next.
func lastStep(t timeline, sum *Summary) (arrived, gone float64, ok bool) {
	switch {
	case len(t.s) < 2:
		return 0, 0, false
	case sum.EventsFollowed && sum.EventsLost == 0:
		return float64(sum.EventsCreated), float64(sum.EventsDestroyed), true
	case !t.s[len(t.s)-2].meta.HasTable || !t.last().meta.HasTable:
		return 0, 0, false
	}
	return float64(sum.NewBetween), float64(sum.GoneBetween), true
}

// keptLifetime is the mean lifetime in seconds (table ÷ departures per
// second) from which a table counts as keeping what it gains: five
// minutes, far beyond the seconds between samples, so what it gains now
// is still there when the forecast comes due.
const keptLifetime = 300

// pressure is the last sample's pressure figures (PressureOf).
func (t timeline) pressure(steady float64, gate Gate) Pressure {
	l := t.last()
	in := PressureInput{Count: uint64(l.tableSize()), NonEvictable: uint64(l.nonEvictable), SteadyState: steady, Gate: gate}
	in.Max, in.HasMax = t.maxOf()
	if t.timed {
		pts := make([]TableSize, len(t.s))
		for i, s := range t.s {
			pts[i] = TableSize{Offset: t.offsets[i], Count: s.meta.Count, HasCount: s.meta.HasCount, Listed: s.entries, HasTable: s.meta.HasTable}
		}
		in.History = SizeHistory(pts)
	}
	return PressureOf(in)
}

// peak is the sample where the table was most pressed against the limit in
// force at the time, when that is not the last sample and was clearly
// worse (a table that was full and has been relieved since).
func (t timeline) peak() *PeakSample {
	var best *PeakSample
	for i, s := range t.s {
		max, carried, ok := t.maxAt(i)
		if !ok || max == 0 {
			continue
		}
		p := PressureOf(PressureInput{Count: uint64(s.tableSize()), Max: max, HasMax: true, NonEvictable: uint64(s.nonEvictable)})
		if best == nil || p.Utilisation > best.Pressure.Utilisation {
			best = &PeakSample{Sample: i, Offset: t.offsets[i], Pressure: p, MaxCarried: carried}
		}
	}
	last := t.pressure(0, Gate{})
	if best == nil || best.Sample == len(t.s)-1 || best.Pressure.Utilisation < last.Utilisation+0.05 {
		return nil
	}
	return best
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
		out = append(out, fmt.Sprintf("%d ESTABLISHED entries carry a capped timeout (unacknowledged data or retransmissions, docs/KERNEL.md §1.10): their idle age is unknown", l.estAmb))
	}
	return out
}
