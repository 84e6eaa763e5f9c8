package parser

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// TestReadSamplesInOrder: the syn-sent-growth client's table samples, read
// as a directory, become successive snapshots whose counts follow the
// capture's log (300 SYNs every 5 s, then flat); the stats and sysctls read
// at the end attach to the last sample.
func TestReadSamplesInOrder(t *testing.T) {
	var inputs []Input
	for _, name := range []string{"nf_conntrack.t00.txt", "nf_conntrack.t05.txt", "nf_conntrack.t10.txt",
		"nf_conntrack.t15.txt", "nf_conntrack.t20.txt", "nf_conntrack.t30.txt", "conntrack-S.txt",
		"stat-nf_conntrack.txt", "sysctl-nf_conntrack.txt", "iptables.txt", "ss-tcp-states.txt"} {
		inputs = append(inputs, Input{Path: captures + "/syn-sent-growth/cli/" + name})
	}
	s, err := ReadSamples(inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 300, 600, 900, 900, 900}
	if len(s.Snapshots) != len(want) {
		t.Fatalf("%d snapshots, %d inputs read", len(s.Snapshots), len(s.Decoders))
	}
	for i, n := range want {
		if len(s.Snapshots[i].Flows) != n {
			t.Errorf("sample %d: %d flows, want %d", i, len(s.Snapshots[i].Flows), n)
		}
	}
	last := s.Snapshots[5]
	if !last.HasCount || last.Count != 900 || !last.HasMax || last.Max != 262144 || len(last.Stats.CPUs) != 2 {
		t.Errorf("last sample: count %d/%v max %d/%v cpus %d", last.Count, last.HasCount, last.Max, last.HasMax, len(last.Stats.CPUs))
	}
	if s.Snapshots[0].HasMax {
		t.Error("earlier samples get nothing read after them")
	}
	for _, f := range s.Snapshots[3].Flows {
		if st, _ := f.TCPState(); st != track.TCPSynSent || !f.Unreplied() {
			t.Fatalf("syn-sent-growth holds only SYN_SENT [UNREPLIED]: %+v", f)
		}
	}
	// iptables.txt (iptables -nvL listings) is the ruleset of the last sample.
	if len(s.Skipped) != 1 || !strings.Contains(s.Skipped[0], "ss-tcp-states.txt") {
		t.Errorf("skipped %v", s.Skipped)
	}
	if rs := last.Ruleset; rs == nil || rs.RuleCount() != 1 || s.Snapshots[4].Ruleset != nil {
		t.Errorf("the listing read at the end is the last sample's ruleset: %+v", rs)
	}
	if len(s.Decoders) != 10 || s.Decoders[0].Format() != FormatEmpty || s.Decoders[1].Format() != FormatProc || s.Problems() != 0 {
		t.Errorf("decoders: %d, first %s", len(s.Decoders), s.Decoders[0].Format())
	}
	if s.Snapshots[1].Time.IsZero() || s.Snapshots[1].Source.Format != "proc" {
		t.Errorf("sample meta: %+v", s.Snapshots[1].Source)
	}
}

