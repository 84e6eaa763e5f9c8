package tui

import (
	"errors"
	"fmt"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/tui/common"
)

// copy puts text on the clipboard off the UI goroutine.
func (m *Model) copy(msg common.CopyMsg) tea.Cmd {
	clip := m.opts.Clipboard
	if clip == nil {
		out := m.opts.Output
		clip = func(s string) error {
			if out == nil {
				return errors.New("no terminal to copy through")
			}
			_, err := osc52.New(s).WriteTo(out)
			return err
		}
	}
	return func() tea.Msg {
		if err := clip(msg.Text); err != nil {
			return common.StatusMsg{Text: "copy failed: " + err.Error(), Err: true}
		}
		return common.StatusMsg{Text: fmt.Sprintf("copied %s (%d bytes) to the clipboard (OSC 52)", msg.What, len(msg.Text))}
	}
}
