package common

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// KeyMap is every key the TUI answers to. One map serves the key handling
// and the help (bubbles/help renders it), so the two cannot disagree.
type KeyMap struct {
	// Global.
	Quit, Help, Messages, Pause            key.Binding
	NextPane, PrevPane, Left, Right        key.Binding
	Pane1, Pane2, Pane3, Pane4, Pane5      key.Binding
	Pane6                                  key.Binding
	NextSample, PrevSample, Faster, Slower key.Binding
	FirstSample, LastSample                key.Binding // recordings only

	// Lists and detail views.
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Enter, Back                           key.Binding

	// Flows.
	Filter, Sort, SortBack, Reverse key.Binding
	Accept, Cancel                  key.Binding // while typing a filter

	// Talkers.
	Dimension, DimensionBack key.Binding

	// Findings.
	Copy key.Binding
}

// NewKeyMap returns the key map. In a recording Home/g and End/G go to its
// first and last sample, as they go to the start and end of a file in
// less or vim, so lists move to their first and last row with < and >
// (less's other names for g and G); with a live source, which has no
// samples to go to, Home/g and End/G move in lists too.
func NewKeyMap(recording bool) *KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	k := &KeyMap{
		Quit:       b("q", "quit", "q", "ctrl+c"),
		Help:       b("?", "help", "?"),
		Messages:   b("m", "messages", "m"),
		Pause:      b("p", "pause/play", "p", " "),
		NextPane:   b("tab", "next pane", "tab"),
		PrevPane:   b("shift+tab", "previous pane", "shift+tab"),
		Left:       b("←", "pane left", "left", "h"),
		Right:      b("→", "pane right", "right", "l"),
		Pane1:      b("1", "overview", "1"),
		Pane2:      b("2", "states", "2"),
		Pane3:      b("3", "findings", "3"),
		Pane4:      b("4", "talkers", "4"),
		Pane5:      b("5", "flows", "5"),
		Pane6:      b("6", "ruleset", "6"),
		NextSample: b(".", "next sample", "."),
		PrevSample: b(",", "previous sample", ","),
		Faster:     b("+", "faster", "+", "="),
		Slower:     b("-", "slower", "-", "_"),

		Up:       b("↑/k", "up", "up", "k"),
		Down:     b("↓/j", "down", "down", "j"),
		PageUp:   b("pgup", "page up", "pgup", "ctrl+b"),
		PageDown: b("pgdn", "page down", "pgdown", "ctrl+f"),
		Enter:    b("enter", "details", "enter"),
		Back:     b("esc", "back", "esc", "backspace"),

		Filter:   b("/", "filter", "/"),
		Sort:     b("s", "sort by next column", "s"),
		SortBack: b("S", "sort by previous column", "S"),
		Reverse:  b("r", "reverse order", "r"),
		Accept:   b("enter", "apply filter", "enter"),
		Cancel:   b("esc", "clear filter", "esc"),

		Dimension:     b("v", "next breakdown", "v"),
		DimensionBack: b("V", "previous breakdown", "V"),

		Copy: b("c", "copy remedy (OSC 52)", "c"),
	}
	if recording {
		k.FirstSample = b("g/home", "first sample", "home", "g")
		k.LastSample = b("G/end", "last sample", "end", "G")
		k.Home = b("<", "first row", "<")
		k.End = b(">", "last row", ">")
	} else {
		k.FirstSample = key.NewBinding(key.WithDisabled())
		k.LastSample = key.NewBinding(key.WithDisabled())
		k.Home = b("g/home", "first row", "home", "g", "<")
		k.End = b("G/end", "last row", "end", "G", ">")
	}
	return k
}

// WithHelp is b described for one pane ("explain", "list these flows"):
// the same key, its help text said the pane's way.
func WithHelp(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// MoveCursor applies a list key to cursor: up and down move one row, page
// up and down move page rows (page 0: the list does not page), home goes
// to the first row and end to last. ok is false for any other key. The
// caller keeps the cursor within its rows.
func (k *KeyMap) MoveCursor(msg tea.KeyMsg, cursor, page, last int) (int, bool) {
	switch {
	case key.Matches(msg, k.Up):
		return cursor - 1, true
	case key.Matches(msg, k.Down):
		return cursor + 1, true
	case page > 0 && key.Matches(msg, k.PageUp):
		return cursor - page, true
	case page > 0 && key.Matches(msg, k.PageDown):
		return cursor + page, true
	case key.Matches(msg, k.Home):
		return 0, true
	case key.Matches(msg, k.End):
		return last, true
	}
	return cursor, false
}
