package parser

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// specProcLines are the 6.18 (observed) /proc/net/nf_conntrack lines quoted in
// docs/KERNEL.md §5.1.
var specProcLines = []string{
	"ipv4     2 tcp      6 119 SYN_SENT src=127.0.0.1 dst=127.0.0.2 sport=40000 dport=80 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 sport=80 dport=40000 mark=0 zone=0 use=2",
	"ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.2 sport=40000 dport=80 src=127.0.0.2 dst=127.0.0.1 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2",
	"ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.2 sport=5000 dport=53 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 sport=53 dport=5000 mark=0 zone=0 use=2",
	"ipv4     2 udp      17 119 src=127.0.0.1 dst=127.0.0.2 sport=5000 dport=53 src=127.0.0.2 dst=127.0.0.1 sport=53 dport=5000 [ASSURED] mark=0 zone=0 use=2",
	"ipv4     2 icmp     1 29 src=127.0.0.1 dst=127.0.0.2 type=8 code=0 id=4242 src=127.0.0.2 dst=127.0.0.1 type=0 code=0 id=4242 mark=0 zone=0 use=2",
	"ipv4     2 unknown  253 599 src=127.0.0.1 dst=127.0.0.2 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 mark=0 zone=0 use=2",
	"ipv4     2 gre      47 29 timeout=30, stream_timeout=180 src=127.0.0.1 dst=127.0.0.2 srckey=0x0 dstkey=0x0 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 srckey=0x0 dstkey=0x0 mark=0 zone=0 use=2",
	"ipv4     2 udplite  136 29 src=127.0.0.1 dst=127.0.0.2 sport=3000 dport=4000 src=127.0.0.2 dst=127.0.0.1 sport=4000 dport=3000 mark=0 zone=0 use=2",
	"ipv4     2 unknown  33 599 src=127.0.0.1 dst=127.0.0.2 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 mark=0 zone=0 use=2",
	"ipv4     2 udp      17 28 src=127.0.0.1 dst=127.0.0.2 sport=6000 dport=53 packets=1 bytes=29 src=127.0.0.2 dst=127.0.0.1 sport=53 dport=6000 packets=1 bytes=29 mark=0 zone=0 delta-time=1 use=2",
	"ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.2 sport=7000 dport=7777 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 sport=7777 dport=7000 mark=16 zone=5 use=2",
	"ipv6     10 icmpv6   58 28 src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 type=128 code=0 id=12263 src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 type=129 code=0 id=12263 mark=0 zone=0 use=2",
	"ipv4     2 tcp      6 9 ESTABLISHED src=127.0.0.1 dst=127.0.0.2 sport=44000 dport=80 src=127.0.0.2 dst=127.0.0.1 sport=80 dport=44000 [ASSURED] mark=0 zone=0 use=2",
}

func TestSpecProcLines(t *testing.T) {
	for _, line := range specProcLines {
		f := mustParseFlow(t, line)
		if got := AppendFlow(nil, &f, StyleProc); string(got) != line+"\n" {
			t.Errorf("written back:\n got %s want %s", got, line)
		}
	}
	a := netip.MustParseAddr
	// Spot checks of what the fields mean.
	f := mustParseFlow(t, specProcLines[0])
	if s, ok := f.TCPState(); !ok || s != track.TCPSynSent || !f.Unreplied() || f.Timeout != 119 || f.Use != 2 ||
		f.Orig.Src != a("127.0.0.1") || f.Reply.DstPort != 40000 || f.Orig.Family != track.FamilyIPv4 {
		t.Errorf("SYN_SENT line: %+v", f)
	}
	if f := mustParseFlow(t, specProcLines[1]); !f.Status.Assured() || f.Unreplied() || f.Timeout != 431999 {
		t.Errorf("ESTABLISHED line: %+v", f)
	}
	gre := mustParseFlow(t, specProcLines[6])
	if gre.Proto() != track.ProtoGRE || gre.Ext == nil || gre.Ext.GRETimeout != 30 || gre.Ext.GREStreamTimeout != 180 || gre.Timeout != 29 {
		t.Errorf("GRE line: %+v %+v", gre, gre.Ext)
	}
	dccp := mustParseFlow(t, specProcLines[8])
	if dccp.Proto() != track.ProtoDCCP || !dccp.Fields.Has(track.FieldGeneric) {
		t.Errorf("unknown 33 must be DCCP tracked generically: %+v", dccp)
	}
	if u := mustParseFlow(t, specProcLines[5]); u.Proto() != 253 || u.Fields.Has(track.FieldGeneric) || u.Timeout != 599 {
		t.Errorf("unknown 253: %+v", u)
	}
	acct := mustParseFlow(t, specProcLines[9])
	if !acct.Fields.Has(track.FieldOrigCounters|track.FieldReplyCounters|track.FieldDeltaTime) ||
		acct.OrigCounters != (track.Counters{Packets: 1, Bytes: 29}) || acct.DeltaTime != 1 {
		t.Errorf("accounting line: %+v", acct)
	}
	if mz := mustParseFlow(t, specProcLines[10]); mz.Mark != 16 || mz.Zone != 5 {
		t.Errorf("mark/zone line: %+v", mz)
	}
	v6 := mustParseFlow(t, specProcLines[11])
	if v6.Orig.Family != track.FamilyIPv6 || v6.Orig.Src != a("::1") || v6.Orig.Type != 128 || v6.Reply.Type != 129 || v6.Orig.ID != 12263 {
		t.Errorf("icmpv6 line: %+v", v6)
	}
}

