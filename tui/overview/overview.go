package overview

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
)

// Model is the overview pane.
type Model struct {
	c             common.Common
	width, height int
	frame         *common.Frame
	scroll        int
}

// New returns the pane.
func New(c common.Common) *Model { return &Model{c: c} }

// Title implements common.Component.
func (m *Model) Title() string { return "1 Overview" }

// SetSize implements common.Component.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp implements help.KeyMap.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.c.Keys.Up, m.c.Keys.Down} }

// FullHelp implements help.KeyMap.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	k := m.c.Keys
	switch msg := msg.(type) {
	case common.FrameMsg:
		m.frame = msg.Frame
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, k.Up):
			m.scroll--
		case key.Matches(msg, k.Down):
			m.scroll++
		case key.Matches(msg, k.Home):
			m.scroll = 0
		}
		m.scroll = max(0, m.scroll)
	}
	return m, nil
}

// View implements tea.Model. When the pane cannot show everything, its
// last line says how much is above or below (↑/↓ scroll): nothing is cut
// silently.
func (m *Model) View() string {
	st := m.c.Styles
	if m.frame == nil {
		return strings.Join(common.Lines(st.Dim.Render("waiting for the first sample…"), m.width, m.height), "\n")
	}
	lines := m.lines()
	if len(lines) <= m.height {
		m.scroll = 0
		return strings.Join(common.Lines(strings.Join(lines, "\n"), m.width, m.height), "\n")
	}
	room := max(1, m.height-1) // the last line says what is hidden
	m.scroll = min(m.scroll, len(lines)-room)
	shown := lines[m.scroll:min(len(lines), m.scroll+room)]
	above, below := m.scroll, len(lines)-m.scroll-len(shown)
	var more []string
	if above > 0 {
		more = append(more, fmt.Sprintf("↑ %d more", above))
	}
	if below > 0 {
		more = append(more, fmt.Sprintf("↓ %d more", below))
	}
	shown = append(shown[:len(shown):len(shown)], st.Dim.Render(strings.Join(more, " · ")+" lines (↑/↓ scroll)"))
	return strings.Join(common.Lines(strings.Join(shown, "\n"), m.width, m.height), "\n")
}

// Want implements common.Wanter: the lines the pane has to show at width w.
func (m *Model) Want(w int) int {
	if m.frame == nil {
		return 1
	}
	saved := m.width
	m.width = w
	n := len(m.lines())
	m.width = saved
	return n
}

func (m *Model) lines() []string {
	st := m.c.Styles
	f := m.frame
	w := max(20, m.width)
	var out []string
	field := func(name, value string) {
		ls := common.Wrap(value, w-11)
		out = append(out, st.Label.Render(common.Fit(name, 10))+" "+ls[0])
		for _, l := range ls[1:] {
			out = append(out, strings.Repeat(" ", 11)+l)
		}
	}
	p := f.Pressure
	table := common.Int(p.Listed) + " entries listed"
	if p.CountFromKern {
		table += ", nf_conntrack_count " + common.Int(p.Count)
	}
	switch {
	case p.HasMax && p.Max > 0:
		table += fmt.Sprintf(", nf_conntrack_max %s (%s full)", common.Int(p.Max), human.Percent(p.Utilisation))
	case p.HasMax:
		table += ", nf_conntrack_max 0 (no limit)"
	default:
		table += ", nf_conntrack_max unknown (no sysctls read)"
	}
	if p.MaxElsewhere != "" {
		table += "; the max (*) was read with " + p.MaxElsewhere
	}
	field("table", table)
	u, h, a := f.Table.Classes()
	field("flags", fmt.Sprintf("%s [ASSURED] · %s half-assured · %s [UNREPLIED]", common.Int(a), common.Int(h), common.Int(u)))
	if p.HasHeadroom {
		head := fmt.Sprintf("%s new entries before drops: nf_conntrack_max %s − %s [ASSURED] (early drop evicts only the others: %s now)",
			common.Int(p.Headroom), common.Int(p.Max), common.Int(p.Assured), common.Int(p.Evictable))
		if p.Headroom < 0 {
			head = fmt.Sprintf("%s: the [ASSURED] entries alone (%s) exceed nf_conntrack_max %s, and early drop never evicts them",
				common.Int(p.Headroom), common.Int(p.Assured), common.Int(p.Max))
		}
		field("headroom", head)
	}
	if p.HasGrowth {
		g := fmt.Sprintf("%s entries/s over the last samples", signed(p.GrowthPerSec))
		if p.HasFullIn {
			g += "; " + common.FullIn(p.FullInSeconds)
		}
		field("growth", g)
	}
	if acct := f.Table.Accounting(); acct > 0 {
		field("accounting", fmt.Sprintf("%s entries carry packet/byte counters", common.Int(acct)))
	}
	out = append(out, "")
	out = append(out, m.statistics()...)
	out = append(out, "")
	field("timeouts", timeouts(f.Table.Timeouts()))
	if res := f.Result; res != nil {
		fired := 0
		for _, c := range res.Checked {
			if c.Fired {
				fired++
			}
		}
		an := fmt.Sprintf("%d rules checked, %d fired, over the last %d samples (times: %s)", len(res.Checked), fired, res.Summary.Samples, res.Summary.Timing)
		if f.ResultSample != f.Sample {
			an += fmt.Sprintf("; analysis is of sample %d", f.ResultSample+1)
		}
		if f.AnalyzeEvery > 1 {
			an += fmt.Sprintf("; one sample in %d is analysed, to keep refreshing under %.0f%% of a core", f.AnalyzeEvery, 100*common.CPUBudget)
		}
		field("analysis", an)
		for _, n := range res.Summary.Notes {
			field("", st.Dim.Render("· "+n))
		}
	}
	src := f.Source
	s := src.Kind.String() + " " + src.Name
	if f.Samples > 0 {
		s += fmt.Sprintf(" · sample %d of %d · times: %s", f.Sample+1, f.Samples, src.Timing)
	} else if src.Interval > 0 {
		s += " · every " + common.Dur(src.Interval)
	}
	field("source", s)
	if f.Malformed > 0 {
		field("", st.Warn.Render(fmt.Sprintf("%d malformed lines in this sample's files", f.Malformed)))
	}
	for _, sk := range f.Skipped {
		field("", st.Dim.Render("skipped "+sk))
	}
	field("refresh", "took "+f.Took.Round(time.Millisecond).String())
	return out
}

