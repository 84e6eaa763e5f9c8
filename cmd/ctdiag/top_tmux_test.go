package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// builtCtdiag builds the binary into the test's temporary directory,
// removed with it, for the tests that run it as a program (in a real
// terminal, as another user: the directory is made world-readable). After
// the first, Go's build cache makes a build little more than a link.
func builtCtdiag(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "ctdiag")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tmuxServer starts a private tmux server for one test and returns a
// function that runs a tmux command on it. Its socket lives in the test's
// temporary directory (tmux -S): with -L, tmux would make its per-user
// socket directory in /tmp, which outlives the test. The server is killed
// when the test ends, before the directory is removed.
func tmuxServer(t *testing.T) func(args ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	return func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
}

// TestTopInTmux runs the built ctdiag top in a real terminal (tmux), types
// what a person would, and reads the screen back: the state counts, a
// finding, a filtered list; then q must give the shell a sane terminal.
func TestTopInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the real-terminal test needs it")
	}
	bin := builtCtdiag(t)
	tmux := tmuxServer(t)
	script := bin + " top --demo=capture --open first --paused; echo EXITED $?; stty -a; sleep 60"
	tmux("new-session", "-d", "-s", "top", "-x", "100", "-y", "30", "sh", "-c", script)

	screen := func() string { return tmux("capture-pane", "-p", "-t", "top") }
	waitFor := func(what string, re *regexp.Regexp) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := screen()
			if re.MatchString(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not on screen after 10s:\n%s", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	keys := func(ks ...string) {
		for _, k := range ks {
			tmux("send-keys", "-t", "top", k)
			time.Sleep(60 * time.Millisecond)
		}
	}
	text := func(s string) { tmux("send-keys", "-t", "top", "-l", "--", s) }

	waitFor("the first sample", regexp.MustCompile(`1/5 t\+0s`))
	keys(".", ".")
	s := waitFor("sample 3 (t05)", regexp.MustCompile(`3/5 t\+5s`))
	// States: the counts a person reads off the pane.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`tcp ESTABLISHED\s+715\s+72%`),
		regexp.MustCompile(`udp\s+285\s+28%`),
		regexp.MustCompile(`entries 1,000/1,000 \[█+\]\s+100%`),
	} {
		if !want.MatchString(s) {
			t.Errorf("states screen lacks %v:\n%s", want, s)
		}
	}
	// Findings: the table-full diagnosis, worst first.
	keys("3")
	s = waitFor("the findings pane", regexp.MustCompile(`\[3 Findings\]`))
	if !regexp.MustCompile(`› CRIT The table is full`).MatchString(s) {
		t.Errorf("findings screen lacks the critical table-full finding first:\n%s", s)
	}
	keys("Enter")
	waitFor("the finding's explanation", regexp.MustCompile(`WHAT IT MEANS`))
	keys("Escape")
	// Flows: filter as with ctdiag list, live match count.
	keys("5", "/")
	waitFor("the filter prompt", regexp.MustCompile(`options of ctdiag list`))
	text("-p udp")
	waitFor("the match count", regexp.MustCompile(`285 of 1,000 match`))
	keys("Enter")
	s = waitFor("the filtered list", regexp.MustCompile(`filter: -p udp`))
	rows := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "10.231.50.1") {
			rows++
			if !strings.Contains(l, "udp") || !strings.Contains(l, "9999") {
				t.Errorf("filtered list shows a non-UDP row: %q", l)
			}
		}
	}
	if rows < 10 {
		t.Errorf("only %d rows in the filtered list:\n%s", rows, s)
	}
	// Quit: the shell gets its terminal back, in canonical mode with echo.
	keys("q")
	s = waitFor("the shell after quitting", regexp.MustCompile(`EXITED \d+`))
	if !strings.Contains(s, "EXITED 0") {
		t.Errorf("ctdiag top did not exit 0:\n%s", s)
	}
	if regexp.MustCompile(`(^|\s)-(icanon|echo)\b`).MatchString(s) {
		t.Errorf("the terminal was left in raw mode:\n%s", s)
	}
	if strings.Contains(s, "Findings") {
		t.Errorf("the UI is still on screen after quitting (alternate screen not left):\n%s", s)
	}
}

