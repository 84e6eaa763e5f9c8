package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/tui"
	"github.com/ctdiag/ctdiag/tui/common"
)

// topCases are the inputs top and report are compared on: the built-in
// capture and every host's capture folder in testdata/.
func topCases(t *testing.T) []struct {
	name string
	args []string
	o    topOptions
} {
	t.Helper()
	cases := []struct {
		name string
		args []string
		o    topOptions
	}{{name: "demo", o: topOptions{demo: true, demoKind: "capture"}}}
	dirs, err := filepath.Glob(filepath.Join(captures, "*", "*", "nf_conntrack.t00.txt"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no capture folders under %s (%v)", captures, err)
	}
	for i := range dirs {
		dirs[i] = filepath.Dir(dirs[i])
	}
	dirs = append(dirs, filepath.Join(captures, "table-100k")) // one table, as /proc and as conntrack -L
	for _, dir := range dirs {
		rel, _ := filepath.Rel(captures, dir)
		cases = append(cases, struct {
			name string
			args []string
			o    topOptions
		}{name: rel, args: []string{dir}})
	}
	return cases
}

// headless drives the TUI without a terminal: every command runs in place
// and its message is fed back, so the model ends where the keys lead.
type headless struct {
	t *testing.T
	m *tui.Model
}

func newHeadless(t *testing.T, src tui.Source, opts tui.Options, w, h int) *headless {
	t.Helper()
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	opts.Source, opts.Renderer = src, r
	opts.Now = func() time.Time { return time.Date(2026, 11, 21, 14, 0, 0, 0, time.UTC) }
	m := tui.New(opts)
	t.Cleanup(func() { m.Close() })
	d := &headless{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.run(m.Init())
	return d
}

func (d *headless) send(msg tea.Msg) {
	_, cmd := d.m.Update(msg)
	d.run(cmd)
}

func (d *headless) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil, tea.QuitMsg:
	case tea.BatchMsg:
		for _, c := range msg {
			d.run(c)
		}
	default:
		if strings.HasPrefix(fmt.Sprintf("%T", msg), "tea.") {
			return // bubbletea's own (the alternate screen): a program's business
		}
		d.send(msg)
	}
}

func (d *headless) keys(ks ...tea.KeyMsg) {
	for _, k := range ks {
		d.send(k)
	}
}

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// reportSummary is the part of report -o json's summary top must agree
// with.
type reportSummary struct {
	Entries     int      `json:"entries"`
	Count       *uint64  `json:"count"`
	Max         *uint64  `json:"max"`
	Utilisation *float64 `json:"utilisation"`
	Headroom    *int64   `json:"headroom"`
	Growth      *float64 `json:"growth_per_second"`
	// Time to full, once the report carries it.
	FullIn *float64 `json:"full_in_seconds"`
}

var (
	gaugeRE    = regexp.MustCompile(`entries ([\d,]+)(?:/([\d,]+)\*?)?`)
	percentRE  = regexp.MustCompile(`\]\s+([\d.]+%)`)
	headroomRE = regexp.MustCompile(`headroom (-?[\d,]+)`)
	fullInRE   = regexp.MustCompile(`full (now|in \S+)`)
	growthRE   = regexp.MustCompile(`growth\s+(\S+) entries/s`)
)

