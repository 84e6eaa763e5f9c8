package collector

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// openIn opens a collector on a test namespace.
func openIn(t *testing.T, ns *netnstest.NS, cfg Config) *Collector {
	t.Helper()
	cfg.Netns = Netns{Name: ns.Name}
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", ns.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fill creates ctfill's entries from..from+n-1 in ns over netlink.
func fill(t testing.TB, ns *netnstest.NS, from, n int) {
	t.Helper()
	if err := ctfill.FillIn("/run/netns/"+ns.Name, from, n); err != nil {
		t.Fatal(err)
	}
}

// dump returns every entry of c's table.
func dump(t *testing.T, c *Collector, kf DumpFilter) []track.Flow {
	t.Helper()
	var out []track.Flow
	if _, err := c.Flows(context.Background(), kf, func(f *track.Flow) error {
		out = append(out, f.Clone())
		return nil
	}); err != nil {
		t.Fatalf("Flows: %v", err)
	}
	return out
}

// variedTable fills A of a pair with what the dump test needs: TCP in
// several states over IPv4 and IPv6, UDP answered and not, ICMP and
// ICMPv6, a mark, a zone, a connection label, accounting and timestamps,
// and entries created with conntrack -I (SCTP, UDPLITE, GRE, DCCP). It
// returns the open connections (closed in cleanup).
func variedTable(t *testing.T, p *netnstest.Pair) {
	t.Helper()
	for _, s := range []string{"net.netfilter.nf_conntrack_acct=1", "net.netfilter.nf_conntrack_timestamp=1"} {
		p.A.MustOutput(t, "sysctl", "-q", "-w", s)
	}
	echo := p.TCPEcho(t)
	p.A.Nft(t, fmt.Sprintf(`table inet varied {
		chain raw {
			type filter hook output priority raw;
			udp dport 7777 ct zone set 5
		}
		chain out {
			type filter hook output priority 0;
			tcp dport %d ct mark set 0x10
			ip6 daddr %s tcp dport %d ct label set 3
		}
	}`, echo, p.B6, echo))
	p.B.Nft(t, `table inet drop9 {
		chain in {
			type filter hook input priority 0;
			tcp dport 9 drop
			udp dport 9 drop
			udp dport 7777 drop
		}
	}`)
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, dst := range []netip.Addr{p.B4, p.B6, p.B4} {
		c, err := p.A.Dial("tcp", netip.AddrPortFrom(dst, echo).String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write([]byte("hi\n"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(make([]byte, 8))
	}
	conns[2].Close() // TIME_WAIT
	if c, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, 9).String()); err == nil {
		c.Close()
	}
	for _, port := range []uint16{9, 7777} {
		c, err := p.A.Dial("udp", netip.AddrPortFrom(p.B4, port).String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write([]byte("x"))
	}
	p.Ping(t, p.B4)
	p.Ping(t, p.B6)
	for _, args := range [][]string{
		{"-p", "sctp", "-s", "192.0.2.1", "-d", "192.0.2.2", "--sport", "5000", "--dport", "5001", "--state", "ESTABLISHED", "--orig-vtag", "1", "--reply-vtag", "2", "-t", "300", "-u", "SEEN_REPLY"},
		{"-p", "udplite", "-s", "192.0.2.1", "-d", "192.0.2.2", "--sport", "6000", "--dport", "6001", "-t", "300"},
		{"-p", "udp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "53", "--dport", "5353", "-t", "300", "-m", "255", "-u", "SEEN_REPLY,ASSURED"},
		{"-p", "tcp", "-s", "192.0.2.3", "-d", "192.0.2.4", "--sport", "1", "--dport", "2", "--state", "CLOSE_WAIT", "-t", "300", "-w", "9"},
	} {
		p.A.MustOutput(t, "conntrack", append([]string{"-I"}, args...)...)
	}
	time.Sleep(200 * time.Millisecond) // let the close handshake finish
}

var (
	timeoutField = regexp.MustCompile(`^(ipv[46] +\d+ \S+ +\d+ )(\d+) `)
	deltaField   = regexp.MustCompile(` delta-time=(\d+) `)
	idField      = regexp.MustCompile(` id=(\d+)`)
)

// normalise replaces the timeout and delta-time of an -o extended line by
// placeholders and returns them; both tick between two readings.
func normalise(line string) (string, int, int) {
	timeout, delta := -1, -1
	if m := timeoutField.FindStringSubmatch(line); m != nil {
		timeout, _ = strconv.Atoi(m[2])
		line = m[1] + "T " + line[len(m[0]):]
	}
	if m := deltaField.FindStringSubmatch(line); m != nil {
		delta, _ = strconv.Atoi(m[1])
		line = deltaField.ReplaceAllString(line, " delta-time=D ")
	}
	return line, timeout, delta
}

// byID indexes -o extended,id lines by their id.
func byID(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		m := idField.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("no id in %q", l)
		}
		out[m[1]] = l
	}
	return out
}

// TestKernelDumpEqualsConntrack: the netlink dump of a namespace, printed
// as conntrack -L -o extended,id prints, equals conntrack's own listing
// entry for entry, once the seconds that tick between the two readings
// (timeout, delta-time) are set aside and checked to be within 2 s.
func TestKernelDumpEqualsConntrack(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping", "sysctl")
	p := netnstest.NewPair(t)
	variedTable(t, p)

	c := openIn(t, p.A, Config{})
	if c.Source().Kind != track.SourceNetlink || c.Source().Netns != p.A.Name {
		t.Fatalf("source %+v, want netlink in %s", c.Source(), p.A.Name)
	}
	flows := dump(t, c, DumpFilter{})
	theirs := byID(t, string(p.A.MustOutput(t, "conntrack", "-L", "-o", "extended,id")))
	var ours strings.Builder
	labelled := 0
	for i := range flows {
		f := &flows[i]
		if f.Fields.Has(track.FieldLabels) {
			// conntrack prints only named labels; the test's label is bit
			// 3, unnamed, so ctdiag names it "3".
			if !slices.Equal(f.Ext.Labels, []string{"3"}) || f.Orig.Family != track.FamilyIPv6 || f.Orig.Proto != track.ProtoTCP {
				t.Errorf("labels %v on %v", f.Ext.Labels, f.Orig)
			}
			labelled++
			g := f.Clone()
			g.Fields &^= track.FieldLabels
			f = &g
		}
		ours.Write(parser.AppendFlow(nil, f, parser.StyleExtended))
	}
	if labelled == 0 {
		t.Error("no entry carried the connection label the ruleset sets")
	}
	mine := byID(t, ours.String())
	if len(mine) != len(theirs) || len(mine) < 12 {
		t.Fatalf("ctdiag read %d entries, conntrack %d:\n%s\n---\n%s", len(mine), len(theirs), ours.String(), joinValues(theirs))
	}
	kinds := map[string]bool{}
	for id, want := range theirs {
		got, ok := mine[id]
		if !ok {
			t.Errorf("entry id=%s missing from the dump: %s", id, want)
			continue
		}
		g, gt, gd := normalise(got)
		w, wt, wd := normalise(want)
		if g != w || abs(gt-wt) > 2 || abs(gd-wd) > 2 {
			t.Errorf("entry id=%s:\n ctdiag:    %s\n conntrack: %s", id, got, want)
		}
		for _, k := range []string{"ipv6", "tcp", "udp", "icmp ", "icmpv6", "sctp", "udplite", "ESTABLISHED", "TIME_WAIT", "SYN_SENT", "CLOSE_WAIT", "[UNREPLIED]", "mark=16", "zone=5", "zone=9", "packets=", "delta-time="} {
			if strings.Contains(want, k) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) < 17 {
		t.Errorf("the table lacks some of what it should test; it had %v", kinds)
	}
}

func joinValues(m map[string]string) string {
	var s []string
	for _, v := range m {
		s = append(s, v)
	}
	slices.Sort(s)
	return strings.Join(s, "\n")
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestKernelStatsEqualConntrack: per-CPU statistics over netlink equal
// conntrack -S and conntrack -S expect, counter for counter, and the /proc
// source gives the same numbers (by their /proc names) plus the count.
func TestKernelStatsEqualConntrack(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping")
	p := netnstest.NewPair(t)
	p.Ping(t, p.B4)
	p.A.MustOutput(t, "conntrack", "-I", "-p", "udp", "-s", "192.0.2.1", "-d", "192.0.2.2", "--sport", "1", "--dport", "2", "-t", "300")

	c := openIn(t, p.A, Config{})
	st, _, _, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want track.Snapshot
	for _, args := range [][]string{{"-S"}, {"-S", "expect"}} {
		out := p.A.MustOutput(t, "conntrack", args...)
		d, err := parser.NewDecoder(bytes.NewReader(out), "conntrack "+strings.Join(args, " "), parser.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.ReadInto(&want); err != nil || d.Problems().Count > 0 {
			t.Fatalf("parsing conntrack %v: %v %v", args, err, d.Problems().Samples)
		}
	}
	if len(st.CPUs) != len(want.Stats.CPUs) || len(st.CPUs) == 0 {
		t.Fatalf("%d CPUs, conntrack -S shows %d", len(st.CPUs), len(want.Stats.CPUs))
	}
	compared := 0
	for i, w := range want.Stats.CPUs {
		g := st.CPUs[i]
		for k := track.Counter(0); k < track.NumCounters; k++ {
			wv, wok := w.Get(k)
			gv, gok := g.Get(k)
			if wok != gok || wv != gv {
				t.Errorf("cpu %d %s: ctdiag %d (%v), conntrack %d (%v)", w.CPU, k, gv, gok, wv, wok)
			}
			if wok {
				compared++
			}
		}
	}
	for _, k := range []track.Counter{track.CounterClashResolve, track.CounterChainTooLong, track.CounterExpectNew} {
		if !st.Has(k) {
			t.Errorf("%s missing", k)
		}
	}
	if st.Total(track.CounterInsert) < 1 {
		t.Error("conntrack -I counts as an insert")
	}
	t.Logf("%d counters compared over %d CPUs", compared, len(st.CPUs))

	proc := openIn(t, p.A, Config{Source: SourceProcfs})
	pst, count, hasCount, err := proc.Stats(context.Background())
	if err != nil || !hasCount {
		t.Fatalf("/proc stats: %v (count %v)", err, hasCount)
	}
	for i := range st.CPUs {
		for _, k := range []track.Counter{track.CounterFound, track.CounterInvalid, track.CounterInsert, track.CounterInsertFailed,
			track.CounterDrop, track.CounterEarlyDrop, track.CounterError, track.CounterSearchRestart,
			track.CounterClashResolve, track.CounterChainTooLong, track.CounterExpectNew, track.CounterExpectCreate, track.CounterExpectDelete} {
			if a, b := st.CPUs[i].Values[k], pst.CPUs[i].Values[k]; a != b {
				t.Errorf("cpu %d %s: netlink %d, /proc %d", i, k, a, b)
			}
		}
	}
	if n := uint64(len(dump(t, c, DumpFilter{}))); count != n {
		t.Errorf("/proc entries column %d, table %d", count, n)
	}
}

// TestKernelCountMaxEqualConntrack: count equals conntrack -C and the
// sysctl, max equals nf_conntrack_max, over netlink and /proc alike.
func TestKernelCountMaxEqualConntrack(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack")
	ns := netnstest.NewNS(t)
	for i := range 7 {
		ns.MustOutput(t, "conntrack", "-I", "-p", "udp", "-s", "192.0.2.1", "-d", "192.0.2.2", "--sport", strconv.Itoa(1000+i), "--dport", "53", "-t", "300")
	}
	wantCount, _ := strconv.ParseUint(strings.TrimSpace(string(ns.MustOutput(t, "conntrack", "-C"))), 10, 64)
	for _, src := range []SourceChoice{SourceNetlink, SourceProcfs} {
		c := openIn(t, ns, Config{Source: src})
		count, max, hasMax, err := c.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wantMax, _ := strconv.ParseUint(strings.TrimSpace(string(ns.MustOutput(t, "cat", "/proc/sys/net/netfilter/nf_conntrack_max"))), 10, 64)
		if count != wantCount || count != 7 || !hasMax || max != wantMax {
			t.Errorf("%v: count %d max %d (%v), want %d and %d", c.Source().Kind, count, max, hasMax, wantCount, wantMax)
		}
	}
}

// TestKernelSysctlsOfTheNamespace: the sysctls read are the namespace's
// own (a value changed there, not here), and equal sysctl -a there.
func TestKernelSysctlsOfTheNamespace(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "sysctl")
	ns := netnstest.NewNS(t)
	ns.MustOutput(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_tcp_timeout_established=4321")
	c := openIn(t, ns, Config{})
	got, err := c.Sysctls()
	if err != nil {
		t.Fatal(err)
	}
	var want track.Snapshot
	out := ns.MustOutput(t, "sysctl", "-a")
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "net.netfilter.nf_conntrack_") || strings.HasPrefix(l, "net.netfilter.nf_log_all_netns") {
			lines = append(lines, l)
		}
	}
	d, _ := parser.NewDecoder(strings.NewReader(strings.Join(lines, "\n")+"\n"), "sysctl -a", parser.Options{})
	if err := d.ReadInto(&want); err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Get("nf_conntrack_tcp_timeout_established"); v != "4321" {
		t.Errorf("established timeout %q, want the namespace's 4321", v)
	}
	for _, k := range []string{"nf_conntrack_buckets", "nf_conntrack_max", "nf_conntrack_count", "nf_conntrack_acct",
		"nf_conntrack_timestamp", "nf_conntrack_events", "nf_conntrack_tcp_be_liberal", "nf_conntrack_tcp_loose", "nf_conntrack_udp_timeout"} {
		if _, ok := got.Get(k); !ok {
			t.Errorf("%s missing", k)
		}
	}
	for k, v := range want.Sysctls {
		if k == "net.netfilter.nf_conntrack_count" {
			continue
		}
		if got[k] != v {
			t.Errorf("%s = %q, sysctl -a says %q", k, got[k], v)
		}
	}
	if len(got) < len(want.Sysctls) {
		t.Errorf("%d sysctls, sysctl -a has %d", len(got), len(want.Sysctls))
	}
}

// TestKernelProcfsAndReplay: the /proc source lists the same entries as
// netlink; a copy of the namespace's /proc files under another root
// replays them (entries, statistics, sysctls) with no kernel access.
func TestKernelProcfsAndReplay(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping", "sysctl")
	p := netnstest.NewPair(t)
	variedTable(t, p)
	nl := openIn(t, p.A, Config{})
	pr := openIn(t, p.A, Config{Source: SourceProcfs})
	if pr.Source().Kind != track.SourceProcfs || !strings.HasSuffix(pr.Source().Name, "/net/nf_conntrack") {
		t.Fatalf("procfs source: %+v", pr.Source())
	}
	a, b := tuples(dump(t, nl, DumpFilter{})), tuples(dump(t, pr, DumpFilter{}))
	if !slices.Equal(a, b) {
		t.Fatalf("netlink and /proc differ:\n%v\n%v", a, b)
	}

	root := t.TempDir()
	for _, rel := range []string{"net/nf_conntrack", "net/stat/nf_conntrack"} {
		copyFromNS(t, p.A, "/proc/"+rel, filepath.Join(root, rel))
	}
	for _, name := range []string{"nf_conntrack_count", "nf_conntrack_max", "nf_conntrack_tcp_timeout_established", "nf_conntrack_buckets"} {
		copyFromNS(t, p.A, "/proc/sys/net/netfilter/"+name, filepath.Join(root, "sys/net/netfilter", name))
	}
	os.MkdirAll(filepath.Join(root, "sys/kernel"), 0o755)
	os.WriteFile(filepath.Join(root, "sys/kernel/hostname"), []byte("copied-host\n"), 0o644)
	r, err := Open(Config{ProcRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s := r.Source(); s.Kind != track.SourceProcfs || s.Host != "copied-host" {
		t.Errorf("replay source %+v", s)
	}
	if got := tuples(dump(t, r, DumpFilter{})); !slices.Equal(got, b) {
		t.Errorf("replayed entries differ:\n%v\n%v", got, b)
	}
	x, err := r.Extra(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !x.HasCount || x.Count != uint64(len(b)) || !x.HasMax || len(x.Stats.CPUs) == 0 || len(x.Sysctls) != 4 {
		t.Errorf("replayed extra: count %d/%v max %v, %d CPUs, %d sysctls", x.Count, x.HasCount, x.HasMax, len(x.Stats.CPUs), len(x.Sysctls))
	}
	if _, err := Open(Config{ProcRoot: root, Netns: Netns{Name: "x"}}); err == nil {
		t.Error("a replay with a namespace name must be refused")
	}
}

func copyFromNS(t *testing.T, ns *netnstest.NS, src, dst string) {
	t.Helper()
	b, err := ns.ReadProcFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tuples lists the flows' original tuples, sorted.
func tuples(flows []track.Flow) []string {
	var out []string
	for _, f := range flows {
		out = append(out, f.Orig.String())
	}
	slices.Sort(out)
	return out
}

// TestKernelLogOwnNamespace: the kernel log is the machine's; a collector
// for one namespace keeps the "table full" lines of that namespace only
// (the init namespace's name none), and every line it cannot attribute.
func TestKernelLogOwnNamespace(t *testing.T) {
	ns := netnstest.NewNS(t)
	c, err := Open(Config{Netns: Netns{Name: ns.Name}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	own := c.NetnsInode()
	lines := []track.KernelLogLine{
		{Kind: track.KernelLogTableFull, Netns: own, Text: "mine"},
		{Kind: track.KernelLogTableFull, Netns: own, Time: c.opened.Add(-time.Hour), Text: "an earlier namespace with this inode"},
		{Kind: track.KernelLogTableFull, Netns: own + 1, Text: "another namespace"},
		{Kind: track.KernelLogTableFull, Netns: 0, Text: "the init namespace"},
		{Kind: track.KernelLogAteMyIP, Text: "eth0 ate my IP address"},
	}
	var got []string
	for _, l := range c.ownTableFull(lines) {
		got = append(got, l.Text)
	}
	if want := []string{"mine", "eth0 ate my IP address"}; !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
	if !slices.ContainsFunc(c.Notes(), func(n string) bool { return strings.Contains(n, "lines of other network namespaces") }) {
		t.Errorf("notes %q", c.Notes())
	}

	// Reading the init namespace: its unnamed lines are its own.
	host, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	got = nil
	for _, l := range host.ownTableFull([]track.KernelLogLine{
		{Kind: track.KernelLogTableFull, Netns: own, Text: "a namespace"},
		{Kind: track.KernelLogTableFull, Netns: 0, Text: "the init namespace"},
	}) {
		got = append(got, l.Text)
	}
	if want := []string{"the init namespace"}; !slices.Equal(got, want) {
		t.Errorf("host kept %q, want %q", got, want)
	}
}
