package exporter

import (
	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/track"
)

// nsSnap is what a scrape serves of one namespace: immutable once
// published, built by its watcher after every read.
type nsSnap struct {
	label string
	up    bool
	upErr string

	hasCount   bool
	count, max uint64
	hasMax     bool
	stats      [10]uint64 // report.PromCounters order
	statsHave  [10]bool
	states     []stateCount
	flags      [numClasses]int64
	events     [3]uint64 // new, update, destroy
	lost       uint64
	tableFull  uint64
	pressure   analyzer.Pressure

	findings  []findingSnap
	evaluated bool
	evalTime  float64 // Unix seconds of the last evaluation
	doc       *report.Document

	lastRead     float64 // Unix seconds of the last successful read of the counters
	readDur      [numReads]float64
	readErrors   [numReads]uint64
	resyncs      [2]uint64 // overrun, periodic
	modelEntries int
}

type stateCount struct {
	protocol, state string
	n               int64
}

type findingSnap struct {
	rule, severity string
	active         float64 // 1; for "other", the namespaces it fires in
	value          float64
	hasValue       bool
}

// alwaysStates are exported even at zero, so that a query for them finds a
// series: every TCP state, and UDP and ICMP.
func alwaysStates(slot int) bool {
	proto := track.Proto(slot / stateSlots)
	st := slot % stateSlots
	switch proto {
	case track.ProtoTCP:
		return st >= 1 && st <= 1+int(track.TCPSynSent2)
	case track.ProtoUDP, track.ProtoICMP, track.ProtoICMPv6:
		return st == 0
	}
	return false
}

// stateLabels names a count slot.
func stateLabels(slot int) (protocol, state string) {
	proto := track.Proto(slot / stateSlots)
	st := slot % stateSlots
	if st == 0 {
		return proto.String(), "none"
	}
	name := track.StateName(proto, uint8(st-1))
	if name == "" {
		name = "none"
	}
	return proto.String(), name
}

// publish builds the snapshot scrapes read from what the watcher holds.
func (w *watcher) publish() {
	s := &nsSnap{
		label: w.label, up: w.upErr == "" && w.hasCount, upErr: w.upErr,
		hasCount: w.hasCount, count: w.count, max: w.max, hasMax: w.hasMax,
		stats: w.stats, statsHave: w.statsHave,
		lost: w.lost.Load(), tableFull: w.tableFull,
		doc: w.doc, evaluated: w.doc != nil, readDur: w.readDur,
		modelEntries: w.model.Len(),
	}
	for i := range s.events {
		s.events[i] = w.events[i].Load()
	}
	for i := range s.readErrors {
		s.readErrors[i] = w.readErrors[i].Load()
	}
	s.resyncs = [2]uint64{w.resyncs[0].Load(), w.resyncs[1].Load()}
	if !w.lastRead.IsZero() {
		s.lastRead = float64(w.lastRead.UnixNano()) / 1e9
	}
	if !w.lastEval.IsZero() {
		s.evalTime = float64(w.lastEval.UnixNano()) / 1e9
	}
	s.findings = append([]findingSnap(nil), w.findings...)

	var c Counts
	w.model.Counts(&c)
	var kept int64 // entries the kernel never evicts (track.Evictable)
	for slot := range c {
		n := int64(c[slot][0]) + int64(c[slot][1]) + int64(c[slot][2])
		for k := range s.flags {
			s.flags[k] += int64(c[slot][k])
		}
		proto, sub := track.Proto(slot/stateSlots), slot%stateSlots
		if !track.Evictable(proto, uint8(max(sub-1, 0)), sub > 0, track.StatusAssured) {
			kept += int64(c[slot][classAssured])
		}
		if n == 0 && !alwaysStates(slot) {
			continue
		}
		p, st := stateLabels(slot)
		s.states = append(s.states, stateCount{protocol: p, state: st, n: n})
	}
	if w.hasCount {
		s.pressure = analyzer.PressureOf(analyzer.PressureInput{
			Count: w.count, Max: w.max, HasMax: w.hasMax,
			NonEvictable: uint64(kept),
			History:      w.history,
		})
	}
	w.snap.Store(s)
}