// TestTopShowsReportFigures: on every capture, top's header and overview
// at the last sample show the pressure figures ctdiag report -o json gives
// for the same input: entries, max, utilisation, headroom, growth (and time
// to full when the report has it). Both come from analyzer.PressureOf; the
// test guards that top feeds it what report does (the same samples, the
// sysctls read once applying to every sample, the count the kernel gave).
func TestTopShowsReportFigures(t *testing.T) {
	for _, c := range topCases(t) {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"report", "-o", "json", "--fail-on", "never"}, c.args...)
			if c.o.demo {
				args = append(args, "--demo")
			}
			out, errOut, code := ctdiag(t, "", args...)
			if code != 0 {
				t.Fatalf("report exit %d: %s", code, errOut)
			}
			var doc struct{ Summary reportSummary }
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("report JSON: %v", err)
			}
			sum := doc.Summary

			src, err := topSource(&c.o, c.args)
			if err != nil {
				t.Fatal(err)
			}
			d := newHeadless(t, src, tui.Options{Analyzer: topAnalysis(&c.o, c.args), Open: tui.OpenFirst, Paused: true, Pane: 1}, 200, 60)
			d.keys(runes("G")) // the last sample: the one report judges
			screen := d.m.View()
			gauge := strings.Split(screen, "\n")[1]

			wantEntries := uint64(sum.Entries)
			if sum.Count != nil {
				wantEntries = *sum.Count
			}
			g := gaugeRE.FindStringSubmatch(gauge)
			if g == nil {
				t.Fatalf("no gauge on the header's second line:\n%s", screen)
			}
			if g[1] != common.Int(wantEntries) {
				t.Errorf("entries: top %s, report %d", g[1], wantEntries)
			}
			if sum.Max == nil {
				if g[2] != "" || !strings.Contains(gauge, "max unknown") {
					t.Errorf("report knows no max, top shows %q", gauge)
				}
				return
			}
			if g[2] != common.Int(*sum.Max) {
				t.Errorf("max: top %q, report %d", g[2], *sum.Max)
			}
			if sum.Utilisation != nil {
				if p := percentRE.FindStringSubmatch(gauge); p == nil || p[1] != human.Percent(*sum.Utilisation) {
					t.Errorf("utilisation: top %q, report %s", p, human.Percent(*sum.Utilisation))
				}
			}
			if sum.Headroom != nil {
				if h := headroomRE.FindStringSubmatch(gauge); h == nil || h[1] != common.Int(*sum.Headroom) {
					t.Errorf("headroom: top %q, report %d", h, *sum.Headroom)
				}
			}
			if sum.Growth != nil {
				if gr := growthRE.FindStringSubmatch(screen); gr == nil || strings.TrimPrefix(gr[1], "+") != common.Num(*sum.Growth) {
					t.Errorf("growth: top %q, report %g/s", gr, *sum.Growth)
				}
			}
			if sum.FullIn != nil {
				want := common.FullIn(*sum.FullIn)
				if f := fullInRE.FindString(gauge); f != want {
					t.Errorf("time to full: top %q, report %q", f, want)
				}
			}
		})
	}
}

// reportCommands reads the text report's command lines ("$ …") per
// finding, by rule id.
func reportCommands(text string) map[string][]string {
	head := regexp.MustCompile(`^(CRITICAL|WARNING|INFO) .*\(([a-z-]+)\)$`)
	out := map[string][]string{}
	rule := ""
	for _, l := range strings.Split(text, "\n") {
		if m := head.FindStringSubmatch(l); m != nil {
			rule = m[2]
			out[rule] = nil
			continue
		}
		if c, ok := strings.CutPrefix(strings.TrimSpace(l), "$ "); ok && rule != "" {
			out[rule] = append(out[rule], c)
		}
	}
	return out
}

// TestTopCopiesReportCommands: c in a finding's detail copies exactly the
// command lines ctdiag report prints for that finding, on every capture's
// last sample and every finding.
func TestTopCopiesReportCommands(t *testing.T) {
	checked := 0
	for _, c := range topCases(t) {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"report", "--fail-on", "never"}, c.args...)
			if c.o.demo {
				args = append(args, "--demo")
			}
			out, errOut, code := ctdiag(t, "", args...)
			if code != 0 {
				t.Fatalf("report exit %d: %s", code, errOut)
			}
			want := reportCommands(out)

			src, err := topSource(&c.o, c.args)
			if err != nil {
				t.Fatal(err)
			}
			var copied []string
			clip := func(s string) error { copied = append(copied, s); return nil }
			d := newHeadless(t, src, tui.Options{Analyzer: topAnalysis(&c.o, c.args), Open: tui.OpenLast, Pane: 3, Clipboard: clip}, 120, 36)
			for i := 0; i < len(want); i++ {
				d.keys(runes("<"))
				for range i {
					d.keys(tea.KeyMsg{Type: tea.KeyDown})
				}
				screen := d.m.View()
				rule := regexp.MustCompile(`› (?:CRIT|WARN|INFO) .*\(([a-z-]+)\)`).FindStringSubmatch(screen)
				if rule == nil {
					t.Fatalf("finding %d: not under the cursor:\n%s", i+1, screen)
				}
				d.keys(tea.KeyMsg{Type: tea.KeyEnter})
				copied = nil
				d.keys(runes("c"))
				d.keys(tea.KeyMsg{Type: tea.KeyEsc})
				cmds, ok := want[rule[1]]
				if !ok {
					t.Errorf("top shows %s, which report does not", rule[1])
					continue
				}
				if len(cmds) == 0 {
					if len(copied) != 0 {
						t.Errorf("%s: report prints no command, top copied %q", rule[1], copied)
					}
					continue
				}
				if got, w := strings.Join(copied, ""), strings.Join(cmds, "\n")+"\n"; got != w {
					t.Errorf("%s: top copied\n%s\nreport prints\n%s", rule[1], got, w)
				}
				checked++
			}
		})
	}
	if checked == 0 {
		t.Error("no finding with commands was compared")
	}
}
