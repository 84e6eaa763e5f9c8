package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/rules"
)

// Exit status by severity: the syn-sent-growth client fires a warning.
func TestReportExitStatus(t *testing.T) {
	syn := captures + "/syn-sent-growth/cli"
	healthy := captures + "/healthy-baseline/srv"
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"report", syn}, 1},                          // default --fail-on warning
		{[]string{"report", "--fail-on", "critical", syn}, 0}, // below
		{[]string{"report", "--fail-on", "info", syn}, 1},
		{[]string{"report", "--fail-on", "never", syn}, 0},
		{[]string{"report", healthy}, 0},
		{[]string{"report", "--fail-on", "info", healthy}, 0},
		{[]string{"report", "--set", "syn-sent-growth.enabled=false", syn}, 0},
		{[]string{"report", "--set", "syn-sent-growth.severity=critical", "--fail-on", "critical", syn}, 1},
		{[]string{"report", "--samples", "3", syn}, 2},                               // --samples is for the live table
		{[]string{"report", "--netns", "x", syn}, 2},                                 // so is --netns
		{[]string{"report", captures + "/syn-sent-growth/cli/ss-tcp-states.txt"}, 2}, // nothing conntrack in it
		{[]string{"report", captures + "/syn-sent-growth/cli/iptables.txt"}, 3},      // a ruleset alone: the table's rules are not judged
		{[]string{"report", "/nonexistent/dump.txt"}, 2},
		{[]string{"report", "--fail-on", "loud", syn}, 2},
		{[]string{"report", "--set", "nope.x=1", syn}, 2},
		{[]string{"report", "-o", "yaml", syn}, 2},
	} {
		_, errOut, code := ctdiag(t, "", c.args...)
		if code != c.want {
			t.Errorf("%v: exit %d, want %d (stderr %s)", c.args, code, c.want, errOut)
		}
	}
}

func TestReportJSONAndTiming(t *testing.T) {
	out, _, code := ctdiag(t, "", "report", "-o", "json", captures+"/syn-sent-growth/cli")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Schema   string
		Status   string
		Worst    string
		Timing   struct{ Source string }
		Findings []struct{ Rule, Severity string }
		Samples  []struct {
			Entries       int
			OffsetSeconds *float64 `json:"offset_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "ctdiag.report/v1" || doc.Status != "findings" || doc.Worst != "warning" || doc.Timing.Source != "file names" {
		t.Errorf("doc %+v", doc)
	}
	if len(doc.Findings) != 1 || doc.Findings[0].Rule != "syn-sent-growth" || len(doc.Samples) != 6 || *doc.Samples[5].OffsetSeconds != 30 {
		t.Errorf("findings %+v samples %+v", doc.Findings, doc.Samples)
	}

	// --interval overrides the names, and the report says so.
	out, _, _ = ctdiag(t, "", "report", "-o", "json", "--interval", "10s", captures+"/syn-sent-growth/cli")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Timing.Source != "--interval 10s" || *doc.Samples[5].OffsetSeconds != 50 {
		t.Errorf("interval: %+v", doc.Timing)
	}
}

// Standard input, gzip, Markdown and JUnit from the command line.
func TestReportFormatsAndStdin(t *testing.T) {
	dump, err := os.ReadFile(captures + "/syn-sent-growth/cli/nf_conntrack.t15.txt")
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := ctdiag(t, string(dump), "report", "-o", "markdown", "-")
	if code != 1 || !strings.Contains(out, "### 🟠 warning: SYNs are not answered (`syn-sent-growth`)") {
		t.Errorf("markdown from stdin: exit %d\n%s", code, out)
	}
	out, _, _ = ctdiag(t, "", "report", "-o", "junit", captures+"/table-100k/proc-nf_conntrack-100k.txt.gz")
	if !strings.HasPrefix(out, "<?xml") || !strings.Contains(out, fmt.Sprintf(`<testsuites name="ctdiag" tests="%d"`, len(rules.Catalog()))) {
		t.Errorf("junit: %.300s", out)
	}
	out, _, _ = ctdiag(t, "", "report", captures+"/healthy-baseline/srv")
	if !strings.Contains(out, "No problems found") || strings.Contains(out, "\x1b[") {
		t.Errorf("text to a pipe: %s", out)
	}
	out, _, _ = ctdiag(t, "", "report", "--color", "always", captures+"/healthy-baseline/srv")
	if !strings.Contains(out, "\x1b[") {
		t.Error("--color always")
	}
}

// Malformed lines are reported with file:line and never stop the run;
// --strict makes them exit 2.
func TestReportMalformedInput(t *testing.T) {
	good, err := os.ReadFile(captures + "/syn-sent-growth/cli/nf_conntrack.t15.txt")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.txt")
	bad := string(good) + "ipv4     2 tcp      6 118 NOPE src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2\nipv4     2 tcp      6 11"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := ctdiag(t, "", "report", "--fail-on", "never", path)
	if code != 0 || !strings.Contains(errOut, "cut.txt:901: expected a tcp state name") || !strings.Contains(errOut, "truncated last line") {
		t.Errorf("exit %d stderr %s", code, errOut)
	}
	if !strings.Contains(out, "2 malformed input lines") || !strings.Contains(out, "900 TCP connections waiting") {
		t.Errorf("report: %s", out)
	}
	if _, _, code := ctdiag(t, "", "report", "--fail-on", "never", "--strict", path); code != 2 {
		t.Errorf("--strict: exit %d", code)
	}
}

func TestRulesCommand(t *testing.T) {
	out, _, code := ctdiag(t, "", "rules")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, id := range []string{"syn-sent-growth", "half-assured", "stuck-established", "close-growth", "table-full",
		"invalid-stale-tuple", "insert-failed", "stale-udp", "top-talker", "sysctl-risk"} {
		if !strings.Contains(out, id) {
			t.Errorf("rules lacks %s", id)
		}
	}
	out, _, code = ctdiag(t, "", "rules", "explain", "--set", "syn-sent-growth.min_entries=50", "syn-sent-growth")
	if code != 0 || !strings.Contains(out, "min_entries = 50 (default 20)") || !strings.Contains(out, "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent=<SuggestedTimeout>") {
		t.Errorf("explain: exit %d\n%s", code, out)
	}
	if _, errOut, code := ctdiag(t, "", "rules", "explain", "nope"); code != 2 || !strings.Contains(errOut, "the rules are: syn-sent-growth") {
		t.Errorf("unknown rule: %d %s", code, errOut)
	}
	cfg := filepath.Join(t.TempDir(), "ctdiag.yaml")
	if err := os.WriteFile(cfg, []byte("rules:\n  top-talker:\n    enabled: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = ctdiag(t, "", "rules", "--config", cfg)
	if !strings.Contains(out, "top-talker") || !strings.Contains(out, "disabled") {
		t.Errorf("config: %s", out)
	}
}

// The quick start's first command: --demo off a terminal prints the report
// of the built-in capture.
func TestDemoWithoutTerminal(t *testing.T) {
	out, errOut, code := ctdiag(t, "", "--demo")
	if code != 0 || !strings.Contains(out, "CRITICAL The table is full or filling (table-full)") ||
		!strings.Contains(out, "pinned at 1000 entries") || !strings.Contains(out, "times from manifest") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = ctdiag(t, "", "report", "-o", "json", "--demo")
	if code != 1 || !strings.Contains(out, `"rule": "table-full"`) {
		t.Errorf("report --demo: exit %d", code)
	}
	if _, _, code := ctdiag(t, "", "report", "--demo", "x.txt"); code != 2 {
		t.Errorf("--demo with a source: exit %d", code)
	}
}
