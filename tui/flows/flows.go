package flows

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// Model is the flows pane.
type Model struct {
	c             common.Common
	width, height int
	frame         *common.Frame

	// The selection shown, and what it was made for.
	view      *flowtable.View
	viewQuery string
	viewOrder flowtable.Order

	// What the user asked for.
	query    string // applied filter text
	match    *filter.Filter
	order    flowtable.Order
	input    textinput.Model
	typing   bool
	parseErr string
	gen      int  // latest selection asked for
	busy     bool // the shown selection is not of the latest query
	running  bool // a selection is being computed
	again    bool // and another was asked for meanwhile

	cursor, offset int

	open    bool
	detail  common.Detail
	entry   track.Flow // the entry shown in detail
	entryOK bool       // still in the latest sample
	entryAt int        // sample it was last seen in
}

// viewMsg carries a selection computed off the UI goroutine.
type viewMsg struct {
	gen, seq int
	view     *flowtable.View
	query    string
	order    flowtable.Order
}

// entryMsg carries the detail's entry as found in a newer sample.
type entryMsg struct {
	seq   int
	flow  track.Flow
	found bool
}

// New returns the pane.
func New(c common.Common) *Model {
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = "-p tcp --state SYN_SENT   (options of ctdiag list)"
	in.Cursor.SetMode(cursor.CursorStatic)
	in.CharLimit = 512
	return &Model{c: c, input: in, detail: common.NewDetail(c)}
}

// Title implements common.Component.
func (m *Model) Title() string { return "5 Flows" }

// SetSize implements common.Component.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.input.Width = max(10, w-30)
	m.detail.SetSize(w, h)
	m.renderDetail()
}

// Capturing implements common.Capturer: while the filter is being typed,
// every key goes to the prompt.
func (m *Model) Capturing() bool { return m.typing }

// Zoomed implements common.Zoomer.
func (m *Model) Zoomed() bool { return m.open }

// Query is the filter and order refreshes should select with.
func (m *Model) Query() (match func(*track.Flow) bool, text string, order flowtable.Order) {
	if m.match != nil && !m.match.IsEmpty() {
		match = m.match.Match
	}
	return match, m.query, m.order
}

// Selection returns the selection on screen.
func (m *Model) Selection() *flowtable.View { return m.view }

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp implements help.KeyMap.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	switch {
	case m.typing:
		return []key.Binding{k.Accept, k.Cancel}
	case m.open:
		return []key.Binding{k.Back, k.Up, k.Down}
	}
	return []key.Binding{k.Filter, k.Sort, k.Reverse, k.Enter}
}

// FullHelp implements help.KeyMap.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.c.Keys
	return [][]key.Binding{{k.Filter, k.Accept, k.Cancel}, {k.Sort, k.SortBack, k.Reverse, k.Enter, k.Back}, {k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End}}
}

// SetFilter applies a filter text (from another pane) and shows the list.
func (m *Model) SetFilter(text string) tea.Cmd {
	m.open, m.typing = false, false
	m.input.SetValue(text)
	return m.apply(text)
}

// apply parses text and, when it parses, asks for its selection.
func (m *Model) apply(text string) tea.Cmd {
	text = strings.TrimSpace(text)
	f, err := filter.ParseString(text)
	if err != nil {
		m.parseErr = err.Error()
		return nil
	}
	m.parseErr = ""
	m.query, m.match = text, f
	m.cursor, m.offset = 0, 0
	return m.selectCmd()
}

