package findings

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/tui/common"
)

// Model is the findings pane.
type Model struct {
	c             common.Common
	width, height int
	frame         *common.Frame
	list          []analyzer.Finding
	cursor        int
	selected      string // rule id under the cursor: kept across refreshes
	open          bool
	detail        common.Detail
}

// New returns the pane.
func New(c common.Common) *Model { return &Model{c: c, detail: common.NewDetail(c)} }

// Title implements common.Component.
func (m *Model) Title() string { return "3 Findings" }

// SetSize implements common.Component.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.detail.SetSize(w, h)
	m.refreshDetail()
}

// Zoomed implements common.Zoomer: an open finding takes the whole body.
func (m *Model) Zoomed() bool { return m.open }

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp implements help.KeyMap.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	if m.open {
		return []key.Binding{k.Back, k.Up, k.Down, k.Copy}
	}
	return []key.Binding{k.Up, k.Down, common.WithHelp(k.Enter, "explain")}
}

// FullHelp implements help.KeyMap.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.c.Keys
	return [][]key.Binding{{k.Up, k.Down, common.WithHelp(k.Enter, "explain"), k.Back}, {k.PageUp, k.PageDown, k.Home, k.End, k.Copy}}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	k := m.c.Keys
	switch msg := msg.(type) {
	case common.FrameMsg:
		m.frame = msg.Frame
		m.list = nil
		if r := msg.Frame.Result; r != nil {
			m.list = r.Findings
		}
		m.cursor = 0
		for i, f := range m.list {
			if f.Rule == m.selected {
				m.cursor = i
			}
		}
		m.clamp()
		m.refreshDetail()
	case tea.KeyMsg:
		if m.open {
			switch {
			case key.Matches(msg, k.Back):
				m.open = false
			case key.Matches(msg, k.Copy):
				return m, m.copyCmd()
			default:
				m.detail.Update(msg)
			}
			return m, nil
		}
		if c, ok := k.MoveCursor(msg, m.cursor, 0, len(m.list)-1); ok {
			m.cursor = c
		} else if key.Matches(msg, k.Enter) {
			if len(m.list) > 0 {
				m.open = true
				m.refreshDetail()
				m.detail.Top()
			}
		}
		m.clamp()
	}
	return m, nil
}

func (m *Model) clamp() {
	m.cursor = max(0, min(m.cursor, len(m.list)-1))
	if m.cursor < len(m.list) {
		m.selected = m.list[m.cursor].Rule
	} else {
		m.open = false
	}
}

// copyCmd asks for the finding's remedy commands on the clipboard.
func (m *Model) copyCmd() tea.Cmd {
	if m.cursor >= len(m.list) {
		return nil
	}
	f := m.list[m.cursor]
	var cmds []string
	for _, r := range f.Remedies {
		cmds = append(cmds, report.Commands(r)...)
	}
	if len(cmds) == 0 {
		return func() tea.Msg { return common.StatusMsg{Text: "this finding's remedies have no commands to copy"} }
	}
	text := strings.Join(cmds, "\n") + "\n"
	what := fmt.Sprintf("%d commands of %s", len(cmds), f.Rule)
	return func() tea.Msg { return common.CopyMsg{Text: text, What: what} }
}

func sevLabel(s rules.Severity) string {
	switch s {
	case rules.SeverityCritical:
		return "CRIT"
	case rules.SeverityWarning:
		return "WARN"
	case rules.SeverityInfo:
		return "INFO"
	}
	return "-"
}

// View implements tea.Model.
func (m *Model) View() string {
	st := m.c.Styles
	if m.open {
		return m.detail.View()
	}
	var lines []string
	switch {
	case m.frame == nil:
		lines = append(lines, st.Dim.Render("waiting for the first sample…"))
	case m.frame.Result == nil:
		lines = append(lines, st.Dim.Render("analysing…"))
	case len(m.list) == 0 && m.frame.Result.Incomplete:
		// Never "no findings" about what could not be seen.
		res := m.frame.Result
		judged := 0
		for _, c := range res.Checked {
			if c.Judged {
				judged++
			}
		}
		lines = append(lines, st.Warn.Render(fmt.Sprintf("Incomplete: %d of %d rules judged, none fired; the others could not be:", judged, len(res.Checked))))
		for _, c := range res.Checked {
			if !c.Judged {
				lines = append(lines, wrap(st.Dim.Render("· "+c.Rule+" needs "+c.Missing), m.width)...)
			}
		}
	case len(m.list) == 0:
		lines = append(lines, st.Good.Render(fmt.Sprintf("No findings: %d rules checked, none fired.", len(m.frame.Result.Checked))))
		for _, n := range m.frame.Result.Summary.Notes {
			lines = append(lines, wrap(st.Dim.Render("· "+n), m.width)...)
		}
	default:
		lines = append(lines, m.listLines()...)
	}
	return strings.Join(common.Lines(strings.Join(lines, "\n"), m.width, m.height), "\n")
}

