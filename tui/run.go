package tui

import (
	"errors"
	"fmt"
	"io"
	"os"

	tea "github.com/charmbracelet/bubbletea"
)

// Run shows the TUI on the terminal until the user quits. The terminal is
// restored on every way out: quit, an error, a signal, a panic (bubbletea
// recovers panics in Update, View and commands and restores the terminal
// before returning).
func Run(opts Options, in io.Reader, out io.Writer) error {
	if out == nil {
		out = os.Stdout
	}
	opts.Output = out
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
