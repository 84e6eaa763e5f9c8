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
)

// TestTopInTmux runs the built ctdiag top in a real terminal (tmux), types
// what a person would, and reads the screen back: the state counts, a
// finding, a filtered list; then q must give the shell a sane terminal.
func TestTopInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the real-terminal test needs it")
	}
	bin := filepath.Join(t.TempDir(), "ctdiag")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := fmt.Sprintf("ctdiag-test-%d", os.Getpid())
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	script := bin + " top --demo --paused; echo EXITED $?; stty -a; sleep 60"
	tmux("new-session", "-d", "-s", "top", "-x", "100", "-y", "30", "sh", "-c", script)
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })

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
