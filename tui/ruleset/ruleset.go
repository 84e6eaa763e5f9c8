package ruleset

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
)

// Model is the ruleset pane.
type Model struct {
	c             common.Common
	width, height int
	frame         *common.Frame
	rows          []row
	cursor        int // index in rows of the selected rule
	offset        int
	selected      string // the selected rule's key: kept across refreshes
	open          bool
	detail        common.Detail
}

// row is one line of the outline, with what the findings say of its rule.
type row struct {
	line  track.OutlineLine
	key   string   // the rule's key (rules only)
	rules []string // ids of the findings that point at the rule
	roles []string // and what the rule does in each
}

// New returns the pane.
func New(c common.Common) *Model { return &Model{c: c, detail: common.NewDetail(c)} }

// Title implements common.Component.
func (m *Model) Title() string { return "6 Ruleset" }

// SetSize implements common.Component.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.detail.SetSize(w, h)
	m.refreshDetail()
}

// Zoomed implements common.Zoomer: an open rule takes the whole body.
func (m *Model) Zoomed() bool { return m.open }

// Want implements common.Wanter: the summary and every line of the
// outline (a few lines when no ruleset was read).
func (m *Model) Want(int) int {
	if m.frame == nil || m.frame.Ruleset == nil {
		return 3
	}
	return len(m.rows) + 2
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp implements help.KeyMap.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	if m.open {
		return []key.Binding{k.Back, k.Up, k.Down}
	}
	return []key.Binding{k.Up, k.Down, common.WithHelp(k.Enter, "the rule")}
}

// FullHelp implements help.KeyMap.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.c.Keys
	return [][]key.Binding{{k.Up, k.Down, common.WithHelp(k.Enter, "the rule"), k.Back}, {k.PageUp, k.PageDown, k.Home, k.End}}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	k := m.c.Keys
	switch msg := msg.(type) {
	case common.FrameMsg:
		m.setFrame(msg.Frame)
	case tea.KeyMsg:
		if m.open {
			if key.Matches(msg, k.Back) {
				m.open = false
			} else {
				m.detail.Update(msg)
			}
			return m, nil
		}
		rules := m.ruleRows()
		at := indexOf(rules, m.cursor)
		if c, ok := k.MoveCursor(msg, at, max(1, m.height-3), len(rules)-1); ok {
			if len(rules) > 0 {
				m.cursor = rules[max(0, min(c, len(rules)-1))]
				m.selected = m.rows[m.cursor].key
			}
		} else if key.Matches(msg, k.Enter) && len(rules) > 0 {
			m.open = true
			m.refreshDetail()
			m.detail.Top()
		}
	}
	return m, nil
}

// ruleRows are the indexes of the rows that are rules (what the cursor
// moves over).
func (m *Model) ruleRows() []int {
	var out []int
	for i, r := range m.rows {
		if r.line.Kind == track.OutlineRule {
			out = append(out, i)
		}
	}
	return out
}

func indexOf(xs []int, v int) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return 0
}

// setFrame takes the frame's outline and marks the rules findings point at.
func (m *Model) setFrame(f *common.Frame) {
	m.frame = f
	m.rows = m.rows[:0]
	pointed := map[string][]int{}
	var findings []struct{ rule, role string }
	if f.Result != nil {
		for _, fi := range f.Result.Findings {
			for _, r := range fi.Evidence.Rules {
				pointed[r.Key()] = append(pointed[r.Key()], len(findings))
				findings = append(findings, struct{ rule, role string }{fi.Rule, r.Role})
			}
		}
	}
	m.cursor = -1
	for _, l := range compact(f.RulesetOutline) {
		r := row{line: l}
		if l.Kind == track.OutlineRule {
			r.key = l.Chain.Key()
			for _, i := range pointed[r.key] {
				r.rules = append(r.rules, findings[i].rule)
				r.roles = append(r.roles, findings[i].role)
			}
			if r.key == m.selected || m.cursor < 0 && m.selected == "" {
				m.cursor = len(m.rows)
			}
		}
		m.rows = append(m.rows, r)
	}
	if m.cursor < 0 {
		if rules := m.ruleRows(); len(rules) > 0 {
			m.cursor = rules[0]
		} else {
			m.cursor = 0
		}
	}
	if m.cursor < len(m.rows) {
		m.selected = m.rows[m.cursor].key
	}
	if m.open && (m.cursor >= len(m.rows) || m.rows[m.cursor].line.Kind != track.OutlineRule) {
		m.open = false
	}
	m.refreshDetail()
}

