package analyzer_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// captures are real Linux 6.18 captures (testdata/README.md).
const captures = "../testdata/kernel-6.18"

// analyze reads paths (files or directories) as ctdiag report does.
func analyze(t *testing.T, opts analyzer.Options, paths ...string) (*analyzer.Result, *parser.Walk) {
	t.Helper()
	var args []string
	for _, p := range paths {
		args = append(args, filepath.Join(captures, p))
	}
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		t.Fatal(err)
	}
	a := analyzer.New(opts)
	w, err := parser.WalkSamples(inputs, parser.Options{}, a)
	if err != nil {
		t.Fatal(err)
	}
	a.SetTiming(w.Timing.String())
	return a.Result(), w
}

// TestRemediesAreFilled: on every capture, every remedy a finding offers
// is filled from figures that were known; none is left out for a missing
// figure.
func TestRemediesAreFilled(t *testing.T) {
	for _, dir := range []string{"syn-sent-growth/cli", "syn-sent-growth/srv", "table-full/srv", "healthy-baseline/srv",
		"nat-masquerade/rtr", "nat-masquerade/srv", "table-100k/proc-nf_conntrack-100k.txt.gz", "formats"} {
		r, _ := analyze(t, analyzer.Options{}, dir)
		if len(r.RemedyErrors) > 0 {
			t.Errorf("%s: remedies left out: %q", dir, r.RemedyErrors)
		}
		for _, f := range r.Findings {
			for _, rem := range f.Remedies {
				if strings.Contains(rem.Text(), "<no value>") || strings.Contains(rem.Text(), "{{") {
					t.Errorf("%s: %s: %q", dir, f.Rule, rem.Text())
				}
			}
		}
	}
}

func finding(r *analyzer.Result, rule string) *analyzer.Finding {
	for i := range r.Findings {
		if r.Findings[i].Rule == rule {
			return &r.Findings[i]
		}
	}
	return nil
}