// keyCounters are always shown, zero or not: what a person looks at first.
var keyCounters = []track.Counter{track.CounterDrop, track.CounterEarlyDrop, track.CounterInsertFailed,
	track.CounterInvalid, track.CounterClashResolve}

// statistics lists every counter the source reported: the key ones and
// every other that is not zero in cells (name, total, per second or per
// sample) laid out in as many columns as the pane's width takes, then the
// names of the counters that stayed at zero. Nothing is left out.
func (m *Model) statistics() []string {
	st := m.c.Styles
	f := m.frame
	r := f.Rates
	var cells []track.Counter
	var zero []string
	known := false
	for _, c := range append(append([]track.Counter(nil), keyCounters...), otherCounters()...) {
		cr := r.Counters[c]
		if !cr.Known {
			continue
		}
		known = true
		if cr.Total == 0 && !slices.Contains(keyCounters, c) {
			zero = append(zero, c.String())
			continue
		}
		cells = append(cells, c)
	}
	if !known {
		why := "none read: drops, invalid packets and insert failures need conntrack -S or /proc/net/stat/nf_conntrack"
		if f.StatsSample >= 0 {
			why = fmt.Sprintf("none read with this sample: the recording read them once, with sample %d of %d", f.StatsSample+1, f.Samples)
		}
		return append([]string{st.Label.Render("statistics")}, wrapped(st.Dim.Render(why), m.width)...)
	}
	deltas := false
	for _, c := range cells {
		deltas = deltas || r.Counters[c].HasDelta
	}
	unit := "per s"
	if r.Seconds == 0 {
		unit = "/sample"
	}
	nameW, totalW, rateW := 14, 10, 0
	if deltas {
		rateW = 8
	}
	cellW := nameW + totalW + rateW
	cols := max(1, (m.width+2)/(cellW+2))
	rows := (len(cells) + cols - 1) / cols
	head := common.Fit("counter", nameW) + common.FitLeft("total", totalW)
	if deltas {
		head += common.FitLeft(unit, rateW)
	}
	heads := make([]string, min(cols, len(cells)))
	for i := range heads {
		heads[i] = head
	}
	out := []string{st.Label.Render(strings.Join(heads, "  "))}
	for row := 0; row < rows; row++ {
		var line []string
		for col := 0; col < cols; col++ {
			i := col*rows + row // down the columns, as ls does
			if i >= len(cells) {
				break
			}
			c := cells[i]
			cr := r.Counters[c]
			cell := common.Fit(c.String(), nameW) + common.FitLeft(common.Int(cr.Total), totalW)
			if deltas {
				rate := "-"
				if cr.HasDelta {
					rate = common.Num(r.Per(float64(cr.Delta)))
				}
				cell += common.FitLeft(rate, rateW)
			}
			if cr.HasDelta && cr.Delta > 0 && (c == track.CounterDrop || c == track.CounterEarlyDrop || c == track.CounterInsertFailed) {
				cell = st.Crit.Render(cell)
			}
			line = append(line, cell)
		}
		out = append(out, strings.Join(line, "  "))
	}
	if len(zero) > 0 {
		out = append(out, wrapped(st.Dim.Render("zero: "+strings.Join(zero, ", ")), m.width)...)
	}
	if !deltas {
		out = append(out, wrapped(st.Dim.Render("one reading: totals since the counters started; changes need a second sample"), m.width)...)
	}
	return out
}

// otherCounters are the counters after the key ones, in the kernel's order.
func otherCounters() []track.Counter {
	var out []track.Counter
	for c := track.Counter(0); c < track.NumCounters; c++ {
		if !slices.Contains(keyCounters, c) {
			out = append(out, c)
		}
	}
	return out
}

func wrapped(s string, w int) []string {
	return common.Wrap(s, max(20, w))
}

func signed(v float64) string {
	if v > 0 {
		return "+" + common.Num(v)
	}
	return common.Num(v)
}

func timeouts(tm track.Timeouts) string {
	d := func(name string) string { return common.Dur(tm.Get(name)) }
	return fmt.Sprintf("tcp syn_sent %s, syn_recv %s, established %s, fin_wait %s, time_wait %s, close %s; udp %s / stream %s; icmp %s; generic %s",
		common.Dur(tm.TCP(track.TCPSynSent)), common.Dur(tm.TCP(track.TCPSynRecv)), common.Dur(tm.TCP(track.TCPEstablished)),
		common.Dur(tm.TCP(track.TCPFinWait)), common.Dur(tm.TCP(track.TCPTimeWait)), common.Dur(tm.TCP(track.TCPClose)),
		d("nf_conntrack_udp_timeout"), d("nf_conntrack_udp_timeout_stream"), d("nf_conntrack_icmp_timeout"), d("nf_conntrack_generic_timeout"))
}
