package exporter

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/track"
)

// kernelTable is what conntrack-tools says of a namespace: -C, -S (summed
// over CPUs) and the state counts of -L.
type kernelTable struct {
	count  int
	stats  track.Stats
	states map[[2]string]int // protocol, state ("none" without one)
	flags  map[string]int
}

func readKernel(t *testing.T, ns *netnstest.NS) kernelTable {
	t.Helper()
	var k kernelTable
	n, err := strconv.Atoi(strings.TrimSpace(string(ns.MustOutput(t, "conntrack", "-C"))))
	if err != nil {
		t.Fatal(err)
	}
	k.count = n
	var snap track.Snapshot
	d, err := parser.NewDecoder(bytes.NewReader(ns.MustOutput(t, "conntrack", "-S")), "conntrack -S", parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ReadInto(&snap); err != nil || d.Problems().Count > 0 {
		t.Fatalf("conntrack -S: %v %v", err, d.Problems().Samples)
	}
	k.stats = snap.Stats
	k.states, k.flags = map[[2]string]int{}, map[string]int{}
	out, err := ns.Output("conntrack", "-L")
	if err != nil {
		t.Fatal(err)
	}
	d, err = parser.NewDecoder(bytes.NewReader(out), "conntrack -L", parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Flows(func(f *track.Flow) error {
		st := f.StateName()
		if st == "" {
			st = "none"
		}
		k.states[[2]string{f.Orig.Proto.String(), st}]++
		if !f.Evictable() {
			k.flags["kept"]++ // never evicted to make room: ASSURED, not closing
		}
		switch {
		case f.Status.Assured():
			k.flags["assured"]++
		case f.Status.SeenReply():
			k.flags["half_assured"]++
		default:
			k.flags["unreplied"]++
		}
		return nil
	})
	if err != nil || d.Problems().Count > 0 {
		t.Fatalf("conntrack -L: %v %v", err, d.Problems().Samples)
	}
	return k
}

// agrees compares a scrape with the kernel, returning what differs.
func agrees(m metricSet, label string, k kernelTable) []string {
	var diffs []string
	l := "netns=" + label
	if v, _ := m.value(report.MetricEntries, l); int(v) != k.count {
		diffs = append(diffs, fmt.Sprintf("entries %v, conntrack -C %d", v, k.count))
	}
	if v, _ := m.value("ctdiag_exporter_model_entries", l); int(v) != k.count {
		diffs = append(diffs, fmt.Sprintf("model entries %v, conntrack -C %d", v, k.count))
	}
	got := map[[2]string]int{}
	if mf := m[report.MetricEntriesByState]; mf != nil {
		for _, mt := range mf.Metric {
			if !hasLabels(mt, []string{l}) || mt.Gauge.GetValue() == 0 {
				continue
			}
			var p, s string
			for _, lp := range mt.Label {
				switch lp.GetName() {
				case "protocol":
					p = lp.GetValue()
				case "state":
					s = lp.GetValue()
				}
			}
			got[[2]string{p, s}] = int(mt.Gauge.GetValue())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(k.states) {
		diffs = append(diffs, fmt.Sprintf("states %v, conntrack -L %v", got, k.states))
	}
	for _, fl := range []string{"assured", "half_assured", "unreplied"} {
		if v, _ := m.value(report.MetricEntriesByFlag, l, "flag="+fl); int(v) != k.flags[fl] {
			diffs = append(diffs, fmt.Sprintf("%s %v, conntrack -L %d", fl, v, k.flags[fl]))
		}
	}
	for _, name := range report.PromCounters() {
		c, _ := track.ParseCounter(name)
		if !k.stats.Has(c) {
			continue
		}
		if v, ok := m.value(report.PromCounterName(name), l); !ok || uint64(v) != k.stats.Total(c) {
			diffs = append(diffs, fmt.Sprintf("%s %v (%v), conntrack -S %d", name, v, ok, k.stats.Total(c)))
		}
	}
	return diffs
}

// An exporter on a namespace with real traffic and ctfill-made entries:
// /metrics agrees with conntrack -C, -S and the state counts of -L; every
// entry made after it started is counted as a NEW event, and a flush as
// DESTROY events; a dump of the same table says the same.
func TestKernelExporterAgreesWithConntrack(t *testing.T) {
	netnstest.RequireTools(t, "conntrack", "ping")
	netnstest.Require(t)
	p := netnstest.NewPair(t)
	port := p.TCPEcho(t)
	x := startExporter(t, Config{Netns: []collector.Netns{{Name: p.B.Name}}, ResyncInterval: time.Hour})
	label := p.B.Name
	eventually(t, 10*time.Second, func() (bool, string) {
		v, ok := x.scrape(t).value("ctdiag_exporter_netns_up", "netns="+label)
		return ok && v == 1, "exporter not up"
	})

	// Real traffic into B: held-open and closed TCP connections over IPv4
	// and IPv6, an unanswered UDP datagram, a ping.
	var held []net.Conn
	for i := 0; i < 6; i++ {
		addr := netip.AddrPortFrom(p.B4, port)
		if i%2 == 1 {
			addr = netip.AddrPortFrom(p.B6, port)
		}
		c, err := p.A.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			held = append(held, c)
		} else {
			c.Close()
		}
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	u, err := p.A.Dial("udp", netip.AddrPortFrom(p.B4, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("probe"))
	u.Close()
	p.Ping(t, p.B4)
	// And 3000 entries made over netlink, of every kind ctfill makes.
	const filled = 3000
	if err := ctfill.FillIn("/run/netns/"+p.B.Name, 0, filled); err != nil {
		t.Fatal(err)
	}

	var k kernelTable
	eventually(t, 10*time.Second, func() (bool, string) {
		k = readKernel(t, p.B)
		d := agrees(x.scrape(t), label, k)
		return len(d) == 0, strings.Join(d, "; ")
	})
	if k.count < filled+6+2 {
		t.Fatalf("only %d entries in the table", k.count)
	}
	// Every entry was made after the exporter subscribed: as many NEW
	// events as entries, none lost, none destroyed yet (the shortest
	// timeout, UDP's and ICMP's 30 s, has not run out). The model can agree
	// before the last batch of events is read: a drift dump (the test reads
	// every 100 ms) fills it from the table.
	var m metricSet
	eventually(t, 10*time.Second, func() (bool, string) {
		m = x.scrape(t)
		v, _ := m.value(report.MetricEvents, "netns="+label, "type=new")
		return int(v) == k.count, fmt.Sprintf("%v NEW events for %d entries", v, k.count)
	})
	if v, _ := m.value(report.MetricEventsLost, "netns="+label); v != 0 {
		t.Errorf("%v event losses", v)
	}
	if v, ok := m.value(report.MetricHeadroom, "netns="+label); !ok || int(v) != int(mustMax(t, m))-k.flags["kept"] {
		t.Errorf("headroom %v, want max − entries never evicted = %v − %d", v, mustMax(t, m), k.flags["kept"])
	}
	// /findings is the report document of the same table (from the next
	// evaluation on).
	eventually(t, 10*time.Second, func() (bool, string) {
		body, code := get(t, x.url+"/findings")
		if code != http.StatusOK {
			return false, fmt.Sprintf("/findings: %d %s", code, body)
		}
		doc, err := report.ReadJSON(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return doc.Summary.Entries == k.count && doc.Summary.Assured == k.flags["assured"],
			fmt.Sprintf("/findings: %d entries, %d assured; conntrack -L %d, %d", doc.Summary.Entries, doc.Summary.Assured, k.count, k.flags["assured"])
	})

	// A flush destroys every entry: as many DESTROY events.
	fl, err := ctfill.NewIn("/run/netns/" + p.B.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	for _, c := range held {
		c.Close()
	}
	held = nil
	before := k.count
	if err := fl.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		k = readKernel(t, p.B)
		m = x.scrape(t)
		d := agrees(m, label, k)
		newEv, _ := m.value(report.MetricEvents, "netns="+label, "type=new")
		destroyEv, _ := m.value(report.MetricEvents, "netns="+label, "type=destroy")
		// Closing the held connections made their FIN handshakes after
		// the flush: the entries they re-create are in the table.
		if int(newEv)-int(destroyEv) != k.count || int(destroyEv) < before {
			d = append(d, fmt.Sprintf("%v NEW and %v DESTROY events, %d entries now, %d before the flush", newEv, destroyEv, k.count, before))
		}
		return len(d) == 0, strings.Join(d, "; ")
	})
}

func mustMax(t *testing.T, m metricSet) float64 {
	t.Helper()
	v, ok := m.value(report.MetricMax)
	if !ok || v <= 0 {
		t.Fatalf("no %s", report.MetricMax)
	}
	return v
}

// The kernel drops events for a reader that falls behind: with a small
// socket buffer and a burst of 50,000 creations, the exporter counts the
// losses, re-reads the table each time, and ends with the table's exact
// contents.
func TestKernelExporterEventOverrun(t *testing.T) {
	netnstest.RequireTools(t, "conntrack")
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	x := startExporter(t, Config{Netns: []collector.Netns{{Name: ns.Name}}, ResyncInterval: time.Hour,
		EventReadBuffer: 64 << 10, EventMaxReadBuffer: 64 << 10})
	eventually(t, 10*time.Second, func() (bool, string) {
		v, ok := x.scrape(t).value("ctdiag_exporter_netns_up", "netns="+ns.Name)
		return ok && v == 1, "exporter not up"
	})
	if err := ctfill.FillIn("/run/netns/"+ns.Name, 0, 50000); err != nil {
		t.Fatal(err)
	}
	var m metricSet
	eventually(t, 20*time.Second, func() (bool, string) {
		k := readKernel(t, ns)
		m = x.scrape(t)
		d := agrees(m, ns.Name, k)
		return len(d) == 0, strings.Join(d, "; ")
	})
	lost, _ := m.value(report.MetricEventsLost, "netns="+ns.Name)
	resyncs, _ := m.value("ctdiag_exporter_resyncs_total", "netns="+ns.Name, "reason=overrun")
	newEv, _ := m.value(report.MetricEvents, "netns="+ns.Name, "type=new")
	if lost == 0 || resyncs == 0 || newEv >= 50000 {
		t.Fatalf("no overrun seen: %v losses, %v resyncs, %v NEW events of 50000", lost, resyncs, newEv)
	}
	if !strings.Contains(x.logs.String(), "the kernel dropped conntrack events") {
		t.Errorf("the losses were not logged")
	}
	t.Logf("%v overruns, %v resyncs, %v of 50000 NEW events received", lost, resyncs, newEv)
}

// Entries made while nobody listened send no event at all, not even
// DESTROY (nf_conntrack_events=2 decides at creation): flushed under a
// running exporter, they leave the model only by a dump, which the gap
// between the model and the kernel's count calls at once rather than at
// the next periodic resync.
func TestKernelExporterModelCatchesUpWithoutEvents(t *testing.T) {
	netnstest.RequireTools(t, "conntrack")
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	const n = 5000
	if err := ctfill.FillIn("/run/netns/"+ns.Name, 0, n); err != nil {
		t.Fatal(err)
	}
	x := startExporter(t, Config{Netns: []collector.Netns{{Name: ns.Name}}, ResyncInterval: time.Hour})
	l := "netns=" + ns.Name
	eventually(t, 10*time.Second, func() (bool, string) {
		v, _ := x.scrape(t).value("ctdiag_exporter_model_entries", l)
		return v == n, fmt.Sprintf("model %v entries, want %d", v, n)
	})
	ns.MustOutput(t, "conntrack", "-F")
	eventually(t, 10*time.Second, func() (bool, string) {
		m := x.scrape(t)
		model, _ := m.value("ctdiag_exporter_model_entries", l)
		drift, _ := m.value("ctdiag_exporter_resyncs_total", l, "reason=drift")
		destroyed, _ := m.value(report.MetricEvents, l, "type=destroy")
		return model == 0 && drift >= 1, fmt.Sprintf("after the flush: model %v entries, %v drift resyncs, %v DESTROY events", model, drift, destroyed)
	})
	if !strings.Contains(x.logs.String(), "the model and the kernel's count disagree") {
		t.Errorf("the drift resync was not logged")
	}
}

// A namespace deleted while watched: the exporter says so (up 0, gone
// counted, logged), drops its series and closes its sockets (which would
// keep the deleted namespace alive); when a namespace of the same name
// comes back, it is watched afresh.
func TestKernelExporterNamespaceDeleted(t *testing.T) {
	netnstest.RequireTools(t, "conntrack")
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	x := startExporter(t, Config{Netns: []collector.Netns{{Name: ns.Name}}})
	if err := ctfill.FillIn("/run/netns/"+ns.Name, 0, 100); err != nil {
		t.Fatal(err)
	}
	l := "netns=" + ns.Name
	eventually(t, 10*time.Second, func() (bool, string) {
		v, _ := x.scrape(t).value(report.MetricEntries, l)
		return v == 100, fmt.Sprintf("entries %v, want 100", v)
	})
	inode, err := collector.NetnsInodeOf(collector.Config{}, collector.Netns{Name: ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Output("true"); err != nil {
		t.Fatal(err)
	}
	if out, err := execOut("ip", "netns", "del", ns.Name); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		m := x.scrape(t)
		up, _ := m.value("ctdiag_exporter_netns_up", l)
		gone, _ := m.value("ctdiag_exporter_netns_gone_total")
		_, entries := m.value(report.MetricEntries, l)
		return up == 0 && gone == 1 && !entries, fmt.Sprintf("up %v, gone %v, entries series present %v", up, gone, entries)
	})
	if !strings.Contains(x.logs.String(), "network namespace gone") {
		t.Error("the deletion was not logged")
	}
	// No socket of the exporter holds the deleted namespace: no process
	// has a descriptor on it.
	if holders := nsHolders(t, inode); len(holders) > 0 {
		t.Errorf("the deleted namespace is still held: %v", holders)
	}
	body, code := get(t, x.url+"/healthz")
	// Seen gone while watched, or not found when the next retry opens it:
	// either way the reason says the namespace is no more.
	if code != http.StatusServiceUnavailable || !strings.Contains(body, ns.Name) ||
		!strings.Contains(body, "gone") && !strings.Contains(body, "does not exist") {
		t.Errorf("/healthz %d %q, want 503 naming the namespace gone", code, body)
	}
	// The same name again: a new, empty table.
	if out, err := execOut("ip", "netns", "add", ns.Name); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		m := x.scrape(t)
		up, _ := m.value("ctdiag_exporter_netns_up", l)
		entries, ok := m.value(report.MetricEntries, l)
		return up == 1 && ok && entries == 0, fmt.Sprintf("up %v, entries %v %v", up, entries, ok)
	})
}

// A scrape storm from loopback: at most MaxScrapes requests are served at
// once, the rest get 503 at once, and the exporter keeps serving.
func TestKernelExporterScrapeStorm(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	if err := ctfill.FillIn("/run/netns/"+ns.Name, 0, 20000); err != nil {
		t.Fatal(err)
	}
	x := startExporter(t, Config{Netns: []collector.Netns{{Name: ns.Name}}, MaxScrapes: 2})
	eventually(t, 10*time.Second, func() (bool, string) {
		v, _ := x.scrape(t).value(report.MetricEntries, "netns="+ns.Name)
		return v == 20000, fmt.Sprintf("entries %v", v)
	})
	const clients, each = 50, 20
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				path := "/metrics"
				if (c+i)%5 == 0 {
					path = "/findings"
				}
				resp, err := client.Get(x.url + path)
				if err != nil {
					mu.Lock()
					codes[-1]++
					mu.Unlock()
					continue
				}
				b := new(bytes.Buffer)
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	t.Logf("%d requests in %v: %v", clients*each, time.Since(start).Round(time.Millisecond), codes)
	if codes[-1] > 0 || codes[http.StatusOK] == 0 || codes[http.StatusOK]+codes[http.StatusServiceUnavailable] != clients*each {
		t.Errorf("responses %v: want only 200 and 503, some 200", codes)
	}
	m := x.scrape(t)
	if v, _ := m.value(report.MetricEntries, "netns="+ns.Name); v != 20000 {
		t.Errorf("after the storm: entries %v", v)
	}
	inFlightMax := 0.0
	if mf := m["promhttp_metric_handler_requests_in_flight"]; mf != nil {
		inFlightMax = mf.Metric[0].Gauge.GetValue()
	}
	if inFlightMax > 2 {
		t.Errorf("%v scrapes in flight, limit 2", inFlightMax)
	}
}

func execOut(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// nsHolders lists this process's descriptors that refer to the namespace
// (the collectors keep one open per namespace, next to its sockets).
func nsHolders(t *testing.T, inode uint64) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", inode)
	var out []string
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && l == want {
			out = append(out, "fd "+fd.Name())
		}
	}
	return out
}

// --all-netns finds namespaces as they come and go, gives the busiest
// --top-netns their own series and sums the rest as "other". Discovery is
// narrowed to this test's namespaces: the exporter's sockets would keep
// other tests' deleted namespaces alive for a moment.
func TestKernelExporterAllNetns(t *testing.T) {
	netnstest.RequireTools(t, "conntrack")
	a, b := netnstest.NewNS(t), netnstest.NewNS(t)
	if err := ctfill.FillIn("/run/netns/"+a.Name, 0, 30); err != nil {
		t.Fatal(err)
	}
	if err := ctfill.FillIn("/run/netns/"+b.Name, 0, 50); err != nil {
		t.Fatal(err)
	}
	mine := func(cfg collector.Config) ([]collector.NetnsRef, error) {
		refs, err := collector.ListNetns(cfg)
		var out []collector.NetnsRef
		for _, r := range refs {
			if r.Name == a.Name || r.Name == b.Name {
				out = append(out, r)
			}
		}
		return out, err
	}
	x := startExporter(t, Config{AllNetns: true, TopNetns: 1, listNetns: mine})
	eventually(t, 10*time.Second, func() (bool, string) {
		m := x.scrape(t)
		own, _ := m.value(report.MetricEntries, "netns="+b.Name)
		other, _ := m.value(report.MetricEntries, "netns=other")
		_, aOwn := m.value(report.MetricEntries, "netns="+a.Name)
		return own == 50 && other == 30 && !aOwn, "entries: " + m.labelsOf(report.MetricEntries)
	})
	if out, err := execOut("ip", "netns", "del", a.Name); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	defer execOut("ip", "netns", "add", a.Name) // for netnstest's cleanup
	eventually(t, 10*time.Second, func() (bool, string) {
		m := x.scrape(t)
		gone, _ := m.value("ctdiag_exporter_netns_gone_total")
		watched, _ := m.value("ctdiag_exporter_netns_watched")
		_, other := m.value(report.MetricEntries, "netns=other")
		return gone == 1 && watched == 1 && !other, fmt.Sprintf("gone %v, watched %v, other's entries present %v", gone, watched, other)
	})
	if !strings.Contains(x.logs.String(), "no longer watched") {
		t.Error("the deleted namespace was not logged")
	}
}