// TestSpecConntrackLine: §5.3's conntrack -L example, and its differences
// from /proc (no L3 columns, compressed IPv6, zone only when non-zero).
func TestSpecConntrackLine(t *testing.T) {
	line := "udp      17 29 src=127.0.0.1 dst=127.0.0.2 sport=7000 dport=7777 [UNREPLIED] src=127.0.0.2 dst=127.0.0.1 sport=7777 dport=7000 mark=16 zone=5 use=1"
	f := mustParseFlow(t, line)
	if string(AppendFlow(nil, &f, StyleConntrack)) != line+"\n" {
		t.Fatal("conntrack -L line not reproduced")
	}
	proc := mustParseFlow(t, specProcLines[11])
	if got := string(AppendFlow(nil, &proc, StyleExtended)); !strings.Contains(got, "src=::1 dst=::1 ") || strings.Contains(got, "zone=") {
		t.Errorf("extended style must compress IPv6 and omit zone=0: %s", got)
	}
	if got := string(AppendFlow(nil, &proc, StyleConntrack)); strings.HasPrefix(got, "ipv6") {
		t.Errorf("conntrack style has no L3 columns: %s", got)
	}
}

// Shapes the kernel prints but this kernel could not produce (no flowtable
// offload, no LSM secctx, no directional zones in the capture): built from
// ct_seq_show's field order in docs/KERNEL.md §5.1. Synthetic.
func TestSyntheticProcShapes(t *testing.T) {
	cases := []struct {
		line  string
		check func(track.Flow) bool
	}{
		{ // IPS_OFFLOAD: no timeout, no state, [OFFLOAD] in place of [ASSURED].
			"ipv4     2 tcp      6 src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000 [OFFLOAD] mark=0 zone=0 use=3",
			func(f track.Flow) bool {
				return !f.Fields.Has(track.FieldTimeout) && !f.HasState() && f.Status&track.StatusOffload != 0
			},
		},
		{
			"ipv4     2 udp      17 src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=1000 [HW_OFFLOAD] mark=0 zone=0 use=3",
			func(f track.Flow) bool { return f.Status&track.StatusHWOffload != 0 },
		},
		{ // Direction-specific zones and an LSM security context.
			"ipv4     2 udp      17 20 src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=53 zone-orig=3 packets=2 bytes=100 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=1000 zone-reply=4 packets=0 bytes=0 mark=7 secctx=system_u:object_r:unlabeled_t:s0 use=2",
			func(f track.Flow) bool {
				return f.ZoneOrig == 3 && f.ZoneReply == 4 && f.Ext.Secctx == "system_u:object_r:unlabeled_t:s0" && f.Unreplied() && f.OrigCounters.Bytes == 100
			},
		},
		{ // SCTP with its state name.
			"ipv4     2 sctp     132 204 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=3868 src=10.0.0.2 dst=10.0.0.1 sport=3868 dport=5000 [ASSURED] mark=0 zone=0 use=2",
			func(f track.Flow) bool { return f.Proto() == track.ProtoSCTP && f.StateName() == "ESTABLISHED" },
		},
		{ // Old kernels' /proc/net/ip_conntrack: no L3 columns, secmark=.
			"tcp      6 431999 ESTABLISHED src=192.168.1.2 dst=192.168.1.1 sport=51000 dport=22 packets=10 bytes=800 src=192.168.1.1 dst=192.168.1.2 sport=22 dport=51000 packets=8 bytes=900 [ASSURED] mark=0 secmark=0 use=1",
			func(f track.Flow) bool {
				return f.Orig.Family == track.FamilyIPv4 && f.Ext.Secmark == 0 && f.Fields.Has(track.FieldSecmark)
			},
		},
		{ // A SYN_SENT2 (simultaneous open) entry, and the old name of state 9.
			"ipv4     2 tcp      6 119 SYN_SENT2 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 mark=0 zone=0 use=2",
			func(f track.Flow) bool { s, _ := f.TCPState(); return s == track.TCPSynSent2 },
		},
	}
	for _, c := range cases {
		f := mustParseFlow(t, c.line)
		if !c.check(f) {
			t.Errorf("%s: %+v", c.line, f)
		}
		style := StyleProc
		if !strings.HasPrefix(c.line, "ipv") {
			style = StyleConntrack
		}
		if got := AppendFlow(nil, &f, style); string(got) != c.line+"\n" {
			t.Errorf("written back:\n got %s want %s", got, c.line)
		}
	}
	if f := mustParseFlow(t, "tcp      6 1 LISTEN src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 use=1"); f.StateName() != "SYN_SENT2" {
		t.Errorf("LISTEN must read as SYN_SENT2, got %s", f.StateName())
	}
}

