package main

// The rules that read the firewall ruleset, against the real kernel: rules
// written with nft, iptables-nft and iptables-legacy into namespaces, real
// traffic, the table and the ruleset sampled as a capture folder (or read
// live), then `ctdiag report` at its default settings. Each test checks the
// finding, its numbers and the remedy as printed.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/corpus"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/report"
)

// holdServer accepts TCP connections on addr in ns and keeps them open
// until the test ends.
func holdServer(t *testing.T, ns *netnstest.NS, addr netip.AddrPort) uint16 {
	t.Helper()
	l, err := ns.Listen("tcp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
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
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// reportDefault runs ctdiag report over the capture at the shipped
// settings, nothing changed.
func (c *kernelCapture) reportDefault() *report.Document {
	c.t.Helper()
	return c.reportWith()
}

// More concurrent connections to one destination than a MASQUERADE
// --to-ports range has ports (written with iptables-nft): the range fills
// with open connections, the rest cannot be translated, their SYNs are
// dropped at confirmation (insert_failed, drop) and connect() times out.
func TestKernelRulesetSNATExhaustion(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.RequireTools(t, "iptables-nft", "iptables-nft-save")
	p := netnstest.NewPair(t)
	port := holdServer(t, p.B, netip.AddrPortFrom(p.B4, 0))
	p.A.MustOutput(t, "iptables-nft", "-t", "nat", "-A", "POSTROUTING", "-o", p.ALink, "-p", "tcp",
		"-j", "MASQUERADE", "--to-ports", "40000-40019")
	cli := newKernelCapture(t, p.A)
	cli.ruleset = []string{"iptables-nft-save", "-c"}
	cli.sampleAt(0)

	const dials = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	failed := 0
	for i := 0; i < dials; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			err := p.A.Do(func() (err error) {
				c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(p.B4, port).String(), 1500*time.Millisecond)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// 20 ports: 20 connections made it, the other 10 never got a SYN through.
	if len(conns) != 20 || failed != dials-20 {
		t.Fatalf("%d connected, %d failed: the range should hold exactly 20", len(conns), failed)
	}
	cli.sampleAt(3)

	d := cli.reportDefault()
	f := docFinding(d, "snat-port-exhaustion")
	if f == nil {
		t.Fatalf("snat-port-exhaustion did not fire: %q (counters %s)", docFired(d), countersLine(d))
	}
	if f.Severity.String() != "critical" {
		t.Errorf("severity %s", f.Severity)
	}
	for _, want := range []string{
		fmt.Sprintf("20 of the 20 ports masquerade allows (40000-40019) are taken by tcp connections from %s to %s:%d", p.A4, p.B4, port),
		"insert_failed +", "new connections to it fail",
	} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary %q lacks %q", f.Summary, want)
		}
	}
	// Every failed connect retried its SYN at least once: at least one
	// failed insertion each.
	if n, _ := strconv.Atoi(docFigure(f, "insert_failed between samples")); n < dials-20 {
		t.Errorf("insert_failed between samples %d, want ≥ %d", n, dials-20)
	}
	if got := docFigure(f, "ports taken"); got != "100%" {
		t.Errorf("ports taken %q", got)
	}
	rem := docRemedies(f)
	for _, want := range []string{
		fmt.Sprintf("conntrack -L -p tcp -r %s --reply-port-src %d -q %s", p.B4, port, p.A4),
		// the host's own syntax, the rule by its position, a range clear of
		// the local ports (32768-60999 read with the sysctls)
		fmt.Sprintf("iptables -t nat -R POSTROUTING 1 -o %s -p tcp -j MASQUERADE --to-ports 1024-2047 --random-fully", p.ALink),
		"clear of ip_local_port_range 32768-60999",
	} {
		if !strings.Contains(rem, want) {
			t.Errorf("remedies lack %q:\n%s", want, rem)
		}
	}
	if len(f.Evidence.Rules) != 1 || !strings.Contains(f.Evidence.Rules[0].Text, "--to-ports 40000-40019") {
		t.Errorf("the finding does not point at the rule: %+v", f.Evidence.Rules)
	}
	// The drops are the failed insertions, not a full table.
	if tf := docFinding(d, "table-full"); tf != nil {
		t.Errorf("table-full fired on translation failures: %s", tf.Summary)
	}
	// The same range overlaps the namespace's own ephemeral ports.
	o := docFinding(d, "nat-port-range-overlap")
	if o == nil || !strings.Contains(o.Summary, "ip_local_port_range 32768-60999 (ports 40000-40019)") ||
		!strings.Contains(docRemedies(o), "sysctl -w net.ipv4.ip_local_reserved_ports=40000-40019") {
		t.Errorf("nat-port-range-overlap: %+v", o)
	}
}

// A ct state invalid drop rule (nft) whose counter moves as out-of-window
// segments arrive; then, read live, the rule gone and a legacy NAT rule in
// place: the same packets now go on untranslated.
func TestKernelRulesetInvalidDropped(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	port := p.TCPEcho(t)
	p.B.Nft(t, "table inet inv {\n chain in {\n type filter hook input priority filter;\n ct state invalid counter drop\n }\n}\n")
	c := corpus.DialMany(t, p.A, netip.AddrPortFrom(p.B4, port), 1)[0]
	sport := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	srv := newKernelCapture(t, p.B)
	srv.sampleAt(0)
	corpus.SendStaleTCP(t, p.A, netip.AddrPortFrom(p.A4, sport), netip.AddrPortFrom(p.B4, port), 40)
	srv.sampleAt(2)

	d := srv.reportDefault()
	f := docFinding(d, "invalid-dropped")
	if f == nil {
		t.Fatalf("invalid-dropped did not fire: %q (counters %s)", docFired(d), countersLine(d))
	}
	dropped, _ := strconv.Atoi(docFigure(f, "dropped between samples"))
	invalid, _ := strconv.Atoi(docFigure(f, "invalid between samples (kernel statistic)"))
	// Of each pair of segments one is past the window and INVALID; the
	// other, before it, is INVALID or ignored depending on where the
	// random initial sequence number fell. The rule dropped every INVALID
	// one, and the kernel counted exactly those.
	if dropped < 40 || dropped > 80 || invalid != dropped {
		t.Errorf("dropped %d, kernel invalid %d: want the same, 40 to 80", dropped, invalid)
	}
	for _, want := range []string{fmt.Sprintf("%d packets dropped as INVALID between samples (%d/s)", dropped, dropped/2),
		fmt.Sprintf("by inet inv in #1 (ct state invalid counter packets %d", dropped), fmt.Sprintf("the kernel counted invalid +%d", dropped)} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary %q lacks %q", f.Summary, want)
		}
	}
	if f.Severity.String() != "warning" { // 20/s or more over the 2 s between the samples
		t.Errorf("severity %s", f.Severity)
	}
	if !strings.Contains(docRemedies(f), "sysctl -w net.netfilter.nf_conntrack_log_invalid=6") {
		t.Errorf("remedies %s", docRemedies(f))
	}

	// Live: no drop rule any more, a NAT rule written with iptables-legacy.
	if _, err := p.B.Output("iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "9", "-j", "REDIRECT", "--to-ports", "7"); err != nil {
		t.Skipf("no iptables-legacy here: %v", err)
	}
	p.B.MustOutput(t, "nft", "delete", "table", "inet", "inv")
	out, errOut, code := ctdiagWhen(t, "sample 1 of 2 read", func() { // between the readings
		corpus.SendStaleTCP(t, p.A, netip.AddrPortFrom(p.A4, sport), netip.AddrPortFrom(p.B4, port), 40)
	}, "report", "-o", "json", "--netns", p.B.Name, "--samples", "2", "--interval", "2s")
	var live report.Document
	if err := json.Unmarshal([]byte(out), &live); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errOut)
	}
	f = docFinding(&live, "invalid-dropped")
	if f == nil {
		t.Fatalf("live: invalid-dropped did not fire: %q (%s)", docFired(&live), errOut)
	}
	if f.Severity.String() != "warning" || !regexpContains(f.Summary, `^invalid \+([4-7]\d|80) between samples`) ||
		!strings.Contains(f.Summary, "no rule drops INVALID packets and 1 NAT rules translate addresses") {
		t.Errorf("live: %s %q", f.Severity, f.Summary)
	}
	if len(f.Evidence.Rules) != 1 || f.Evidence.Rules[0].Backend != "iptables-legacy" {
		t.Errorf("live: the NAT rule read with iptables-legacy-save: %+v", f.Evidence.Rules)
	}
	if rem := docRemedies(f); !strings.Contains(rem, "ct state invalid counter drop") || !strings.Contains(rem, "ip netns exec "+p.B.Name+" ") {
		t.Errorf("live: remedies %s", rem)
	}
}

