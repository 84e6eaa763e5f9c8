package analyzer

import (
	"net/netip"
	"sort"

	"github.com/ctdiag/ctdiag/track"
)

// maxEventKeys bounds the peers an event summary tallies: a log of
// millions of events is summarised in the memory of this many peers.
const maxEventKeys = 1 << 16

// eventTally summarises the events of a sample that has no table (a
// conntrack -E log given alone): what came and went, by state and peer.
type eventTally struct {
	summary    EventSummary
	states     map[string]int
	dsts, srcs map[string]int
}

func (e *eventTally) add(ev *track.Event) {
	if e.states == nil {
		e.states, e.dsts, e.srcs = map[string]int{}, map[string]int{}, map[string]int{}
	}
	s := &e.summary
	if !ev.Time.IsZero() {
		if s.FirstTime.IsZero() || ev.Time.Before(s.FirstTime) {
			s.FirstTime = ev.Time
		}
		if ev.Time.After(s.LastTime) {
			s.LastTime = ev.Time
		}
	}
	switch ev.Type {
	case track.EventNew:
		s.New++
		e.states[track.StateKey(&ev.Flow)]++
		bump(e.dsts, addrPortText(addrPortOf(ev.Flow.Orig)))
		bump(e.srcs, ev.Flow.Orig.Src.String())
	case track.EventDestroy:
		s.Destroy++
	case track.EventUpdate:
		s.Update++
	}
}

// bump counts a key, up to maxEventKeys distinct keys (later new keys are
// not counted: the largest peers of a log appear early and often).
func bump(m map[string]int, k string) {
	if _, ok := m[k]; ok || len(m) < maxEventKeys {
		m[k]++
	}
}

// result ranks what was tallied.
func (e *eventTally) result(top int) *EventSummary {
	s := e.summary
	for k, n := range e.states {
		s.ByState = append(s.ByState, StateCount{Name: k, Count: n, Share: float64(n) / float64(max(1, s.New))})
	}
	sort.Slice(s.ByState, func(i, j int) bool {
		if s.ByState[i].Count != s.ByState[j].Count {
			return s.ByState[i].Count > s.ByState[j].Count
		}
		return s.ByState[i].Name < s.ByState[j].Name
	})
	rank := func(m map[string]int, dim string) []Top {
		var out []Top
		for _, r := range topN(m, top, lessString, countOf[int]) {
			out = append(out, Top{Dimension: dim, Key: r.key, Count: r.count, Share: float64(r.count) / float64(max(1, s.New))})
		}
		return out
	}
	s.TopDestinations, s.TopSources = rank(e.dsts, "destination"), rank(e.srcs, "source")
	return &s
}

// eventSummary is the summary of events read without any table; nil when a
// table was read (its events then only give churn counts).
func (a *Analyzer) eventSummary(t timeline) *EventSummary {
	var total *eventTally
	for _, s := range t.s {
		if s.meta.HasTable {
			return nil
		}
		if s.events != nil {
			total = s.events
		}
	}
	if total == nil {
		return nil
	}
	out := total.result(a.opts.Top)
	for _, s := range t.s {
		out.Lost += len(s.meta.EventLosses)
	}
	return out
}

// addrPortOf is a tuple's destination as an address and port (port 0 for
// protocols without ports).
func addrPortOf(t track.Tuple) netip.AddrPort {
	return netip.AddrPortFrom(t.Dst, t.DstPort)
}
