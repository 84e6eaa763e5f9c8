package tui

import (
	"io"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/analyzer"
)

// Options configure the TUI.
type Options struct {
	Source Source
	// Renderer decides colours (NO_COLOR, the terminal's profile, a light
	// or dark background); nil uses lipgloss's default for stdout.
	Renderer *lipgloss.Renderer
	Analyzer analyzer.Options
	// Now is the clock: the time of a live sample that has none, and the
	// header's before a live source's first reading; nil is time.Now.
	Now func() time.Time
	// Clipboard receives copied remedy commands; nil writes OSC 52 to
	// Output (terminals and tmux put it on the clipboard).
	Clipboard func(string) error
	// Output is where the program draws; nil is os.Stdout.
	Output io.Writer
	Speed  float64 // a recording's initial speed (1 = as captured)
	// Open is where a recording opens: its most telling sample (the
	// default), its first or its last. It opens paused, except on the first
	// sample without Paused.
	Open   Open
	Paused bool   // start paused
	Filter string // initial flows filter, as typed at the / prompt
	Pane   int    // initial pane, 1–6
}