// compact leaves out what has no rule under it: a base chain none of whose
// rules concerns conntrack, and a hook with no such chain (conntrack's
// own steps stay where rules are).
func compact(in []track.OutlineLine) []track.OutlineLine {
	var out []track.OutlineLine
	hasRules := func(from int) bool {
		for _, l := range in[from:] {
			switch l.Kind {
			case track.OutlineRule:
				return true
			case track.OutlineChain, track.OutlineHook, track.OutlineConntrack:
				return false
			}
		}
		return false
	}
	for i := 0; i < len(in); i++ {
		l := in[i]
		switch l.Kind {
		case track.OutlineHook:
			j := i + 1
			any := false
			for ; j < len(in) && in[j].Kind != track.OutlineHook; j++ {
				if in[j].Kind == track.OutlineRule {
					any = true
				}
			}
			if !any {
				i = j - 1
				continue
			}
		case track.OutlineChain:
			if !hasRules(i + 1) {
				for i+1 < len(in) && in[i+1].Kind == track.OutlineOthers {
					i++
				}
				continue
			}
		}
		out = append(out, l)
	}
	return out
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
	case m.frame.Ruleset == nil:
		lines = append(lines, common.Wrap(st.Dim.Render("No firewall ruleset read: live it needs root (CAP_NET_ADMIN); "+
			"with files, add the output of nft list ruleset, iptables-save -c or iptables -nvL to the inputs."), max(10, m.width))...)
	default:
		lines = append(lines, m.summary()...)
		lines = append(lines, m.outline(m.height-len(lines))...)
	}
	return strings.Join(common.Lines(strings.Join(lines, "\n"), m.width, m.height), "\n")
}

// summary is the ruleset's line on top: what it holds and what needs
// conntrack, and where it was read when not with this sample.
func (m *Model) summary() []string {
	st := m.c.Styles
	rs := m.frame.Ruleset
	var backends []string
	for _, b := range rs.Backends() {
		backends = append(backends, b.String())
	}
	n := rs.NeedsConntrack()
	s := fmt.Sprintf("%s in %s (%s) · needs conntrack: %d state, %d NAT, %d helper/zone",
		human.Plural(rs.RuleCount(), "rule", "rules"), human.Plural(len(rs.Tables), "table", "tables"), strings.Join(backends, ", "),
		len(n.State), len(n.NAT), len(n.Helper))
	if !n.Any() {
		s += " · nothing here needs connection tracking"
	}
	if m.frame.RulesetSample >= 0 && m.frame.RulesetSample != m.frame.Sample {
		s += fmt.Sprintf(" · read with sample %d", m.frame.RulesetSample+1)
	}
	if rs.Unknown > 0 {
		s += fmt.Sprintf(" · %d parts not decoded", rs.Unknown)
	}
	return []string{st.Label.Render(common.Fit(s, m.width))}
}

// outline draws the rows that fit in height lines, the selected rule in
// view; the last line says how many are hidden.
func (m *Model) outline(height int) []string {
	st := m.c.Styles
	if height <= 0 {
		return nil
	}
	body := height
	if len(m.rows) > height {
		body = height - 1
	}
	body = max(1, body)
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+body {
		m.offset = m.cursor - body + 1
	}
	m.offset = max(0, min(m.offset, len(m.rows)-body))
	var out []string
	for i := m.offset; i < len(m.rows) && i < m.offset+body; i++ {
		out = append(out, m.rowText(i))
	}
	if len(m.rows) > body {
		out = append(out, st.Dim.Render(common.Fit(fmt.Sprintf("%d of %d lines shown (↑/↓)", min(body, len(m.rows)-m.offset), len(m.rows)), m.width)))
	}
	return out
}

