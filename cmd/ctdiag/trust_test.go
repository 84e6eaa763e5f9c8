package main

// One test for each output ctdiag was once seen to mislead with (issue 10):
// each would pass again if its fix were undone only by failing.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

func reportJSON(t *testing.T, args ...string) (*report.Document, int) {
	t.Helper()
	out, errOut, code := ctdiag(t, "", append([]string{"report", "-o", "json"}, args...)...)
	var d report.Document
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errOut)
	}
	return &d, code
}

func docRemedyText(d *report.Document) string {
	var b strings.Builder
	for _, f := range d.Findings {
		for _, r := range f.Remedies {
			b.WriteString(r.Text + "\n")
		}
	}
	return b.String()
}

// A kernel log or conntrack -S alone says nothing of the table's size: no
// remedy may derive a limit from it (nf_conntrack_max=0 means no limit).
func TestNoRemedyFromAnUnknownLimit(t *testing.T) {
	dir := t.TempDir()
	klog := filepath.Join(dir, "dmesg.txt")
	if err := os.WriteFile(klog, []byte("[ 1400.936197] nf_conntrack: nf_conntrack: table full, dropping packet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{klog, captures + "/formats/conntrack-S.txt", captures + "/formats/stat-nf_conntrack.txt"} {
		d, _ := reportJSON(t, in)
		rem := docRemedyText(d)
		if regexp.MustCompile(`nf_conntrack_max[ =]+0\b|hashsize.*\b0\b|echo 0 >`).MatchString(rem) {
			t.Errorf("%s: a remedy computed from an unknown limit:\n%s", in, rem)
		}
		if f := docFinding(d, rules.TableFull); f != nil && !strings.Contains(rem, "sysctl net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_count") {
			t.Errorf("%s: table-full without the limit must say how to read it:\n%s", in, rem)
		}
	}
}

// What was not read is not "no problems": an event log alone, statistics
// alone: status incomplete, exit 3, and the rules not judged are named.
func TestIncompleteIsNotClean(t *testing.T) {
	for _, in := range []string{captures + "/formats/conntrack-E.txt", captures + "/formats/conntrack-C.txt"} {
		d, code := reportJSON(t, in)
		if d.Status != "incomplete" || !d.Incomplete || code != exitIncomplete {
			t.Errorf("%s: status %q incomplete %v exit %d; want incomplete, exit %d", in, d.Status, d.Incomplete, code, exitIncomplete)
		}
		for _, c := range d.Checks {
			if c.Rule == rules.SynSentGrowth && (c.Judged || !strings.Contains(c.Missing, "the table")) {
				t.Errorf("%s: %+v", in, c)
			}
		}
		text, _, _ := ctdiag(t, "", "report", in)
		if strings.Contains(text, "No problems found") || !strings.Contains(text, "could not be judged") {
			t.Errorf("%s:\n%s", in, text)
		}
	}
	// An event log is analysed as events.
	d, _ := reportJSON(t, captures+"/formats/conntrack-E.txt")
	if ev := d.Summary.EventLog; ev == nil || ev.New != 11 || ev.Destroy != 1 || len(ev.ByState) == 0 {
		t.Errorf("event log summary %+v", d.Summary.EventLog)
	}
	// With the table, statistics and sysctls, the same capture is complete.
	if d, code := reportJSON(t, captures+"/healthy-baseline/srv"); d.Incomplete || d.Status != "ok" || code != 0 {
		t.Errorf("healthy capture: status %q incomplete %v exit %d", d.Status, d.Incomplete, code)
	}
	// --fail-on never: never a failing exit.
	if _, _, code := ctdiag(t, "", "report", "--fail-on", "never", captures+"/formats/conntrack-E.txt"); code != 0 {
		t.Errorf("--fail-on never: exit %d", code)
	}
}

// The demo tells one story: the table pinned at its limit of the time
// (1000), the limit raised since (262144), and remedies sized from what
// the table held, not from the later limit.
func TestDemoTellsTheTruth(t *testing.T) {
	d, _ := reportJSON(t, "--demo")
	f := docFinding(d, rules.TableFull)
	if f == nil || f.Severity != rules.SeverityCritical {
		t.Fatalf("demo: %q", docFired(d))
	}
	for _, want := range []string{"pinned at 1000 entries (its limit then)", "the limit read last is 262144, so it was raised since"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary lacks %q: %s", want, f.Summary)
		}
	}
	if p := d.Summary.Peak; p == nil || p.Entries != 1000 || p.Max != 1000 || p.Utilisation != 1 {
		t.Errorf("peak %+v", d.Summary.Peak)
	}
	rem := docRemedyText(d)
	if strings.Contains(rem, "524288") || strings.Contains(rem, "twice the 262144") {
		t.Errorf("a remedy sized from the limit read after the fact:\n%s", rem)
	}
	if !strings.Contains(rem, "above the 1000 entries the table was pinned at") {
		t.Errorf("remedies:\n%s", rem)
	}
}

