package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The metric vocabulary ctdiag exporter serves and report -o prometheus
// writes (for node_exporter's textfile collector): one definition of each
// name, its help and its labels. docs/EXPORTER.md documents them.
const (
	MetricEntries        = "ctdiag_conntrack_entries"
	MetricMax            = "ctdiag_conntrack_max"
	MetricEntriesByState = "ctdiag_conntrack_entries_by_state"
	MetricEntriesByFlag  = "ctdiag_conntrack_entries_by_flag"
	MetricHeadroom       = "ctdiag_conntrack_headroom_entries"
	MetricFullIn         = "ctdiag_conntrack_full_in_seconds"
	MetricEvents         = "ctdiag_conntrack_events_total"
	MetricEventsLost     = "ctdiag_conntrack_events_lost_total"
	MetricTableFullLog   = "ctdiag_conntrack_table_full_log_lines_total"
	MetricFindingActive  = "ctdiag_finding_active"
	MetricFindingValue   = "ctdiag_finding_value"
)

// PromCounters are the kernel statistics exported as
// ctdiag_conntrack_<name>_total, summed over CPUs, by their conntrack -S
// names.
func PromCounters() []string {
	return []string{"found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
		"search_restart", "clash_resolve", "chaintoolong"}
}

// PromCounterName is the metric name of a kernel statistic.
func PromCounterName(stat string) string { return "ctdiag_conntrack_" + stat + "_total" }

// PromMetric defines one metric of the vocabulary.
type PromMetric struct {
	Name   string
	Type   string // gauge or counter
	Help   string
	Labels []string
}

// PromMetrics is the conntrack part of the vocabulary (the exporter adds its
// own health metrics).
func PromMetrics() []PromMetric {
	out := []PromMetric{
		{MetricEntries, "gauge", "Entries in the conntrack table (nf_conntrack_count) of the network namespace.", []string{"netns"}},
		{MetricMax, "gauge", "nf_conntrack_max: the limit each network namespace's table may reach.", nil},
		{MetricEntriesByState, "gauge", "Entries by protocol and protocol state (state \"none\" for protocols without states).", []string{"netns", "protocol", "state"}},
		{MetricEntriesByFlag, "gauge", "Entries by status: assured ([ASSURED], never evicted by early drop), half_assured (a reply seen, not assured), unreplied ([UNREPLIED]).", []string{"netns", "flag"}},
		{MetricHeadroom, "gauge", "New entries that fit before packets are dropped: nf_conntrack_max minus the ASSURED entries early drop can never evict.", []string{"netns"}},
		{MetricFullIn, "gauge", "Seconds until the table is full at its recent growth (0: full now); absent when it is not filling.", []string{"netns"}},
		{MetricEvents, "counter", "Conntrack events received, by type (new, update, destroy); lower bounds when events were lost.", []string{"netns", "type"}},
		{MetricEventsLost, "counter", "Times the kernel dropped conntrack events for the reader (socket buffer overrun); each was followed by a full re-read of the table.", []string{"netns"}},
		{MetricTableFullLog, "counter", "Kernel-log \"nf_conntrack: table full, dropping packet\" lines about the network namespace.", []string{"netns"}},
		{MetricFindingActive, "gauge", "1 while a rule of the catalog fires (ctdiag rules explain RULE); absent otherwise.", []string{"netns", "rule", "severity"}},
		{MetricFindingValue, "gauge", "The headline number of a firing rule: the latest value of its first evidence series, else its first numeric figure, else its largest ranking count.", []string{"netns", "rule"}},
	}
	for _, c := range PromCounters() {
		out = append(out, PromMetric{PromCounterName(c), "counter",
			"The kernel's " + c + " statistic (conntrack -S), summed over CPUs.", []string{"netns"}})
	}
	return out
}

