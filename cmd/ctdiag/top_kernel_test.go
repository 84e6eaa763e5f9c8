package main

import (
	"bytes"
	"io"
	"regexp"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/demo"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/tui"
)

// sendUDP sends one datagram from A to each of n ports of B from base on:
// n UDP entries in A's table (B drops them, so they stay [UNREPLIED]).
func sendUDP(t *testing.T, p *netnstest.Pair, base, n int) {
	t.Helper()
	if err := udpBurst(p, base, n); err != nil {
		t.Fatal(err)
	}
}

// udpBurst is sendUDP for another goroutine than the test's.
func udpBurst(p *netnstest.Pair, base, n int) error {
	return p.A.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for port := base; port < base+n; port++ {
			if err := unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Port: port, Addr: p.B4.As4()}); err != nil {
				return err
			}
		}
		return nil
	})
}

// startTUI runs m headless at 160×48 until the test ends. At the end the
// program is quit and waited for before m closes its source: a program left
// running past a failed test would go on reading, and teatest reports the
// end of a program that fails with t.Fatalf, which after the test has
// ended panics and kills the whole test binary.
func startTUI(t *testing.T, m *tui.Model) *teatest.TestModel {
	t.Helper()
	t.Cleanup(func() { m.Close() })
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(160, 48))
	t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return tm
}

// TestKernelTopLive runs the TUI headless (teatest) on the live collector
// reading a namespace every 300 ms, makes traffic between refreshes and
// sees the counts follow: 25 UDP flows, then 60, with new/s counted from
// the namespace's events.
func TestKernelTopLive(t *testing.T) {
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet sink {\n chain in { type filter hook input priority 0; udp dport 20000-20100 drop\n }\n}")
	sendUDP(t, p, 20000, 25)
	src, err := newLiveSource(collector.Config{Netns: collector.Netns{Name: p.A.Name}}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	tm := startTUI(t, tui.New(tui.Options{Source: src, Renderer: r, Clipboard: func(string) error { return nil }}))
	// wait reads the screen until every pattern has shown (a redraw
	// repaints only changed lines, so each may be in a different frame).
	wait := func(res ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			for _, re := range res {
				if !regexp.MustCompile(re).Match(b) {
					return false
				}
			}
			return true
		}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	wait(`netlink`)
	wait(`udp\s+25\b`)
	sendUDP(t, p, 20025, 35)
	// The 35 new entries arrive as events: new/s is counted (no "~" of a
	// comparison of samples) and nothing was lost.
	wait(`udp\s+60\b`, `per s: new [1-9]\d* destroy \d+ [^\n]*events lost: none`)
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestTopEngineDemo: ctdiag top --demo plays the engine's scenario; by its
// last sample the table is full and the findings say why.
func TestTopEngineDemo(t *testing.T) {
	snaps, err := demo.Scenario()
	if err != nil {
		t.Fatal(err)
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	src := tui.NewSnapshots(snaps, tui.Description{Name: demo.ScenarioName, Host: "demo-frontend"})
	// Played 100 times faster than the scenario's 5 s between samples.
	tm := startTUI(t, tui.New(tui.Options{Source: src, Renderer: r, Clipboard: func(string) error { return nil }, Speed: 100}))
	// WaitFor consumes what it reads: one condition over the whole screen.
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, want := range []string{"engine", "sample 13/13", "SYN_SENT", "The table is full", "4,096"} {
			if !bytes.Contains(b, []byte(want)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
