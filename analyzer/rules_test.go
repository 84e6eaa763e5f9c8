package analyzer_test

// Unit tests of each rule's logic on small tables built in code. They are
// synthetic (no kernel made them); the kernel-made patterns are in
// captures_test.go and cmd/ctdiag/report_kernel_test.go.

import (
	"math/rand"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

var t0 = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

type flowSpec struct {
	proto        track.Proto
	state        track.TCPState
	timeout      uint32
	status       track.Status
	src, dst     string
	sport, dport uint16
	replySrc     string // DNAT: the backend; "" for no NAT
	packets      uint64 // with accounting when > 0
}

func mkflow(s flowSpec) track.Flow {
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	orig := track.Tuple{Src: src, Dst: dst, Family: track.FamilyIPv4, Proto: s.proto, SrcPort: s.sport, DstPort: s.dport}
	f := track.Flow{Orig: orig, Reply: orig.Reply(), Timeout: s.timeout, Status: s.status | track.StatusConfirmed,
		Fields: track.FieldTimeout | track.FieldMark | track.FieldZone | track.FieldUse, Use: 2}
	if s.replySrc != "" {
		f.Reply.Src = netip.MustParseAddr(s.replySrc)
		f.Status |= track.StatusDstNAT | track.StatusDstNATDone
	}
	if s.proto == track.ProtoTCP {
		f.State = uint8(s.state)
		f.Fields |= track.FieldState
	}
	if s.packets > 0 {
		f.Fields |= track.FieldOrigCounters | track.FieldReplyCounters
		f.OrigCounters = track.Counters{Packets: s.packets, Bytes: 60 * s.packets}
		f.ReplyCounters = track.Counters{Packets: s.packets, Bytes: 60 * s.packets}
	}
	return f
}

func addr(i int) string { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String() }

const (
	seen    = track.StatusSeenReply
	assured = track.StatusSeenReply | track.StatusAssured
)

func snap(at time.Duration, flows ...track.Flow) track.Snapshot {
	return track.Snapshot{Time: t0.Add(at), Flows: flows, Source: track.Source{Kind: track.SourceFile, Name: "synthetic"}}
}

func withStats(s track.Snapshot, counters map[track.Counter]uint64) track.Snapshot {
	for c, v := range counters {
		s.Stats.CPU(0).Set(c, v)
		s.Stats.CPU(1).Set(c, 0)
	}
	return s
}

func withSysctls(s track.Snapshot, kv ...string) track.Snapshot {
	s.Sysctls = track.Sysctls{}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Sysctls["net.netfilter."+kv[i]] = kv[i+1]
	}
	return s
}

func run(t *testing.T, cfgSets []string, snaps ...track.Snapshot) *analyzer.Result {
	t.Helper()
	cfg := rules.DefaultConfig()
	for _, s := range cfgSets {
		if err := cfg.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	return analyzer.Analyze(snaps, analyzer.Options{Config: cfg})
}

func TestHalfAssuredIsTCPOnly(t *testing.T) {
	var flows []track.Flow
	for i := 0; i < 25; i++ { // SYN_RECV for 10 s of its 60 s
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPSynRecv, timeout: 50, status: seen, src: addr(i), dst: "10.0.0.1", sport: 40000, dport: 443}))
	}
	r := run(t, nil, snap(0, flows...))
	f := finding(r, rules.HalfAssured)
	if f == nil || !strings.HasPrefix(f.Summary, "25 TCP connections answered but never completed") {
		t.Fatalf("half-assured: %+v", f)
	}
	if !strings.Contains(remedyText(f), "--dport 443") {
		t.Error("remedy names the port")
	}

	// A thousand UDP exchanges within 2 s: seen reply, never assured, and
	// normal since the kernel assures UDP only after a 2 s stream (docs/KERNEL.md §2.3).
	flows = nil
	for i := 0; i < 1000; i++ {
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoUDP, timeout: 20, status: seen, src: addr(i), dst: "10.0.0.53", sport: 5000, dport: 53}))
	}
	r = run(t, nil, snap(0, flows...))
	if f := finding(r, rules.HalfAssured); f != nil {
		t.Errorf("UDP must not make half-assured fire: %s", f.Summary)
	}
	// Young SYN_RECV entries (one round trip) are not stuck.
	flows = nil
	for i := 0; i < 25; i++ {
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPSynRecv, timeout: 59, status: seen, src: addr(i), dst: "10.0.0.1", sport: 40000, dport: 443}))
	}
	if f := finding(run(t, nil, snap(0, flows...)), rules.HalfAssured); f != nil {
		t.Errorf("1 s old SYN_RECV fired: %s", f.Summary)
	}
}

