package exporter

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

const (
	alertsFile     = "../deploy/prometheus/ctdiag-alerts.yaml"
	alertTestsFile = "../deploy/prometheus/ctdiag-alerts_test.yaml"
	dashboardFile  = "../deploy/grafana/ctdiag.json"
)

func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("needs promtool (apt-get install prometheus): ", err)
	}
	return p
}

func promtool(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, "", "check", "rules", alertsFile)
}

func TestPromtoolTestRules(t *testing.T) {
	out := promtool(t, "", "test", "rules", alertTestsFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Every rule of the catalog that can fire at warning or above (its
// severity model's highest level) has an alert on its finding, so a new
// rule is not forgotten; every alert has a for: and a runbook, and the
// runbooks name rules that exist.
func TestAlertsCoverCatalog(t *testing.T) {
	var rf ruleFile
	readYAML(t, alertsFile, &rf)
	exprs := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
			if r.For == "" {
				t.Errorf("%s has no for:", r.Alert)
			}
			rb := r.Annotations["runbook"]
			if rb == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: no runbook or summary annotation", r.Alert)
			}
			if id, ok := strings.CutPrefix(rb, "ctdiag rules explain "); ok {
				if _, known := rules.Lookup(id); !known {
					t.Errorf("%s: runbook names rule %q, which the catalog does not have", r.Alert, id)
				}
			} else if g.Name != "ctdiag-exporter" {
				t.Errorf("%s: runbook %q does not point at ctdiag rules explain", r.Alert, rb)
			}
		}
	}
	alerted := 0
	for _, r := range rules.Catalog() {
		top := r.Severity
		for _, l := range r.Levels {
			top = max(top, l.Severity)
		}
		if top < rules.SeverityWarning {
			continue
		}
		alerted++
		want := regexp.MustCompile(regexp.QuoteMeta(report.MetricFindingActive+`{rule="`+r.ID+`"`) + `[,}]`)
		found := false
		for _, e := range exprs {
			found = found || want.MatchString(e)
		}
		if !found {
			t.Errorf("catalog rule %s (up to %s) has no alert on %s{rule=%q} in %s", r.ID, top, report.MetricFindingActive, r.ID, alertsFile)
		}
	}
	if alerted == 0 {
		t.Fatal("no rule of the catalog reaches warning: the catalog was not read")
	}
}

// Every alert has a promtool unit test in which it fires.
func TestAlertsHaveUnitTests(t *testing.T) {
	var rf ruleFile
	readYAML(t, alertsFile, &rf)
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, alertTestsFile, &tf)
	fires := map[string]bool{}
	for _, c := range tf.Tests {
		for _, a := range c.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s has no unit test in which it fires (%s)", r.Alert, alertTestsFile)
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d alerts read from %s", n, alertsFile)
	}
}

// The metric names the alerts and the dashboard use exist.
func TestDeployUsesKnownMetrics(t *testing.T) {
	known := map[string]bool{"up": true}
	for _, m := range append(report.PromMetrics(), healthMetrics()...) {
		known[m.Name] = true
	}
	name := regexp.MustCompile(`\bctdiag_[a-z_]+`)
	for _, file := range []string{alertsFile, dashboardFile} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		uses := 0
		for _, n := range name.FindAllString(string(b), -1) {
			if strings.HasPrefix(n, "ctdiag_raw") || n == "ctdiag_exporter" {
				continue
			}
			uses++
			if !known[n] {
				t.Errorf("%s uses %s, which the exporter does not serve", file, n)
			}
		}
		if uses == 0 {
			t.Errorf("%s uses no ctdiag metric", file)
		}
	}
}

// The Grafana dashboard is valid JSON with panels whose queries use the
// exporter's metrics and a netns variable.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 6 {
		t.Fatalf("%s: title %q uid %q, %d panels", dashboardFile, d.Title, d.UID, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["netns"] || !vars["instance"] {
		t.Errorf("variables %v: want instance and netns", vars)
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, "ctdiag_") {
				t.Errorf("panel %q: query %q uses no ctdiag metric", p.Title, tg.Expr)
			}
		}
	}
}

