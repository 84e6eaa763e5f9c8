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
		{report.PromCounterName("drop"), nil, 0}, // kernel statistics count from the first reading in "other"
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

// "other"'s counters count what happened while namespaces were summed
// there: a namespace joining it (new, or ranked out of the top) adds
// nothing at once, one leaving it (deleted, or ranked into the top) takes
// nothing away. Prometheus would read a jump as traffic (alerts on
// increase()) and a drop as a reset.
func TestOtherCountersNeverJump(t *testing.T) {
	a, b, c := sampleSnap("pid:1", 1000), sampleSnap("pid:2", 3000), sampleSnap("pid:3", 10)
	x := fakeExporter(t, sampleSnap("host", 100000), a, b, c)
	x.top.Store(&map[string]bool{"host": true, "pid:3": true})
	scrape := func() metricSet {
		rec := httptest.NewRecorder()
		x.Handler("test").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return parseMetrics(t, rec.Body.String())
	}
	drop := func() float64 {
		v, _ := scrape().value(report.PromCounterName("drop"), "netns=other")
		return v
	}
	newEvents := func() float64 {
		v, _ := scrape().value(report.MetricEvents, "netns=other", "type=new")
		return v
	}
	w := func(label string) *watcher { return x.watchers[label].w }
	bump := func(label string, n uint64) {
		s := *w(label).snap.Load()
		s.stats[4] += n // drop
		w(label).snap.Store(&s)
	}
	if v := drop(); v != 0 {
		t.Fatalf("other's drops %v at the first reading: its namespaces' history came with them", v)
	}
	bump("pid:1", 10)
	bump("pid:2", 10)
	if v := drop(); v != 20 {
		t.Fatalf("other's drops %v after 10 in each of two namespaces", v)
	}
	x.remove("pid:2") // discovery found it gone
	if v := drop(); v != 20 {
		t.Errorf("other's drops %v after a namespace went, want 20", v)
	}
	// pid:3, with 40 drops and 10 NEW events of its own history, is ranked
	// out of the top.
	events := newEvents()
	x.cfg.TopNetns = 1
	x.rank()
	if top := *x.top.Load(); len(top) != 1 || !top["host"] {
		t.Fatalf("top after ranking: %v", top)
	}
	if v := drop(); v != 20 {
		t.Errorf("other's drops %v after a namespace joined it, want 20", v)
	}
	if v := newEvents(); v != events {
		t.Errorf("other's NEW events %v after a namespace joined it, want %v", v, events)
	}
	bump("pid:3", 1)
	if v := drop(); v != 21 {
		t.Errorf("other's drops %v, want 21", v)
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
