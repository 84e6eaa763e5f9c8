package tui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	tea "github.com/charmbracelet/bubbletea"
)

// memoryLimit is the Go heap's soft limit while the TUI runs.
const memoryLimit = 320 << 20

// Run shows the TUI on the terminal until the user quits. The terminal is
// restored on every way out: quit, an error, a signal, a panic (bubbletea
// recovers panics in Update, View and commands and restores the terminal
// before returning).
func Run(opts Options, in io.Reader, out io.Writer) error {
	if out == nil {
		out = os.Stdout
	}
	opts.Output = out
	if os.Getenv("GOMEMLIMIT") == "" {
		// Two tables live at once (the one shown, the one being read):
		// let the collector run before the heap doubles, so that a
		// million-entry session stays well under 400 MB. A soft limit: a
		// larger table takes what it needs.
		debug.SetMemoryLimit(memoryLimit)
	}
	m := New(opts)
	defer m.Close()
	progOpts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithOutput(out)}
	if in != nil {
		progOpts = append(progOpts, tea.WithInput(in))
	}
	p := tea.NewProgram(m, progOpts...)
	_, err := p.Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramPanic):
		return fmt.Errorf("the terminal UI failed (a bug: please report the trace above): %w", err)
	}
	return err
}
