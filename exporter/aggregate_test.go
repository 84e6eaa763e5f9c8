package exporter

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/report"
)

// Namespaces beyond --top-netns are summed as netns="other": counts and
// counters add up, headroom is the least of them, a rule's finding_active
// counts the namespaces it fires in, and up is 0 when one of them is down.
func TestOtherSums(t *testing.T) {
	a, b := sampleSnap("pid:1", 1000), sampleSnap("pid:2", 3000)
	b.pressure.Headroom = 7
	down := &nsSnap{label: "pid:3", upErr: "gone"}
	down.readErrors[readCounters] = 2
	x := fakeExporter(t, sampleSnap("host", 5), a, b, down)
	x.top.Store(&map[string]bool{"host": true})
	srv := httptest.NewServer(x.Handler("test"))
	defer srv.Close()
	body, _ := get(t, srv.URL+"/metrics")
	m := parseMetrics(t, body)
	o := "netns=other"
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{report.MetricEntries, nil, 4000},
		{report.MetricEntriesByState, []string{"protocol=tcp", "state=SYN_SENT"}, 20},
		{report.MetricEntriesByFlag, []string{"flag=assured"}, 4000 - 20},
		{report.MetricHeadroom, nil, 7},
		{report.PromCounterName("drop"), nil, 2 * 40}, // sampleSnap: the i-th counter is 10·i
		{report.MetricEvents, []string{"type=new"}, 4000},
		{report.MetricFindingActive, []string{"rule=table-full", "severity=warning"}, 2},
		{"ctdiag_exporter_netns_up", nil, 0},
		{"ctdiag_exporter_read_errors_total", []string{"read=counters"}, 2},
		{"ctdiag_exporter_netns_watched", nil, 4},
	} {
		labels := append([]string{o}, c.labels...)
		if c.name == "ctdiag_exporter_netns_watched" {
			labels = nil
		}
		if v, ok := m.value(c.name, labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, labels, v, ok, c.want)
		}
	}
	if _, ok := m.value(report.MetricEntries, "netns=pid:1"); ok {
		t.Error("a namespace beyond the top has its own series")
	}
	if v, _ := m.value(report.MetricEntries, "netns=host"); v != 5 {
		t.Errorf("host entries %v", v)
	}
}

// A namespace that leaves "other" (deleted, or ranked into the top) keeps
// its counters in the sum: "other"'s counters never go down, which
// Prometheus would read as a reset.
func TestOtherCountersNeverDecrease(t *testing.T) {
	a, b := sampleSnap("pid:1", 1000), sampleSnap("pid:2", 3000)
	x := fakeExporter(t, sampleSnap("host", 5), a, b)
	x.top.Store(&map[string]bool{"host": true})
	drop := func() float64 {
		rec := httptest.NewRecorder()
		x.Handler("test").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		v, _ := parseMetrics(t, rec.Body.String()).value(report.PromCounterName("drop"), "netns=other")
		return v
	}
	before := drop()
	x.remove("pid:2") // discovery found it gone
	if n := len(*x.list.Load()); n != 2 {
		t.Fatalf("%d namespaces watched after one of three went", n)
	}
	if after := drop(); after != before {
		t.Errorf("other's drop counter went from %v to %v when a namespace left it", before, after)
	}
}

// limit serves n requests at once and refuses the next with 503 at once,
// without waiting for a slot.
func TestLimitRefusesBeyondN(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 3)
	h := limit(2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/findings", nil))
			codes <- rec.Code
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/findings", nil))
	if rec.Code != http.StatusServiceUnavailable || time.Since(start) > time.Second {
		t.Errorf("third request: %d after %v, want 503 at once", rec.Code, time.Since(start))
	}
	close(release)
	for i := 0; i < 2; i++ {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("request within the limit: %d", c)
		}
	}
}