func fired(r *analyzer.Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

func figure(f *analyzer.Finding, name string) string {
	for _, fig := range f.Evidence.Figures {
		if fig.Name == name {
			return fig.Value
		}
	}
	return ""
}

func remedyText(f *analyzer.Finding) string {
	var b strings.Builder
	for _, r := range f.Remedies {
		b.WriteString(r.Text() + "\n")
	}
	return b.String()
}

func seriesValues(s analyzer.Series) []float64 {
	var out []float64
	for _, p := range s.Points {
		out = append(out, p.Value)
	}
	return out
}

// The client whose SYNs the server drops: 300 more SYN_SENT [UNREPLIED]
// every 5 s, then flat at 900 (testdata/kernel-6.18/syn-sent-growth).
func TestCaptureSynSentGrowth(t *testing.T) {
	r, w := analyze(t, analyzer.Options{}, "syn-sent-growth/cli")
	if w.Timing != parser.TimingNames || r.Summary.Samples != 6 || r.Summary.SpanSeconds != 30 {
		t.Fatalf("timeline: %v, %d samples over %v s", w.Timing, r.Summary.Samples, r.Summary.SpanSeconds)
	}
	if got := fired(r); !slices.Equal(got, []string{rules.SynSentGrowth}) {
		t.Fatalf("fired %v, want only syn-sent-growth", got)
	}
	f := finding(r, rules.SynSentGrowth)
	if f.Severity != rules.SeverityWarning {
		t.Errorf("severity %v", f.Severity)
	}
	if !strings.HasPrefix(f.Summary, "900 TCP connections waiting for a SYN-ACK") || !strings.Contains(f.Summary, "10.231.10.2:8080") {
		t.Errorf("summary %q", f.Summary)
	}
	// The last SYNs were sent at about 11.5 s, the first at 0 (the log):
	// at t30 the youngest waited ~18 s, the oldest 30 s.
	if figure(f, "oldest") != "30s" || figure(f, "stuck entries") != "900" {
		t.Errorf("figures %+v", f.Evidence.Figures)
	}
	if got := seriesValues(f.Evidence.Series[0]); !slices.Equal(got, []float64{0, 300, 600, 900, 900, 900}) {
		t.Errorf("series %v", got)
	}
	if top := f.Evidence.Top[0]; top.Dimension != "destination" || top.Key != "10.231.10.2:8080" || top.Count != 900 {
		t.Errorf("top %+v", top)
	}
	if len(f.Evidence.Entries) != 3 || !strings.Contains(f.Evidence.Entries[0], "SYN_SENT") || !strings.Contains(f.Evidence.Entries[0], "[UNREPLIED]") {
		t.Errorf("entries %q", f.Evidence.Entries)
	}
	rem := remedyText(f)
	for _, want := range []string{
		"conntrack -L -p tcp --state SYN_SENT -d 10.231.10.2",
		"tcpdump -ni any 'host 10.231.10.2 and tcp port 8080",
		"sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent=30",
		// the same figure as ctdiag whatif on the same dumps: every SYN is
		// younger than 30 s at the last sample
		"all 900 tcp SYN_SENT entries of the last sample would still be there",
	} {
		if !strings.Contains(rem, want) {
			t.Errorf("remedies lack %q:\n%s", want, rem)
		}
	}

	// The server never saw a SYN: its table stays empty, nothing fires.
	r, _ = analyze(t, analyzer.Options{}, "syn-sent-growth/srv")
	if len(r.Findings) != 0 || r.Summary.Entries != 0 {
		t.Errorf("server: %v, %d entries", fired(r), r.Summary.Entries)
	}
}

// One sample is enough: ages come from the remaining timeouts.
func TestCaptureOneSampleGivesFindings(t *testing.T) {
	r, _ := analyze(t, analyzer.Options{}, "syn-sent-growth/cli/nf_conntrack.t15.txt")
	f := finding(r, rules.SynSentGrowth)
	if f == nil || figure(f, "stuck entries") != "900" || figure(f, "oldest") != "15s" {
		t.Fatalf("one sample: %+v", f)
	}
	if !slices.ContainsFunc(r.Summary.Notes, func(n string) bool { return strings.HasPrefix(n, "one sample") }) {
		t.Errorf("notes %q", r.Summary.Notes)
	}
}

// nf_conntrack_max lowered to 1000 under 1300 connections and UDP probes
// (testdata/kernel-6.18/table-full): the samples read while the limit was
// low, the statistics and sysctls read then, and the kernel log.
func TestCaptureTableFull(t *testing.T) {
	r, _ := analyze(t, analyzer.Options{},
		"table-full/srv/nf_conntrack.t00.txt", "table-full/srv/nf_conntrack.t01.txt",
		"table-full/srv/nf_conntrack.t05.txt", "table-full/srv/nf_conntrack.t10.txt",
		"table-full/srv/while-full.txt", "table-full/srv/sysctl-nf_conntrack.while-full.txt", "table-full/dmesg.txt")
	f := finding(r, rules.TableFull)
	if f == nil {
		t.Fatalf("table-full did not fire: %v", fired(r))
	}
	if f.Severity != rules.SeverityCritical || r.Findings[0].Rule != rules.TableFull {
		t.Errorf("table-full must be critical and first: %v %v", f.Severity, fired(r))
	}
	for _, want := range []string{"1000 of 1000 entries (100%)", "20 \"table full, dropping packet\" kernel-log lines", "3851 packets dropped"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary %q lacks %q", f.Summary, want)
		}
	}
	// 715 ESTABLISHED [ASSURED], 285 UDP [UNREPLIED]: early drop can free
	// 285 slots, ASSURED ones never.
	if r.Summary.Assured != 715 || r.Summary.Pressure.Headroom != 1000-715 {
		t.Errorf("assured %d headroom %d", r.Summary.Assured, r.Summary.Pressure.Headroom)
	}
	if got := figure(f, "kernel log \"table full\" lines"); got != "20 (netns 4026532246)" {
		t.Errorf("klog figure %q", got)
	}
	if got := figure(f, "drop since the counters started (one reading, failed insertions left out)"); got != "3851" {
		t.Errorf("drop figure %q", got)
	}
	rem := remedyText(f)
	for _, want := range []string{"sysctl -w net.netfilter.nf_conntrack_max=65536", "twice the 1000 entries the table was pinned at", "ctdiag list -c -s 10.231.50.1"} {
		if !strings.Contains(rem, want) {
			t.Errorf("remedies lack %q:\n%s", want, rem)
		}
	}
}

// Normal short connections and UDP request/reply: TIME_WAIT churn and UDP
// that saw a reply but is not assured are normal; nothing may fire.
func TestCaptureHealthyBaselineIsClean(t *testing.T) {
	for _, dir := range []string{"healthy-baseline/srv", "nat-masquerade/rtr", "nat-masquerade/srv"} {
		r, _ := analyze(t, analyzer.Options{}, dir)
		if len(r.Findings) != 0 {
			for _, f := range r.Findings {
				t.Errorf("%s: %s fired: %s", dir, f.Rule, f.Summary)
			}
		}
		if len(r.Checked) != len(rules.Catalog()) || r.Summary.Entries == 0 || len(r.Summary.States) == 0 {
			t.Errorf("%s: a clean report still has its figures: %+v", dir, r.Summary)
		}
	}
}