// selectCmd computes the selection for the current query and order on the
// current table, off the UI goroutine. One runs at a time: keys typed
// while a million entries are being filtered start one more selection when
// it ends, not one each.
func (m *Model) selectCmd() tea.Cmd {
	if m.frame == nil {
		return nil
	}
	m.gen++
	m.busy = true
	if m.running {
		m.again = true
		return nil
	}
	m.running = true
	gen, seq, t, q, o := m.gen, m.frame.Seq, m.frame.Table, m.query, m.order
	match, _, _ := m.Query()
	return func() tea.Msg {
		return viewMsg{gen: gen, seq: seq, view: t.Select(match, o), query: q, order: o}
	}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case common.FrameMsg:
		m.frame = msg.Frame
		var cmds []tea.Cmd
		if msg.Frame.View != nil && msg.Frame.ViewQuery == m.query && m.orderMatches(msg.Frame) {
			m.setView(msg.Frame.View, m.query, m.order)
			m.busy, m.again = false, false
		} else {
			cmds = append(cmds, m.selectCmd())
		}
		if m.open {
			cmds = append(cmds, m.findEntry())
		}
		return m, tea.Batch(cmds...)
	case viewMsg:
		m.running = false
		if msg.gen == m.gen && m.frame != nil && msg.seq == m.frame.Seq {
			m.setView(msg.view, msg.query, msg.order)
			m.busy, m.again = false, false
		}
		if m.again {
			m.again = false
			return m, m.selectCmd()
		}
	case entryMsg:
		if m.frame != nil && msg.seq == m.frame.Seq {
			if msg.found {
				m.entry, m.entryAt = msg.flow, m.frame.Sample
			}
			m.entryOK = msg.found
			m.renderDetail()
		}
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, nil
}

func (m *Model) orderMatches(f *common.Frame) bool { return f.ViewOrder == m.order }

func (m *Model) setView(v *flowtable.View, q string, o flowtable.Order) {
	m.view, m.viewQuery, m.viewOrder = v, q, o
	m.cursor = max(0, min(m.cursor, v.Len()-1))
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.c.Keys
	if m.typing {
		switch {
		case key.Matches(msg, k.Accept):
			m.typing = false
			m.input.Blur()
			return m.apply(m.input.Value())
		case key.Matches(msg, k.Cancel):
			m.typing = false
			m.input.Blur()
			m.input.SetValue("")
			m.parseErr = ""
			return m.apply("")
		}
		var cmd tea.Cmd
		before := m.input.Value()
		m.input, cmd = m.input.Update(msg)
		if m.input.Value() != before {
			return tea.Batch(cmd, m.apply(m.input.Value()))
		}
		return cmd
	}
	if m.open {
		switch {
		case key.Matches(msg, k.Back):
			m.open = false
		default:
			m.detail.Update(msg)
		}
		return nil
	}
	n := 0
	if m.view != nil {
		n = m.view.Len()
	}
	page := max(1, m.listHeight())
	switch {
	case key.Matches(msg, k.Filter):
		m.typing = true
		m.input.SetValue(m.query)
		m.input.CursorEnd()
		return m.input.Focus()
	case key.Matches(msg, k.Back):
		if m.query != "" {
			m.input.SetValue("")
			return m.apply("")
		}
	case key.Matches(msg, k.Sort):
		m.order.Col = (m.order.Col + 1) % flowtable.NumColumns
		m.skipUnavailable(1)
		return m.selectCmd()
	case key.Matches(msg, k.SortBack):
		m.order.Col = (m.order.Col + flowtable.NumColumns - 1) % flowtable.NumColumns
		m.skipUnavailable(-1)
		return m.selectCmd()
	case key.Matches(msg, k.Reverse):
		m.order.Desc = !m.order.Desc
		if m.view != nil && m.viewOrder.Col == m.order.Col {
			m.setView(m.view.Reversed(), m.viewQuery, m.order) // no need to sort again
		}
	case key.Matches(msg, k.Enter):
		if m.view != nil && m.cursor < n {
			m.view.Flow(m.cursor, &m.entry)
			m.entryOK, m.entryAt = true, m.frame.Sample
			m.open = true
			m.renderDetail()
			m.detail.Top()
		}
	default:
		m.cursor, _ = k.MoveCursor(msg, m.cursor, page, n-1)
	}
	m.cursor = max(0, min(m.cursor, n-1))
	return nil
}

// skipUnavailable steps over columns no entry has: bytes and packets
// without accounting, age without timestamps.
func (m *Model) skipUnavailable(dir int) {
	if m.frame == nil {
		return
	}
	t := m.frame.Table
	missing := func(c flowtable.Column) bool {
		return (c == flowtable.ColBytes || c == flowtable.ColPackets) && t.Accounting() == 0 ||
			c == flowtable.ColAge && t.Timestamps() == 0
	}
	for missing(m.order.Col) {
		m.order.Col = flowtable.Column((int(m.order.Col) + dir + int(flowtable.NumColumns)) % int(flowtable.NumColumns))
	}
}