// A DNAT target switched (iptables-legacy -R) while a UDP client keeps
// sending from one source port: its entry still goes to the old backend.
func TestKernelRulesetStaleUDPBackend(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.RequireTools(t, "iptables-legacy", "iptables-legacy-save")
	p := netnstest.NewPair(t)
	vip := netip.AddrFrom4([4]byte{p.B4.As4()[0], p.B4.As4()[1], p.B4.As4()[2], 100})
	b2 := netip.AddrFrom4([4]byte{p.B4.As4()[0], p.B4.As4()[1], p.B4.As4()[2], 12})
	for _, a := range []netip.Addr{vip, b2} {
		p.B.MustOutput(t, "ip", "addr", "add", a.String()+"/32", "dev", p.BLink)
	}
	p.A.MustOutput(t, "ip", "route", "add", vip.String()+"/32", "dev", p.ALink)
	for _, be := range []netip.Addr{p.B4, b2} {
		pc, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(be, 5353).String())
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			buf := make([]byte, 64)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
	}
	dnat := func(op string, to netip.Addr) {
		args := []string{"-t", "nat", op, "PREROUTING"}
		if op == "-R" {
			args = append(args, "1")
		}
		p.B.MustOutput(t, "iptables-legacy", append(args, "-d", vip.String()+"/32", "-p", "udp", "--dport", "53", "-j", "DNAT", "--to-destination", to.String()+":5353")...)
	}
	dnat("-A", p.B4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
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
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	client() // while the rule points at the first backend
	time.Sleep(300 * time.Millisecond)
	dnat("-R", b2) // the backend moves
	for i := 0; i < 3; i++ {
		client()
	}
	srv := newKernelCapture(t, p.B)
	srv.ruleset = []string{"iptables-legacy-save", "-c"}
	srv.sampleAt(1)
	srv.sampleAt(2)

	d := srv.reportDefault()
	f := docFinding(d, "stale-udp")
	if f == nil {
		t.Fatalf("stale-udp did not fire: %q\n%s\n%s", docFired(d), srv.ns.MustOutput(t, "cat", "/proc/net/nf_conntrack"), srv.ns.MustOutput(t, "iptables-legacy-save", "-c"))
	}
	want := fmt.Sprintf("1 UDP entries to %s:53 still go to %s:5353, which no current rule targets: ip nat PREROUTING #1 (-A PREROUTING -d %s/32 -p udp -m udp --dport 53 -j DNAT --to-destination %s:5353) now translates it to %s:5353",
		vip, p.B4, vip, b2, b2)
	if f.Summary != want {
		t.Errorf("summary\n%q\nwant\n%q", f.Summary, want)
	}
	if rem := docRemedies(f); !strings.Contains(rem, fmt.Sprintf("conntrack -D -p udp -d %s --dport 53 -r %s", vip, p.B4)) {
		t.Errorf("remedies %s", rem)
	}
	if len(f.Evidence.Entries) != 1 || !strings.Contains(f.Evidence.Entries[0], "src="+p.B4.String()+" dst="+p.A4.String()+" sport=5353") {
		t.Errorf("entries %q", f.Evidence.Entries)
	}
}

