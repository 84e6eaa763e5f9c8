package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ctdiag/ctdiag/collector"
)

const captures = "../../testdata/kernel-6.18"

// ctdiag runs the command in-process and returns stdout, stderr and the
// exit code.
func ctdiag(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return out.String(), errb.String(), code
}

// ctdiagWhen runs ctdiag in process, calls then once a line of its stderr
// holds mark (a live read's "sample 1 of 2 read"), and returns what ctdiag
// returned: a test acts between two samples however long the first took.
func ctdiagWhen(t *testing.T, mark string, then func(), args ...string) (string, string, int) {
	t.Helper()
	var out bytes.Buffer
	errw := &markWriter{mark: mark, seen: make(chan struct{})}
	done := make(chan int, 1)
	go func() { done <- run(args, env{stdin: strings.NewReader(""), stdout: &out, stderr: errw}) }()
	select {
	case <-errw.seen:
		then()
		code := <-done
		return out.String(), errw.String(), code
	case code := <-done:
		t.Fatalf("ctdiag %v ended (exit %d) before %q: %s", args, code, mark, errw.String())
		return "", "", code
	}
}

// markWriter keeps what is written and closes seen once it holds mark.
type markWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	mark string
	seen chan struct{}
	once sync.Once
}

func (w *markWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.mark) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *markWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestListReproducesCapturesExactly(t *testing.T) {
	for _, c := range []struct{ file, format string }{
		{"/healthy-baseline/srv/nf_conntrack.t25.txt", "proc"},
		{"/nat-masquerade/rtr/conntrack-L-extended.txt", "extended"},
		{"/nat-masquerade/rtr/conntrack-L-src-nat.txt", "conntrack"},
		{"/formats/proc-nf_conntrack.txt", "proc"},
	} {
		want, err := os.ReadFile(captures + c.file)
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := ctdiag(t, "", "list", "-o", c.format, captures+c.file)
		if code != 0 || out != string(want) {
			t.Errorf("%s: exit %d, output differs (stderr %s)", c.file, code, errOut)
		}
		n := strings.Count(string(want), "\n")
		if !strings.Contains(errOut, "ctdiag: "+strconv.Itoa(n)+" flow entries have been shown.") {
			t.Errorf("%s: summary missing: %s", c.file, errOut)
		}
		if !strings.Contains(errOut, "detected "+c.format) {
			t.Errorf("%s: detected format not named: %s", c.file, errOut)
		}
	}
}

// TestListFiltersOnCaptures: counts checked against the capture's own
// summary (testdata/kernel-6.18/*/summary.txt).
func TestListFiltersOnCaptures(t *testing.T) {
	t20 := captures + "/table-full/srv/nf_conntrack.t20.txt" // 1300 tcp ESTABLISHED [ASSURED], 285 udp [UNREPLIED]
	cases := []struct {
		args []string
		want int
	}{
		{nil, 1585},
		{[]string{"-p", "tcp"}, 1300},
		{[]string{"-p", "udp", "-u", "UNREPLIED"}, 285},
		{[]string{"-u", "ASSURED"}, 1300},
		{[]string{"-u", "!ASSURED"}, 285},
		{[]string{"--state", "ESTABLISHED"}, 1300},
		{[]string{"-p", "tcp", "--state", "SYN_SENT"}, 0},
		{[]string{"-f", "ipv6"}, 0},
		{[]string{"-s", "10.231.50.0/24", "--dport", "8080"}, 1300},
		{[]string{"-s", "10.231.50.1", "-d", "10.231.50.2", "-r", "10.231.50.2", "-q", "10.231.50.1"}, 1585},
		{[]string{"-m", "0"}, 1585},
		{[]string{"-m", "1/1"}, 0},
		{[]string{"-w", "0"}, 1585},
		{[]string{"--src-nat"}, 0},
	}
	for _, c := range cases {
		out, errOut, code := ctdiag(t, "", append(append([]string{"list", "-c"}, c.args...), t20)...)
		if code != 0 || strings.TrimSpace(out) != strconv.Itoa(c.want) {
			t.Errorf("list -c %v: %q (exit %d, %s), want %d", c.args, out, code, errOut, c.want)
		}
	}
	// Masquerade: every entry of the router is source-NATed to its address.
	out, _, _ := ctdiag(t, "", "list", "-c", "--src-nat=10.231.71.254", captures+"/nat-masquerade/rtr/nf_conntrack.t05.txt")
	if strings.TrimSpace(out) != "131" {
		t.Errorf("--src-nat on the router: %s", out)
	}
	out, _, _ = ctdiag(t, "", "list", "-c", "--dst-nat", captures+"/nat-masquerade/rtr/nf_conntrack.t05.txt")
	if strings.TrimSpace(out) != "0" {
		t.Errorf("--dst-nat on the router: %s", out)
	}
}