func TestStuckEstablishedWithCounters(t *testing.T) {
	mk := func(packets uint64) []track.Flow {
		var flows []track.Flow
		for i := 0; i < 120; i++ { // idle 4 h: 432000 - 14400
			flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPEstablished, timeout: 432000 - 14400, status: assured,
				src: addr(i), dst: "10.0.0.1", sport: 40000, dport: 5432, packets: packets + uint64(i%2)}))
		}
		// Capped by unacknowledged data (docs/KERNEL.md §1.10): age unknown.
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPEstablished, timeout: 250, status: assured, src: "10.9.9.9", dst: "10.0.0.1", sport: 1, dport: 5432}))
		return flows
	}
	sys := []string{"nf_conntrack_tcp_timeout_established", "432000", "nf_conntrack_max", "262144"}
	r := run(t, nil, withSysctls(snap(0, mk(10)...), sys...), withSysctls(snap(60*time.Second, mk(10)...), sys...))
	f := finding(r, rules.StuckEstablished)
	if f == nil {
		t.Fatal("stuck-established did not fire")
	}
	if !strings.Contains(f.Summary, "120 ESTABLISHED entries idle for more than 3h (oldest 4h)") ||
		!strings.Contains(f.Summary, "120 of 120 with counters saw no packet between samples") {
		t.Errorf("summary %q", f.Summary)
	}
	if !strings.Contains(remedyText(f), "nf_conntrack_tcp_timeout_established=86400") {
		t.Error("remedy proposes one day")
	}
	var capped bool
	for _, n := range r.Summary.Notes {
		capped = capped || strings.Contains(n, "1 ESTABLISHED entries carry a capped timeout")
	}
	if !capped {
		t.Errorf("notes %q", r.Summary.Notes)
	}
	// Below min_entries nothing fires; --set lowers it.
	if finding(run(t, []string{"stuck-established.min_entries=500"}, snap(0, mk(10)...)), rules.StuckEstablished) != nil {
		t.Error("fired below min_entries")
	}
}

func TestCloseGrowthShareAndRemedy(t *testing.T) {
	var flows []track.Flow
	for i := 0; i < 1500; i++ {
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPTimeWait, timeout: 100, status: assured, src: addr(i), dst: "10.0.0.1", sport: 40000, dport: 80}))
	}
	sys := []string{"nf_conntrack_max", "8192", "nf_conntrack_tcp_timeout_time_wait", "120"}
	// TIME_WAIT alone, however many, is a busy server's churn.
	if f := finding(run(t, nil, withSysctls(snap(0, flows...), sys...)), rules.CloseGrowth); f != nil {
		t.Errorf("TIME_WAIT churn fired: %s", f.Summary)
	}
	for i := 0; i < 400; i++ {
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPCloseWait, timeout: 30, status: assured, src: addr(i), dst: "10.0.0.1", sport: 40001, dport: 80}))
	}
	f := finding(run(t, nil, withSysctls(snap(0, flows...), sys...)), rules.CloseGrowth)
	if f == nil {
		t.Fatal("close-growth did not fire at 21% of the table in CLOSE_WAIT")
	}
	if !strings.Contains(f.Summary, "CLOSE_WAIT/LAST_ACK entries: 400, 21% of the table: one side closed and the other stopped answering") || f.Severity != rules.SeverityWarning {
		t.Errorf("summary %q %v", f.Summary, f.Severity)
	}
	rem := remedyText(f)
	for _, want := range []string{"conntrack -L -p tcp --state CLOSE_WAIT -d 10.0.0.1 --dport 80", "ss -tnp state close-wait", "tcp dport 80 notrack"} {
		if !strings.Contains(rem, want) {
			t.Errorf("remedies lack %q:\n%s", want, rem)
		}
	}
}

