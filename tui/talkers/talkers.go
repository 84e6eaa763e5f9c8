package talkers

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// TopN is how many keys a ranking keeps.
const TopN = 50

// staleAfter: while the pane is on screen but not focused, its ranking is
// redone only every this many samples (ranking a million entries costs
// about a tenth of a CPU-second).
const staleAfter = 5

// Model is the talkers pane.
type Model struct {
	c             common.Common
	width, height int
	frame         *common.Frame
	dim           flowtable.Dimension
	rank          *flowtable.Ranking
	rankSeq       int // the frame the ranking is of
	rankSample    int // and its sample
	pending       bool
	visible       bool
	focused       bool
	stale         bool // the ranking is not of the current frame
	cursor        int
}

// rankedMsg carries a ranking computed off the UI goroutine.
type rankedMsg struct {
	seq  int
	rank flowtable.Ranking
}

// New returns the pane.
func New(c common.Common) *Model { return &Model{c: c} }

// Title implements common.Component.
func (m *Model) Title() string { return "4 Talkers" }

// Dimension is the ranking shown (the root asks refreshes for it).
func (m *Model) Dimension() flowtable.Dimension { return m.dim }

// SetSize implements common.Component.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp implements help.KeyMap.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	return []key.Binding{k.Dimension, k.Up, k.Down, common.WithHelp(k.Enter, "list these flows")}
}

// FullHelp implements help.KeyMap.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.c.Keys
	return [][]key.Binding{{k.Dimension, k.DimensionBack}, {k.Up, k.Down, common.WithHelp(k.Enter, "list these flows")}}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	k := m.c.Keys
	switch msg := msg.(type) {
	case common.FrameMsg:
		m.frame = msg.Frame
		if r := msg.Frame.Talkers; r != nil && r.Dimension == m.dim {
			m.setRank(r, msg.Frame)
		} else {
			m.stale = true
			if m.visible && m.Wants(msg.Frame.Seq, msg.Frame.Samples == 0) {
				return m, m.rankCmd()
			}
		}
	case rankedMsg:
		if m.frame != nil && msg.seq == m.frame.Seq && msg.rank.Dimension == m.dim {
			m.setRank(&msg.rank, m.frame)
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, k.Dimension):
			m.dim = (m.dim + 1) % flowtable.NumDimensions
			m.cursor = 0
			return m, m.rankCmd()
		case key.Matches(msg, k.DimensionBack):
			m.dim = (m.dim + flowtable.NumDimensions - 1) % flowtable.NumDimensions
			m.cursor = 0
			return m, m.rankCmd()
		case key.Matches(msg, k.Enter):
			if m.rank != nil && m.cursor < len(m.rank.Top) {
				f := m.rank.Top[m.cursor].Filter
				return m, func() tea.Msg { return common.ShowFlowsMsg{Filter: f} }
			}
		default:
			m.cursor, _ = k.MoveCursor(msg, m.cursor, 0, TopN)
		}
		if m.rank != nil {
			m.cursor = max(0, min(m.cursor, len(m.rank.Top)-1))
		}
	}
	return m, nil
}

func (m *Model) setRank(r *flowtable.Ranking, f *common.Frame) {
	m.rank, m.rankSeq, m.rankSample = r, f.Seq, f.Sample
	m.pending, m.stale = false, false
}

// Wants reports whether the refresh that makes frame seq should rank:
// always for a recording (each sample is asked for) or when the pane has
// focus; for a live source otherwise every staleAfter samples.
func (m *Model) Wants(seq int, live bool) bool {
	return !live || m.focused || m.rank == nil || m.rank.Dimension != m.dim || seq-m.rankSeq >= staleAfter
}

// SetVisible says whether the pane is on screen and whether it has focus;
// rankings are only made for a visible pane.
func (m *Model) SetVisible(visible, focused bool) tea.Cmd {
	m.visible, m.focused = visible, focused
	if visible && m.stale && !m.pending && m.frame != nil && m.Wants(m.frame.Seq, m.frame.Samples == 0) {
		return m.rankCmd()
	}
	return nil
}

// rankCmd ranks the current table by the current dimension, off the UI
// goroutine (the table is immutable).
func (m *Model) rankCmd() tea.Cmd {
	if m.frame == nil {
		return nil
	}
	m.pending = true
	t, seq, d := m.frame.Table, m.frame.Seq, m.dim
	return func() tea.Msg { return rankedMsg{seq: seq, rank: t.Talkers(d, TopN)} }
}

// View implements tea.Model.
func (m *Model) View() string {
	st := m.c.Styles
	var tabs []string
	for d := flowtable.Dimension(0); d < flowtable.NumDimensions; d++ {
		name := d.String()
		if d == m.dim {
			tabs = append(tabs, st.TabActive.Render("["+name+"]"))
		} else {
			tabs = append(tabs, st.Tab.Render(" "+name+" "))
		}
	}
	lines := []string{common.Fit(strings.Join(tabs, "")+st.Dim.Render("  v: next"), m.width)}
	switch {
	case m.frame == nil:
		lines = append(lines, st.Dim.Render("waiting for the first sample…"))
	case m.rank == nil || m.rank.Dimension != m.dim:
		lines = append(lines, st.Dim.Render("ranking…"))
	default:
		lines = append(lines, m.table()...)
	}
	return strings.Join(common.Lines(strings.Join(lines, "\n"), m.width, m.height), "\n")
}

func (m *Model) table() []string {
	st := m.c.Styles
	r := m.rank
	numW, shareW := 9, 6
	barW := 0
	keyW := m.width - 4 - numW - shareW - 1
	if m.width >= 60 {
		barW = min(20, m.width/6)
		keyW -= barW + 1
	}
	head := common.Fit("  #", 4) + common.Fit(strings.ToUpper(r.Dimension.String()), keyW) + common.FitLeft("ENTRIES", numW) + common.FitLeft("SHARE", shareW+1)
	lines := []string{st.Label.Render(common.Fit(head, m.width))}
	body := m.height - 3
	start := 0
	if m.cursor >= body {
		start = m.cursor - body + 1
	}
	for i := start; i < len(r.Top) && i < start+body; i++ {
		t := r.Top[i]
		mark := "  "
		if i == m.cursor {
			mark = "› "
		}
		line := common.Fit(mark+fmt.Sprint(i+1), 4) + common.Fit(t.Key, keyW) + common.FitLeft(common.Int(t.Count), numW) + common.FitLeft(human.Percent(t.Share), shareW+1)
		if barW > 0 {
			line += " " + st.Spark.Render(common.Bar(t.Share, barW))
		}
		line = common.Fit(line, m.width)
		if i == m.cursor {
			line = st.Selected.Render(line)
		}
		lines = append(lines, line)
	}
	for len(lines) < m.height-2 {
		lines = append(lines, "")
	}
	foot := fmt.Sprintf("%s distinct of %s entries · enter lists them", common.Int(r.Distinct), common.Int(r.Total))
	if m.frame != nil && m.rankSeq != m.frame.Seq {
		foot = fmt.Sprintf("as of sample %d (redone every %d while not focused) · ", m.rankSample+1, staleAfter) + foot
	}
	lines = append(lines, st.Dim.Render(common.Fit(foot, m.width)))
	return lines
}