// TestRealOptionalFields checks the parsed meaning of the optional fields
// in the formats capture.
func TestRealOptionalFields(t *testing.T) {
	flows, _ := decodeFlows(t, readAll(t, captures+"/formats/conntrack-L-extended-all.txt"), "all", 1)
	var labelled, zoned, generic, gre bool
	for _, f := range flows {
		if !f.Fields.Has(track.FieldID|track.FieldStart|track.FieldUse|track.FieldMark|track.FieldDeltaTime) || f.ID == 0 {
			t.Errorf("every entry has id, start, use, mark, delta-time: %+v", f)
		}
		if want := time.Date(2026, 11, 21, 13, 46, 0, 0, time.UTC); f.Ext.Start.Before(want) || f.Ext.Start.After(want.Add(time.Minute)) {
			t.Errorf("start time %v", f.Ext.Start)
		}
		if f.Fields.Has(track.FieldLabels) {
			labelled = slices.Equal(f.Ext.Labels, []string{"lab-b"}) && f.Mark == 16 && f.Orig.DstPort == 8081
		}
		if f.Zone == 5 {
			zoned = f.Orig.DstPort == 7777 && f.Unreplied()
		}
		if f.Proto() == track.ProtoDCCP {
			generic = !f.Fields.Has(track.FieldGeneric) && f.Orig.SrcPort == 0 // conntrack prints "dccp ... sport=0"
		}
		if f.Proto() == track.ProtoGRE {
			gre = !f.Fields.Has(track.FieldGRETimeouts)
		}
	}
	if !labelled || !zoned || !generic || !gre {
		t.Errorf("labelled=%v zoned=%v dccp=%v gre=%v", labelled, zoned, generic, gre)
	}
}

