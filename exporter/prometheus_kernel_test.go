package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/track"
)

// prometheusServer is a real Prometheus (Debian's package) started for one
// test on loopback, with a generated configuration and its storage in a
// temporary directory.
type prometheusServer struct {
	url string
}

// startPrometheus scrapes target every second and evaluates rulesFile every
// second. It skips the test without the prometheus binary.
func startPrometheus(t *testing.T, target, rulesFile string) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("needs prometheus (apt-get install prometheus): ", err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: ctdiag
    static_configs:
      - targets: [%q]
`, rulesFile, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	p := &prometheusServer{url: "http://" + addr}
	eventually(t, 20*time.Second, func() (bool, string) {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

// promResult is a /api/v1/query answer.
type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func (p *prometheusServer) query(t *testing.T, q string) promResult {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// alertStates is the state (pending, firing) of each alert whose labels
// include want, from /api/v1/alerts.
func (p *prometheusServer) alertStates(t *testing.T, want ...string) map[string]string {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range r.Data.Alerts {
		ok := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			ok = ok && a.Labels[k] == v
		}
		if ok {
			out[a.Labels["alertname"]] = a.State
		}
	}
	return out
}

// fastRules is a copy of the shipped rules with every for: set to 1s, so
// that alerts go pending and firing within a test. The copy is the only
// change: the expressions are the shipped ones.
func fastRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s+)for: \S+$`).ReplaceAll(b, []byte("${1}for: 1s"))
	path := filepath.Join(t.TempDir(), "ctdiag-alerts.yaml")
	if err := os.WriteFile(path, fast, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fillAssured makes n entries that nothing evicts (ctfill's ESTABLISHED
// and UDP [ASSURED] kinds), from ctfill's entry from on; it returns where
// the next fill starts. ctfill's SYN_SENT and ICMP entries are not
// assured, and its TIME_WAIT ones are, but the kernel's garbage collector
// evicts ASSURED entries in closing TCP states once the table is 95 %
// full (seen here: the count fell by 256 every few seconds).
func fillAssured(t *testing.T, ns *netnstest.NS, from, n int) int {
	t.Helper()
	fl, err := ctfill.NewIn("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	i := from
	for made := 0; made < n; i++ {
		f := ctfill.Entry(i)
		if st, _ := f.TCPState(); !f.Status.Assured() || st == track.TCPTimeWait {
			continue
		}
		if err := fl.Add(&f); err != nil {
			t.Fatal(err)
		}
		made++
	}
	if err := fl.Sync(); err != nil {
		t.Fatal(err)
	}
	return i
}

// A table-full scenario, watched by an exporter and scraped by a real
// Prometheus evaluating the shipped alert rules: the namespace is filled
// to the machine's nf_conntrack_max (never changed) with ASSURED entries,
// then new UDP flows are dropped. Prometheus has the series, and the
// headroom, drop and table-full alerts go pending or firing; the exporter
// shows the table-full finding, which clears once the table is flushed.
// The dashboard's queries run on the same Prometheus without error.
func TestKernelPrometheusTableFull(t *testing.T) {
	netnstest.Require(t)
	max := netnstest.FillableConntrackMax(t)
	ns := netnstest.NewNS(t)
	// Nine tenths before the exporter starts: with any event listener the
	// kernel creates entries over ctnetlink about five times slower
	// (docs/PERFORMANCE.md), and the exporter's first dump reads them.
	start := time.Now()
	next := fillAssured(t, ns, 0, max-max/10)
	x := startExporter(t, Config{Netns: []collector.Netns{{Name: ns.Name}}, ReadInterval: 200 * time.Millisecond,
		EvalInterval: 1500 * time.Millisecond, EvalCPUShare: 1, ResyncInterval: time.Hour})
	l := "netns=" + ns.Name
	// Up after its first dump of the 235,930 entries: seconds, more under -race.
	eventually(t, 30*time.Second, func() (bool, string) {
		v, ok := x.scrape(t).value("ctdiag_exporter_netns_up", l)
		return ok && v == 1, "exporter not up"
	})
	prom := startPrometheus(t, strings.TrimPrefix(x.url, "http://"), fastRules(t))

	// The last tenth while it watches: events into the model.
	fillAssured(t, ns, next, max/10)
	t.Logf("filled %d ASSURED entries in %v", max, time.Since(start).Round(time.Millisecond))
	// A counter's increase needs a sample before it: wait until Prometheus
	// has the drop counter at 0.
	eventually(t, 20*time.Second, func() (bool, string) {
		r := prom.query(t, fmt.Sprintf(`ctdiag_conntrack_drop_total{netns=%q}`, ns.Name))
		return len(r.Data.Result) == 1 && r.Data.Result[0].Value[1] == "0", fmt.Sprintf("drop counter in Prometheus: %+v", r.Data.Result)
	})
	// The kernel log is the machine's and rate-limited for everyone (10
	// lines per 5 s by default): whether this namespace gets its lines
	// depends on other namespaces. A reader of our own says what the
	// exporter had to count.
	klog, err := collector.Open(collector.Config{Netns: collector.Netns{Name: ns.Name}})
	if err != nil {
		t.Fatal(err)
	}
	defer klog.Close()
	if _, err := klog.KernelLog(); err != nil {
		t.Fatal(err)
	}
	// New flows now find no room and nothing to evict: dropped, counted,
	// and logged ("table full in netns N, dropping packet").
	err = ns.Do(func() error {
		for i := 0; i < 50; i++ {
			c, err := net.Dial("udp", "127.0.0.1:9")
			if err != nil {
				return err
			}
			c.Write([]byte("x"))
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The exporter: full, no headroom, drops, the finding.
	eventually(t, 30*time.Second, func() (bool, string) {
		m := x.scrape(t)
		entries, _ := m.value(report.MetricEntries, l)
		headroom, _ := m.value(report.MetricHeadroom, l)
		drops, _ := m.value(report.PromCounterName("drop"), l)
		full, _ := m.value(report.MetricFullIn, l)
		sev := m.byLabel(report.MetricFindingActive, "severity", l, "rule=table-full")
		model, _ := m.value("ctdiag_exporter_model_entries", l)
		ok := int(entries) == max && headroom <= 0 && drops > 0 && full == 0 && sev["critical"] == 1
		return ok, fmt.Sprintf("entries %v of %d (model %v, conntrack -C %s), headroom %v, drops %v, full in %v s, table-full finding %v",
			entries, max, model, bytes.TrimSpace(ns.MustOutput(t, "conntrack", "-C")), headroom, drops, full, sev)
	})
	lines, err := klog.KernelLog()
	if err != nil {
		t.Fatal(err)
	}
	printed := 0
	for _, kl := range lines {
		if kl.Kind == track.KernelLogTableFull {
			printed++
		}
	}
	if printed > 0 {
		eventually(t, 10*time.Second, func() (bool, string) {
			v, _ := x.scrape(t).value(report.MetricTableFullLog, l)
			return v > 0, fmt.Sprintf("%d \"table full\" kernel-log lines printed for the namespace, %v counted", printed, v)
		})
	} else {
		t.Logf("the kernel printed no \"table full\" line for this namespace (rate-limited by other namespaces' lines)")
	}

	// Prometheus: the series and the alerts.
	eventually(t, 30*time.Second, func() (bool, string) {
		r := prom.query(t, fmt.Sprintf(`ctdiag_conntrack_entries{netns=%q}`, ns.Name))
		if len(r.Data.Result) != 1 || r.Data.Result[0].Value[1] != fmt.Sprint(max) {
			return false, fmt.Sprintf("query: %+v", r)
		}
		st := prom.alertStates(t, l)
		for _, a := range []string{"CtdiagConntrackNoHeadroom", "CtdiagConntrackHeadroomLow", "CtdiagConntrackDropping", "CtdiagFindingTableFull"} {
			if st[a] != "pending" && st[a] != "firing" {
				return false, fmt.Sprintf("alerts %v: %s neither pending nor firing", st, a)
			}
		}
		return true, ""
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		st := prom.alertStates(t, l)
		return st["CtdiagConntrackNoHeadroom"] == "firing", fmt.Sprintf("alerts %v", st)
	})
	for _, q := range dashboardQueries(t) {
		if r := prom.query(t, q); r.Status != "success" {
			t.Errorf("dashboard query %q: %s", q, r.Error)
		}
	}

	// Flushed: the finding clears, and so does the alert.
	fl, err := ctfill.NewIn("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if err := fl.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		m := x.scrape(t)
		entries, _ := m.value(report.MetricEntries, l)
		_, active := m.value(report.MetricFindingActive, l, "rule=table-full")
		if entries == 0 && !active {
			return true, ""
		}
		f, _ := get(t, x.url+"/findings")
		return false, fmt.Sprintf("entries %v, table-full still active %v; /findings:\n%s", entries, active, f)
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		st := prom.alertStates(t, l)
		_, still := st["CtdiagConntrackNoHeadroom"]
		return !still, fmt.Sprintf("alerts %v", st)
	})
	t.Logf("scenario done in %v", time.Since(start).Round(time.Millisecond))
}

// dashboardQueries are the shipped dashboard's queries with its variables
// filled in.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("$instance", ".*", "$netns", ".*", "$__rate_interval", "1m")
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, r.Replace(tg.Expr))
		}
	}
	return out
}