// fakeExporter serves snapshots made by hand: the metrics path without a
// kernel.
func fakeExporter(t *testing.T, snaps ...*nsSnap) *Exporter {
	t.Helper()
	x, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var list []*watcher
	top := map[string]bool{}
	for _, s := range snaps {
		w := &watcher{label: s.label, explicit: true}
		w.snap.Store(s)
		list = append(list, w)
		done := make(chan struct{})
		close(done)
		x.watchers[s.label] = &watchHandle{w: w, cancel: func() {}, done: done}
		if s.label != "summed" {
			top[s.label] = true
		}
	}
	x.list.Store(&list)
	x.top.Store(&top)
	return x
}

func sampleSnap(label string, entries uint64) *nsSnap {
	s := &nsSnap{label: label, up: true, hasCount: true, count: entries, max: 262144, hasMax: true,
		lost: 2, tableFull: 1, evaluated: true, evalTime: 1.7e9, lastRead: 1.7e9, modelEntries: int(entries)}
	for i := range s.stats {
		s.stats[i], s.statsHave[i] = uint64(10*i), true
	}
	s.events = [3]uint64{entries, 5, 3}
	s.states = []stateCount{{"tcp", "ESTABLISHED", int64(entries) - 10}, {"tcp", "SYN_SENT", 10}, {"udp", "none", 0}}
	s.flags = [numClasses]int64{10, 0, int64(entries) - 10}
	s.pressure = analyzer.PressureOf(analyzer.PressureInput{Count: entries, Max: 262144, HasMax: true, NonEvictable: entries - 10,
		History: []analyzer.SizePoint{{Offset: 0, Size: float64(entries) - 300}, {Offset: 5, Size: float64(entries) - 200},
			{Offset: 10, Size: float64(entries) - 100}, {Offset: 15, Size: float64(entries)}}})
	s.findings = []findingSnap{{rule: "table-full", severity: "warning", active: 1, value: float64(entries), hasValue: true},
		{rule: "sysctl-risk", severity: "info", active: 1}}
	return s
}

// What /metrics serves passes promtool check metrics (names, types, help,
// units, counters ending in _total).
func TestPromtoolCheckMetrics(t *testing.T) {
	requirePromtool(t)
	x := fakeExporter(t, sampleSnap("host", 200000), sampleSnap("web", 1000), sampleSnap("summed", 50))
	srv := httptest.NewServer(x.Handler("test"))
	defer srv.Close()
	body, code := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	promtool(t, body, "check", "metrics")
	m := parseMetrics(t, body)
	if v, _ := m.value(report.MetricFullIn, "netns=host"); v <= 0 {
		t.Errorf("full_in_seconds %v for a table growing 20/s", v)
	}
	if v, _ := m.value(report.MetricEntries, "netns=other"); v != 50 {
		t.Errorf("other: entries %v, want 50", v)
	}
	if _, ok := m.value(report.MetricFindingValue, "netns=other"); ok {
		t.Error("finding_value summed over other namespaces")
	}
	if v, _ := m.value(report.MetricFindingActive, "netns=other", "rule=table-full"); v != 1 {
		t.Errorf("other: table-full active %v, want 1 (namespace)", v)
	}
}

// The report of a capture, written for the textfile collector, passes
// promtool check metrics and uses the exporter's names.
func TestPromtoolCheckReportMetrics(t *testing.T) {
	requirePromtool(t)
	doc := captureDoc(t, "../testdata/kernel-6.18/table-full/srv")
	var b strings.Builder
	if err := report.WritePrometheus(&b, doc, report.PrometheusOptions{Netns: "host"}); err != nil {
		t.Fatal(err)
	}
	promtool(t, b.String(), "check", "metrics")
	m := parseMetrics(t, b.String())
	if _, ok := m.value(report.MetricFindingActive, "netns=host", "rule=table-full"); !ok {
		t.Errorf("no table-full finding in:\n%s", b.String())
	}
}

// Without Prometheus's text parser or promtool, the exporter would not be
// worth much: the handler's content type is the exposition format.
func TestMetricsContentType(t *testing.T) {
	x := fakeExporter(t, sampleSnap("host", 10))
	rec := httptest.NewRecorder()
	x.Handler("test").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
}
