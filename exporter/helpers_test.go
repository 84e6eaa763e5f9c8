package exporter

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/report"
)

// testExporter is an exporter serving on a loopback port for one test.
type testExporter struct {
	*Exporter
	url  string
	logs *syncBuffer
}

// startExporter runs an exporter until the test ends (its cleanup runs
// before those of namespaces made earlier, so their deletion finds no
// socket of ours).
func startExporter(t *testing.T, cfg Config) *testExporter {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.ReadInterval == 0 {
		cfg.ReadInterval = 100 * time.Millisecond
	}
	if cfg.EvalInterval == 0 {
		cfg.EvalInterval = 300 * time.Millisecond
	}
	if cfg.EvalCPUShare == 0 {
		cfg.EvalCPUShare = 1 // the tests' evaluations every 300 ms, however loaded the machine
	}
	if cfg.DiscoverInterval == 0 {
		cfg.DiscoverInterval = 300 * time.Millisecond
	}
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone, serveDone := make(chan error, 1), make(chan error, 1)
	go func() { runDone <- x.Run(ctx) }()
	go func() { serveDone <- x.Serve(ctx, ln, "test") }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("exporter: %v", err)
		}
		<-serveDone
		if t.Failed() {
			t.Logf("exporter log:\n%s", logs.String())
		}
	})
	return &testExporter{Exporter: x, url: "http://" + ln.Addr().String(), logs: logs}
}

// syncBuffer is a bytes.Buffer for a logger on several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// metricSet is one scrape, parsed.
type metricSet map[string]*dto.MetricFamily

func (x *testExporter) scrape(t *testing.T) metricSet {
	t.Helper()
	body, code := get(t, x.url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return parseMetrics(t, body)
}

func parseMetrics(t *testing.T, text string) metricSet {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, text)
	}
	return mfs
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}

// value is the sample of name whose labels include want ("k=v" pairs).
func (m metricSet) value(name string, want ...string) (float64, bool) {
	mf := m[name]
	if mf == nil {
		return 0, false
	}
	for _, mt := range mf.Metric {
		if !hasLabels(mt, want) {
			continue
		}
		switch {
		case mt.Gauge != nil:
			return mt.Gauge.GetValue(), true
		case mt.Counter != nil:
			return mt.Counter.GetValue(), true
		case mt.Untyped != nil:
			return mt.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(mt *dto.Metric, want []string) bool {
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		found := false
		for _, lp := range mt.Label {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// byLabel sums name's samples whose labels include want, grouped by the
// value of label.
func (m metricSet) byLabel(name, label string, want ...string) map[string]float64 {
	out := map[string]float64{}
	mf := m[name]
	if mf == nil {
		return out
	}
	for _, mt := range mf.Metric {
		if !hasLabels(mt, want) {
			continue
		}
		var key string
		for _, lp := range mt.Label {
			if lp.GetName() == label {
				key = lp.GetValue()
			}
		}
		out[key] += mt.Gauge.GetValue() + mt.Counter.GetValue()
	}
	return out
}

// labelsOf lists the label sets of name, for messages.
func (m metricSet) labelsOf(name string) string {
	var out []string
	if mf := m[name]; mf != nil {
		for _, mt := range mf.Metric {
			var kv []string
			for _, lp := range mt.Label {
				kv = append(kv, lp.GetName()+"="+lp.GetValue())
			}
			out = append(out, "{"+strings.Join(kv, ",")+"}")
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// eventually polls cond until it holds or the timeout passes; it returns
// the last message cond gave.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var msg string
	for {
		var ok bool
		ok, msg = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// captureDoc is the report document of a capture folder, as ctdiag report
// makes it.
func captureDoc(t *testing.T, dir string) *report.Document {
	t.Helper()
	inputs, err := parser.ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	an := analyzer.New(analyzer.Options{})
	walk, err := parser.WalkSamples(inputs, parser.Options{}, an)
	if err != nil {
		t.Fatal(err)
	}
	return report.Build(an.Result(), report.Meta{Tool: "test", Timing: walk.Timing.String()})
}
