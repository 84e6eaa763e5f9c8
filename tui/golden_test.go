package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"
)

var goldenSizes = []struct{ w, h int }{{80, 24}, {160, 48}}

// TestGoldenPanes draws each pane, focused, on real captures with a fixed
// clock, at 80×24 (one pane at a time) and 160×48 (every pane in a box).
func TestGoldenPanes(t *testing.T) {
	panes := []string{"overview", "states", "findings", "talkers", "flows"}
	for _, sz := range goldenSizes {
		for i, name := range panes {
			t.Run(fmt.Sprintf("%dx%d/%s", sz.w, sz.h, name), func(t *testing.T) {
				d := newDriver(t, demoReplay(t), sz.w, sz.h)
				d.goTo(2) // t05: the table full at 1000, kernel-log lines
				d.keys(fmt.Sprint(i + 1))
				screen := d.m.View()
				checkSize(t, screen, sz.w, sz.h)
				golden.RequireEqual(t, screen)
			})
		}
	}
}

// TestGoldenDetails draws a finding's and a flow's detail.
func TestGoldenDetails(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d/finding", sz.w, sz.h), func(t *testing.T) {
			d := newDriver(t, demoReplay(t), sz.w, sz.h)
			d.goTo(4) // t35: statistics and the final sysctls
			d.keys("3", "enter")
			screen := d.m.View()
			checkSize(t, screen, sz.w, sz.h)
			golden.RequireEqual(t, screen)
		})
		t.Run(fmt.Sprintf("%dx%d/flow", sz.w, sz.h), func(t *testing.T) {
			d := newDriver(t, captureReplay(t, "nat-masquerade/rtr"), sz.w, sz.h)
			d.goTo(3) // t15
			d.keys("5", "/")
			d.typeText("--src-nat -p tcp")
			d.keys("enter", "enter")
			screen := d.m.View()
			checkSize(t, screen, sz.w, sz.h)
			golden.RequireEqual(t, screen)
		})
	}
}

// TestGoldenHelp draws the full help (?) over the flows pane: every key
// of the shared key map, at both sizes.
func TestGoldenHelp(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			d := newDriver(t, demoReplay(t), sz.w, sz.h)
			d.keys("5", "?")
			screen := d.m.View()
			checkSize(t, screen, sz.w, sz.h)
			golden.RequireEqual(t, screen)
		})
	}
}

// TestGoldenScenarios draws the whole screen on other captures: SYNs that
// are never answered, and NAT.
func TestGoldenScenarios(t *testing.T) {
	for _, c := range []struct {
		dir    string
		sample int
		keys   []string
	}{
		{"syn-sent-growth/cli", 5, []string{"3"}},               // t30: 900 SYNs unanswered
		{"nat-masquerade/rtr", 3, []string{"4", "v", "v", "v"}}, // state × peer through the router
		{"healthy-baseline/srv", 5, []string{"2"}},              // t25: TIME_WAIT churn, nothing wrong
	} {
		for _, sz := range goldenSizes {
			t.Run(fmt.Sprintf("%dx%d/%s", sz.w, sz.h, strings.ReplaceAll(c.dir, "/", "-")), func(t *testing.T) {
				d := newDriver(t, captureReplay(t, c.dir), sz.w, sz.h)
				d.goTo(c.sample)
				d.keys(c.keys...)
				screen := d.m.View()
				checkSize(t, screen, sz.w, sz.h)
				golden.RequireEqual(t, screen)
			})
		}
	}
}

// TestGoldenColour keeps the colours honest on a dark and a light
// background (ANSI in the golden, escaped when shown).
func TestGoldenColour(t *testing.T) {
	for _, dark := range []bool{true, false} {
		name := "light"
		if dark {
			name = "dark"
		}
		t.Run(name, func(t *testing.T) {
			r := lipgloss.NewRenderer(nil)
			r.SetColorProfile(termenv.TrueColor)
			r.SetHasDarkBackground(dark)
			m := New(Options{Source: demoReplay(t), Renderer: r, Now: fixedNow, Open: OpenFirst, Paused: true})
			t.Cleanup(func() { m.Close() })
			d := &driver{t: t, m: m}
			d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
			d.run(m.Init())
			d.goTo(2)
			golden.RequireEqual(t, d.m.View())
		})
	}
}

// checkSize: every line exactly as wide as the terminal, and exactly as
// many lines: nothing wraps, nothing scrolls.
func checkSize(t *testing.T, screen string, w, h int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw != w {
			t.Errorf("line %d is %d wide, want %d: %q", i+1, lw, w, l)
		}
	}
}
