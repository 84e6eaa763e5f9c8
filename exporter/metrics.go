package exporter

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctdiag/ctdiag/report"
)

// The exporter's own health metrics (the conntrack ones are report's
// vocabulary, shared with report -o prometheus).
const (
	metricUp           = "ctdiag_exporter_netns_up"
	metricLastRead     = "ctdiag_exporter_last_read_timestamp_seconds"
	metricReadDuration = "ctdiag_exporter_read_duration_seconds"
	metricReadErrors   = "ctdiag_exporter_read_errors_total"
	metricResyncs      = "ctdiag_exporter_resyncs_total"
	metricModelEntries = "ctdiag_exporter_model_entries"
	metricEvaluated    = "ctdiag_exporter_rules_evaluated_timestamp_seconds"
	metricWatched      = "ctdiag_exporter_netns_watched"
	metricGone         = "ctdiag_exporter_netns_gone_total"
	metricBuildInfo    = "ctdiag_exporter_build_info"
)

// metrics is the prometheus.Collector of an Exporter: every metric is
// built fresh in Collect from the watchers' published snapshots
// (prometheus.MustNewConstMetric, as node_exporter does), so a scrape
// reads numbers and takes no lock but the snapshots' atomic loads.
type metrics struct {
	e       *Exporter
	version string
	descs   map[string]*prometheus.Desc
}

func newMetrics(e *Exporter, version string) *metrics {
	m := &metrics{e: e, version: version, descs: map[string]*prometheus.Desc{}}
	for _, d := range report.PromMetrics() {
		m.descs[d.Name] = prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
	}
	for _, d := range healthMetrics() {
		m.descs[d.Name] = prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
	}
	return m
}

// healthMetrics defines the exporter's own metrics.
func healthMetrics() []report.PromMetric {
	return []report.PromMetric{
		{Name: metricUp, Type: "gauge", Help: "1 while the namespace is read successfully; 0 when it failed or is gone (its other series are then absent).", Labels: []string{"netns"}},
		{Name: metricLastRead, Type: "gauge", Help: "Unix time of the last successful read of the namespace's count and statistics.", Labels: []string{"netns"}},
		{Name: metricReadDuration, Type: "gauge", Help: "Seconds the last read took: counters (count, max, statistics), dump (the periodic full re-read), rules (an evaluation of the catalog).", Labels: []string{"netns", "read"}},
		{Name: metricReadErrors, Type: "counter", Help: "Failed reads, by what was read (counters, dump, rules, events).", Labels: []string{"netns", "read"}},
		{Name: metricResyncs, Type: "counter", Help: "Full re-reads of the table into the model, by reason: overrun (events were lost) or periodic.", Labels: []string{"netns", "reason"}},
		{Name: metricModelEntries, Type: "gauge", Help: "Entries in the exporter's model of the table (events and dumps).", Labels: []string{"netns"}},
		{Name: metricEvaluated, Type: "gauge", Help: "Unix time of the last evaluation of the rule catalog.", Labels: []string{"netns"}},
		{Name: metricWatched, Type: "gauge", Help: "Network namespaces watched (all of them, also those summed as netns=\"other\")."},
		{Name: metricGone, Type: "counter", Help: "Network namespaces that disappeared while watched."},
		{Name: metricBuildInfo, Type: "gauge", Help: "Always 1; the ctdiag version as a label.", Labels: []string{"version"}},
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	list := *m.e.list.Load()
	top := *m.e.top.Load()
	var own, others []*nsSnap
	var contrib counterTotals
	gone := m.e.gone.Load()
	for _, w := range list {
		s := w.snap.Load()
		if w.explicit {
			gone += w.vanished.Load()
		}
		if top[w.label] {
			own = append(own, s)
		} else {
			others = append(others, s)
			contrib.plus(m.e.others.contribution(w, s))
		}
	}
	var globalMax uint64
	hasMax := false
	for _, s := range append(append([]*nsSnap(nil), own...), others...) {
		if s.up && s.hasMax {
			globalMax, hasMax = s.max, true
		}
	}
	if hasMax {
		m.gauge(ch, report.MetricMax, float64(globalMax))
	}
	m.gauge(ch, metricWatched, float64(len(list)))
	m.counter(ch, metricGone, float64(gone))
	m.gauge(ch, metricBuildInfo, 1, m.version)
	for _, s := range own {
		m.namespace(ch, s, counterTotals{})
	}
	left := m.e.others.left()
	if len(others) > 0 || left != (counterTotals{}) {
		contrib.plus(left)
		m.namespace(ch, sumOthers(others, contrib), counterTotals{})
	}
}

func (m *metrics) gauge(ch chan<- prometheus.Metric, name string, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.GaugeValue, v, labels...)
}

func (m *metrics) counter(ch chan<- prometheus.Metric, name string, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.CounterValue, v, labels...)
}

