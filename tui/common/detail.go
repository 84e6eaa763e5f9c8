package common

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

// Detail is a scrollable text view for a finding's or a flow's details.
// Keys come from the shared KeyMap (the viewport's own map is not used:
// its left/right would steal the pane-switching arrows).
type Detail struct {
	c  Common
	vp viewport.Model
}

// NewDetail returns an empty detail view.
func NewDetail(c Common) Detail {
	vp := viewport.New(0, 0)
	vp.KeyMap = viewport.KeyMap{}
	return Detail{c: c, vp: vp}
}

// SetSize sets the view's size; the last line is the scroll indicator.
func (d *Detail) SetSize(w, h int) {
	d.vp.Width, d.vp.Height = w, max(0, h-1)
}

// SetContent replaces the text, keeping the scroll position when it can.
func (d *Detail) SetContent(s string) { d.vp.SetContent(s) }

// Top scrolls to the start.
func (d *Detail) Top() { d.vp.GotoTop() }

// Update scrolls on the list keys.
func (d *Detail) Update(msg tea.KeyMsg) {
	k := d.c.Keys
	switch {
	case key.Matches(msg, k.Up):
		d.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		d.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		d.vp.PageUp()
	case key.Matches(msg, k.PageDown):
		d.vp.PageDown()
	case key.Matches(msg, k.Home):
		d.vp.GotoTop()
	case key.Matches(msg, k.End):
		d.vp.GotoBottom()
	}
}

// View draws the text and a line saying where in it the view is.
func (d *Detail) View() string {
	st := d.c.Styles
	total := d.vp.TotalLineCount()
	first := d.vp.YOffset + 1
	last := min(total, d.vp.YOffset+d.vp.Height)
	where := fmt.Sprintf("lines %d–%d of %d", first, last, total)
	if total <= d.vp.Height {
		where = "all shown"
	}
	hint := st.Dim.Render(Fit("esc back · ↑/↓ pgup/pgdn scroll · "+where, d.vp.Width))
	body := strings.Join(Lines(d.vp.View(), d.vp.Width, d.vp.Height), "\n")
	return body + "\n" + hint
}