// A churning UDP service beside an existing NOTRACK rule (nft): the busy
// port is proposed, in the host's own raw chains, and the NOTRACKed one
// never is; that NOTRACK rule takes packets a state rule names: a finding
// of its own.
func TestKernelRulesetNotrack(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	p.B.Nft(t, `table inet edge {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		udp dport 5301 counter notrack
	}
	chain out {
		type filter hook output priority raw; policy accept;
		udp sport 5301 notrack
	}
	chain in {
		type filter hook input priority filter; policy accept;
		udp dport 5301 ct state new counter accept
	}
}
`)
	for _, port := range []int{5300, 5301} {
		pc, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(p.B4, uint16(port)).String())
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			buf := make([]byte, 64)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
	}
	srv := newKernelCapture(t, p.B)
	srv.sampleAt(0)
	// 1200 queries from as many source ports to 5300, 300 to 5301.
	err := p.A.Do(func() error {
		for i := 0; i < 1500; i++ {
			port := 5300
			if i%5 == 4 {
				port = 5301
			}
			c, err := net.Dial("udp4", netip.AddrPortFrom(p.B4, uint16(port)).String())
			if err != nil {
				return err
			}
			c.Write([]byte("q"))
			c.SetReadDeadline(time.Now().Add(time.Second))
			c.Read(make([]byte, 8))
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.sampleAt(2)

	d := srv.reportDefault()
	f := docFinding(d, "notrack-candidate")
	if f == nil {
		t.Fatalf("notrack-candidate did not fire: %q", docFired(d))
	}
	// 1200 queries; a source port the kernel hands out again makes the
	// same entry, so a few fewer entries than queries.
	// Nearly all of the table: an entry or two of the namespace's own
	// (neighbour discovery, the test's other sockets) may stand beside.
	m := regexp.MustCompile(`^udp/5300: (\d+) unassured UDP entries \((\d+)% of the table\), about (\d+)/s new connections`).FindStringSubmatch(f.Summary)
	if m == nil {
		t.Fatalf("summary %q", f.Summary)
	}
	if share, _ := strconv.Atoi(m[2]); share < 95 {
		t.Errorf("summary %q: the port holds %d%% of the table, want 95%% or more", f.Summary, share)
	}
	n, _ := strconv.Atoi(m[1])
	rate, _ := strconv.Atoi(m[3])
	if n < 1100 || n > 1200 || rate != (n+15)/30 {
		t.Errorf("%d entries at %d/s: want about 1200 over the 30 s UDP timeout", n, rate)
	}
	rem := docRemedies(f)
	for _, want := range []string{"nft insert rule inet edge pre udp dport 5300 notrack", "nft insert rule inet edge pre udp sport 5300 notrack",
		"nft insert rule inet edge out udp dport 5300 notrack", "nft insert rule inet edge out udp sport 5300 notrack"} {
		if !strings.Contains(rem, want) {
			t.Errorf("remedies lack %q:\n%s", want, rem)
		}
	}
	if strings.Contains(f.Summary+rem, "5301") {
		t.Errorf("the NOTRACKed port proposed again:\n%s\n%s", f.Summary, rem)
	}
	c := docFinding(d, "notrack-conflict")
	if c == nil {
		t.Fatalf("notrack-conflict did not fire: %q", docFired(d))
	}
	for _, want := range []string{"inet edge pre #1 (udp dport 5301 counter packets 300 bytes", "takes udp dport 5301 out of conntrack",
		"which a state rule inet edge in #1 (udp dport 5301 ct state new counter packets 0 bytes 0 accept) needs", "(the NOTRACK rule counted 300 packets)"} {
		if !strings.Contains(c.Summary, want) {
			t.Errorf("conflict summary %q lacks %q", c.Summary, want)
		}
	}
	if rem := docRemedies(c); !regexpContains(rem, `nft delete rule inet edge pre handle \d+`) {
		t.Errorf("conflict remedies %s", rem)
	}
}

// A ruleset with no conntrack use (iptables-nft rules that match ports
// only) while entries remain from the rules it replaced.
func TestKernelRulesetConntrackUnneeded(t *testing.T) {
	netnstest.RequireTools(t, "iptables-nft", "iptables-nft-save")
	p := netnstest.NewPair(t)
	port := p.TCPEcho(t)
	for _, c := range corpus.DialMany(t, p.A, netip.AddrPortFrom(p.B4, port), 5) {
		c.Close()
	}
	p.B.MustOutput(t, "nft", "delete", "table", "inet", "ctdiag_test") // the harness's ct state rules
	p.B.MustOutput(t, "iptables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	srv := newKernelCapture(t, p.B)
	srv.ruleset = []string{"iptables-nft-save", "-c"}
	srv.sampleAt(0)

	d := srv.reportDefault()
	f := docFinding(d, "conntrack-unneeded")
	if f == nil {
		t.Fatalf("conntrack-unneeded did not fire: %q", docFired(d))
	}
	entries, _ := strconv.Atoi(docFigure(f, "entries"))
	if entries < 5 || !strings.Contains(f.Summary, fmt.Sprintf("%d entries are tracked, yet none of the 1 rules of the ruleset matches conntrack state", entries)) {
		t.Errorf("summary %q (entries %d)", f.Summary, entries)
	}
	rem := docRemedies(f)
	for _, want := range []string{"lsmod | grep -E", "Nothing in the ruleset needs conntrack (1 rules read)", "What would stop working: no"} {
		if !strings.Contains(rem, want) {
			t.Errorf("remedies lack %q:\n%s", want, rem)
		}
	}
}

func regexpContains(s, pattern string) bool { return regexp.MustCompile(pattern).MatchString(s) }
