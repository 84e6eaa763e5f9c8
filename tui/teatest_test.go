package tui

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/ctdiag/ctdiag/track"
)

// startProgram runs the TUI as a real bubbletea program (teatest) on the
// demo capture, from its first sample.
func startProgram(t *testing.T, opts Options, w, h int) *teatest.TestModel {
	t.Helper()
	opts.Open = OpenFirst
	if opts.Source == nil {
		opts.Source = demoReplay(t)
	}
	opts.Renderer, opts.Now = asciiRenderer(), fixedNow
	if opts.Clipboard == nil {
		opts.Clipboard = func(string) error { return nil }
	}
	m := New(opts)
	t.Cleanup(func() { m.Close() })
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	// Quit and wait before m closes its source: teatest reports a program
	// that ends in error with t.Fatalf, which after its test has ended
	// (a failed one leaves the program running) kills the test binary.
	t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return tm
}

func waitFor(t *testing.T, tm *teatest.TestModel, what string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// waitSample waits for the header to show sample n of 5 (short or long
// form, depending on the width).
func waitSample(t *testing.T, tm *teatest.TestModel, n int) {
	t.Helper()
	re := regexp.MustCompile(`\b` + strconv.Itoa(n) + `/5 t\+`)
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return re.Match(b) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func press(tm *teatest.TestModel, keys ...string) {
	for _, k := range keys {
		tm.Send(keyMsg(k))
	}
}

func finalModel(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	return tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
}

// TestFlowFilterDetailBack: filter the list as with ctdiag list, see the
// live match count, open an entry, come back to the filtered list.
func TestFlowFilterDetailBack(t *testing.T) {
	tm := startProgram(t, Options{Paused: true}, 100, 30)
	waitSample(t, tm, 1)
	press(tm, ".")
	waitSample(t, tm, 2)
	press(tm, ".")
	waitSample(t, tm, 3)
	press(tm, "5", "/")
	waitFor(t, tm, "options of ctdiag list")
	tm.Type("-p udp")
	waitFor(t, tm, "285 of 1,000 match")
	tm.Type(" --dport 80")
	waitFor(t, tm, "0 of 1,000 match")
	press(tm, "backspace", "backspace")
	tm.Type("9999")
	waitFor(t, tm, "285 of 1,000 match")
	press(tm, "enter")
	waitFor(t, tm, "filter: -p udp --dport 9999")
	press(tm, "down", "enter")
	waitFor(t, tm, "a reply from 10.231.50.2:9999")
	press(tm, "esc")
	waitFor(t, tm, "1–22 of 285") // the filtered list again
	press(tm, "esc")              // clears the filter
	waitFor(t, tm, "all 1,000 entries")
	press(tm, "q")
	m := finalModel(t, tm)
	if _, q, _ := m.flows.Query(); q != "" {
		t.Errorf("filter %q left after esc", q)
	}
}

// TestSortAndReverse: s walks the columns, r reverses.
func TestSortAndReverse(t *testing.T) {
	tm := startProgram(t, Options{Paused: true, Pane: 5}, 100, 30)
	waitSample(t, tm, 1)
	press(tm, ".", ".")
	waitSample(t, tm, 3)
	for range 6 { // proto, state, source, sport, destination, dport
		press(tm, "s")
	}
	waitFor(t, tm, "sorted by dport ↑")
	press(tm, "r")
	waitFor(t, tm, "sorted by dport ↓")
	press(tm, "q")
	m := finalModel(t, tm)
	v := m.flows.Selection()
	first, last := dportAt(m, 0), dportAt(m, v.Len()-1)
	if v.Len() != 1000 || first != 9999 || last != 8080 {
		t.Errorf("dport descending: %d rows, first %d, last %d", v.Len(), first, last)
	}
}

func dportAt(m *Model, i int) uint16 {
	var f track.Flow
	m.flows.Selection().Flow(i, &f)
	return f.Orig.DstPort
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func readAll(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	b, err := io.ReadAll(tm.FinalOutput(t, teatest.WithFinalTimeout(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPause: p stops playback where it is and resumes it.
func TestPause(t *testing.T) {
	t.Parallel()
	tm := startProgram(t, Options{Speed: 8}, 100, 30)
	waitSample(t, tm, 2)
	press(tm, "p")
	var paused string
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		all := regexp.MustCompile(`(\d)/5 t\+[^\n]*❚❚`).FindAllSubmatch(b, -1)
		if len(all) > 0 {
			paused = string(all[len(all)-1][1])
		}
		return paused != ""
	}, teatest.WithDuration(5*time.Second))
	time.Sleep(1500 * time.Millisecond) // longer than any step at 8×
	press(tm, "q")
	m := finalModel(t, tm)
	if got := m.frame.Sample + 1; got != atoi(paused) || !m.play.paused {
		t.Errorf("paused at sample %s, now at %d (paused %v)", paused, got, m.play.paused)
	}
}

// TestPlayToEnd: playing runs through the recording and stops at its end.
func TestPlayToEnd(t *testing.T) {
	t.Parallel()
	tm := startProgram(t, Options{Speed: 32}, 100, 30)
	waitFor(t, tm, "■ end")
	press(tm, "q")
	if m := finalModel(t, tm); m.frame.Sample != 4 {
		t.Errorf("stopped at sample %d, want the last (4)", m.frame.Sample)
	}
}

// TestResize: the layout follows the terminal: boxes when large, one pane
// with a tab bar when small.
func TestResize(t *testing.T) {
	tm := startProgram(t, Options{Paused: true}, 80, 24)
	waitFor(t, tm, "[2 States]")
	tm.Send(tea.WindowSizeMsg{Width: 160, Height: 48})
	waitFor(t, tm, "╭─▸2 States")
	tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	waitFor(t, tm, "[2 States]")
	press(tm, "q")
	m := finalModel(t, tm)
	if m.layout.width != 80 || m.layout.height != 24 {
		t.Errorf("size %dx%d", m.layout.width, m.layout.height)
	}
	lines := strings.Split(m.View(), "\n")
	if len(lines) != 24 {
		t.Errorf("%d lines after resizing back", len(lines))
	}
}

// TestQuitRestoresTerminal: quitting leaves the alternate screen and shows
// the cursor again (the real-terminal test checks the tty modes too).
func TestQuitRestoresTerminal(t *testing.T) {
	tm := startProgram(t, Options{Paused: true}, 80, 24)
	waitFor(t, tm, "[2 States]")
	press(tm, "q")
	out := readAll(t, tm)
	for _, seq := range []string{"\x1b[?1049l", "\x1b[?25h"} {
		if !strings.Contains(out, seq) {
			t.Errorf("no %q on quit", seq)
		}
	}
}

// TestCopyRemedies: c in a finding's detail puts its commands on the
// clipboard, and says so.
func TestCopyRemedies(t *testing.T) {
	var copied string
	tm := startProgram(t, Options{Paused: true, Clipboard: func(s string) error { copied = s; return nil }}, 100, 30)
	waitSample(t, tm, 1)
	press(tm, ".", ".")
	waitSample(t, tm, 3)
	press(tm, "3", "enter")
	waitFor(t, tm, "WHAT IT MEANS")
	press(tm, ">") // the detail's last line (G is the last sample)
	waitFor(t, tm, "REMEDIES")
	press(tm, "c")
	waitFor(t, tm, "to the clipboard")
	press(tm, "q")
	finalModel(t, tm)
	if !strings.Contains(copied, "sysctl -w net.netfilter.nf_conntrack_max=") || strings.Contains(copied, "kernel memory") {
		t.Errorf("copied %q: want the commands and no prose", copied)
	}
}
