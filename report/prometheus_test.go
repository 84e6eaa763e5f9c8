package report_test

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ctdiag/ctdiag/report"
)

// The textfile output of a real table-full capture: the exporter's names,
// in the exposition format, with the figures of the report.
func TestWritePrometheus(t *testing.T) {
	d := document(t, "table-full/srv")
	var b strings.Builder
	if err := report.WritePrometheus(&b, d, report.PrometheusOptions{Netns: `we"b\`}); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("not the exposition format: %v\n%s", err, b.String())
	}
	value := func(name string, labels ...string) (float64, bool) {
		mf := mfs[name]
		if mf == nil {
			return 0, false
		}
	next:
		for _, m := range mf.Metric {
			for _, kv := range labels {
				k, v, _ := strings.Cut(kv, "=")
				found := false
				for _, lp := range m.Label {
					found = found || lp.GetName() == k && lp.GetValue() == v
				}
				if !found {
					continue next
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue(), true
		}
		return 0, false
	}
	ns := `netns=we"b\`
	if v, _ := value(report.MetricEntries, ns); int(v) != int(*d.Summary.Count) {
		t.Errorf("entries %v, report %d", v, *d.Summary.Count)
	}
	if v, _ := value(report.MetricMax); v != 1000 {
		t.Errorf("max %v", v)
	}
	if mfs[report.MetricMax].Metric[0].Label != nil {
		t.Error("nf_conntrack_max carries a netns label: it is global")
	}
	sum := 0.0
	for _, st := range d.Summary.States {
		proto, state := report.SplitStateName(st.Name)
		v, ok := value(report.MetricEntriesByState, ns, "protocol="+proto, "state="+state)
		if !ok || int(v) != st.Count {
			t.Errorf("%s: %v (%v), report %d", st.Name, v, ok, st.Count)
		}
		sum += v
	}
	if sum != float64(d.Summary.Entries) {
		t.Errorf("states add up to %v, %d entries", sum, d.Summary.Entries)
	}
	for _, c := range d.Summary.Counters {
		if v, ok := value(report.PromCounterName(c.Name), ns); !ok || uint64(v) != c.Total {
			t.Errorf("%s: %v (%v), report %d", c.Name, v, ok, c.Total)
		}
		if mfs[report.PromCounterName(c.Name)].GetType().String() != "COUNTER" {
			t.Errorf("%s is not a counter", c.Name)
		}
	}
	if len(d.Findings) == 0 {
		t.Fatal("the table-full capture has no finding")
	}
	for _, f := range d.Findings {
		if v, ok := value(report.MetricFindingActive, ns, "rule="+f.Rule, "severity="+f.Severity.String()); !ok || v != 1 {
			t.Errorf("finding %s: active %v (%v)", f.Rule, v, ok)
		}
	}
}

// A report of files has no netns label (it may come from anywhere).
func TestWritePrometheusWithoutNetns(t *testing.T) {
	d := document(t, "healthy-baseline/srv")
	var b strings.Builder
	if err := report.WritePrometheus(&b, d, report.PrometheusOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "netns=") {
		t.Errorf("a netns label without a namespace:\n%s", b.String())
	}
}

// The headline number: the first series' latest point, else the first
// numeric figure, else the largest ranking count, else none.
func TestHeadline(t *testing.T) {
	for _, c := range []struct {
		name string
		f    report.Finding
		want float64
		ok   bool
	}{
		{"series", report.Finding{Evidence: report.Evidence{
			Series:  []report.Series{{Points: []report.Point{{Value: 3}, {Value: 7}}}},
			Figures: []report.Figure{{Value: "12"}}}}, 7, true},
		{"figure", report.Finding{Evidence: report.Evidence{
			Figures: []report.Figure{{Value: "5 s"}, {Value: " 42 "}}}}, 42, true},
		{"ranking", report.Finding{Evidence: report.Evidence{
			Figures: []report.Figure{{Value: "on"}}, Top: []report.Top{{Count: 4}, {Count: 9}, {Count: 2}}}}, 9, true},
		{"none", report.Finding{Evidence: report.Evidence{Figures: []report.Figure{{Value: "NaN"}, {Value: "check this"}}}}, 0, false},
	} {
		got, ok := report.Headline(&c.f)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %v %v, want %v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