func (m *Model) listLines() []string {
	st := m.c.Styles
	var lines []string
	res := m.frame.Result
	fired := len(m.list)
	head := fmt.Sprintf("%d of %d rules fired", fired, len(res.Checked))
	if m.frame.ResultSample != m.frame.Sample {
		head += fmt.Sprintf(" · analysis of sample %d (runs less often on large tables)", m.frame.ResultSample+1)
	}
	// Each finding: a line with severity and title, then its summary.
	body := m.height - 1
	per := 2
	if body/per < len(m.list) {
		per = 1
	}
	start := 0
	if m.cursor*per >= body {
		start = m.cursor - body/per + 1
	}
	if shown := max(1, body/per); shown < len(m.list) {
		head += fmt.Sprintf(" · %d–%d shown (↑/↓)", start+1, min(len(m.list), start+shown))
	}
	lines = append(lines, st.Label.Render(common.Fit(head, m.width)))
	for i := start; i < len(m.list) && (i-start)*per < body; i++ {
		f := m.list[i]
		mark := "  "
		if i == m.cursor {
			mark = "› "
		}
		sev := st.Severity(f.Severity).Render(sevLabel(f.Severity))
		title := common.Fit(mark+sev+" "+f.Title+st.Dim.Render(" ("+f.Rule+")"), m.width)
		if i == m.cursor {
			title = st.Selected.Render(ansi.Strip(title))
		}
		lines = append(lines, title)
		if per == 2 {
			lines = append(lines, st.Dim.Render(common.Fit("       "+f.Summary, m.width)))
		}
	}
	return lines
}

func wrap(s string, w int) []string {
	return common.Wrap(s, max(10, w))
}

// refreshDetail rebuilds the open finding's text.
func (m *Model) refreshDetail() {
	if !m.open || m.cursor >= len(m.list) {
		return
	}
	m.detail.SetContent(Render(m.c, m.list[m.cursor], m.width))
}

// Render writes a finding in full: what, why, evidence, remedies.
func Render(c common.Common, f analyzer.Finding, width int) string {
	st := c.Styles
	w := max(20, width)
	var b []string
	add := func(s ...string) { b = append(b, s...) }
	// hang writes text wrapped, the first line after first, the others
	// after an indent of the same width.
	hang := func(first, text string) {
		indent := strings.Repeat(" ", ansi.StringWidth(first))
		for i, l := range common.Wrap(text, w-len(indent)) {
			if i == 0 {
				add(first + l)
			} else {
				add(indent + l)
			}
		}
	}
	para := func(indent, text string) { hang(indent, text) }
	add(st.Severity(f.Severity).Render(strings.ToUpper(f.Severity.String())) + "  " + st.Title.Render(f.Title) + st.Dim.Render("  "+f.Rule))
	para("", f.Summary)
	add("", st.Bold.Render("WHAT IT MEANS"))
	for _, p := range strings.Split(strings.TrimSpace(f.Explanation), "\n\n") {
		para("  ", strings.Join(strings.Fields(p), " "))
	}
	ev := f.Evidence
	add("", st.Bold.Render("EVIDENCE"))
	nameW := 0
	for _, fg := range ev.Figures {
		if len(fg.Name) <= 24 {
			nameW = max(nameW, len(fg.Name))
		}
	}
	for _, fg := range ev.Figures {
		if len(fg.Name) > nameW {
			add("  " + st.Label.Render(fg.Name))
			hang("  "+strings.Repeat(" ", nameW+2), fg.Value)
			continue
		}
		hang("  "+st.Label.Render(common.Fit(fg.Name, nameW))+"  ", fg.Value)
	}
	for _, s := range ev.Series {
		var vals []float64
		lo, hi := 0.0, 0.0
		for i, p := range s.Points {
			vals = append(vals, p.Value)
			if i == 0 || p.Value < lo {
				lo = p.Value
			}
			hi = max(hi, p.Value)
		}
		if len(vals) == 0 {
			continue
		}
		add(fmt.Sprintf("  %s  %s  %s → %s (min %s, max %s, %d samples)", st.Label.Render(s.Name),
			st.Spark.Render(common.Sparkline(vals, min(len(vals), 40))), common.Num(vals[0]), common.Num(vals[len(vals)-1]),
			common.Num(lo), common.Num(hi), len(vals)))
	}
	if len(ev.Top) > 0 {
		add("  " + st.Label.Render("who holds them"))
		for _, t := range ev.Top {
			add(fmt.Sprintf("    %-18s %-28s %8s  %s", t.Dimension, t.Key, common.Int(t.Count), human.Percent(t.Share)))
		}
	}
	if len(ev.Rules) > 0 {
		add("  " + st.Label.Render("firewall rules (6 Ruleset shows them in place)"))
		for _, r := range ev.Rules {
			hang("    ", fmt.Sprintf("%s %s %s #%d (%s): %s", r.Family, r.Table, r.Chain, r.Rule.Position, r.Role, r.Rule.Text))
		}
	}
	if len(ev.Entries) > 0 {
		add("  " + st.Label.Render("example entries"))
		for _, e := range ev.Entries {
			for _, l := range strings.Split(ansi.Hardwrap(e, w-4, true), "\n") {
				add("    " + l)
			}
		}
	}
	if len(f.Remedies) > 0 {
		add("", st.Bold.Render("REMEDIES")+st.Dim.Render("  (c copies the commands; ctdiag never applies them)"))
		for i, r := range f.Remedies {
			add(fmt.Sprintf("  %d. %s", i+1, st.Bold.Render(r.Title)))
			for _, c := range r.Commands {
				add("     " + st.Command.Render(c)) // never wrapped: it must copy whole
			}
			for _, l := range strings.Split(strings.TrimSpace(r.Note), "\n") {
				if r.Note == "" {
					break
				}
				if report.IsCommand(l) {
					add("     " + st.Command.Render(l)) // never wrapped: it must copy whole
					continue
				}
				para("     ", l)
			}
		}
	}
	if len(f.References) > 0 {
		add("", st.Bold.Render("REFERENCES"))
		for _, r := range f.References {
			hang("  - ", r)
		}
	}
	return strings.Join(b, "\n")
}