// The 100k table was filled over netlink with explicit timeouts: entries
// whose remaining time exceeds their state's timeout are left out of the
// age-based rules, and the notes say why.
func TestCaptureTimeoutsNotFromPackets(t *testing.T) {
	r, _ := analyze(t, analyzer.Options{}, "table-100k/proc-nf_conntrack-100k.txt.gz")
	if finding(r, rules.SynSentGrowth) != nil {
		t.Error("SYN_SENT entries with 7193 s left of 120 s have no known age")
	}
	var noted bool
	for _, n := range r.Summary.Notes {
		noted = noted || strings.Contains(n, "more time left than their state's timeout")
	}
	if !noted {
		t.Errorf("notes %q", r.Summary.Notes)
	}
	if f := finding(r, rules.StuckEstablished); f != nil && !strings.Contains(f.Summary, "assume the default") {
		t.Errorf("without sysctls the idle ages rest on the default timeout: %q", f.Summary)
	}
}

func mustFlows(t *testing.T, path string) []track.Flow {
	t.Helper()
	s, err := parser.ReadSamples([]parser.Input{{Path: filepath.Join(captures, path)}}, parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Snapshots[0].Flows
}

// Announcing the number of samples (as the walk does) only saves work: the
// result equals the one of an analysis that prepared every sample.
func TestExpectSamplesChangesNothing(t *testing.T) {
	for _, dir := range []string{"syn-sent-growth/cli", "table-full/srv", "healthy-baseline/srv"} {
		streamed, _ := analyze(t, analyzer.Options{}, dir) // WalkSamples announces the count
		inputs, err := parser.ExpandPaths([]string{filepath.Join(captures, dir)})
		if err != nil {
			t.Fatal(err)
		}
		whole, err := parser.ReadSamples(inputs, parser.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a := analyzer.New(analyzer.Options{})
		a.SysctlHint(hintOf(whole.Snapshots))
		for i := range whole.Snapshots {
			s := whole.Snapshots[i]
			flows := s.Flows
			s.Flows = nil
			a.BeginSample(s)
			for j := range flows {
				a.Flow(&flows[j])
			}
			a.EndSample()
		}
		a.SetTiming(whole.Timing.String())
		every := a.Result()
		if !reflect.DeepEqual(streamed.Findings, every.Findings) || !reflect.DeepEqual(streamed.Summary, every.Summary) {
			t.Errorf("%s: announcing the samples changed the result:\n%+v\n%+v", dir, streamed.Findings, every.Findings)
		}
	}
}

func hintOf(snaps []track.Snapshot) track.Sysctls {
	h := track.Sysctls{}
	for _, s := range snaps {
		for k, v := range s.Sysctls {
			h[k] = v
		}
	}
	return h
}

// A live exporter takes one result per sample with TakeResult, which frees
// what only that result needed, and starts its next analyzer a sample
// early with Unranked: neither may change a finding. Every prefix of each
// capture is compared with an analyzer that keeps everything.
func TestTakeResultChangesNothing(t *testing.T) {
	for _, dir := range []string{"syn-sent-growth/cli", "table-full/srv", "healthy-baseline/srv",
		"calibration/stuck-established/srv", "calibration/close-growth/srv", "calibration/top-talker/srv", "calibration/stale-udp/srv"} {
		inputs, err := parser.ExpandPaths([]string{filepath.Join(captures, dir)})
		if err != nil {
			t.Fatal(err)
		}
		whole, err := parser.ReadSamples(inputs, parser.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Snapshots) < 3 {
			t.Fatalf("%s: %d samples, want 3 or more", dir, len(whole.Snapshots))
		}
		hint := hintOf(whole.Snapshots)
		fresh := func() *analyzer.Analyzer {
			a := analyzer.New(analyzer.Options{})
			a.SysctlHint(hint)
			return a
		}
		keep, take, keepLate, takeLate := fresh(), fresh(), fresh(), fresh()
		for i := range whole.Snapshots {
			s := whole.Snapshots[i]
			flows := s.Flows
			s.Flows = nil
			all := []*analyzer.Analyzer{keep, take}
			if i >= 1 { // started a sample late, as the exporter's next analyzer
				all = append(all, keepLate, takeLate)
			}
			for _, a := range all {
				a.BeginSample(s)
			}
			if i == 1 {
				if err := takeLate.Unranked(); err != nil {
					t.Fatal(err)
				}
			}
			for j := range flows {
				for _, a := range all {
					a.Flow(&flows[j])
				}
			}
			for _, a := range all {
				a.EndSample()
			}
			same := func(what string, want, got *analyzer.Result) {
				t.Helper()
				if !reflect.DeepEqual(want.Findings, got.Findings) || !reflect.DeepEqual(want.Summary, got.Summary) {
					t.Errorf("%s, sample %d: %s changed the result:\n%+v\n%+v", dir, i, what, want.Findings, got.Findings)
				}
			}
			want := keep.Result()
			got := take.TakeResult()
			same("TakeResult", want, got)
			same("Result after TakeResult", want, take.Result())
			if i >= 2 { // the late analyzer's first sample is never the last it gives a result for
				same("Unranked on the first sample", keepLate.Result(), takeLate.TakeResult())
			}
		}
	}
}