// The summary's headroom is the one computation (max − entries never evicted), also when
// the ASSURED entries exceed a limit lowered below them.
func TestHeadroomIsOneFormula(t *testing.T) {
	d, _ := reportJSON(t, captures+"/table-full/srv/nf_conntrack.t05.txt", captures+"/table-full/srv/sysctl-nf_conntrack.while-full.txt")
	want := analyzer.PressureOf(analyzer.PressureInput{Count: 1000, Max: 1000, HasMax: true, NonEvictable: uint64(d.Summary.Assured)})
	if d.Summary.Headroom == nil || *d.Summary.Headroom != want.Headroom {
		t.Errorf("headroom %v, PressureOf says %d", d.Summary.Headroom, want.Headroom)
	}
	over := analyzer.PressureOf(analyzer.PressureInput{Count: 1300, Max: 1000, HasMax: true, NonEvictable: 1300})
	if over.Headroom != -300 || over.FullInSeconds != 0 || !over.HasFullIn {
		t.Errorf("over the limit: %+v", over)
	}
}

// The what-if figure a remedy quotes is the one ctdiag whatif prints for
// the same data.
func TestWhatIfFigureMatchesWhatIf(t *testing.T) {
	dump := captures + "/syn-sent-growth/cli/nf_conntrack.t15.txt"
	d, _ := reportJSON(t, dump)
	rem := docRemedyText(d)
	m := regexp.MustCompile(`With 30 s, (all (\d+)|(\d+) of the (\d+)) tcp SYN_SENT entries`).FindStringSubmatch(rem)
	if m == nil {
		t.Fatalf("no what-if figure in:\n%s", rem)
	}
	kept := m[2] + m[3]
	if !strings.Contains(rem, "ctdiag whatif "+dump+" --set nf_conntrack_tcp_timeout_syn_sent=30") {
		t.Errorf("the remedy does not give the command that shows the same figure:\n%s", rem)
	}
	out, errOut, code := ctdiag(t, "", "whatif", dump, "--set", "nf_conntrack_tcp_timeout_syn_sent=30")
	if code != 0 {
		t.Fatalf("whatif: exit %d: %s", code, errOut)
	}
	row := regexp.MustCompile(`(?m)^tcp SYN_SENT\s+(\d+)\s+(\d+)`).FindStringSubmatch(out)
	if row == nil || row[2] != kept {
		t.Errorf("report says %s kept, whatif says %v:\n%s", kept, row, out)
	}
}

// "Most to X" only when X holds a real share: on the 100k capture, spread
// over thousands of destinations, none is named as where entries go.
func TestNoFalseMostTo(t *testing.T) {
	d, _ := reportJSON(t, captures+"/table-100k/proc-nf_conntrack-100k.txt.gz")
	for _, f := range d.Findings {
		if regexp.MustCompile(`most to|all to|of them to`).MatchString(f.Summary) {
			t.Errorf("%s names a destination holding a sliver: %s", f.Rule, f.Summary)
		}
		if f.Rule == rules.StuckEstablished && !strings.Contains(f.Summary, "spread over") {
			t.Errorf("stuck-established: %s", f.Summary)
		}
	}
}

// Remedies for a table read in a network namespace run in it: every
// command is prefixed, ctdiag takes --netns, and the global limit says it is
// global.
func TestRemediesScopedToTheNamespace(t *testing.T) {
	for _, rem := range []analyzer.Remedy{
		{Commands: []string{"conntrack -L -p tcp", "tcpdump -ni any 'port 53'", "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent=30", "ctdiag list -c -d 10.0.0.1", "ctdiag rules explain x",
			"sysctl -w net.netfilter.nf_conntrack_max=65536", "echo 32768 > /sys/module/nf_conntrack/parameters/hashsize"}},
	} {
		res := analyzer.ScopeRemedy(rem, analyzer.Target{Netns: "blue"})
		want := []string{"ip netns exec blue conntrack -L -p tcp", "ip netns exec blue tcpdump -ni any 'port 53'",
			"ip netns exec blue sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent=30", "ctdiag list --netns blue -c -d 10.0.0.1", "ctdiag rules explain x",
			"sysctl -w net.netfilter.nf_conntrack_max=65536", "echo 32768 > /sys/module/nf_conntrack/parameters/hashsize"}
		for i := range want {
			if res.Commands[i] != want[i] {
				t.Errorf("command %d: %q, want %q", i, res.Commands[i], want[i])
			}
		}
		if !strings.Contains(res.Note, "global") {
			t.Errorf("note %q", res.Note)
		}
	}
}
