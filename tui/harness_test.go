package tui

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/ctdiag/ctdiag/internal/demo"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// fixedNow is the clock of every golden test.
func fixedNow() time.Time { return time.Date(2026, 11, 21, 14, 0, 0, 0, time.UTC) }

// asciiRenderer draws without any attribute, as under NO_COLOR: goldens
// show exactly the text a person reads.
func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}

func demoReplay(t testing.TB) *Replay {
	t.Helper()
	r, err := NewReplay(demo.Inputs(), ReplayOptions{Info: Description{Kind: track.SourceFile,
		Name: "demo: " + demo.Origin, Host: demo.Host, Kernel: demo.Kernel, Netns: demo.Netns}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// demoScenario is the built-in scenario, as ctdiag top --demo plays it.
func demoScenario(t testing.TB) *Snapshots {
	t.Helper()
	snaps, err := demo.Scenario()
	if err != nil {
		t.Fatal(err)
	}
	return NewSnapshots(snaps, Description{Kind: track.SourceEngine, Name: demo.ScenarioName,
		Host: "demo-frontend", Kernel: "model of Linux 6.18", Netns: "demo"})
}

// dirReplay replays a capture folder as ctdiag top DIR does: its files
// expanded and planned as ctdiag report plans them.
func dirReplay(t testing.TB, dir string) *Replay {
	t.Helper()
	in, err := parser.ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReplay(in, ReplayOptions{Info: Description{Kind: track.SourceFile, Name: filepath.ToSlash(dir)}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// captureReplay replays one host's folder of a real capture: its
// nf_conntrack.tNN.txt tables at their times (NN seconds after the start,
// as the capture's README says), then the statistics and sysctls read at
// the end, which join the last sample.
func captureReplay(t testing.TB, dir string) *Replay {
	t.Helper()
	base := filepath.Join("..", "testdata", "kernel-6.18", dir)
	tables, err := filepath.Glob(filepath.Join(base, "nf_conntrack.t*.txt"))
	if err != nil || len(tables) == 0 {
		t.Fatalf("%s: no tables (%v)", dir, err)
	}
	sort.Slice(tables, func(i, j int) bool { return parser.NaturalLess(tables[i], tables[j]) })
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var in []parser.Input
	for _, p := range tables {
		var sec int
		if _, err := fmt.Sscanf(filepath.Base(p), "nf_conntrack.t%d.txt", &sec); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		in = append(in, parser.Input{Path: p, Time: start.Add(time.Duration(sec) * time.Second)})
	}
	for _, extra := range []string{"stat-nf_conntrack.txt", "sysctl-nf_conntrack.txt", "iptables.txt"} {
		if _, err := os.Stat(filepath.Join(base, extra)); err == nil {
			in = append(in, parser.Input{Path: filepath.Join(base, extra)})
		}
	}
	r, err := NewReplay(in, ReplayOptions{Info: Description{Kind: track.SourceFile, Name: dir}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// driver runs a model synchronously: commands are executed in place, so a
// test sees exactly the state a sequence of messages leads to. Models
// under it start paused: no timer is ever waited for.
type driver struct {
	t testing.TB
	m *Model
}

func newDriver(t testing.TB, src Source, w, h int) *driver {
	t.Helper()
	return newDriverWith(t, Options{Source: src, Open: OpenFirst, Paused: true}, w, h)
}

// newDriverWith drives a model made with opts (renderer, clock and
// clipboard set for tests).
func newDriverWith(t testing.TB, opts Options, w, h int) *driver {
	t.Helper()
	opts.Renderer, opts.Now = asciiRenderer(), fixedNow
	if opts.Clipboard == nil {
		opts.Clipboard = func(string) error { return nil }
	}
	m := New(opts)
	t.Cleanup(func() { m.Close() })
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.run(m.Init())
	return d
}

func (d *driver) send(msg tea.Msg) {
	_, cmd := d.m.Update(msg)
	d.run(cmd)
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			d.run(c)
		}
	case tea.QuitMsg:
	case frameMsg:
		if msg.frame != nil {
			msg.frame.Took = 0 // timing would make goldens differ
		}
		d.send(msg)
	default:
		if isInternal(msg) {
			return
		}
		d.send(msg)
	}
}

// isInternal: bubbletea's own command results (alt screen, ...) the
// model never sees in a test.
func isInternal(msg tea.Msg) bool {
	switch msg.(type) {
	case tea.WindowSizeMsg, tea.KeyMsg:
		return false
	}
	name := typeName(msg)
	return len(name) > 4 && name[:4] == "tea."
}

func (d *driver) keys(keys ...string) {
	for _, k := range keys {
		d.send(keyMsg(k))
	}
}

func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

func (d *driver) typeText(s string) {
	for _, r := range s {
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

// goTo steps a paused recording to sample i (0-based).
func (d *driver) goTo(i int) {
	for d.m.frame.Sample < i {
		d.keys(".")
	}
	for d.m.frame.Sample > i {
		d.keys(",")
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
