package main

// Each diagnosis rule against the real kernel: real traffic in namespaces
// the test makes, the table sampled as a capture folder (tables, per-CPU
// statistics, sysctls, kernel log), then `ctdiag report` over it. Traffic
// stays on the pair's veth and loopback.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/corpus"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

// kernelCapture samples one namespace's table into a folder the way the
// captures in testdata/ are made: nf_conntrack.tNNN.txt (NNN = seconds
// after the start, which ctdiag reads as the sample time), with
// /proc/net/stat/nf_conntrack and the netfilter sysctls of the same moment.
type kernelCapture struct {
	t     *testing.T
	ns    *netnstest.NS
	dir   string
	start time.Time
	// ruleset is the command whose output is the sample's ruleset file
	// (ruleset.tNNN.txt): nft -a list ruleset unless a test writes its
	// rules with iptables and saves them the iptables way.
	ruleset []string
}

func newKernelCapture(t *testing.T, ns *netnstest.NS) *kernelCapture {
	return &kernelCapture{t: t, ns: ns, dir: t.TempDir(), start: time.Now(), ruleset: []string{"nft", "-a", "list", "ruleset"}}
}

// sampleAt waits until sec seconds after the start and reads the table.
func (c *kernelCapture) sampleAt(sec int) {
	c.t.Helper()
	if d := time.Until(c.start.Add(time.Duration(sec) * time.Second)); d > 0 {
		time.Sleep(d)
	}
	for _, f := range []struct{ name, path string }{
		{"nf_conntrack", "/proc/net/nf_conntrack"},
		{"stat-nf_conntrack", "/proc/net/stat/nf_conntrack"},
	} {
		b, err := c.ns.ReadProcFile(f.path)
		if err != nil {
			c.t.Fatal(err)
		}
		c.write(fmt.Sprintf("%s.t%03d.txt", f.name, sec), b)
	}
	c.write(fmt.Sprintf("sysctl-nf_conntrack.t%03d.txt", sec), c.ns.MustOutput(c.t, "sysctl", "net.netfilter", "net.ipv4.ip_local_port_range"))
	if len(c.ruleset) > 0 {
		c.write(fmt.Sprintf("ruleset.t%03d.txt", sec), c.ns.MustOutput(c.t, c.ruleset[0], c.ruleset[1:]...))
	}
}

func (c *kernelCapture) write(name string, b []byte) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// report runs ctdiag report over the capture and reads its JSON. The
// sysctl-risk rule is left out: it judges settings global to the machine
// (nf_conntrack_max, shared with every other test and benchmark running),
// not the traffic a test makes; TestKernelReportSysctlRisk runs it.
func (c *kernelCapture) report(args ...string) *report.Document {
	c.t.Helper()
	return c.reportWith(append([]string{"--set", "sysctl-risk.enabled=false"}, args...)...)
}

// reportWith runs ctdiag report with exactly the given options.
func (c *kernelCapture) reportWith(args ...string) *report.Document {
	c.t.Helper()
	out, errOut, code := ctdiag(c.t, "", append(append([]string{"report", "-o", "json", "--fail-on", "never"}, args...), c.dir)...)
	if code != 0 {
		c.t.Fatalf("report: exit %d: %s", code, errOut)
	}
	d, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		c.t.Fatalf("%v\n%s", err, out)
	}
	if d.Input.MalformedLines != 0 {
		c.t.Errorf("the kernel's own output read as malformed: %v", d.Input.Problems)
	}
	return d
}

func docFinding(d *report.Document, rule string) *report.Finding {
	for i := range d.Findings {
		if d.Findings[i].Rule == rule {
			return &d.Findings[i]
		}
	}
	return nil
}

func docFired(d *report.Document) []string {
	var out []string
	for _, f := range d.Findings {
		out = append(out, f.Rule+": "+f.Summary)
	}
	return out
}

func docFigure(f *report.Finding, name string) string {
	for _, fig := range f.Evidence.Figures {
		if fig.Name == name {
			return fig.Value
		}
	}
	return ""
}

