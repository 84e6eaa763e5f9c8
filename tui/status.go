package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/tui/common"
)

// status is the message of the moment, shown at the bottom left beside
// the keys.
type status struct {
	text string
	err  bool
}

func (s *status) set(text string, isErr bool) { s.text, s.err = text, isErr }

// view draws the status line: the message on the left, the keys on the
// right; a message pushes the keys down to "? help • q quit", then out.
func (s *status) view(st *common.Styles, h help.Model, keys []key.Binding, k *common.KeyMap, width int, reading bool) string {
	msg := s.text
	style := st.Status
	if s.err {
		style = st.StatusError
	}
	if msg == "" && reading {
		msg = "reading…"
	}
	all := h.ShortHelpView(keys)
	if msg == "" {
		return common.FitLeft(all, width)
	}
	for _, keys := range []string{all, h.ShortHelpView([]key.Binding{k.Help, k.Quit})} {
		if room := width - lipgloss.Width(keys) - 2; lipgloss.Width(msg) <= room {
			return common.Fit(style.Render(msg), room) + "  " + keys
		}
	}
	return common.Fit(style.Render(msg), width)
}
