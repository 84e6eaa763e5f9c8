package states

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// Model is the states pane.
type Model struct {
	c             common.Common
	width, height int
	frame         *common.Frame
	rows          []row
	cursor        int
	offset        int
}

type row struct {
	name           string
	count, u, h, a int
	share          float64
	history        []float64
	filter         string
	proto          track.Proto
	stateOrder     int
}

// New returns the pane.
func New(c common.Common) *Model { return &Model{c: c} }

// Title implements common.Component.
func (m *Model) Title() string { return "2 States" }

// SetSize implements common.Component.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp implements help.KeyMap.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	return []key.Binding{k.Up, k.Down, common.WithHelp(k.Enter, "list these flows")}
}

// FullHelp implements help.KeyMap.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	k := m.c.Keys
	switch msg := msg.(type) {
	case common.FrameMsg:
		m.setFrame(msg.Frame)
	case tea.KeyMsg:
		if c, ok := k.MoveCursor(msg, m.cursor, 0, len(m.rows)-1); ok {
			m.cursor = c
		} else if key.Matches(msg, k.Enter) {
			if m.cursor < len(m.rows) && m.rows[m.cursor].filter != "" {
				f := m.rows[m.cursor].filter
				return m, func() tea.Msg { return common.ShowFlowsMsg{Filter: f} }
			}
		}
		m.cursor = max(0, min(m.cursor, len(m.rows)-1))
	}
	return m, nil
}

// setFrame builds the rows: every state seen this session, so a state that
// emptied stays visible with its history.
func (m *Model) setFrame(f *common.Frame) {
	m.frame = f
	cur := map[string]flowtable.StateCount{}
	for _, sc := range f.Table.States() {
		cur[sc.Name] = sc
	}
	names := map[string]bool{}
	for n := range cur {
		names[n] = true
	}
	for _, p := range f.History {
		for n := range p.States {
			names[n] = true
		}
	}
	total := f.Table.Len()
	m.rows = m.rows[:0]
	for n := range names {
		sc := cur[n]
		r := row{name: n, count: sc.Count, u: sc.Unreplied, h: sc.HalfAssured, a: sc.Assured}
		if total > 0 {
			r.share = float64(sc.Count) / float64(total)
		}
		for _, p := range f.History {
			r.history = append(r.history, float64(p.States[n]))
		}
		r.proto, r.stateOrder, r.filter = classify(n)
		m.rows = append(m.rows, r)
	}
	sort.Slice(m.rows, func(i, j int) bool {
		a, b := m.rows[i], m.rows[j]
		if (a.proto == track.ProtoTCP) != (b.proto == track.ProtoTCP) {
			return a.proto == track.ProtoTCP
		}
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		if a.stateOrder != b.stateOrder {
			return a.stateOrder < b.stateOrder
		}
		return a.name < b.name
	})
	m.cursor = max(0, min(m.cursor, len(m.rows)-1))
}

// more says which rows are not on screen: "+6 more (↑/↓): 2 above, 4
// below: tcp TIME_WAIT 12,033, udp 13,969, …" naming the largest hidden.
func (m *Model) more(shown int) string {
	above, below := m.offset, max(0, len(m.rows)-m.offset-shown)
	var hidden []row
	hidden = append(hidden, m.rows[:above]...)
	hidden = append(hidden, m.rows[min(len(m.rows), m.offset+shown):]...)
	sort.SliceStable(hidden, func(i, j int) bool { return hidden[i].count > hidden[j].count })
	var where []string
	if above > 0 {
		where = append(where, fmt.Sprintf("%d above", above))
	}
	if below > 0 {
		where = append(where, fmt.Sprintf("%d below", below))
	}
	var names []string
	for _, r := range hidden {
		names = append(names, r.name+" "+common.Int(r.count))
	}
	return fmt.Sprintf("+%d more (%s, ↑/↓): %s", above+below, strings.Join(where, ", "), strings.Join(names, ", "))
}

// Want implements common.Wanter: every row, the header, the "all" line and
// the legend.
func (m *Model) Want(int) int { return len(m.rows) + 3 }

// lifecycle orders TCP states as a connection meets them.
func lifecycle(s track.TCPState) int {
	order := []track.TCPState{track.TCPSynSent, track.TCPSynSent2, track.TCPSynRecv, track.TCPEstablished,
		track.TCPFinWait, track.TCPCloseWait, track.TCPLastAck, track.TCPTimeWait, track.TCPClose, track.TCPNone}
	for i, o := range order {
		if o == s {
			return i
		}
	}
	return len(order)
}