func docRemedies(f *report.Finding) string {
	var b strings.Builder
	for _, r := range f.Remedies {
		b.WriteString(r.Text + "\n")
	}
	return b.String()
}

// SYNs to a port the server drops: SYN_SENT [UNREPLIED] entries pile up
// on the client and age; the server's table stays empty.
func TestKernelReportSynSentGrowth(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet dropsyn {\n chain in { type filter hook input priority 0; tcp dport 8080 drop\n }\n}")
	cli, srv := newKernelCapture(t, p.A), newKernelCapture(t, p.B)
	cli.sampleAt(0)
	corpus.ConnectNonBlocking(t, p.A, netip.AddrPortFrom(p.B4, 8080), 25)
	cli.sampleAt(1)
	corpus.ConnectNonBlocking(t, p.A, netip.AddrPortFrom(p.B4, 8080), 25)
	cli.sampleAt(5)
	srv.sampleAt(5)

	d := cli.report()
	f := docFinding(d, "syn-sent-growth")
	if f == nil {
		t.Fatalf("syn-sent-growth did not fire: %q", docFired(d))
	}
	if f.Severity.String() != "warning" || !strings.HasPrefix(f.Summary, "50 TCP connections waiting for a SYN-ACK") ||
		!strings.Contains(f.Summary, p.B4.String()+":8080") {
		t.Errorf("finding %s: %s", f.Severity, f.Summary)
	}
	// The first 25 SYNs left at ~0.1 s, so at 5 s they have waited 4-5 s
	// (one more as read, the kernel showing whole seconds left rounded
	// down): it did not refresh the entry on the SYN retransmitted at 1 s
	// and 3 s (docs/KERNEL.md §1.10).
	if old := docFigure(f, "oldest"); old != "4s" && old != "5s" && old != "6s" {
		t.Errorf("oldest %q", old)
	}
	if pts := f.Evidence.Series[0].Points; len(pts) != 3 || pts[1].Value != 0 || pts[2].Value != 50 {
		t.Errorf("series %+v", pts) // at 1 s the first 25 are younger than min_age
	}
	if !strings.Contains(docRemedies(f), "conntrack -L -p tcp --state SYN_SENT -d "+p.B4.String()) {
		t.Errorf("remedies %s", docRemedies(f))
	}
	if d := srv.report(); len(d.Findings) != 0 || d.Summary.Entries != 0 {
		t.Errorf("server saw nothing, yet: %q", docFired(d))
	}
}

// The client's handshake ACKs are dropped after its conntrack saw them: the
// client's entries are ESTABLISHED, the server's stay SYN_RECV, answered
// but never assured.
func TestKernelReportHalfAssured(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	port := p.TCPEcho(t)
	p.A.Nft(t, fmt.Sprintf("table inet dropack {\n chain out { type filter hook output priority 0; tcp dport %d tcp flags & (syn|ack) == ack drop\n }\n}", port))
	srv := newKernelCapture(t, p.B)
	srv.sampleAt(0)
	corpus.ConnectNonBlocking(t, p.A, netip.AddrPortFrom(p.B4, port), 30)
	srv.sampleAt(4)

	d := srv.report()
	f := docFinding(d, "half-assured")
	if f == nil {
		t.Fatalf("half-assured did not fire: %q", docFired(d))
	}
	if !strings.HasPrefix(f.Summary, "30 TCP connections answered but never completed") {
		t.Errorf("summary %q", f.Summary)
	}
	if got := docFigure(f, "half-assured TCP by state"); got != "SYN_RECV 30" {
		t.Errorf("by state %q", got)
	}
	if d.Summary.HalfAssured != 30 || d.Summary.Assured != 0 {
		t.Errorf("flags: half %d assured %d", d.Summary.HalfAssured, d.Summary.Assured)
	}
}