func TestReadSamplesWithoutTable(t *testing.T) {
	s, err := ReadSamples([]Input{
		{Path: captures + "/table-full/srv/conntrack-S.txt"},
		{Path: captures + "/table-full/dmesg.txt"},
		{Path: captures + "/table-full/srv/sysctl-nf_conntrack.while-full.txt"},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Snapshots) != 1 {
		t.Fatalf("%d snapshots", len(s.Snapshots))
	}
	one := s.Snapshots[0]
	if one.Stats.Total(track.CounterDrop) != 4095 || len(one.KernelLog) != 20 || one.Max != 1000 || one.Count != 1000 {
		t.Errorf("drop=%d klog=%d max=%d count=%d", one.Stats.Total(track.CounterDrop), len(one.KernelLog), one.Max, one.Count)
	}
}

// TestCaptureFolderAsSamples: a capture folder read as a directory. The
// table dumps are named by their offset (t05 = 5 s after the start), so
// they order and time the samples; the final conntrack -L dump beside them
// has no time and is left out; statistics and sysctls read at the end join
// the last sample.
func TestCaptureFolderAsSamples(t *testing.T) {
	inputs, err := ExpandPaths([]string{captures + "/syn-sent-growth/cli"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSamples(inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Timing != TimingNames || !s.RelativeTimes {
		t.Errorf("timing %v relative %v", s.Timing, s.RelativeTimes)
	}
	want := []int{0, 300, 600, 900, 900, 900}
	offsets := []int{0, 5, 10, 15, 20, 30}
	if len(s.Snapshots) != len(want) {
		t.Fatalf("%d samples", len(s.Snapshots))
	}
	for i := range want {
		if got := len(s.Snapshots[i].Flows); got != want[i] {
			t.Errorf("sample %d: %d flows, want %d", i, got, want[i])
		}
		if off := s.Snapshots[i].Time.Sub(s.Snapshots[0].Time); off != time.Duration(offsets[i])*time.Second {
			t.Errorf("sample %d at +%v, want +%ds", i, off, offsets[i])
		}
	}
	last := s.Snapshots[len(s.Snapshots)-1]
	if !last.HasMax || len(last.Stats.CPUs) != 2 || s.Snapshots[0].HasMax || len(s.Snapshots[0].Stats.CPUs) != 0 {
		t.Errorf("extras read at the end belong to the last sample: first %+v", s.Snapshots[0].Stats)
	}
	var left bool
	for _, sk := range s.Skipped {
		if strings.Contains(sk, "conntrack-L-extended.txt: a table dump with no time") {
			left = true
		}
	}
	if !left {
		t.Errorf("skipped %q", s.Skipped)
	}
}

func TestTimeFromName(t *testing.T) {
	utc := time.UTC
	for _, c := range []struct {
		name     string
		want     time.Time
		relative bool
		ok       bool
	}{
		{"nf_conntrack.t05.txt", time.Unix(5, 0), true, true},
		{"dir/t120-table.gz", time.Unix(120, 0), true, true},
		{"ct.1700000000.txt", time.Unix(1700000000, 0), false, true},
		{"ct-20261121T125834.txt", time.Date(2026, 11, 21, 12, 58, 34, 0, utc), false, true},
		{"ct_2026-11-21T12:58:34.txt", time.Date(2026, 11, 21, 12, 58, 34, 0, utc), false, true},
		{"ct-20261321T125834.txt", time.Time{}, false, false}, // month 13
		{"conntrack-L-extended.txt", time.Time{}, false, false},
		{"stat.txt", time.Time{}, false, false},
		{"tcp.txt", time.Time{}, false, false},
	} {
		got := timeFromName(c.name, utc)
		if got.ok != c.ok || got.ok && (!got.t.Equal(c.want) || got.relative != c.relative) {
			t.Errorf("%s: %+v, want %v relative=%v ok=%v", c.name, got, c.want, c.relative, c.ok)
		}
	}
}

// TestSampleTimesFromNamesAndModTimes: names order samples given in any
// order; modification times count only when they rise a second or more
// between tables.
func TestSampleTimesFromNamesAndModTimes(t *testing.T) {
	dir := t.TempDir()
	line := "ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5000 mark=0 zone=0 use=2\n"
	write := func(name string, n int) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(strings.Repeat(line, n)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b := write("ct.1700000010.txt", 2)
	a := write("ct.1700000000.txt", 1)
	s, err := ReadSamples([]Input{{Path: b}, {Path: a}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Timing != TimingNames || s.RelativeTimes || len(s.Snapshots) != 2 || len(s.Snapshots[0].Flows) != 1 ||
		!s.Snapshots[1].Time.Equal(time.Unix(1700000010, 0)) {
		t.Fatalf("by names: %v %d", s.Timing, len(s.Snapshots))
	}

	x, y := write("first.txt", 1), write("second.txt", 2)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		gap  time.Duration
		want Timing
	}{{5 * time.Second, TimingModTimes}, {200 * time.Millisecond, TimingNone}} {
		if err := os.Chtimes(x, base, base); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(y, base.Add(c.gap), base.Add(c.gap)); err != nil {
			t.Fatal(err)
		}
		s, err := ReadSamples([]Input{{Path: x}, {Path: y}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Timing != c.want {
			t.Errorf("gap %v: timing %v, want %v", c.gap, s.Timing, c.want)
		}
		if c.want == TimingNone && !s.Snapshots[1].Time.IsZero() {
			t.Errorf("untimed samples carry no time")
		}
	}
}

// PlanSamples groups a capture folder exactly as WalkSamples reads it.
func TestPlanSamplesAgreesWithWalk(t *testing.T) {
	inputs, err := ExpandPaths([]string{captures + "/table-full/srv"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := PlanSamples(inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := ReadSamples(inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Samples) != len(whole.Snapshots) || plan.Timing != whole.Timing || len(plan.Skipped) != len(whole.Skipped) {
		t.Fatalf("plan: %d samples %v, %d skipped; walk: %d samples %v, %d skipped",
			len(plan.Samples), plan.Timing, len(plan.Skipped), len(whole.Snapshots), whole.Timing, len(whole.Skipped))
	}
	for i, ps := range plan.Samples {
		one, err := ReadSamples(ps.Inputs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(one.Snapshots) != 1 {
			t.Fatalf("sample %d: %d snapshots", i, len(one.Snapshots))
		}
		w := whole.Snapshots[i]
		got := one.Snapshots[0]
		if len(got.Flows) != len(w.Flows) || got.HasMax != w.HasMax || got.Max != w.Max || len(got.Stats.CPUs) != len(w.Stats.CPUs) {
			t.Errorf("sample %d differs: %d/%d flows, max %d/%d", i, len(got.Flows), len(w.Flows), got.Max, w.Max)
		}
		if !ps.Time.Equal(w.Time) {
			t.Errorf("sample %d at %v, walk says %v", i, ps.Time, w.Time)
		}
	}
	if _, err := PlanSamples([]Input{{Path: "-"}}, Options{}); !errors.Is(err, ErrUnplannable) {
		t.Errorf("stdin: %v", err)
	}
}
