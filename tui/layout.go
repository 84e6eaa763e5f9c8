package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/tui/common"
)

// Panes, in key order.
const (
	paneOverview = iota
	paneStates
	paneFindings
	paneTalkers
	paneFlows
	paneRuleset
	numPanes
)

// region is where a pane is drawn.
type region struct{ w, h int }

// layout places the panes on the terminal: in a wide terminal every pane
// has a box (the left column overview, states and talkers; the right
// findings, the ruleset and flows), otherwise the focused pane fills the body under a
// tab bar. A pane that shows a detail (common.Zoomer) takes the whole body.
type layout struct {
	width, height int
	header        int // lines above the body
}

// wide reports whether the terminal is large enough to show every pane.
func (l layout) wide() bool { return l.width >= 120 && l.height >= 36 }

// body is the height between the header and the status line.
func (l layout) body() int { return l.height - l.header - 1 }

// regions gives each pane its size, boxes included. In the wide layout
// the left column is shared by what the overview and the states pane have
// to show (common.Wanter) and the talkers' ranking: states first (a few
// rows), then the overview, then the talkers take the rest.
func (l layout) regions(panes [numPanes]common.Component, focus int, zoomed bool) [numPanes]region {
	var r [numPanes]region
	body := l.body()
	if !l.wide() {
		for i := range r {
			r[i] = region{l.width, body - 1} // the tab bar
		}
		return r
	}
	if zoomed {
		r[focus] = region{l.width, body}
		return r
	}
	left := max(44, min(70, l.width*36/100))
	right := l.width - left
	want := func(i int) int {
		if w, ok := panes[i].(common.Wanter); ok {
			return w.Want(left-2) + 2
		}
		return body
	}
	const least = 7 // a box with a header and a few rows
	tk := 8
	if body >= 48 {
		tk = 12
	}
	st := max(least, min(want(paneStates), body*2/5))
	ov := body - st - tk
	if w := want(paneOverview); ov > w {
		ov = w // the talkers take what the overview does not need
	}
	ov = max(least, ov)
	r[paneOverview] = region{left, ov}
	r[paneStates] = region{left, st}
	r[paneTalkers] = region{left, body - ov - st}
	fi := max(8, min(16, body*35/100))
	r[paneFindings] = region{right, fi}
	// The ruleset takes what its outline needs, up to a quarter of the
	// column; the flows the rest.
	rs := max(least-2, min(want(paneRuleset), body/4))
	r[paneRuleset] = region{right, rs}
	r[paneFlows] = region{right, body - fi - rs}
	return r
}

// size tells each pane the size of its content (inside its box when wide).
func (l layout) size(panes [numPanes]common.Component, focus int, zoomed bool) {
	for i, r := range l.regions(panes, focus, zoomed) {
		if l.wide() {
			panes[i].SetSize(max(0, r.w-2), max(0, r.h-2))
		} else {
			panes[i].SetSize(r.w, r.h)
		}
	}
}

// body draws the panes: the focused one under a tab bar, or every one in
// its box.
func (l layout) view(st *common.Styles, panes [numPanes]common.Component, focus int, zoomed bool) string {
	if !l.wide() {
		return l.tabs(st, panes, focus) + "\n" + panes[focus].View()
	}
	r := l.regions(panes, focus, zoomed)
	box := func(i int) string {
		return common.Box(st, panes[i].Title(), panes[i].View(), r[i].w, r[i].h, i == focus)
	}
	if zoomed {
		return box(focus)
	}
	left := lipgloss.JoinVertical(lipgloss.Left, box(paneOverview), box(paneStates), box(paneTalkers))
	right := lipgloss.JoinVertical(lipgloss.Left, box(paneFindings), box(paneRuleset), box(paneFlows))
	return lipgloss.JoinHorizontal(lipgloss.Top, left, right)
}

// tabs is the narrow layout's pane bar.
func (l layout) tabs(st *common.Styles, panes [numPanes]common.Component, focus int) string {
	var parts []string
	for i, p := range panes {
		if i == focus {
			parts = append(parts, st.TabActive.Render("["+p.Title()+"]"))
		} else {
			parts = append(parts, st.Tab.Render(" "+p.Title()+" "))
		}
	}
	return common.Fit(strings.Join(parts, ""), l.width)
}