// Idle connections with accounting on: the remaining timeout gives their
// idle age, and unchanged counters across samples confirm it.
func TestKernelReportStuckEstablished(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	p.B.MustOutput(t, "sysctl", "-w", "net.netfilter.nf_conntrack_acct=1")
	port := p.TCPEcho(t)
	srv := newKernelCapture(t, p.B)
	// A client that opens connections, uses each once and never closes
	// them: 0 → 60 → 120 → 180 ESTABLISHED entries, silent after their
	// first exchange. Default settings: the shape names it, not hours.
	srv.sampleAt(0)
	for i := 1; i <= 3; i++ {
		corpus.DialMany(t, p.A, netip.AddrPortFrom(p.B4, port), 60)
		srv.sampleAt(2 * i)
	}
	d := srv.report()
	f := docFinding(d, "stuck-established")
	if f == nil {
		t.Fatalf("stuck-established did not fire: %q", docFired(d))
	}
	if f.Severity != rules.SeverityWarning || !strings.HasPrefix(f.Summary, "120 ESTABLISHED entries saw no packet since the previous sample") ||
		!strings.Contains(f.Summary, "rose 0 → 180 over the last 4 samples and 0% of those followed closed") {
		t.Errorf("%s: summary %q", f.Severity, f.Summary)
	}
	if !strings.Contains(docRemedies(f), fmt.Sprintf("--dport %d", port)) {
		t.Errorf("remedies %s", docRemedies(f))
	}
	// A pool of the same size that stays the same size is not a leak.
	pool := newKernelCapture(t, p.B)
	pool.sampleAt(0)
	pool.sampleAt(2)
	pool.sampleAt(4)
	if f := docFinding(pool.report(), "stuck-established"); f != nil {
		t.Errorf("a steady idle pool fired: %s", f.Summary)
	}
}