// namespace emits one namespace's series; retired adds the counters of
// namespaces that left "other".
func (m *metrics) namespace(ch chan<- prometheus.Metric, s *nsSnap, retired counterTotals) {
	l := s.label
	up := 0.0
	if s.up {
		up = 1
	}
	m.gauge(ch, metricUp, up, l)
	for k := readKind(0); k < numReads; k++ {
		m.counter(ch, metricReadErrors, float64(s.readErrors[k]+retired.readErrors[k]), l, k.String())
	}
	// A namespace that cannot be read has no data series (no stale
	// figures); "other" has them while any of its namespaces is read.
	if !s.up && !(l == LabelOther && s.hasCount) {
		return
	}
	m.gauge(ch, metricLastRead, s.lastRead, l)
	for _, k := range []readKind{readCounters, readDump, readRules} {
		m.gauge(ch, metricReadDuration, s.readDur[k], l, k.String())
	}
	m.counter(ch, metricResyncs, float64(s.resyncs[0]+retired.resyncs[0]), l, "overrun")
	m.counter(ch, metricResyncs, float64(s.resyncs[1]+retired.resyncs[1]), l, "periodic")
	m.gauge(ch, metricModelEntries, float64(s.modelEntries), l)

	m.gauge(ch, report.MetricEntries, float64(s.count), l)
	for _, st := range s.states {
		m.gauge(ch, report.MetricEntriesByState, float64(st.n), l, st.protocol, st.state)
	}
	m.gauge(ch, report.MetricEntriesByFlag, float64(s.flags[classAssured]), l, "assured")
	m.gauge(ch, report.MetricEntriesByFlag, float64(s.flags[classHalf]), l, "half_assured")
	m.gauge(ch, report.MetricEntriesByFlag, float64(s.flags[classUnreplied]), l, "unreplied")
	for i, c := range report.PromCounters() {
		if s.statsHave[i] {
			m.counter(ch, report.PromCounterName(c), float64(s.stats[i]+retired.stats[i]), l)
		}
	}
	for i, t := range [3]string{"new", "update", "destroy"} {
		m.counter(ch, report.MetricEvents, float64(s.events[i]+retired.events[i]), l, t)
	}
	m.counter(ch, report.MetricEventsLost, float64(s.lost+retired.lost), l)
	m.counter(ch, report.MetricTableFullLog, float64(s.tableFull+retired.tableFull), l)
	if p := s.pressure; p.HasHeadroom {
		m.gauge(ch, report.MetricHeadroom, float64(p.Headroom), l)
	}
	if p := s.pressure; p.HasFullIn {
		m.gauge(ch, report.MetricFullIn, p.FullInSeconds, l)
	}
	if s.evaluated {
		m.gauge(ch, metricEvaluated, s.evalTime, l)
	}
	for _, f := range s.findings {
		m.gauge(ch, report.MetricFindingActive, f.active, l, f.rule, f.severity)
		if f.hasValue {
			m.gauge(ch, report.MetricFindingValue, f.value, l, f.rule)
		}
	}
}

// sumOthers sums the namespaces beyond --top-netns into one, labelled
// "other": counts add up and the counters are counts (otherCounters);
// headroom and time to full are the worst of them (each namespace has its
// own limit); a rule's finding_active counts the namespaces it fires in; up
// is 1 only if every one of them is read.
func sumOthers(others []*nsSnap, counts counterTotals) *nsSnap {
	o := &nsSnap{label: LabelOther, up: true}
	o.stats, o.events, o.lost, o.tableFull = counts.stats, counts.events, counts.lost, counts.tableFull
	o.readErrors, o.resyncs = counts.readErrors, counts.resyncs
	states := map[[2]string]int64{}
	type fk struct{ rule, sev string }
	findings := map[fk]int{}
	for _, s := range others {
		if !s.up {
			o.up = false
			continue
		}
		o.hasCount = true
		o.count += s.count
		if s.hasMax {
			o.max, o.hasMax = s.max, true
		}
		for i := range o.statsHave {
			o.statsHave[i] = o.statsHave[i] || s.statsHave[i]
		}
		for _, st := range s.states {
			states[[2]string{st.protocol, st.state}] += st.n
		}
		for i := range o.flags {
			o.flags[i] += s.flags[i]
		}
		o.modelEntries += s.modelEntries
		if o.lastRead == 0 || s.lastRead < o.lastRead {
			o.lastRead = s.lastRead
		}
		for k := range o.readDur {
			o.readDur[k] = max(o.readDur[k], s.readDur[k])
		}
		if p := s.pressure; p.HasHeadroom && (!o.pressure.HasHeadroom || p.Headroom < o.pressure.Headroom) {
			o.pressure.Headroom, o.pressure.HasHeadroom = p.Headroom, true
		}
		if p := s.pressure; p.HasFullIn && (!o.pressure.HasFullIn || p.FullInSeconds < o.pressure.FullInSeconds) {
			o.pressure.FullInSeconds, o.pressure.HasFullIn = p.FullInSeconds, true
		}
		if s.evaluated && (!o.evaluated || s.evalTime < o.evalTime) {
			o.evaluated, o.evalTime = true, s.evalTime
		}
		for _, f := range s.findings {
			findings[fk{f.rule, f.severity}]++
		}
	}
	if !o.hasCount {
		o.up = false // nothing read: no data series either
	}
	for k, n := range states {
		o.states = append(o.states, stateCount{protocol: k[0], state: k[1], n: n})
	}
	sort.Slice(o.states, func(i, j int) bool {
		if o.states[i].protocol != o.states[j].protocol {
			return o.states[i].protocol < o.states[j].protocol
		}
		return o.states[i].state < o.states[j].state
	})
	// finding_value has no meaning summed: only finding_active is given,
	// counting the namespaces the rule fires in.
	for k, n := range findings {
		o.findings = append(o.findings, findingSnap{rule: k.rule, severity: k.sev, active: float64(n)})
	}
	sort.Slice(o.findings, func(i, j int) bool {
		if o.findings[i].rule != o.findings[j].rule {
			return o.findings[i].rule < o.findings[j].rule
		}
		return o.findings[i].severity < o.findings[j].severity
	})
	return o
}
