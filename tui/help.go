package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"

	"github.com/ctdiag/ctdiag/tui/common"
)

// newHelp is the help view, in the TUI's styles.
func newHelp(st *common.Styles) help.Model {
	h := help.New()
	h.Styles.ShortKey, h.Styles.FullKey = st.HelpKey, st.HelpKey
	h.Styles.ShortDesc, h.Styles.FullDesc = st.HelpDesc, st.HelpDesc
	h.Styles.ShortSeparator, h.Styles.FullSeparator = st.HelpSep, st.HelpSep
	return h
}

// ShortHelp implements help.KeyMap: the focused pane's keys, then the
// global ones.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	out := m.panes[m.focus].ShortHelp()
	if m.capturing() {
		return out
	}
	return append(out, k.Help, k.Quit)
}

// FullHelp implements help.KeyMap: the global keys, then the focused
// pane's.
func (m *Model) FullHelp() [][]key.Binding {
	return append(m.globalHelp(), m.panes[m.focus].FullHelp()...)
}

func (m *Model) globalHelp() [][]key.Binding {
	k := m.c.Keys
	return [][]key.Binding{
		{k.NextPane, k.PrevPane, k.Left, k.Right},
		{k.Pane1, k.Pane2, k.Pane3, k.Pane4, k.Pane5, k.Pane6},
		{k.Pause, k.NextSample, k.PrevSample, k.FirstSample, k.LastSample, k.Faster, k.Slower},
		{k.Help, k.Messages, k.Quit},
	}
}

// fullHelp draws the global keys and the focused pane's in two blocks, so
// both fit at 80 columns.
func (m *Model) fullHelp() string {
	st := m.c.Styles
	pane := strings.TrimLeft(m.panes[m.focus].Title(), "12345 ")
	return st.Title.Render("Keys") + st.Dim.Render("  (any key closes this)") + "\n\n" +
		m.help.FullHelpView(m.globalHelp()) + "\n\n" +
		st.Title.Render(pane) + "\n\n" + m.help.FullHelpView(m.panes[m.focus].FullHelp())
}