func TestListStdinGzipDirAndJSON(t *testing.T) {
	in, _ := os.ReadFile(captures + "/healthy-baseline/srv/nf_conntrack.t05.txt")
	out, _, code := ctdiag(t, string(in), "list", "-c", "-")
	if code != 0 || strings.TrimSpace(out) != "80" {
		t.Fatalf("stdin: %q %d", out, code)
	}
	out, _, _ = ctdiag(t, "", "list", "-c", captures+"/table-100k/proc-nf_conntrack-100k.txt.gz")
	if strings.TrimSpace(out) != "100000" {
		t.Fatalf("gzip: %q", out)
	}
	// A directory: flow tables are read, the rest skipped with a note.
	out, errOut, code := ctdiag(t, "", "list", "-c", "-p", "tcp", "--state", "SYN_SENT", captures+"/syn-sent-growth/cli")
	if code != 0 || strings.TrimSpace(out) != strconv.Itoa(300+600+900+900+900+900) {
		t.Fatalf("dir: %q %d %s", out, code, errOut)
	}
	if !strings.Contains(errOut, "skipped "+captures+"/syn-sent-growth/cli/conntrack-S.txt: conntrack -S statistics") {
		t.Errorf("no skip note: %s", errOut)
	}
	// JSON out, JSON in, proc out again: the same bytes.
	js, _, _ := ctdiag(t, "", "list", "-o", "json", captures+"/formats/proc-nf_conntrack.txt")
	back, _, code := ctdiag(t, js, "list", "-o", "proc", "-")
	want, _ := os.ReadFile(captures + "/formats/proc-nf_conntrack.txt")
	if code != 0 || back != string(want) {
		t.Fatalf("json round trip: exit %d\n%s", code, back)
	}
	jl, _, _ := ctdiag(t, "", "list", "-o", "jsonl", "-p", "udp", captures+"/formats/proc-nf_conntrack.txt")
	if strings.Count(jl, "\n") != 3 || !strings.HasPrefix(jl, `{"family":"ipv4","proto":"udp"`) {
		t.Fatalf("jsonl: %s", jl)
	}
}

func TestListMalformedAndStrict(t *testing.T) {
	good, _ := os.ReadFile(captures + "/healthy-baseline/srv/nf_conntrack.t05.txt")
	in := "garbage\n" + string(good) + "ipv4     2 tcp      6 1 NOPE src=1.1.1.1\nipv4     2 tcp   6 117 TIME_WAIT src=10.2"
	out, errOut, code := ctdiag(t, in, "list", "-c", "-")
	if code != 0 || strings.TrimSpace(out) != "80" {
		t.Fatalf("without --strict: exit %d, %q", code, out)
	}
	for _, want := range []string{"<stdin>:1: expected", "<stdin>:82: expected a tcp state name", "<stdin>:83: truncated last line"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	_, errOut, code = ctdiag(t, in, "list", "-c", "--strict", "-")
	if code != 2 || !strings.Contains(errOut, "3 malformed lines (--strict)") {
		t.Fatalf("--strict: exit %d\n%s", code, errOut)
	}
	// More than five bad lines: the rest are counted.
	_, errOut, _ = ctdiag(t, string(good)+strings.Repeat("junk\n", 12), "list", "-")
	if !strings.Contains(errOut, "7 more malformed lines not shown (12 in all)") {
		t.Errorf("overflow note missing:\n%s", errOut)
	}
}

func TestListUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"list", "-o", "yaml", "x"}, 2, `unknown output "yaml"`},
		{[]string{"list", "-o", "save,id", "x"}, 2, "save cannot be combined"},
		{[]string{"list", "-o", "json,xml", "x"}, 2, "choose one of json and xml"},
		{[]string{"list", "-l", "nosuch", "--connlabel", "/nonexistent/connlabel.conf", "x"}, 2, `unknown label "nosuch"`},
		{[]string{"list", "-p", "nope", "x"}, 2, `--proto "nope"`},
		{[]string{"list", "-u", "ASSURED,!ASSURED", "x"}, 2, "both set and clear"},
		{[]string{"list", "--bogus"}, 2, "unknown flag"},
		{[]string{"list", "/nonexistent/dump"}, exitParameter, "no such file"},
		{[]string{"list", captures + "/formats/conntrack-S.txt"}, exitParameter, "conntrack -S statistics: not a flow table"},
		{[]string{"list", captures + "/formats/kernel.txt"}, exitParameter, `not a conntrack format (line 1: "6.18.44-fc-v445")`},
	}
	for _, c := range cases {
		_, errOut, code := ctdiag(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}

func TestHelpAndCompletion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"list", "--help"}, {"completion", "--help"}, {"--version"}} {
		out, _, code := ctdiag(t, "", args...)
		if code != 0 || out == "" {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	out, _, code := ctdiag(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_ctdiag") {
		t.Errorf("bash completion: exit %d", code)
	}
	out, _, _ = ctdiag(t, "", "__complete", "list", "-o", "")
	if !strings.Contains(out, "extended") || !strings.Contains(out, "jsonl") {
		t.Errorf("completion of -o: %s", out)
	}
	out, _, _ = ctdiag(t, "", "list", "--help")
	for _, flag := range []string{"--proto", "--src", "--reply-dst", "--sport", "--dport", "--state", "--status", "--mark", "--zone", "--family", "--count", "--output", "--strict"} {
		if !strings.Contains(out, flag) {
			t.Errorf("list --help lacks %s", flag)
		}
	}
}

func TestLiveErrorsSayWhatToDo(t *testing.T) {
	missing := explainLiveError(fmt.Errorf("%w: no /proc/net/nf_conntrack", collector.ErrNoConntrack))
	if !strings.Contains(missing.Error(), "pass a captured file") || !errors.Is(missing, collector.ErrNoConntrack) {
		t.Errorf("missing: %v", missing)
	}
	ns := explainLiveError(fmt.Errorf("%w: /run/netns/x does not exist", collector.ErrNoNetns))
	if !strings.Contains(ns.Error(), "ip netns list") {
		t.Errorf("netns: %v", ns)
	}
	// Live options do not apply to files.
	_, errOut, code := ctdiag(t, "", "list", "--netns", "x", captures+"/formats/proc-nf_conntrack.txt")
	if code != exitParameter || !strings.Contains(errOut, "do not apply to files") {
		t.Errorf("--netns with a file: exit %d, %s", code, errOut)
	}
}
