package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"
)

var goldenSizes = []struct{ w, h int }{{80, 24}, {120, 36}, {200, 60}}

// goldenCaptures are the recordings the golden screens are drawn on, opened
// as ctdiag top opens them: the built-in capture and scenario, and every
// capture folder in testdata/ (times from the file names, the statistics
// and sysctls read at the end).
func goldenCaptures(t *testing.T) []struct {
	name string
	src  func(testing.TB) Source
} {
	t.Helper()
	out := []struct {
		name string
		src  func(testing.TB) Source
	}{
		{"demo-capture", func(t testing.TB) Source { return demoReplay(t) }},
		{"demo-scenario", func(t testing.TB) Source { return demoScenario(t) }},
	}
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "kernel-6.18", "*", "*", "nf_conntrack.t00.txt"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no capture folders (%v)", err)
	}
	for i := range dirs {
		dirs[i] = filepath.Dir(dirs[i])
	}
	dirs = append(dirs, filepath.Join("..", "testdata", "kernel-6.18", "table-100k"))
	for _, dir := range dirs {
		rel, _ := filepath.Rel(filepath.Join("..", "testdata", "kernel-6.18"), dir)
		out = append(out, struct {
			name string
			src  func(testing.TB) Source
		}{strings.ReplaceAll(rel, string(filepath.Separator), "-"), func(t testing.TB) Source { return dirReplay(t, dir) }})
	}
	return out
}

// TestGoldenCaptures draws every capture where it opens (its most telling
// sample) at 80×24, one pane at a time under the tab bar, and at 120×36 and
// 200×60, every pane in its box; with a fixed clock. go test ./tui -update
// rewrites them after a deliberate change.
func TestGoldenCaptures(t *testing.T) {
	panes := []string{"overview", "states", "findings", "talkers", "flows", "ruleset"}
	for _, c := range goldenCaptures(t) {
		t.Run(c.name, func(t *testing.T) {
			d := newDriverWith(t, Options{Source: c.src(t)}, 80, 24)
			for _, sz := range goldenSizes {
				d.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
				if sz.w < 120 {
					for i, name := range panes {
						t.Run(fmt.Sprintf("%dx%d-%s", sz.w, sz.h, name), func(t *testing.T) {
							d.keys(fmt.Sprint(i + 1))
							screen := d.m.View()
							checkSize(t, screen, sz.w, sz.h)
							golden.RequireEqual(t, screen)
						})
					}
					d.keys("2")
					continue
				}
				t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
					screen := d.m.View()
					checkSize(t, screen, sz.w, sz.h)
					golden.RequireEqual(t, screen)
				})
			}
		})
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

// TestGoldenRuleDetail draws a rule of the ruleset pane opened: the
// router's MASQUERADE of the nat-masquerade capture (its iptables -nvL).
func TestGoldenRuleDetail(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			d := newDriver(t, captureReplay(t, "nat-masquerade/rtr"), sz.w, sz.h)
			d.goTo(3) // t15, with the listing read at the end
			d.keys("6", "down", "enter")
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