// Short connections closed by the client: TIME_WAIT entries grow by
// hundreds per second.
func TestKernelReportCloseGrowth(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	// A server that accepts and never closes: each client that closes its
	// side leaves the connection in CLOSE_WAIT (FIN sent and acknowledged,
	// none back).
	l, err := p.B.Listen("tcp", netip.AddrPortFrom(p.B4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	addr := l.Addr().String()
	srv := newKernelCapture(t, p.B)
	halfClose := func(n int) {
		err := p.A.Do(func() error {
			for i := 0; i < n; i++ {
				c, err := net.DialTimeout("tcp", addr, 3*time.Second)
				if err != nil {
					return err
				}
				c.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv.sampleAt(0)
	for i := 1; i <= 3; i++ {
		halfClose(150)
		srv.sampleAt(2 * i)
	}

	d := srv.report()
	f := docFinding(d, "close-growth")
	if f == nil {
		t.Fatalf("close-growth did not fire: %q", docFired(d))
	}
	if !strings.Contains(f.Summary, "CLOSE_WAIT/LAST_ACK entries rose at every sample") || !strings.Contains(f.Summary, "one side closed and the other stopped answering") {
		t.Errorf("summary %q", f.Summary)
	}
	if !strings.Contains(docRemedies(f), "ss -tnp state close-wait") {
		t.Errorf("remedies %s", docRemedies(f))
	}
	// 450 connections to one port are no full table, and no talker at
	// warning: only the pile-up is named.
	for _, o := range d.Findings {
		if o.Rule != "close-growth" && o.Severity >= rules.SeverityWarning {
			t.Errorf("also fired: %s %s: %s", o.Severity, o.Rule, o.Summary)
		}
	}
}

// The client's namespace filled to nf_conntrack_max with ASSURED entries
// (over netlink: the limit is global and stays as it is): early drop has
// nothing to evict, so new connections are dropped and the kernel logs
// "table full in netns N, dropping packet" for this namespace.
func TestKernelReportTableFull(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	max := netnstest.FillableConntrackMax(t)
	port := p.TCPEcho(t)
	cli := newKernelCapture(t, p.A)
	kmsg := corpus.OpenKmsg(t)
	cli.sampleAt(0)
	corpus.DialMany(t, p.A, netip.AddrPortFrom(p.B4, port), 120)
	cli.sampleAt(1)

	fl, err := ctfill.NewIn("/run/netns/" + p.A.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if _, err := fl.FillToLimit(0, ctfill.Assured); err != nil {
		t.Fatal(err)
	}
	// The kernel log is the machine's and rate-limited for all of it (10
	// lines per 5 s): with other tests filling tables at the same time,
	// this namespace's line may be suppressed for a while, so connections
	// are tried until one is logged (or 20 s have passed).
	inode := corpus.NSInode(t, p.A)
	var refused int
	var lines []byte
	for deadline := time.Now().Add(20 * time.Second); len(lines) == 0 && time.Now().Before(deadline); {
		p.A.Do(func() error {
			for i := 0; i < 10; i++ {
				c, err := net.DialTimeout("tcp", netip.AddrPortFrom(p.B4, port).String(), 200*time.Millisecond)
				if err != nil {
					refused++ // the SYN was dropped on its way out
					continue
				}
				c.Close()
			}
			return nil
		})
		lines = append(lines, kmsg.TableFull(t, inode)...)
	}
	cli.sampleAt(3)
	cli.write("dmesg.txt", lines)

	if refused == 0 {
		t.Fatal("no connection was refused with the table at its limit")
	}
	if len(lines) == 0 {
		t.Fatalf("no \"table full in netns %d\" kernel-log line in 20 s of dropped connections", inode)
	}
	d := cli.report()
	f := docFinding(d, "table-full")
	if f == nil {
		t.Fatalf("table-full did not fire: %q", docFired(d))
	}
	if f.Severity.String() != "critical" || d.Findings[0].Rule != "table-full" {
		t.Errorf("severity %s, order %q", f.Severity, docFired(d))
	}
	if want := fmt.Sprintf("%d of %d entries", max, max); !strings.Contains(f.Summary, want) || !strings.Contains(f.Summary, "packets dropped between samples") {
		t.Errorf("summary %q, want %q and drops", f.Summary, want)
	}
	if !strings.Contains(f.Summary, "\"table full, dropping packet\" kernel-log lines") {
		t.Errorf("kernel log lines not counted: %q", f.Summary)
	}
	// Every entry is ASSURED: nothing to evict, no headroom.
	if d.Summary.Headroom == nil || *d.Summary.Headroom != 0 || d.Summary.Assured != max {
		t.Errorf("headroom %v, %d ASSURED, want 0 and %d", d.Summary.Headroom, d.Summary.Assured, max)
	}
	if got := docFigure(f, "drop between samples (failed insertions left out)"); got == "" || got == "0" {
		t.Errorf("drop figure %q", got)
	}
}

// A tuple comes back while its old entry lingers in TIME_WAIT, and packets
// of an old sequence space are INVALID.
func TestKernelReportInvalidStaleTuple(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	l, err := p.B.Listen("tcp4", netip.AddrPortFrom(p.B4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	go func() { // the server closes first: its socket keeps TIME_WAIT, the client's port is free again
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("bye"))
			c.Close()
		}
	}()
	const sport = 40123
	dialFrom := func() net.Conn {
		c, err := corpus.DialFrom(p.A, netip.AddrPortFrom(p.A4, sport), netip.AddrPortFrom(p.B4, port))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cli := newKernelCapture(t, p.A)
	c := dialFrom()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	io.ReadAll(c) // until the server's FIN
	c.Close()
	cli.sampleAt(1) // the tuple in TIME_WAIT
	c = dialFrom()  // the same 4-tuple again
	defer c.Close()
	time.Sleep(100 * time.Millisecond)

	// Segments far outside the window of the new connection, as a stray
	// packet of an earlier one would be: the kernel counts them INVALID
	// ("SEQ is over upper bound", docs/KERNEL.md §1.6).
	corpus.SendStaleTCP(t, p.A, netip.AddrPortFrom(p.A4, sport), netip.AddrPortFrom(p.B4, port), 250)
	cli.sampleAt(3)

	d := cli.report()
	f := docFinding(d, "invalid-stale-tuple")
	if f == nil {
		t.Fatalf("invalid-stale-tuple did not fire: %q; counters %s; table:\n%s", docFired(d),
			countersLine(d), cli.ns.MustOutput(t, "cat", "/proc/net/nf_conntrack"))
	}
	if !strings.Contains(f.Summary, "INVALID packets between samples") || !strings.Contains(f.Summary, "1 tuple seen in TIME_WAIT or CLOSE came back as new handshakes") {
		t.Errorf("summary %q", f.Summary)
	}
	n, _ := strconv.Atoi(docFigure(f, "invalid between samples"))
	if n < 250 {
		t.Errorf("invalid between samples %d, want ≥ 250", n)
	}
}

// The DNS race: two sockets on one source port send the first packet of the
// same UDP flow at the same moment from two CPUs; the second insert clashes
// and the kernel resolves it (clash_resolve, docs/KERNEL.md §4.6). Not a full table.
func TestKernelReportInsertFailed(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the insert race needs two CPUs")
	}
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet dns {\n chain in { type filter hook input priority 0; udp dport 53 drop\n }\n}")
	cli := newKernelCapture(t, p.A)
	cli.sampleAt(0)
	if err := corpus.UDPInsertRace(p.A, p.A4, 20000, netip.AddrPortFrom(p.B4, 53), 3000); err != nil {
		t.Fatal(err)
	}
	cli.sampleAt(2)

	d := cli.report()
	f := docFinding(d, "insert-failed")
	if f == nil {
		t.Fatalf("insert-failed did not fire: %q (counters %+v)", docFired(d), d.Summary.Counters)
	}
	if !strings.Contains(f.Summary, "clash_resolve +") || !strings.Contains(f.Summary, "UDP/53 entries") || !strings.Contains(f.Summary, "not a full table") {
		t.Errorf("summary %q", f.Summary)
	}
	if f := docFinding(d, "table-full"); f != nil {
		t.Errorf("table-full fired on clashes: %s", f.Summary)
	}
	if !strings.Contains(docRemedies(f), "single-request-reopen") {
		t.Errorf("remedies %s", docRemedies(f))
	}
}

// A UDP client talks to a service address before the DNAT rule exists and
// keeps its source port: its entry is never translated, while newer
// clients' entries are. The client refreshes it past the UDP timeout.
func TestKernelReportStaleUDP(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	vip := netip.AddrFrom4([4]byte{p.B4.As4()[0], p.B4.As4()[1], p.B4.As4()[2], 100})
	p.B.MustOutput(t, "ip", "addr", "add", vip.String()+"/32", "dev", p.BLink)
	p.A.MustOutput(t, "ip", "route", "add", vip.String()+"/32", "dev", p.ALink)
	p.B.MustOutput(t, "sysctl", "-w", "net.netfilter.nf_conntrack_udp_timeout=2")
	backend, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(p.B4, 5353).String())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := backend.ReadFrom(buf)
			if err != nil {
				return
			}
			backend.WriteTo(buf[:n], from)
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	// client sends a query every 300 ms from one socket, as a resolver
	// library that keeps its socket does.
	client := func() {
		c, err := p.A.Dial("udp4", netip.AddrPortFrom(vip, 53).String())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				c.Write([]byte("q"))
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
		}()
	}
	client() // before the service has its DNAT rule: never translated
	time.Sleep(200 * time.Millisecond)
	p.B.Nft(t, fmt.Sprintf("table ip svc {\n chain pre { type nat hook prerouting priority dstnat; ip daddr %s udp dport 53 dnat to %s:5353\n }\n}", vip, p.B4))
	for i := 0; i < 4; i++ { // after: translated to the backend
		client()
	}
	srv := newKernelCapture(t, p.B)
	srv.sampleAt(1)
	srv.sampleAt(4)

	d := srv.report()
	f := docFinding(d, "stale-udp")
	if f == nil {
		t.Fatalf("stale-udp did not fire: %q", docFired(d))
	}
	want := fmt.Sprintf("1 UDP entries to %s:53 were never translated while 4 others to it are", vip)
	if !strings.HasPrefix(f.Summary, want) || !strings.Contains(f.Summary, "1 of them outlived the 2s UDP timeout") {
		t.Errorf("summary %q, want %q…", f.Summary, want)
	}
	if !strings.Contains(docRemedies(f), fmt.Sprintf("conntrack -D -p udp -d %s --dport 53 -r %s", vip, vip)) {
		t.Errorf("remedies %s", docRemedies(f))
	}
}

// One client opens flows to a thousand ports: it holds the table.
func TestKernelReportTopTalker(t *testing.T) {
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet sink {\n chain in { type filter hook input priority 0; udp dport 10000-20000 drop\n }\n}")
	cli := newKernelCapture(t, p.A)
	err := p.A.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for port := 10000; port < 11200; port++ {
			if err := unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Port: port, Addr: p.B4.As4()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cli.sampleAt(0)
	d := cli.report()
	f := docFinding(d, "top-talker")
	if f == nil {
		t.Fatalf("top-talker did not fire: %q", docFired(d))
	}
	want := fmt.Sprintf("source %s holds 1200 of 1200 entries (100%%)", p.A4)
	if f.Summary != want && !strings.HasPrefix(f.Summary, "destination "+p.B4.String()) {
		t.Errorf("summary %q", f.Summary)
	}
}

// tcp_be_liberal turned on in the namespace (a per-namespace sysctl).
func TestKernelReportSysctlRisk(t *testing.T) {
	p := netnstest.NewPair(t)
	p.A.MustOutput(t, "sysctl", "-w", "net.netfilter.nf_conntrack_tcp_be_liberal=1")
	cli := newKernelCapture(t, p.A)
	p.Ping(t, p.B4)
	cli.sampleAt(0)
	d := cli.reportWith()
	f := docFinding(d, "sysctl-risk")
	if f == nil || f.Severity.String() != "warning" || !strings.Contains(f.Summary, "nf_conntrack_tcp_be_liberal=1") {
		t.Fatalf("sysctl-risk: %q", docFired(d))
	}
	if !strings.Contains(docRemedies(f), "sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=0") {
		t.Errorf("remedies %s", docRemedies(f))
	}
}

// Ordinary traffic: connections opened, used and closed, UDP answered
// within a second, pings. Nothing may fire, and the report says so.
func TestKernelReportHealthy(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	port := p.TCPEcho(t)
	udp, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(p.B4, 5300).String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			udp.WriteTo(buf[:n], from)
		}
	}()
	srv := newKernelCapture(t, p.B)
	traffic := func() {
		for _, c := range corpus.DialMany(t, p.A, netip.AddrPortFrom(p.B4, port), 20) {
			c.Close()
		}
		for i := 0; i < 10; i++ {
			c, err := p.A.Dial("udp4", netip.AddrPortFrom(p.B4, 5300).String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("q"))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.Read(make([]byte, 8))
			c.Close()
		}
		p.Ping(t, p.B4)
	}
	srv.sampleAt(0)
	traffic()
	srv.sampleAt(2)
	traffic()
	srv.sampleAt(4)
	d := srv.report()
	if len(d.Findings) != 0 {
		t.Errorf("healthy traffic fired: %q", docFired(d))
	}
	if d.Status != "ok" || d.Summary.Entries < 40 {
		t.Errorf("status %s, %d entries", d.Status, d.Summary.Entries)
	}
	out, _, code := ctdiag(t, "", "report", "--set", "sysctl-risk.enabled=false", srv.dir)
	if code != 0 || !strings.Contains(out, "No problems found") {
		t.Errorf("text report: exit %d\n%s", code, out)
	}
}

func countersLine(d *report.Document) string {
	var parts []string
	for _, c := range d.Summary.Counters {
		p := fmt.Sprintf("%s=%d", c.Name, c.Total)
		if c.Delta != nil {
			p += fmt.Sprintf("(+%d)", *c.Delta)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// ctdiag report with no SOURCE reads the live table: two samples of a
// namespace whose SYNs go unanswered.
func TestKernelReportLive(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet dropsyn {\n chain in { type filter hook input priority 0; tcp dport 8080 drop\n }\n}")
	corpus.ConnectNonBlocking(t, p.A, netip.AddrPortFrom(p.B4, 8080), 25)
	// Seconds, not the default 3, so the test need not wait.
	out, errOut, code := ctdiag(t, "", "report", "-o", "json", "--netns", p.A.Name, "--samples", "2", "--interval", "1500ms",
		"--set", "syn-sent-growth.min_age=1s", "--set", "sysctl-risk.enabled=false")
	if code != 1 {
		t.Fatalf("exit %d (want 1: a warning), stderr %s", code, errOut)
	}
	d, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if d.Timing.Source != "live, every 1.5s" || len(d.Samples) != 2 || d.Samples[1].Entries != 25 || d.Samples[0].Time == nil {
		t.Errorf("timing %+v samples %+v", d.Timing, d.Samples)
	}
	if len(d.Input.Sources) != 1 || !strings.Contains(d.Input.Sources[0], "network namespace "+p.A.Name+" via netlink") {
		t.Errorf("sources %q", d.Input.Sources)
	}
	f := docFinding(d, "syn-sent-growth")
	if f == nil || !strings.HasPrefix(f.Summary, "25 TCP connections waiting for a SYN-ACK") {
		t.Errorf("findings %q", docFired(d))
	}
	if !strings.Contains(errOut, "reading the live table 2 times, 1.5s apart") {
		t.Errorf("stderr %s", errOut)
	}
}

// TestKernelReportLiveCountsEvents: a live report follows the namespace's
// events between its samples, so its churn is the kernel's own count: 40
// UDP flows made between the two samples are 40 created, none destroyed.
func TestKernelReportLiveCountsEvents(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet sink {\n chain in { type filter hook input priority 0; udp dport 21000-21100 drop\n }\n}")
	var sent error
	out, errOut, code := ctdiagWhen(t, "sample 1 of 2 read", func() { sent = udpBurst(p, 21000, 40) }, // between the samples
		"report", "-o", "json", "--fail-on", "never", "--netns", p.A.Name, "--samples", "2", "--interval", "1500ms")
	if sent != nil {
		t.Fatal(sent)
	}
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	d, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	ev := d.Summary.Events
	if ev == nil || ev.Created != 40 || ev.Destroyed != 0 || ev.Lost != 0 || ev.CreatedPerSecond == nil {
		t.Fatalf("event churn %+v (samples %+v), stderr %s", ev, d.Samples, errOut)
	}
	text, _, _ := ctdiag(t, "", "report", "--color", "never", "--fail-on", "never", "--samples", "1", "--netns", p.A.Name)
	if strings.Contains(text, "conntrack events") {
		t.Errorf("one sample has no interval to count events over:\n%s", text)
	}
}

// Without privileges, a live report says it could not read the table and
// judges what everyone may read: the statistics, count, max and sysctls.
func TestKernelReportLiveWithoutPrivileges(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	ns := netnstest.NewNS(t)
	bin := builtCtdiag(t)
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "report", "--samples", "1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	// What could not be read is not "no problems": status incomplete, exit 3.
	var xe *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &xe) || xe.ExitCode() != exitIncomplete {
		t.Fatalf("%v (want exit %d)\n%s\n%s", err, exitIncomplete, out.String(), errb.String())
	}
	for _, want := range []string{"· max ", "note: the table is not readable without root or CAP_NET_ADMIN",
		"Incomplete: nothing fired, but 12 rules (syn-sent-growth, half-assured, stuck-established, close-growth, stale-udp, top-talker, snat-port-exhaustion, nat-port-range-overlap, invalid-dropped, notrack-conflict, notrack-candidate, conntrack-unneeded) could not be judged",
		"syn-sent-growth needs the table", "nat-port-range-overlap needs the firewall ruleset", "Checked 4 of 16 rules (12 could not be judged)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "No problems found") {
		t.Errorf("a report that could not read the table says there is no problem:\n%s", out.String())
	}
	if !strings.Contains(errb.String()+out.String(), "CAP_NET_ADMIN") {
		t.Errorf("nothing says why the table is missing:\n%s\n%s", out.String(), errb.String())
	}
}