// classify reads a state row's name ("tcp ESTABLISHED", "udp") back into
// its protocol, order and the list filter that selects it.
func classify(name string) (track.Proto, int, string) {
	proto, state, _ := strings.Cut(name, " ")
	p, ok := track.ParseProto(proto)
	if !ok {
		return 255, 0, ""
	}
	filter := "-p " + proto
	order := 0
	if state != "" {
		filter += " --state " + state
		if p == track.ProtoTCP {
			if s, ok := track.ParseTCPState(state); ok {
				order = lifecycle(s)
			}
		}
	}
	return p, order, filter
}

// View implements tea.Model.
func (m *Model) View() string {
	st := m.c.Styles
	if m.frame == nil {
		return strings.Join(common.Lines(st.Dim.Render("waiting for the first sample…"), m.width, m.height), "\n")
	}
	w := m.width
	// Columns: name, count, share, history, unreplied, half, assured.
	nameW, numW, shareW, splitW := 17, 9, 6, 8
	sparkW := w - nameW - numW - shareW - 3*splitW - 6
	showSplit := true
	if sparkW < 6 {
		showSplit = false
		sparkW = w - nameW - numW - shareW - 4
	}
	sparkW = max(0, min(sparkW, 60))
	head := common.Fit("  STATE", nameW) + common.FitLeft("COUNT", numW) + common.FitLeft("SHARE", shareW+1) + " " + common.Fit("HISTORY", sparkW)
	if showSplit {
		head += common.FitLeft("UNREPL", splitW) + common.FitLeft("HALF", splitW) + common.FitLeft("ASSURED", splitW)
	}
	lines := []string{st.Label.Render(common.Fit(head, w))}
	// Rows between the header and the "all" line; when they do not all
	// fit, the legend gives way to a line that says how many are hidden.
	body := m.height - 2
	hidden, legend := false, true
	switch {
	case len(m.rows) <= body-1:
		body--
	case len(m.rows) == body:
		legend = false // condensed: every row, no legend
	default:
		hidden = true
		body--
	}
	body = max(1, body)
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+body {
		m.offset = m.cursor - body + 1
	}
	m.offset = max(0, min(m.offset, len(m.rows)-body))
	for i := m.offset; i < len(m.rows) && i < m.offset+body; i++ {
		r := m.rows[i]
		mark := "  "
		if i == m.cursor {
			mark = "› "
		}
		split := ""
		if showSplit {
			split = common.FitLeft(common.Int(r.u), splitW) + common.FitLeft(common.Int(r.h), splitW) + common.FitLeft(common.Int(r.a), splitW)
		}
		line := common.Fit(mark+r.name, nameW) + common.FitLeft(common.Int(r.count), numW) +
			common.FitLeft(human.Percent(r.share), shareW+1) + " " + st.Spark.Render(common.Sparkline(r.history, sparkW)) + split
		line = common.Fit(line, w)
		if i == m.cursor {
			line = st.Selected.Render(line)
		}
		lines = append(lines, line)
	}
	for len(lines) < 1+body {
		lines = append(lines, "")
	}
	u, h, a := m.frame.Table.Classes()
	total := u + h + a
	all := "100%"
	if total == 0 {
		all = "-"
	}
	foot := common.Fit("  all", nameW) + common.FitLeft(common.Int(total), numW) + common.FitLeft(all, shareW+1) + " " + common.Fit("", sparkW)
	if showSplit {
		foot += common.FitLeft(common.Int(u), splitW) + common.FitLeft(common.Int(h), splitW) + common.FitLeft(common.Int(a), splitW)
	}
	lines = append(lines, st.Bold.Render(common.Fit(foot, w)))
	switch {
	case hidden:
		lines = append(lines, st.Dim.Render(common.Fit("  "+m.more(body), w)))
	case legend:
		legend := "UNREPL: no reply seen · HALF: replied, not ASSURED · ASSURED: safe from early drop"
		if !showSplit {
			legend = common.Int(u) + " unreplied · " + common.Int(h) + " half-assured · " + common.Int(a) + " assured"
		}
		lines = append(lines, st.Dim.Render(common.Fit(legend, w)))
	}
	return strings.Join(common.Lines(strings.Join(lines, "\n"), w, m.height), "\n")
}
