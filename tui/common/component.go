package common

import (
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/rules"
)

// Component is a pane: a bubbletea model that knows its size and its keys.
type Component interface {
	tea.Model
	help.KeyMap
	SetSize(width, height int)
	// Title names the pane in its border and the tab bar.
	Title() string
}

// Capturer is a component that takes every key while it has focus (a
// filter prompt being typed into).
type Capturer interface {
	Capturing() bool
}

// Zoomer is a component that wants the whole body while it shows a detail.
type Zoomer interface {
	Zoomed() bool
}

// Wanter is a component that can say how many lines of content it has at
// a width, so the layout gives it room before others.
type Wanter interface {
	Want(width int) int
}

// Common is what every component shares.
type Common struct {
	Styles *Styles
	Keys   *KeyMap
	Config *rules.Config // thresholds the analyzer uses, for colouring
	Now    func() time.Time
}

// ShowFlowsMsg asks the root to show the flows pane with a filter (a state
// or a talker was chosen).
type ShowFlowsMsg struct{ Filter string }

// StatusMsg puts a message in the status line.
type StatusMsg struct {
	Text string
	Err  bool
}

// CopyMsg asks the root to put text on the clipboard (OSC 52).
type CopyMsg struct {
	Text, What string
}
