package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/tui/common"
)

// maxMessages is how many past messages the messages view (m) keeps.
const maxMessages = 50

// status is the message of the moment, shown at the bottom left beside
// the keys, and the messages before it. A long message is cut with an
// ellipsis, never the keys' place: m shows every message in full.
type status struct {
	text   string
	err    bool
	sticky bool // stays until a key is pressed: where a recording opened
	behind int  // messages that came while a sticky one was shown
	log    []message
}

type message struct {
	text string
	err  bool
}

// set shows a message (empty: none) and keeps it in the log. While a
// sticky message is up, it goes to the log only.
func (s *status) set(text string, isErr bool) {
	if text != "" {
		s.log = append(s.log, message{text, isErr})
		if len(s.log) > maxMessages {
			s.log = s.log[len(s.log)-maxMessages:]
		}
	}
	if s.sticky {
		if text != "" {
			s.behind++
		}
		return
	}
	s.text, s.err = text, isErr
}

// progress shows a message of the moment that is not worth keeping.
func (s *status) progress(text string) {
	if !s.sticky {
		s.text, s.err = text, false
	}
}

// note shows a message that stays until a key is pressed.
func (s *status) note(text string) {
	s.sticky = false
	s.set(text, false)
	s.sticky, s.behind = text != "", 0
}

// key: a key was pressed, so a sticky message has been seen.
func (s *status) key() { s.sticky = false }

// view draws the status line: the message on the left, the keys on the
// right: the focused pane's (as many as fit), then ? and q, which are
// never pushed out. A long message pushes the pane's keys out first, and
// is cut with an ellipsis beside "m messages • ? help • q quit" (m shows
// it whole). While a prompt takes the keys, only its own are shown.
func (s *status) view(st *common.Styles, h help.Model, pane []key.Binding, k *common.KeyMap, width int, reading, capturing bool) string {
	h.Width = 0 // measured here: help would cut them itself
	msg := s.text
	style := st.Status
	if s.err {
		style = st.StatusError
	}
	if msg == "" && reading {
		msg = "reading…"
	}
	if s.behind > 0 {
		msg += fmt.Sprintf(" (+%d more: m)", s.behind)
	}
	room := width
	if msg != "" {
		room = width - lipgloss.Width(msg) - 2
	}
	var keys string
	if capturing {
		keys = h.ShortHelpView(pane)
	} else {
		for n := len(pane); n >= 0; n-- {
			keys = h.ShortHelpView(append(append([]key.Binding(nil), pane[:n]...), k.Help, k.Quit))
			if lipgloss.Width(keys) <= room {
				break
			}
		}
	}
	switch {
	case msg == "":
		return common.FitLeft(keys, width)
	case lipgloss.Width(keys) <= room:
		return common.Fit(style.Render(msg), width-lipgloss.Width(keys)-2) + "  " + keys
	}
	short := h.ShortHelpView([]key.Binding{k.Messages, k.Help, k.Quit})
	if room := width - lipgloss.Width(short) - 2; room >= 12 {
		return common.Fit(style.Render(msg), room) + "  " + short
	}
	return common.Fit(style.Render(msg), width)
}

// messages draws the messages kept, newest first, in full, as many as fit
// in height lines (the last says how many older ones do not).
func (s *status) messages(st *common.Styles, width, height int) string {
	var b []string
	b = append(b, st.Title.Render("Messages")+st.Dim.Render("  (newest first; any key closes this)"), "")
	if len(s.log) == 0 {
		b = append(b, st.Dim.Render("none yet"))
	}
	for i := len(s.log) - 1; i >= 0; i-- {
		m := s.log[i]
		style := st.Status
		if m.err {
			style = st.StatusError
		}
		var lines []string
		for j, l := range common.Wrap(m.text, max(20, width-2)) {
			lead := "· "
			if j > 0 {
				lead = "  "
			}
			lines = append(lines, lead+style.Render(l))
		}
		if len(b)+len(lines) > height-1 && i > 0 || len(b)+len(lines) > height {
			b = append(b, st.Dim.Render(fmt.Sprintf("+%d older messages (a taller terminal shows them)", i+1)))
			break
		}
		b = append(b, lines...)
	}
	return strings.Join(b, "\n")
}