func TestInvalidStaleTuple(t *testing.T) {
	tw := mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPTimeWait, timeout: 100, status: assured, src: "10.0.0.2", dst: "10.0.0.1", sport: 40000, dport: 80})
	again := tw
	again.State, again.Status, again.Timeout = uint8(track.TCPSynSent), track.StatusConfirmed, 119
	s1 := withStats(snap(0, tw), map[track.Counter]uint64{track.CounterInvalid: 10})
	s2 := withStats(snap(10*time.Second, again), map[track.Counter]uint64{track.CounterInvalid: 510})
	f := finding(run(t, nil, s1, s2), rules.InvalidStaleTuple)
	if f == nil {
		t.Fatal("invalid-stale-tuple did not fire")
	}
	if !strings.Contains(f.Summary, "500 INVALID packets between samples (50/s)") || !strings.Contains(f.Summary, "1 tuple seen in TIME_WAIT or CLOSE came back") {
		t.Errorf("summary %q", f.Summary)
	}
	if !strings.Contains(remedyText(f), "nf_conntrack_log_invalid=6") || !strings.Contains(remedyText(f), "--dport 80") {
		t.Errorf("remedies %s", remedyText(f))
	}
	// A counter that only moved by a few packets is noise.
	s2 = withStats(snap(10*time.Second, again), map[track.Counter]uint64{track.CounterInvalid: 12})
	if f := finding(run(t, nil, s1, s2), rules.InvalidStaleTuple); f != nil {
		t.Errorf("0.2/s fired: %s", f.Summary)
	}
}

func TestInsertFailedIsNotATableFull(t *testing.T) {
	var flows []track.Flow
	for i := 0; i < 50; i++ {
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoUDP, timeout: 25, status: seen, src: addr(i), dst: "10.0.0.53", sport: 5353, dport: 53}))
	}
	s1 := withSysctls(withStats(snap(0, flows...), map[track.Counter]uint64{track.CounterInsertFailed: 3, track.CounterClashResolve: 100}), "nf_conntrack_max", "262144")
	s2 := withSysctls(withStats(snap(30*time.Second, flows...), map[track.Counter]uint64{track.CounterInsertFailed: 9, track.CounterClashResolve: 160}), "nf_conntrack_max", "262144")
	r := run(t, nil, s1, s2)
	f := finding(r, rules.InsertFailed)
	if f == nil || f.Severity != rules.SeverityWarning {
		t.Fatalf("insert-failed: %+v", f)
	}
	if !strings.Contains(f.Summary, "insert_failed +6, clash_resolve +60") || !strings.Contains(f.Summary, "50 UDP/53 entries") || !strings.Contains(f.Summary, "not a full table") {
		t.Errorf("summary %q", f.Summary)
	}
	if !strings.Contains(remedyText(f), "single-request-reopen") {
		t.Error("DNS remedy")
	}
	if finding(r, rules.TableFull) != nil {
		t.Error("table-full fired on clashes")
	}
	// One reading of the statistics: failed insertions since the counters
	// started are dropped packets (a warning); resolved clashes alone are
	// the race, resolved (info).
	if f := finding(run(t, nil, s1), rules.InsertFailed); f == nil || f.Severity != rules.SeverityWarning || !strings.Contains(f.Summary, "insert_failed 3 and clash_resolve 100 since the counters started") {
		t.Errorf("one reading: %+v", f)
	}
	clashes := withStats(snap(0, flows...), map[track.Counter]uint64{track.CounterClashResolve: 100})
	if f := finding(run(t, nil, clashes), rules.InsertFailed); f == nil || f.Severity != rules.SeverityInfo {
		t.Errorf("resolved clashes, one reading: %+v", f)
	}
}

