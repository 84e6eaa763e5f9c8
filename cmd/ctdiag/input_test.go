package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// TestKlogStampsThroughEveryCommand: a yearless syslog line or a
// dmesg -T line once panicked ("time: missing Location") in list, report,
// top and whatif, from a file, a folder and standard input.
func TestKlogStampsThroughEveryCommand(t *testing.T) {
	logs := map[string]string{
		"syslog.txt":  "Nov 21 13:00:29 h kernel: nf_conntrack: table full, dropping packet\n",
		"dmesg-T.txt": "[Tue Nov 20 22:30:22 2018] nf_conntrack: table full, dropping packet\n",
	}
	table, err := os.ReadFile(captures + "/formats/proc-nf_conntrack.txt")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range logs {
		dir := t.TempDir()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nf_conntrack.txt"), table, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			stdin string
			args  []string
			code  int
			want  string
		}{
			{"", []string{"report", "--fail-on", "critical", file}, 1, "table-full"},
			{"", []string{"report", "--fail-on", "critical", dir}, 1, "table-full"},
			{text, []string{"report", "--fail-on", "critical", "-"}, 1, "table-full"},
			{"", []string{"list", file}, 2, "holds kernel log"},
			{"", []string{"list", "-c", dir}, 0, "skipped " + file + ": kernel log"},
			{text, []string{"list", "-"}, 2, "holds kernel log"},
			{"", []string{"top", file}, 2, "top draws on a terminal"},
			{"", []string{"top", dir}, 2, "top draws on a terminal"},
			{"", []string{"whatif", dir, "--set", "nf_conntrack_tcp_timeout_time_wait=30"}, 0, "TIME_WAIT"},
		} {
			out, errOut, code := ctdiag(t, c.stdin, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Errorf("%s: %v: exit %d, want %d with %q\nstdout %s\nstderr %s", name, c.args, code, c.code, c.want, out, errOut)
			}
		}
	}
}

// TestRandomBytesAreRefused: random bytes were once read as JSON Lines
// ("No problems found", exit 0).
func TestRandomBytesAreRefused(t *testing.T) {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i*7919 + i>>8*31 + i>>16)
	}
	file := filepath.Join(t.TempDir(), "random.bin")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"report", file}, {"list", "-c", file}} {
		_, errOut, code := ctdiag(t, "", args...)
		if code != 2 || !strings.Contains(errOut, file+": not a conntrack format (binary data") {
			t.Errorf("%v: exit %d, stderr %s", args, code, errOut)
		}
	}
}

// TestOverlongFirstLineIsReported: a first line over 64 KiB once made a
// dump "empty" (list -c printed 0, exit 0).
func TestOverlongFirstLineIsReported(t *testing.T) {
	table, err := os.ReadFile(captures + "/formats/proc-nf_conntrack.txt")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dump.txt")
	long := strings.Repeat("x", 100<<10) + "\n"
	if err := os.WriteFile(file, append([]byte(long), table...), 0o644); err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(table), "\n")
	out, errOut, code := ctdiag(t, "", "list", "-c", file)
	if code != 0 || strings.TrimSpace(out) != strconv.Itoa(n) || !strings.Contains(errOut, file+":1: expected a line shorter than 64 KiB") {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if _, errOut, code := ctdiag(t, "", "list", "-c", "--strict", file); code != 2 {
		t.Errorf("--strict: exit %d, %s", code, errOut)
	}
}

// TestEventLogSummaryCountsEveryEvent: an event log is read one event at a
// time into the analyzer's tallies, from a file and from standard input;
// holding events whole once took 5.4 GB for a 6.8 MB gzip, and the bounded
// snapshot alone keeps only the latest.
func TestEventLogSummaryCountsEveryEvent(t *testing.T) {
	var b strings.Builder
	const news, destroys = 3 * track.MaxEvents, track.MaxEvents
	for i := 0; i < news; i++ {
		fmt.Fprintf(&b, "    [NEW] tcp      6 120 SYN_SENT src=10.0.%d.%d dst=10.9.0.1 sport=%d dport=443 [UNREPLIED] src=10.9.0.1 dst=10.0.%d.%d sport=443 dport=%d\n",
			i>>8&255, i&255, 1024+i%60000, i>>8&255, i&255, 1024+i%60000)
	}
	for i := 0; i < destroys; i++ {
		fmt.Fprintf(&b, "[DESTROY] tcp      6 src=10.0.%d.%d dst=10.9.0.1 sport=%d dport=443 [UNREPLIED] src=10.9.0.1 dst=10.0.%d.%d sport=443 dport=%d\n",
			i>>8&255, i&255, 1024+i%60000, i>>8&255, i&255, 1024+i%60000)
	}
	file := filepath.Join(t.TempDir(), "events.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ stdin, arg string }{{"", file}, {b.String(), "-"}} {
		out, errOut, code := ctdiag(t, c.stdin, "report", "-o", "json", "--fail-on", "never", c.arg)
		var doc struct {
			Summary struct {
				EventLog *struct {
					New, Destroy int
					ByState      []struct {
						Name  string
						Count int
					} `json:"by_state"`
				} `json:"event_log"`
			}
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
			t.Fatalf("%s: exit %d, %v\n%s", c.arg, code, err, errOut)
		}
		el := doc.Summary.EventLog
		if el == nil || el.New != news || el.Destroy != destroys || len(el.ByState) != 1 || el.ByState[0].Count != news {
			t.Errorf("%s: event log summary %+v", c.arg, el)
		}
	}
}

// TestCutGzipListAndReport: report on a gzip cut short once gave up with
// "unexpected EOF" where list read what was there; both read the entries
// before the cut and name the file and line where it ends.
func TestCutGzipListAndReport(t *testing.T) {
	whole, err := os.ReadFile(captures + "/table-100k/proc-nf_conntrack-100k.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cut.txt.gz")
	if err := os.WriteFile(file, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := ctdiag(t, "", "list", "-c", file)
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	if code != 0 || n < 10000 || n >= 100000 || !strings.Contains(errOut, file+":"+strconv.Itoa(n+1)+": the input ends early (unexpected EOF)") {
		t.Fatalf("list: exit %d, %d entries\n%s", code, n, errOut)
	}
	out, errOut, code = ctdiag(t, "", "report", "-o", "json", "--fail-on", "never", file)
	var doc struct {
		Summary struct{ Entries int }
		Input   struct{ Problems []string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || doc.Summary.Entries != n ||
		len(doc.Input.Problems) != 1 || !strings.Contains(doc.Input.Problems[0], file+":"+strconv.Itoa(n+1)+": the input ends early") {
		t.Fatalf("report: exit %d, %v, %+v\n%s", code, err, doc, errOut)
	}
	if _, _, code := ctdiag(t, "", "report", "--strict", "--fail-on", "never", file); code != exitParameter {
		t.Errorf("report --strict: exit %d", code)
	}
}