// findEntry looks for the detail's entry in the newest table.
func (m *Model) findEntry() tea.Cmd {
	t, seq, want := m.frame.Table, m.frame.Seq, m.entry.Orig
	zone := m.entry.Zone
	return func() tea.Msg {
		var f track.Flow
		for i := 0; i < t.Len(); i++ {
			t.Flow(i, &f)
			if f.Orig == want && f.Zone == zone {
				return entryMsg{seq: seq, flow: f, found: true}
			}
		}
		return entryMsg{seq: seq}
	}
}

func (m *Model) listHeight() int { return m.height - 3 }

// View implements tea.Model.
func (m *Model) View() string {
	if m.open {
		return m.detail.View()
	}
	st := m.c.Styles
	lines := []string{m.promptLine()}
	if m.frame == nil || m.view == nil {
		lines = append(lines, st.Dim.Render("reading…"))
		return strings.Join(common.Lines(strings.Join(lines, "\n"), m.width, m.height), "\n")
	}
	cols := m.columns()
	var head []string
	for _, c := range cols {
		t := c.title
		if c.col == m.viewOrder.Col && c.col != flowtable.ColNone {
			if m.viewOrder.Desc {
				t += "▼"
			} else {
				t += "▲"
			}
		}
		head = append(head, c.fit(t))
	}
	lines = append(lines, st.Label.Render(common.Fit(" "+strings.Join(head, " "), m.width)))
	body := m.listHeight()
	n := m.view.Len()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+body {
		m.offset = m.cursor - body + 1
	}
	m.offset = max(0, min(m.offset, max(0, n-body)))
	tm := m.frame.Table.Timeouts()
	var f track.Flow
	for i := m.offset; i < n && i < m.offset+body; i++ {
		m.view.Flow(i, &f)
		age := flowtable.IdleAge(&f, tm)
		var cells []string
		for _, c := range cols {
			cells = append(cells, c.fit(c.cell(&f, age)))
		}
		line := strings.Join(cells, " ")
		if i == m.cursor {
			line = st.Selected.Render(common.Fit("›"+line, m.width))
		} else {
			line = common.Fit(" "+line, m.width)
		}
		lines = append(lines, line)
	}
	if n == 0 {
		lines = append(lines, st.Dim.Render("  no entry matches"))
	}
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	if m.typing && m.parseErr != "" {
		lines = append(lines, st.PromptError.Render(common.Fit(m.parseErr, m.width)))
	} else {
		lines = append(lines, st.Dim.Render(common.Fit(m.footer(n), m.width)))
	}
	return strings.Join(common.Lines(strings.Join(lines, "\n"), m.width, m.height), "\n")
}

func (m *Model) promptLine() string {
	st := m.c.Styles
	total := 0
	if m.frame != nil {
		total = m.frame.Table.Len()
	}
	count := ""
	if m.view != nil {
		count = fmt.Sprintf("%s of %s match", common.Int(m.view.Len()), common.Int(total))
		if m.busy {
			count = "updating…"
		}
	}
	switch {
	case m.typing:
		line := m.input.View()
		if m.parseErr != "" {
			count = "not applied"
		}
		return common.Fit(line, m.width-len(count)-1) + " " + st.Bold.Render(count)
	case m.query != "":
		return common.Fit(st.Prompt.Render("filter: ")+m.query+"  "+st.Bold.Render(count)+st.Dim.Render("  / edit · esc clear"), m.width)
	}
	return common.Fit(st.Dim.Render(fmt.Sprintf("all %s entries · / filter (ctdiag list options) · s sort · r reverse", common.Int(total))), m.width)
}

func (m *Model) footer(n int) string {
	first, last := 0, 0
	if n > 0 {
		first, last = m.offset+1, min(n, m.offset+m.listHeight())
	}
	dir := "↑"
	if m.viewOrder.Desc {
		dir = "↓"
	}
	s := fmt.Sprintf("%s–%s of %s · sorted by %s %s · flags U unreplied H half-assured A assured N NAT",
		common.Int(first), common.Int(last), common.Int(n), m.viewOrder.Col, dir)
	if m.viewOrder.Col == flowtable.ColNone { // the kernel's order has no direction
		s = strings.Replace(s, " "+dir+" ", " ", 1)
	}
	return s
}