func TestStaleUDP(t *testing.T) {
	vip := "10.96.0.10"
	var flows []track.Flow
	for i := 0; i < 5; i++ { // translated to the backend
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoUDP, timeout: 110, status: assured, src: addr(i), dst: vip, sport: 30000, dport: 53, replySrc: "10.244.1.5"}))
	}
	stale := mkflow(flowSpec{proto: track.ProtoUDP, timeout: 28, src: "10.2.0.7", dst: vip, sport: 41000, dport: 53})
	sys := []string{"nf_conntrack_udp_timeout", "30"}
	r := run(t, nil, withSysctls(snap(0, append(flows, stale)...), sys...), withSysctls(snap(90*time.Second, append(flows, stale)...), sys...))
	f := finding(r, rules.StaleUDP)
	if f == nil {
		t.Fatal("stale-udp did not fire")
	}
	if !strings.Contains(f.Summary, "1 UDP entries to 10.96.0.10:53 were never translated while 5 others to it are") ||
		!strings.Contains(f.Summary, "1 of them outlived the 30s UDP timeout") {
		t.Errorf("summary %q", f.Summary)
	}
	if !strings.Contains(remedyText(f), "conntrack -D -p udp -d 10.96.0.10 --dport 53 -r 10.96.0.10") {
		t.Errorf("remedies %s", remedyText(f))
	}
	// No DNAT at all: an ordinary UDP service, nothing stale.
	if finding(run(t, nil, snap(0, stale)), rules.StaleUDP) != nil {
		t.Error("fired without any translated entry")
	}
}

func TestTopTalker(t *testing.T) {
	var flows []track.Flow
	for i := 0; i < 1200; i++ {
		src := "10.5.5.5"
		if i%3 == 0 {
			src = addr(i)
		}
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoUDP, timeout: 25, src: src, dst: addr(i), sport: uint16(i), dport: 9999}))
	}
	// Every flow goes to udp/9999, and 10.5.5.5 holds two thirds: on a table
	// that is not filling, the port is the box's job, the source is named.
	f := finding(run(t, nil, snap(0, flows...)), rules.TopTalker)
	if f == nil || f.Severity != rules.SeverityInfo || !strings.HasPrefix(f.Summary, "source 10.5.5.5 holds 800 of 1200 entries") {
		t.Fatalf("top-talker: %+v", f)
	}
	if !strings.Contains(remedyText(f), "ctdiag list -c -s 10.5.5.5") {
		t.Errorf("remedies %s", remedyText(f))
	}
	// Filling, the biggest key is named whatever it is, as a warning.
	full := withSysctls(snap(0, flows...), "nf_conntrack_max", "1300")
	if f := finding(run(t, nil, full), rules.TopTalker); f == nil || f.Severity != rules.SeverityWarning ||
		!strings.HasPrefix(f.Summary, "destination port udp/9999 holds 1200 of 1200 entries") || !strings.Contains(remedyText(f), "ctdiag list -c -p udp --dport 9999") {
		t.Errorf("filling: %+v", f)
	}
	if finding(run(t, nil, snap(0, flows[:900]...)), rules.TopTalker) != nil {
		t.Error("fired below min_entries")
	}
	if f := finding(run(t, []string{"top-talker.min_entries=10"}, snap(0, flows[:900]...)), rules.TopTalker); f == nil {
		t.Error("--set min_entries did not apply")
	}
}