// TestTopCaptureEndsInTmux opens capture folders with the built ctdiag as
// a newcomer would: by default on the most telling sample, saying which;
// from the first sample, End (G) jumps to the last one, where the
// diagnosis names the problem; Home (g) goes back to the first.
func TestTopCaptureEndsInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the real-terminal test needs it")
	}
	bin := builtCtdiag(t)
	tmux := tmuxServer(t)
	screenOf := func(session string) func(what string, re *regexp.Regexp) string {
		return func(what string, re *regexp.Regexp) string {
			t.Helper()
			var s string
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if s = tmux("capture-pane", "-p", "-t", session); re.MatchString(s) {
					return s
				}
			}
			t.Fatalf("%s: not on screen after 10s:\n%s", what, s)
			return s
		}
	}

	// Default: the worst sample, paused, and the status line says so.
	tmux("new-session", "-d", "-s", "worst", "-x", "120", "-y", "36", "sh", "-c", bin+" top "+captures+"/table-full/srv; sleep 60")
	wait := screenOf("worst")
	wait("the most telling sample", regexp.MustCompile(`at the worst sample, 6 of 6: CRITICAL table-full`))
	s := wait("paused on sample 6", regexp.MustCompile(`sample 6/6 t\+35s · ❚❚ paused`))
	if !strings.Contains(s, "CRIT The table is full") {
		t.Errorf("the worst sample's findings are not on screen:\n%s", s)
	}
	tmux("send-keys", "-t", "worst", "Home")
	wait("Home: the first sample", regexp.MustCompile(`sample 1/6 t\+0s · ❚❚ paused`))

	// From the first sample, End is the last, with its finding.
	tmux("new-session", "-d", "-s", "first", "-x", "100", "-y", "30", "sh", "-c", bin+" top --open first --paused "+captures+"/syn-sent-growth/cli; sleep 60")
	wait = screenOf("first")
	wait("the first sample", regexp.MustCompile(`1/6 t\+0s`))
	tmux("send-keys", "-t", "first", "End")
	wait("End: the last sample", regexp.MustCompile(`6/6 t\+30s`))
	tmux("send-keys", "-t", "first", "3")
	s = wait("the findings pane", regexp.MustCompile(`\[3 Findings\]`))
	if !regexp.MustCompile(`› WARN SYNs are not answered \(syn-sent-growth\)`).MatchString(s) ||
		!strings.Contains(s, "900 TCP connections waiting for a SYN-ACK") {
		t.Errorf("the last sample's finding is not on screen:\n%s", s)
	}
	tmux("send-keys", "-t", "first", "g")
	wait("g: the first sample again", regexp.MustCompile(`1/6 t\+0s`))
}

// TestTopColoursInTmux: colours by default, none with NO_COLOR (yet the
// focused pane and the selected row still show, as text).
func TestTopColoursInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the real-terminal test needs it")
	}
	bin := builtCtdiag(t)
	colour := regexp.MustCompile("\x1b\\[[0-9;]*3[0-9](;[0-9;]*)?m|\x1b\\[[0-9;]*38;[25];")
	tmux := tmuxServer(t)
	for i, c := range []struct {
		env     string
		colours bool
	}{
		{"TERM=xterm-256color COLORTERM=truecolor", true},
		// termenv alone would take CI for "no terminal" and drop colours.
		{"CI=true TERM=xterm-256color COLORTERM=truecolor", true},
		{"NO_COLOR=1 TERM=xterm-256color COLORTERM=truecolor", false},
	} {
		// The test's own environment (a CI runner's NO_COLOR, say) must not
		// decide the outcome: clear every colour switch, then set the case's.
		cmd := "env -u NO_COLOR -u CLICOLOR -u CLICOLOR_FORCE -u TERM_PROGRAM -u CI " + c.env + " " + bin + " top --demo=capture; sleep 60"
		session := fmt.Sprintf("c%d", i)
		tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "sh", "-c", cmd)
		var s string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if s = tmux("capture-pane", "-e", "-p", "-t", session); strings.Contains(s, "[2 States]") {
				break
			}
		}
		tmux("kill-session", "-t", session)
		if !strings.Contains(s, "[2 States]") {
			t.Fatalf("%s: the TUI did not show:\n%s", c.env, s)
		}
		if got := colour.MatchString(s); got != c.colours {
			t.Errorf("%s: colours on screen %v, want %v:\n%q", c.env, got, c.colours, s)
		}
	}
}

// TestKernelPlainCtdiagOnTerminal: ctdiag with no subcommand on a
// terminal opens the TUI on the live table. Run in a namespace with UDP
// flows of its own (tmux inside "ip netns exec"), it shows them read over
// netlink, and q leaves with status 0.
func TestKernelPlainCtdiagOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the real-terminal test needs it")
	}
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet sink {\n chain in { type filter hook input priority 0; udp dport 20000-20100 drop\n }\n}")
	sendUDP(t, p, 20000, 37)
	bin := builtCtdiag(t)
	tmux := tmuxServer(t)
	tmux("new-session", "-d", "-s", "p", "-x", "120", "-y", "40",
		"sh", "-c", "ip netns exec "+p.A.Name+" "+bin+"; echo EXITED $?; sleep 60")
	screen := func(want ...string) string {
		t.Helper()
		var s string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			s = tmux("capture-pane", "-p", "-t", "p")
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(s, w)
			}
			if ok {
				return s
			}
		}
		t.Fatalf("screen lacks %q:\n%s", want, s)
		return s
	}
	s := screen("netlink", "udp")
	if !regexp.MustCompile(`udp\s+37\b`).MatchString(s) {
		t.Errorf("the states pane should count the 37 UDP flows:\n%s", s)
	}
	tmux("send-keys", "-t", "p", "q")
	screen("EXITED 0")
}