// Headline is a finding's number for ctdiag_finding_value: the latest point
// of its first evidence series (what the rule follows over time), else the
// first figure that is a plain number, else the largest count of its
// rankings. ok is false when the finding has none (its figures are text).
func Headline(f *Finding) (float64, bool) {
	for _, s := range f.Evidence.Series {
		if n := len(s.Points); n > 0 {
			return s.Points[n-1].Value, true
		}
	}
	for _, fig := range f.Evidence.Figures {
		if v, err := strconv.ParseFloat(strings.TrimSpace(fig.Value), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
	}
	best, ok := 0, false
	for _, t := range f.Evidence.Top {
		if !ok || t.Count > best {
			best, ok = t.Count, true
		}
	}
	return float64(best), ok
}

// SplitStateName splits a state name of the summary ("tcp ESTABLISHED",
// "udp") into the protocol and state labels ("none" when the protocol has
// no state).
func SplitStateName(name string) (protocol, state string) {
	p, s, ok := strings.Cut(name, " ")
	if !ok || s == "" {
		return name, "none"
	}
	return p, s
}

// PrometheusOptions tune WritePrometheus.
type PrometheusOptions struct {
	// Netns is the netns label's value ("host", an ip netns name, "pid:N");
	// empty leaves the label out (a report of files).
	Netns string
}

// WritePrometheus writes the document's figures as the metrics ctdiag
// exporter serves, in the Prometheus text exposition format, for
// node_exporter's textfile collector: entries, max, states, flags, the
// statistics of the last sample, headroom, and the findings. What a
// document does not hold is left out (events, which need a running reader;
// the forecast; the exporter's health).
func WritePrometheus(w io.Writer, d *Document, opts PrometheusOptions) error {
	bw := bufio.NewWriter(w)
	p := promWriter{w: bw, netns: opts.Netns, defs: map[string]PromMetric{}}
	for _, m := range PromMetrics() {
		p.defs[m.Name] = m
	}
	s := &d.Summary
	entries := float64(s.Entries)
	if s.Count != nil {
		entries = float64(*s.Count)
	}
	p.metric(MetricEntries, sample{v: entries})
	if s.Max != nil {
		p.metric(MetricMax, sample{v: float64(*s.Max), noNetns: true})
	}
	var states []sample
	for _, st := range s.States {
		proto, state := SplitStateName(st.Name)
		states = append(states, sample{labels: []string{"protocol", proto, "state", state}, v: float64(st.Count)})
	}
	sort.Slice(states, func(i, j int) bool {
		return strings.Join(states[i].labels, "\x00") < strings.Join(states[j].labels, "\x00")
	})
	p.metric(MetricEntriesByState, states...)
	p.metric(MetricEntriesByFlag,
		sample{labels: []string{"flag", "assured"}, v: float64(s.Assured)},
		sample{labels: []string{"flag", "half_assured"}, v: float64(s.HalfAssured)},
		sample{labels: []string{"flag", "unreplied"}, v: float64(s.Unreplied)})
	if s.Headroom != nil {
		p.metric(MetricHeadroom, sample{v: float64(*s.Headroom)})
	}
	totals := map[string]uint64{}
	for _, c := range s.Counters {
		totals[c.Name] = c.Total
	}
	for _, c := range PromCounters() {
		if v, ok := totals[c]; ok {
			p.metric(PromCounterName(c), sample{v: float64(v)})
		}
	}
	var active, value []sample
	for i := range d.Findings {
		f := &d.Findings[i]
		active = append(active, sample{labels: []string{"rule", f.Rule, "severity", f.Severity.String()}, v: 1})
		if v, ok := Headline(f); ok {
			value = append(value, sample{labels: []string{"rule", f.Rule}, v: v})
		}
	}
	p.metric(MetricFindingActive, active...)
	p.metric(MetricFindingValue, value...)
	if p.err != nil {
		return p.err
	}
	return bw.Flush()
}

type sample struct {
	labels  []string // name, value pairs after netns
	v       float64
	noNetns bool
}

type promWriter struct {
	w     *bufio.Writer
	netns string
	defs  map[string]PromMetric
	err   error
}

// metric writes one metric family: HELP, TYPE and its samples (nothing
// when it has none).
func (p *promWriter) metric(name string, samples ...sample) {
	if len(samples) == 0 || p.err != nil {
		return
	}
	def := p.defs[name]
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(def.Help), name, def.Type)
	for _, s := range samples {
		var labels []string
		if p.netns != "" && !s.noNetns {
			labels = append(labels, "netns", p.netns)
		}
		labels = append(labels, s.labels...)
		p.w.WriteString(name)
		if len(labels) > 0 {
			p.w.WriteByte('{')
			for i := 0; i < len(labels); i += 2 {
				if i > 0 {
					p.w.WriteByte(',')
				}
				fmt.Fprintf(p.w, "%s=\"%s\"", labels[i], escapeLabel(labels[i+1]))
			}
			p.w.WriteByte('}')
		}
		p.w.WriteByte(' ')
		p.w.WriteString(strconv.FormatFloat(s.v, 'g', -1, 64))
		if _, err := p.w.WriteString("\n"); err != nil {
			p.err = err
		}
	}
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}
