package parser

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Shapes seen in output people published (issue threads, mails, vendor
// kernels) that the parser once refused. The lines are modelled on those
// posts; the posts themselves are read by the real-world corpus test.

// TestTabIndentedEntries: kube-proxy logs conntrack -D's output indented by
// a tab. The error for a wrong protocol name once quoted the tab back
// ("expected protocol name udp for number 17, got \"\\tudp\"").
func TestTabIndentedEntries(t *testing.T) {
	line := "\tudp      17 23 src=10.11.4.30 dst=10.12.201.0 sport=34152 dport=8125 [UNREPLIED] src=10.11.4.22 dst=10.11.4.30 sport=8125 dport=34152 mark=0 use=1"
	f := mustParseFlow(t, line)
	if f.Orig.Proto != track.ProtoUDP || f.Status.SeenReply() || f.Use != 1 || f.Orig.DstPort != 8125 {
		t.Fatalf("%+v", f)
	}
	// Written back, it is conntrack -L's own line.
	if got := string(AppendFlow(nil, &f, StyleConntrack)); got != strings.TrimLeft(line, "\t")+"\n" {
		t.Errorf("written as %q", got)
	}
	var g track.Flow
	err := utc.parseFlow([]byte("\ttcp      17 23 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 use=1"), &g)
	if err == nil || strings.Contains(err.Error(), `\t`) || !strings.Contains(err.Error(), `protocol name udp for number 17, got "tcp"`) {
		t.Errorf("error %v", err)
	}
}

// TestVendorProcFields: ASUS/Broadcom router kernels add [FASTNAT], nmark=,
// sc=, ifw=, ifl=, mac=, bare words and attrs= after the flags; every line
// of such a /proc was once malformed.
func TestVendorProcFields(t *testing.T) {
	lines := []string{
		"ipv4     2 tcp      6 1187 ESTABLISHED src=192.168.1.15 dst=198.51.100.133 sport=49158 dport=443 packets=14 bytes=3389 src=198.51.100.133 dst=172.16.0.2 sport=443 dport=49158 packets=12 bytes=6182 [ASSURED] [FASTNAT] mark=268434092 nmark=0 sc=0 ifw=59 ifl=35 mac=b0:4a:b4:74:80:f8 slan attrs= use=2",
		"ipv4     2 udp      17 98 src=198.51.100.207 dst=198.51.100.74 sport=53907 dport=53 packets=2 bytes=154 src=198.51.100.74 dst=198.51.100.207 sport=53 dport=53907 packets=2 bytes=331 [ASSURED] [FASTNAT] mark=0 nmark=256 sc=0 nomac swan no_if attrs= use=2",
		"ipv4     2 icmp     1 src=172.16.0.2 dst=8.8.8.8 type=8 code=0 id=6184 packets=1 bytes=84 src=8.8.8.8 dst=172.16.0.2 type=0 code=0 id=0 packets=1 bytes=84 [FASTNAT] mark=0 nmark=0 sc=0 use=2",
	}
	d, err := NewDecoder(strings.NewReader(strings.Join(lines, "\n")+"\n"), "asus", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var flows []track.Flow
	if err := d.Flows(func(f *track.Flow) error { flows = append(flows, *f); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(flows) != 3 || d.Problems().Count != 0 {
		t.Fatalf("%d flows, %v", len(flows), d.Problems().Samples)
	}
	if f := flows[0]; f.Mark != 268434092 || f.Use != 2 || !f.Status.Assured() || f.ReplyCounters.Bytes != 6182 {
		t.Errorf("%+v", f)
	}
	if f := flows[2]; f.Orig.ID != 6184 || f.Fields.Has(track.FieldTimeout) || f.Status.Assured() {
		t.Errorf("%+v", f)
	}
	// Vendor fields belong between the flags and use=, nowhere else.
	for _, bad := range []string{
		"ipv4     2 tcp      6 5 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED] mark=0 use=2 nmark=0",
		"ipv4     2 tcp      6 5 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 nmark=0 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED] mark=0 use=2",
		"ipv4     2 tcp      6 5 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED] mark=0 [FASTNAT] use=2",
	} {
		var f track.Flow
		if err := utc.parseFlow([]byte(bad), &f); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestOldSysctlNames: a 2.6 kernel's net.ipv4.netfilter.ip_conntrack_*
// values were read and then ignored ("max unknown"); they are today's
// settings under their old names.
func TestOldSysctlNames(t *testing.T) {
	s := readSnapshot(t, []byte("net.ipv4.netfilter.ip_conntrack_max = 65536\n"+
		"net.ipv4.netfilter.ip_conntrack_count = 33601\n"+
		"net.ipv4.netfilter.ip_conntrack_tcp_timeout_established = 432000\n"), "sysctl.txt")
	if !s.HasMax || s.Max != 65536 || !s.HasCount || s.Count != 33601 {
		t.Fatalf("max %v/%d count %v/%d", s.HasMax, s.Max, s.HasCount, s.Count)
	}
	if v, _ := s.Sysctls.Int("nf_conntrack_tcp_timeout_established"); v != 432000 {
		t.Errorf("sysctls %v", s.Sysctls)
	}
	if _, ok := s.Sysctls["net.ipv4.netfilter.ip_conntrack_max"]; ok {
		t.Errorf("the old name is kept as well: %v", s.Sysctls)
	}
	// Both names (2.6.2x kernels print both): the modern one wins, in
	// either order.
	for _, in := range []string{
		"net.netfilter.nf_conntrack_max = 1000\nnet.ipv4.netfilter.ip_conntrack_max = 2000\n",
		"net.ipv4.netfilter.ip_conntrack_max = 2000\nnet.netfilter.nf_conntrack_max = 1000\n",
	} {
		if s := readSnapshot(t, []byte(in), "sysctl.txt"); s.Max != 1000 || len(s.Sysctls) != 1 {
			t.Errorf("%q: max %d, %v", in, s.Max, s.Sysctls)
		}
	}
	// A /proc/sys file of the old kernel.
	d, err := NewDecoder(strings.NewReader("65536\n"), "/proc/sys/net/ipv4/netfilter/ip_conntrack_max", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var snap track.Snapshot
	if err := d.ReadInto(&snap); err != nil || snap.Max != 65536 {
		t.Errorf("%v: max %d", err, snap.Max)
	}
}

// TestPastedKernelLogs: indented, cut at the front, wrapped, redacted,
// doubled prefixes: every shape of a "table full" line people paste.
func TestPastedKernelLogs(t *testing.T) {
	in := "obs kernel: [38775494.392631] nf_conntrack: table full, dropping packet\n" + // cut at the front
		"Feb 23 16:44:36 jobs kernel: [38775494.393661] nf_conntrack: table full,\n" + // wrapped
		"dropping packet\n" +
		"kernel: [1694413.644132] nf_conntrack: nf_conntrack: table full, dropping packet\n" + // doubled prefix
		"      [   10.810168] nf_conntrack: table full, dropping packet\n" + // indented
		"[00] nf_ct_proto_6: 3312 bytes more than expected IN=wan OUT= SRC=149.112.112.112\n" + // redacted stamp
		"      [   11.917416] r8169 0000:07:00.0 eth0: link up\n" +
		"[...]\n"
	d, err := NewDecoder(strings.NewReader(in), "dmesg", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var s track.Snapshot
	if err := d.ReadInto(&s); err != nil {
		t.Fatal(err)
	}
	c := d.Counts()
	if d.Format() != FormatKernelLog || c.KernelLog != 5 || c.Continued != 1 || c.KernelOther != 2 || d.Problems().Count != 0 {
		t.Fatalf("%s %+v %v", d.Format(), c, d.Problems().Samples)
	}
	if n := s.KernelLogCounts().Kinds[track.KernelLogTableFull]; n != 4 {
		t.Errorf("%d table-full lines, want 4", n)
	}
	w := s.KernelLog[1]
	if w.Text != "nf_conntrack: table full, dropping packet" || w.Raw != "Feb 23 16:44:36 jobs kernel: [38775494.393661] nf_conntrack: table full,\ndropping packet" ||
		!w.HasSince || w.Time.IsZero() {
		t.Errorf("wrapped line read as %+v", w)
	}
	if k := s.KernelLog[4]; k.Kind != track.KernelLogInvalid || k.HasSince {
		t.Errorf("redacted stamp: %+v", k)
	}
	// Written back, the lines are as read (the wrapped one still wrapped).
	var buf bytes.Buffer
	if err := WriteKernelLog(&buf, s.KernelLog); err != nil {
		t.Fatal(err)
	}
	back := readSnapshot(t, buf.Bytes(), "dmesg")
	if back.KernelLogCounts().Kinds != s.KernelLogCounts().Kinds {
		t.Errorf("written back: %+v", back.KernelLogCounts())
	}
	// A bracketed number before prose is no kernel log.
	if k := utc.classifyLine([]byte("[1] see the manual")); k == kindKernelLog {
		t.Error("a numbered list item taken for a kernel log")
	}
}

// TestSyslogWrappedEvents: vyos-conntrack-logger sends conntrack events to
// syslog with the entry id after the type and nanosecond start/stop at the
// end; a plain logger just prefixes the line.
func TestSyslogWrappedEvents(t *testing.T) {
	now := time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC)
	p := lineParser{loc: time.UTC, now: now}
	var ev track.Event
	line := "Jul 16 12:55:12 vyos-conntrack-logger[9387]: [DESTROY] 2800357913 tcp      6 120 CLOSE src=192.168.122.1 dst=192.168.122.166 sport=38854 dport=5201 [UNREPLIED] src=192.168.122.166 dst=192.168.122.1 sport=5201 dport=38854 start=1721134512551045816 stop=1721134513551109629 delta=1.000064"
	if err := p.parseEvent([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	f := ev.Flow
	if ev.Type != track.EventDestroy || !ev.Time.Equal(time.Date(2024, 7, 16, 12, 55, 12, 0, time.UTC)) ||
		f.ID != 2800357913 || !f.Fields.Has(track.FieldID) || f.Orig.DstPort != 5201 || f.Timeout != 120 ||
		!f.Ext.Start.Equal(time.Unix(1721134512, 0)) || !f.Ext.Stop.Equal(time.Unix(1721134513, 0)) {
		t.Fatalf("%+v %+v", ev, f.Ext)
	}
	// Written as conntrack -E prints it, it reads back the same.
	out := AppendEvent(nil, &ev, StyleExtended)
	var back track.Event
	if err := p.parseEvent(bytes.TrimSuffix(out, []byte("\n")), &back); err != nil || !back.Flow.Equal(&ev.Flow) || !back.Time.Equal(ev.Time) {
		t.Fatalf("%q: %v %+v", out, err, back)
	}
	for _, plain := range []string{
		"Jan  1 00:00:00 host conntrack-logger: [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1",
		"2024-01-01T00:00:00+00:00 host conntrack[7]:     [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1",
	} {
		if err := p.parseEvent([]byte(plain), &ev); err != nil || ev.Type != track.EventNew || !ev.Time.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%q: %v %v", plain, err, ev.Time)
		}
	}
	if p.isEventLine([]byte("Jan  1 00:00:00 host sshd[7]: Accepted publickey for root")) {
		t.Error("a syslog line without an event taken for one")
	}
}

// TestHashPrefixedSelftestOutput: kernel selftests print every line behind
// "# "; such output was all comments, read as nothing.
func TestHashPrefixedSelftestOutput(t *testing.T) {
	in := "# selftests: conntrack_reverse_clash.sh\n" +
		"# ERROR: SNAT performed without any matching snat rule\n" +
		"# udp      17 30 src=127.0.0.11 dst=127.0.0.12 sport=56789 dport=56790 [UNREPLIED] src=127.0.0.12 dst=127.0.0.11 sport=56790 dport=56789 mark=0 use=1\n" +
		"# conntrack v1.4.8 (conntrack-tools): 1 flow entries have been shown.\n" +
		"# cpu=0         found=0 invalid=0 insert=0 insert_failed=3 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0\n" +
		"ok 1 selftests: conntrack_reverse_clash.sh\n"
	d, err := NewDecoder(strings.NewReader(in), "selftest.log", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var s track.Snapshot
	if err := d.ReadInto(&s); err != nil {
		t.Fatal(err)
	}
	if d.Format() != FormatMixed || len(s.Flows) != 1 || d.Counts().StatsLines != 1 || s.Stats.Total(track.CounterInsertFailed) != 3 ||
		d.Counts().Comments != 4 || d.Problems().Count != 0 {
		t.Fatalf("%s, %d flows, %+v, %v", d.Format(), len(s.Flows), d.Counts(), d.Problems().Samples)
	}
	// An ordinary file's comments stay comments.
	d, _ = NewDecoder(strings.NewReader("# udp 17 30 src=1.1.1.1\n"+specProcLines[0]+"\n"), "dump", Options{})
	flows := 0
	_ = d.Flows(func(*track.Flow) error { flows++; return nil })
	if d.Format() != FormatProc || flows != 1 || d.Counts().Comments != 1 {
		t.Errorf("%s, %d flows, %+v", d.Format(), flows, d.Counts())
	}
}

// TestExpectationTable: /proc/net/nf_conntrack_expect was "unknown" (and a
// file of conntrack -L expect lines "empty"): it is an expectation table,
// which is not a flow table.
func TestExpectationTable(t *testing.T) {
	for _, in := range []string{
		"133 l3proto = 2 proto=47 src=192.168.13.152 dst=192.168.13.118 srckey=0xa9a0 dstkey=0x6bd8 pptp\n",
		"300 proto=6 src=1.2.3.4 dst=1.2.3.4 sport=0 dport=2049 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=1.2.3.4 master-dst=1.2.3.4 sport=55450 dport=111 PERMANENT class=0 helper=rpc\n",
	} {
		d, err := NewDecoder(strings.NewReader(in), "expect", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != FormatExpect {
			t.Errorf("%q: %s", in, d.Format())
		}
		var s track.Snapshot
		if err := d.ReadInto(&s); err != nil || d.Counts().Expectations != 1 {
			t.Errorf("%v %+v", err, d.Counts())
		}
	}
}

// TestProcOutputHasNoEntryID: -o proc printed conntrack -o id's id=, which
// /proc/net/nf_conntrack never does.
func TestProcOutputHasNoEntryID(t *testing.T) {
	f := mustParseFlow(t, "tcp      6 431997 ESTABLISHED src=10.32.0.1 dst=10.32.0.1 sport=50274 dport=4040 src=10.32.0.1 dst=10.32.0.1 sport=4040 dport=50274 [ASSURED] mark=0 use=1 id=407401088")
	if out := string(AppendFlow(nil, &f, StyleProc)); strings.Contains(out, "id=") {
		t.Errorf("-o proc: %q", out)
	}
	for _, s := range []Style{StyleConntrack, StyleExtended} {
		if out := string(AppendFlow(nil, &f, s)); !strings.HasSuffix(out, " use=1 id=407401088\n") {
			t.Errorf("%s: %q", s, out)
		}
	}
}

// TestConntrackdCacheNamed: conntrackd -i's cache dump looks like conntrack
// -L; the error says what it is.
func TestConntrackdCacheNamed(t *testing.T) {
	var f track.Flow
	err := utc.parseFlow([]byte(" tcp      6 ESTABLISHED src=192.168.2.100 dst=139.174.175.20 sport=58491 dport=993 src=139.174.175.20 dst=192.168.2.100 sport=993 dport=58491 [ASSURED] mark=0 secmark=0 [active since 536s]"), &f)
	if err == nil || !strings.Contains(err.Error(), "conntrackd -i") {
		t.Errorf("%v", err)
	}
}

// TestMixedFileIsATable: conntrack -L and conntrack -S saved in one file
// (or a selftest's log): its entries were counted and then dropped by the
// sample walk (report saw no table). They are the sample's table now, from
// a file and from standard input, with the statistics beside them.
func TestMixedFileIsATable(t *testing.T) {
	text := specProcLines[0] + "\n" + specProcLines[1] + "\n" +
		"cpu=0   \tfound=0 invalid=5 insert=0 insert_failed=2 drop=1 early_drop=0 error=0 search_restart=0\n"
	file := t.TempDir() + "/mixed.txt"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []Input{{Path: file}, {Path: "-"}} {
		// A sink that, like the analyzer, takes entries through Flow only.
		sink := &countingSink{}
		if _, err := WalkSamples([]Input{in}, Options{Stdin: strings.NewReader(text)}, sink); err != nil {
			t.Fatal(err)
		}
		if sink.samples != 1 || sink.flows != 2 || sink.extra.Stats.Total(track.CounterDrop) != 1 {
			t.Fatalf("%s: %d samples, %d entries, %+v", in.Path, sink.samples, sink.flows, sink.extra.Stats)
		}
	}
}