func TestSysctlRisk(t *testing.T) {
	one := mkflow(flowSpec{proto: track.ProtoUDP, timeout: 25, src: "10.0.0.1", dst: "10.0.0.2", sport: 1, dport: 2})
	for _, c := range []struct {
		name string
		kv   []string
		mem  uint64
		want string
		sev  rules.Severity
	}{
		{"buckets", []string{"nf_conntrack_max", "1048576", "nf_conntrack_buckets", "65536"}, 0, "16.0 entries per bucket", rules.SeverityWarning},
		{"unlimited", []string{"nf_conntrack_max", "0"}, 0, "nf_conntrack_max=0", rules.SeverityWarning},
		{"liberal", []string{"nf_conntrack_tcp_be_liberal", "1"}, 0, "be_liberal=1", rules.SeverityWarning},
		{"memory", []string{"nf_conntrack_max", "2097152", "nf_conntrack_buckets", "2097152"}, 1 << 30, "would take 75% of the 1024 MiB of RAM", rules.SeverityWarning},
		{"defaults", []string{"nf_conntrack_max", "262144", "nf_conntrack_buckets", "262144", "nf_conntrack_acct", "0"}, 24 << 30, "", rules.SeverityNone},
	} {
		s := withSysctls(snap(0, one), c.kv...)
		s.MemTotal = c.mem
		f := finding(run(t, nil, s), rules.SysctlRisk)
		switch {
		case c.want == "" && f != nil:
			t.Errorf("%s: fired: %s", c.name, f.Summary)
		case c.want != "" && (f == nil || !strings.Contains(f.Summary, c.want) || f.Severity != c.sev):
			t.Errorf("%s: %+v", c.name, f)
		}
	}
}

func TestConfigOverrides(t *testing.T) {
	var flows []track.Flow
	for i := 0; i < 30; i++ {
		flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPSynSent, timeout: 100, src: addr(i), dst: "10.0.0.1", sport: 40000, dport: 443}))
	}
	r := run(t, []string{"syn-sent-growth.severity=critical"}, snap(0, flows...))
	if f := finding(r, rules.SynSentGrowth); f == nil || f.Severity != rules.SeverityCritical {
		t.Errorf("severity override: %+v", f)
	}
	r = run(t, []string{"syn-sent-growth.enabled=false"}, snap(0, flows...))
	for _, c := range r.Checked {
		if c.Rule == rules.SynSentGrowth {
			t.Error("a disabled rule is not checked")
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("fired %v", fired(r))
	}
	if finding(run(t, []string{"syn-sent-growth.min_age=30s"}, snap(0, flows...)), rules.SynSentGrowth) != nil {
		t.Error("20 s old SYNs are younger than min_age=30s")
	}
}

// The analysis depends on what the table holds, not on the order the kernel
// listed it in (hash order, random-keyed: docs/KERNEL.md §5.1).
func TestOrderDoesNotMatter(t *testing.T) {
	r1, _ := analyze(t, analyzer.Options{}, "syn-sent-growth/cli/nf_conntrack.t15.txt")
	flows := mustFlows(t, "syn-sent-growth/cli/nf_conntrack.t15.txt")
	rand.New(rand.NewSource(1)).Shuffle(len(flows), func(i, j int) { flows[i], flows[j] = flows[j], flows[i] })
	s := track.Snapshot{Flows: flows, Source: track.Source{Kind: track.SourceFile, Name: captures + "/syn-sent-growth/cli/nf_conntrack.t15.txt", Format: "proc"}}
	r2 := analyzer.Analyze([]track.Snapshot{s}, analyzer.Options{})
	r1.Summary.Timing, r2.Summary.Timing = "", ""
	if !reflect.DeepEqual(r1.Findings, r2.Findings) || !reflect.DeepEqual(r1.Summary, r2.Summary) {
		t.Errorf("shuffled input changed the result:\n%+v\n%+v", r1.Findings, r2.Findings)
	}
}