// rowText draws one line of the outline.
func (m *Model) rowText(i int) string {
	st := m.c.Styles
	r := m.rows[i]
	l := r.line
	w := m.width
	switch l.Kind {
	case track.OutlineHook:
		return st.Bold.Render(common.Fit(strings.ToUpper(l.Hook.String()), w))
	case track.OutlineConntrack:
		return st.Dim.Render(common.Fit(fmt.Sprintf("  %-11s ── %s", prio(l.Priority), l.Conntrack), w))
	case track.OutlineChain:
		policy := ""
		if l.Policy != "" {
			policy = ", policy " + l.Policy
		}
		return st.Label.Render(common.Fit(fmt.Sprintf("  %-11s %s %s %s [%s%s]", prio(l.Priority)+" "+track.PriorityName(l.Hook, l.Priority),
			l.Chain.Family, l.Chain.Table, l.Chain.Chain, l.Chain.Backend, policy), w))
	case track.OutlineOthers:
		return st.Dim.Render(common.Fit(strings.Repeat("  ", 2+l.Depth)+fmt.Sprintf("… %d other rules", l.Others), w))
	}
	rule := &l.Chain.Rule
	mark := "  "
	if i == m.cursor {
		mark = "› "
	}
	var b strings.Builder
	b.WriteString(mark + strings.Repeat("  ", 1+l.Depth) + fmt.Sprintf("#%-3d ", rule.Position))
	b.WriteString(common.FitLeft(m.counter(r), 18) + "  ")
	if tag := rule.Tag(); tag != "" {
		b.WriteString(tag + " ")
	}
	b.WriteString(rule.Plain())
	text := b.String()
	if len(r.rules) > 0 {
		suffix := " ◂ " + strings.Join(dedupe(r.rules), ", ")
		avail := max(10, w-ansi.StringWidth(suffix))
		text = common.Fit(text, avail) + suffix
	}
	text = common.Fit(text, w)
	if i == m.cursor {
		return st.Selected.Render(ansi.Strip(text))
	}
	if len(r.rules) > 0 {
		return st.Warn.Render(text)
	}
	return text
}

// counter is a rule's packets and how they moved: "1,204 +37/s".
func (m *Model) counter(r row) string {
	rule := &r.line.Chain.Rule
	if !rule.HasCounter {
		return "·"
	}
	s := common.Int(rule.Counter.Packets)
	if d, ok := m.frame.RuleDeltas[r.key]; ok && d.Packets > 0 {
		if d.HasRate {
			s += " +" + common.Num(d.PerSec) + "/s"
		} else {
			s += " +" + common.Int(d.Packets)
		}
	}
	return s
}

func prio(p int32) string {
	if p == track.PriorityConntrackConfirm {
		return "last"
	}
	return fmt.Sprint(p)
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// refreshDetail rebuilds the open rule's text.
func (m *Model) refreshDetail() {
	if !m.open || m.cursor >= len(m.rows) || m.rows[m.cursor].line.Kind != track.OutlineRule {
		return
	}
	m.detail.SetContent(m.ruleDetail(m.rows[m.cursor]))
}

// ruleDetail is everything about one rule: where it is, its whole text,
// its counter and what the findings say of it.
func (m *Model) ruleDetail(r row) string {
	st := m.c.Styles
	ref := r.line.Chain
	rule := &ref.Rule
	w := max(20, m.width)
	var b []string
	add := func(s ...string) { b = append(b, s...) }
	wrap := func(indent, text string) {
		for _, l := range common.Wrap(text, w-len(indent)) {
			add(indent + l)
		}
	}
	add(st.Title.Render(fmt.Sprintf("%s %s %s #%d", ref.Family, ref.Table, ref.Chain, rule.Position)) + st.Dim.Render("  "+ref.Backend.String()))
	add("")
	wrap("  ", rule.Text) // never styled: it copies as it is
	add("", st.Bold.Render("WHERE"))
	where := fmt.Sprintf("on %s", r.line.Hook)
	if ref.Hook == track.HookNone {
		where += fmt.Sprintf(", in the chain %s reached by a jump", ref.Chain)
	} else {
		where += fmt.Sprintf(" at priority %d (%s)", ref.Priority, track.PriorityName(ref.Hook, ref.Priority))
	}
	if rule.Handle != 0 {
		where += fmt.Sprintf(", handle %d", rule.Handle)
	}
	wrap("  ", where)
	add("", st.Bold.Render("COUNTER"))
	if rule.HasCounter {
		s := fmt.Sprintf("%s packets, %s", common.Int(rule.Counter.Packets), common.Bytes(rule.Counter.Bytes))
		if d, ok := m.frame.RuleDeltas[r.key]; ok {
			s += fmt.Sprintf("; +%s packets since the ruleset read before", common.Int(d.Packets))
			if d.HasRate {
				s += " (" + common.Num(d.PerSec) + "/s)"
			}
		}
		wrap("  ", s)
	} else {
		wrap("  ", "none (the rule has no counter statement)")
	}
	if rule.Partial {
		wrap("  ", "Partly decoded: it may select fewer packets than its decoded match says.")
	}
	if len(r.rules) > 0 {
		add("", st.Bold.Render("FINDINGS"))
		for i, id := range r.rules {
			summary := ""
			for _, f := range m.frame.Result.Findings {
				if f.Rule == id {
					summary = f.Summary
				}
			}
			add("  " + st.Warn.Render(id) + st.Dim.Render(": "+r.roles[i]))
			wrap("    ", summary)
		}
		wrap("  ", "The findings pane (3) has their evidence and remedies.")
	}
	return strings.Join(b, "\n")
}