// TestDetect: each capture is detected as what it is.
func TestDetect(t *testing.T) {
	want := map[string]Format{
		"formats/proc-nf_conntrack.txt":                     FormatProc,
		"formats/conntrack-L.txt":                           FormatConntrack,
		"formats/conntrack-L-extended.txt":                  FormatExtended,
		"formats/conntrack-L-id.txt":                        FormatConntrack,
		"formats/conntrack-L-ktimestamp.txt":                FormatConntrack,
		"formats/conntrack-L-labels.txt":                    FormatConntrack,
		"formats/conntrack-L-extended-all.txt":              FormatExtended,
		"formats/conntrack-L.stderr":                        FormatEmpty, // only the summary line
		"formats/conntrack-E.txt":                           FormatEvents,
		"formats/conntrack-E-timestamp-extended-id.txt":     FormatEvents,
		"formats/conntrack-S.txt":                           FormatStats,
		"formats/conntrack-S-expect.txt":                    FormatStats,
		"formats/conntrack-C.txt":                           FormatCount,
		"formats/stat-nf_conntrack.txt":                     FormatProcStat,
		"formats/sysctl-nf_conntrack.txt":                   FormatSysctl,
		"formats/nf_conntrack_count":                        FormatSysctlFile,
		"formats/kernel.txt":                                FormatUnknown,
		"table-full/dmesg.txt":                              FormatKernelLog,
		"table-full/srv/while-full.txt":                     FormatMixed,
		"table-full/srv/nf_conntrack.t00.txt":               FormatEmpty,
		"table-full/srv/iptables.txt":                       FormatRuleset, // iptables -nvL listings
		"table-100k/proc-nf_conntrack-100k.txt.gz":          FormatProc,
		"table-100k/conntrack-L-extended-100k.txt.gz":       FormatExtended,
		"nat-masquerade/rtr/conntrack-L-src-nat.txt":        FormatConntrack,
		"healthy-baseline/srv/nf_conntrack.t05.txt":         FormatProc,
		"healthy-baseline/srv/conntrack-L-extended.txt":     FormatExtended,
		"table-full/srv/sysctl-nf_conntrack.while-full.txt": FormatSysctl,
		"table-full/README.md":                              FormatUnknown,
		"syn-sent-growth/srv/conntrack-L-extended.txt":      FormatEmpty,
	}
	for rel, f := range want {
		d, err := Open(filepath.Join(captures, rel), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != f {
			t.Errorf("%s: detected %s, want %s", rel, d.Format(), f)
		}
		d.Close()
	}
}

// TestKlogWrappers: the same message in every wrapper people paste.
func TestKlogWrappers(t *testing.T) {
	const msg = "nf_conntrack: nf_conntrack: table full in netns 4026532246, dropping packet"
	cases := []struct {
		line     string
		since    time.Duration
		hasSince bool
		wall     bool
	}{
		{"[ 1400.936197] " + msg, 1400936197 * time.Microsecond, true, false},                                 // dmesg
		{"<4>[ 1400.936197] " + msg, 1400936197 * time.Microsecond, true, false},                              // dmesg -r
		{"4,1234,1400936197,-;" + msg, 1400936197 * time.Microsecond, true, false},                            // /dev/kmsg
		{"[Sat Nov 21 13:00:29 2026] " + msg, 0, false, true},                                                 // dmesg -T
		{"Nov 21 13:00:29 lab-host kernel: " + msg, 0, false, true},                                           // journalctl -k
		{"Nov 21 13:00:29.123456 lab-host kernel: " + msg, 0, false, true},                                    // -o short-precise
		{"2026-11-21T13:00:29+0000 lab-host kernel: " + msg, 0, false, true},                                  // -o short-iso
		{"2026-11-21T13:00:29.123456+00:00 lab-host kernel: " + msg, 0, false, true},                          // -o short-iso-precise
		{"Nov 21 13:00:29 lab-host kernel: [ 1400.936197] " + msg, 1400936197 * time.Microsecond, true, true}, // syslog kern.log
		{msg, 0, false, false}, // dmesg -t
	}
	for _, c := range cases {
		if k := utc.classifyLine([]byte(c.line)); k != kindKernelLog {
			t.Errorf("%q classified %d", c.line, k)
			continue
		}
		kl, relevant, _ := utc.parseKernelLog([]byte(c.line))
		if !relevant || kl.Kind != track.KernelLogTableFull || kl.Netns != 4026532246 || kl.Text != msg {
			t.Errorf("%q: %+v", c.line, kl)
		}
		if kl.HasSince != c.hasSince || kl.Since != c.since || kl.Time.IsZero() == c.wall {
			t.Errorf("%q: since=%v/%v time=%v", c.line, kl.Since, kl.HasSince, kl.Time)
		}
	}
	kinds := map[string]track.KernelLogKind{
		"[   12.000001] nf_conntrack: nf_conntrack: table full, dropping packet": track.KernelLogTableFull,
		"[   12.000001] net_ratelimit: 312 callbacks suppressed":                 track.KernelLogRateLimited,
		"[   12.000001] nf_conntrack: expectation table full":                    track.KernelLogExpectTableFull,
		"[   12.000001] lo ate my IP address":                                    track.KernelLogAteMyIP,
		"[   12.000001] nf_ct_proto_6: invalid rst IN= OUT=lo SRC=127.0.0.1":     track.KernelLogInvalid,
	}
	for line, kind := range kinds {
		kl, relevant, _ := utc.parseKernelLog([]byte(line))
		if !relevant || kl.Kind != kind {
			t.Errorf("%q: kind %v relevant %v", line, kl.Kind, relevant)
		}
		if kind == track.KernelLogRateLimited && kl.Suppressed != 312 {
			t.Errorf("suppressed = %d", kl.Suppressed)
		}
		if kind == track.KernelLogTableFull && kl.Netns != 0 {
			t.Errorf("init netns table full has no netns number")
		}
	}
	if _, relevant, _ := utc.parseKernelLog([]byte("[    1.000000] EXT4-fs (vda): mounted")); relevant {
		t.Error("an unrelated kernel line is not about conntrack")
	}
	// The real table-full log: 20 lines, all table full in netns 4026532246.
	s := readSnapshot(t, readAll(t, captures+"/table-full/dmesg.txt"), "dmesg.txt")
	if len(s.KernelLog) != 20 {
		t.Fatalf("%d lines", len(s.KernelLog))
	}
	for _, kl := range s.KernelLog {
		if kl.Kind != track.KernelLogTableFull || kl.Netns != 4026532246 || !kl.HasSince {
			t.Errorf("%+v", kl)
		}
	}
}

// TestStatsByHeaderName: columns are found by name, so the old header
// (searched instead of clashres, delete_list instead of chainlength) reads
// into the right counters, and entries is a count, never summed.
func TestStatsByHeaderName(t *testing.T) {
	old := "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n" +
		"00000010  00000005 00000001 00000000 00000002 00000000 00000000 00000000 00000000 00000003 00000004 00000006 00000007  00000000 00000000 00000000 00000008\n" +
		"00000010  00000001 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000  00000000 00000000 00000000 00000000\n"
	s := readSnapshot(t, []byte(old), "old-stat")
	st := &s.Stats
	checks := map[track.Counter]uint64{
		track.CounterSearched: 6, track.CounterFound: 1, track.CounterInvalid: 3, track.CounterInsertFailed: 3,
		track.CounterDrop: 5, track.CounterEarlyDrop: 6, track.CounterError: 7, track.CounterSearchRestart: 8,
	}
	for c, want := range checks {
		if got := st.Total(c); got != want {
			t.Errorf("%v = %d, want %d", c, got, want)
		}
	}
	if st.Has(track.CounterClashResolve) || st.Has(track.CounterChainTooLong) {
		t.Error("an old header has no clashres/chainlength")
	}
	if !s.HasCount || s.Count != 16 {
		t.Errorf("entries is the netns count 0x10 on every row, got %d", s.Count)
	}

	real := readSnapshot(t, readAll(t, captures+"/table-full/srv/stat-nf_conntrack.txt"), "stat")
	if real.Stats.Total(track.CounterDrop) != 4095 || real.Stats.Total(track.CounterEarlyDrop) != 11 || real.Count != 1300 || len(real.Stats.CPUs) != 2 {
		t.Errorf("table-full stats: drop=%d early=%d count=%d", real.Stats.Total(track.CounterDrop), real.Stats.Total(track.CounterEarlyDrop), real.Count)
	}
	if !real.Stats.Has(track.CounterClashResolve) || !real.Stats.Has(track.CounterChainTooLong) {
		t.Error("6.18 header has clashres and chainlength")
	}
	cs := readSnapshot(t, readAll(t, captures+"/table-full/srv/conntrack-S.txt"), "S")
	if cs.Stats.Total(track.CounterDrop) != 4095 || cs.Stats.Total(track.CounterEarlyDrop) != 11 || cs.HasCount {
		t.Errorf("conntrack -S: drop=%d early=%d", cs.Stats.Total(track.CounterDrop), cs.Stats.Total(track.CounterEarlyDrop))
	}
	// conntrack-tools reading /proc on old kernels prints the /proc names.
	fallback := readSnapshot(t, []byte("cpu=0   \tentries=5 searched=1 found=2 new=0 invalid=3 ignore=0 delete=0 delete_list=0 insert=0 insert_failed=0 drop=4 early_drop=0 icmp_error=1 expect_new=0 expect_create=0 expect_delete=0 search_restart=0 \n"), "S-old")
	if fallback.Count != 5 || fallback.Stats.Total(track.CounterError) != 1 || fallback.Stats.Total(track.CounterDrop) != 4 {
		t.Errorf("old conntrack -S: %+v", fallback)
	}
	cnt := readSnapshot(t, readAll(t, captures+"/formats/conntrack-C.txt"), "conntrack-C.txt")
	if !cnt.HasCount || cnt.Count != 11 {
		t.Errorf("conntrack -C: %d", cnt.Count)
	}
	sys := readSnapshot(t, readAll(t, captures+"/formats/nf_conntrack_count"), "/proc/sys/net/netfilter/nf_conntrack_count")
	if v, ok := sys.Sysctls.Int("nf_conntrack_count"); !ok || v != 11 || sys.Count != 11 {
		t.Errorf("sysctl file: %+v", sys.Sysctls)
	}
}

// TestSummaryLineTolerated: conntrack's stderr summary mixed into a dump
// (2>&1) is neither an entry nor an error.
func TestSummaryLineTolerated(t *testing.T) {
	in := specProcLines[0] + "\nconntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n"
	flows, d := decodeFlows(t, []byte(in), "x", 1)
	if len(flows) != 1 || d.Problems().Count != 0 || d.Counts().Comments != 1 {
		t.Fatalf("flows=%d problems=%v counts=%+v", len(flows), d.Problems().Samples, d.Counts())
	}
}

func TestUserspaceEventSuffix(t *testing.T) {
	// conntrack.c event_cb: "%s [USERSPACE] portid=%u progname=%s".
	line := "[DESTROY] tcp      6 112 TIME_WAIT src=10.99.0.1 dst=10.99.0.2 sport=49610 dport=8080 src=10.99.0.2 dst=10.99.0.1 sport=8080 dport=49610 [ASSURED] delta-time=7 [USERSPACE] portid=2706274656 progname=conntrack"
	var ev track.Event
	if err := utc.parseEvent([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != track.EventDestroy || !ev.Userspace || ev.PortID != 2706274656 || ev.Progname != "conntrack" || ev.Flow.DeltaTime != 7 {
		t.Fatalf("%+v", ev)
	}
	if got := AppendEvent(nil, &ev, StyleConntrack); string(got) != line+"\n" {
		t.Fatalf("got %s", got)
	}
}

func TestGzipAndNaturalOrder(t *testing.T) {
	in, err := ExpandPaths([]string{captures + "/table-full/srv"})
	if err != nil {
		t.Fatal(err)
	}
	var samples []string
	for _, i := range in {
		if strings.HasPrefix(filepath.Base(i.Path), "nf_conntrack.t") {
			samples = append(samples, filepath.Base(i.Path))
		}
	}
	want := []string{"nf_conntrack.t00.txt", "nf_conntrack.t01.txt", "nf_conntrack.t05.txt", "nf_conntrack.t10.txt", "nf_conntrack.t20.txt", "nf_conntrack.t35.txt"}
	if !slices.Equal(samples, want) {
		t.Errorf("order %v", samples)
	}
	if !NaturalLess("t5", "t10") || NaturalLess("t10", "t5") || !NaturalLess("t5", "t05") || !NaturalLess("a", "b") {
		t.Error("NaturalLess")
	}
	d, err := Open(captures+"/table-100k/proc-nf_conntrack-100k.txt.gz", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n := 0
	if err := d.Flows(func(*track.Flow) error { n++; return nil }); err != nil || n != 100000 {
		t.Fatalf("gzip: %d flows, %v", n, err)
	}
}