func TestTableFullProjection(t *testing.T) {
	// from..from+n: a table whose entries stay (every one is followed into
	// the next sample: it keeps what it gains), or, with from > 0, whose
	// oldest are replaced.
	table := func(from, n int) []track.Flow {
		out := make([]track.Flow, n)
		for i := range out {
			out[i] = mkflow(flowSpec{proto: track.ProtoUDP, timeout: 25, src: addr(from + i), dst: "10.0.0.53", sport: uint16(from + i), dport: 53})
		}
		return out
	}
	max := []string{"nf_conntrack_max", "10000"}
	r := run(t, nil, withSysctls(snap(0, table(0, 5000)...), max...), withSysctls(snap(60*time.Second, table(0, 6000)...), max...),
		withSysctls(snap(120*time.Second, table(0, 7000)...), max...))
	f := finding(r, rules.TableFull)
	// 2000 entries in 120 s: 16.7/s; 3000 left: full in 3 min.
	if f == nil || f.Severity != rules.SeverityWarning || !strings.Contains(f.Summary, "full in 3m at this rate") {
		t.Fatalf("projection: %+v", f)
	}
	if figure(f, "time to full") != "3m" {
		t.Errorf("figures %+v", f.Evidence.Figures)
	}
	// A table that keeps what it gains is forecast from a tenth full.
	max = []string{"nf_conntrack_max", "28000"}
	r = run(t, nil, withSysctls(snap(0, table(0, 5000)...), max...), withSysctls(snap(60*time.Second, table(0, 6000)...), max...),
		withSysctls(snap(120*time.Second, table(0, 7000)...), max...))
	if f := finding(r, rules.TableFull); f == nil || !strings.Contains(f.Summary, "it keeps what it gains: 0 entries left while 1000 came") {
		t.Errorf("accumulating at 25%%: %+v", f)
	}
	// Keeping what it gains is judged per second: 70 of 6,000 entries
	// leaving in a step of 6 s (a sample read late) is a table whose
	// entries live over five minutes, as 35 in 3 s would be; 70 in 3 s is not.
	late := func(step time.Duration) *analyzer.Result {
		return run(t, nil, withSysctls(snap(0, table(0, 5000)...), max...), withSysctls(snap(3*time.Second, table(0, 6000)...), max...),
			withSysctls(snap(3*time.Second+step, table(70, 6930)...), max...))
	}
	if f := finding(late(6*time.Second), rules.TableFull); f == nil || !strings.Contains(f.Summary, "70 entries left while 1000 came") {
		t.Errorf("accumulating, sampled late: %+v", f)
	}
	if f := finding(late(3*time.Second), rules.TableFull); f != nil {
		t.Errorf("70 of 6,000 gone in 3 s is churn; at 25%% it fired: %s", f.Summary)
	}
	// The same growth by a table that replaces most of its entries is
	// churn: below half full it is not forecast to fill.
	r = run(t, nil, withSysctls(snap(0, table(0, 5000)...), max...), withSysctls(snap(60*time.Second, table(4000, 6000)...), max...),
		withSysctls(snap(120*time.Second, table(9000, 7000)...), max...))
	if f := finding(r, rules.TableFull); f != nil {
		t.Errorf("churn at 25%% fired: %s", f.Summary)
	}
}

// TestEventChurn: events followed over the last interval give the kernel's
// own churn, per second from the sample times; an overrun is counted; a
// last sample without followed events gives none, whatever came before.
func TestEventChurn(t *testing.T) {
	last := snap(20 * time.Second)
	last.EventTotals = track.EventTotals{Followed: true, Created: 300, Destroyed: 120}
	last.EventLosses = []track.EventLoss{{Time: t0.Add(15 * time.Second), Total: 1}}
	first := snap(0)
	first.EventTotals = track.EventTotals{Followed: true, Created: 5}
	s := run(t, nil, first, snap(10*time.Second), last).Summary
	if !s.EventsFollowed || s.EventsCreated != 300 || s.EventsDestroyed != 120 || s.CreatedPerSec != 30 || s.DestroyedPerSec != 12 || s.EventsLost != 1 {
		t.Errorf("summary %+v", s)
	}
	if s := run(t, nil, first, snap(10*time.Second)).Summary; s.EventsFollowed || s.EventsCreated != 0 {
		t.Errorf("events of an earlier interval counted for the last: %+v", s)
	}
	if s := run(t, nil, last).Summary; s.EventsFollowed {
		t.Errorf("one sample has no interval: %+v", s)
	}
}
