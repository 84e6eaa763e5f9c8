package overview

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

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

// View implements tea.Model.
func (m *Model) View() string {
	st := m.c.Styles
	if m.frame == nil {
		return strings.Join(common.Lines(st.Dim.Render("waiting for the first sample…"), m.width, m.height), "\n")
	}
	lines := m.lines()
	m.scroll = min(m.scroll, max(0, len(lines)-m.height))
	return strings.Join(common.Lines(strings.Join(lines[m.scroll:], "\n"), m.width, m.height), "\n")
}

func (m *Model) lines() []string {
	st := m.c.Styles
	f := m.frame
	w := max(20, m.width)
	var out []string
	field := func(name, value string) {
		ls := strings.Split(ansi.Wordwrap(value, w-11, ""), "\n")
		out = append(out, st.Label.Render(common.Fit(name, 10))+" "+ls[0])
		for _, l := range ls[1:] {
			out = append(out, strings.Repeat(" ", 11)+l)
		}
	}
	p := f.Pressure
	table := common.Int(f.Table.Len()) + " entries listed"
	if p.CountFromKern {
		table += ", nf_conntrack_count " + common.Int(p.Count)
	}
	if p.HasMax {
		table += fmt.Sprintf(", nf_conntrack_max %s (%s full)", common.Int(p.Max), human.Percent(p.Utilisation()))
		if p.MaxCarried {
			table += "; the max was read with an earlier sample (*)"
		}
	} else {
		table += ", nf_conntrack_max unknown"
	}
	field("table", table)
	u, h, a := f.Table.Classes()
	field("flags", fmt.Sprintf("%s [ASSURED] · %s half-assured · %s [UNREPLIED]", common.Int(a), common.Int(h), common.Int(u)))
	if p.HasMax && p.Max > 0 {
		field("headroom", fmt.Sprintf("%s new entries before drops: %s free + %s evictable (not ASSURED: early drop may remove them, §4.3)",
			common.Int(p.Headroom), common.Int(max(0, p.Free)), common.Int(p.Evictable)))
	}
	if acct := f.Table.Accounting(); acct > 0 {
		field("accounting", fmt.Sprintf("%s entries carry packet/byte counters", common.Int(acct)))
	}
	out = append(out, "")
	for _, l := range m.statistics() {
		out = append(out, strings.Split(ansi.Wordwrap(l, w, ""), "\n")...)
	}
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

// statistics lists every counter the source reported, in columns that fit
// the pane (narrower in a box of the wide layout).
func (m *Model) statistics() []string {
	st := m.c.Styles
	r := m.frame.Rates
	unit := "per s"
	if r.Seconds == 0 {
		unit = "/sample"
	}
	nameW, totalW, deltaW, rateW := 16, 14, 12, 12
	if m.width < 60 {
		nameW, totalW, deltaW, rateW = 14, 10, 8, 8
	}
	row := func(a, b, c, d string) string {
		return common.Fit(a, nameW) + common.FitLeft(b, totalW) + common.FitLeft(c, deltaW) + common.FitLeft(d, rateW)
	}
	out := []string{st.Label.Render(row("statistics", "total", "change", unit))}
	any := false
	for c := track.Counter(0); c < track.NumCounters; c++ {
		cr := r.Counters[c]
		if !cr.Known {
			continue
		}
		any = true
		delta, rate := "-", "-"
		if cr.HasDelta {
			delta, rate = common.Int(cr.Delta), common.Num(cr.PerSec)
		}
		line := row("  "+c.String(), common.Int(cr.Total), delta, rate)
		if cr.HasDelta && cr.Delta > 0 && (c == track.CounterDrop || c == track.CounterEarlyDrop || c == track.CounterInsertFailed) {
			line = st.Crit.Render(line)
		}
		out = append(out, line)
	}
	if !any {
		out = append(out, st.Dim.Render("  none read: drops, invalid packets and insert failures need conntrack -S or /proc/net/stat/nf_conntrack"))
	} else if !r.HasPrev {
		out = append(out, st.Dim.Render("  one reading: totals since the counters started; changes need a second sample"))
	}
	return out
}

func timeouts(tm track.Timeouts) string {
	d := func(name string) string { return common.Dur(tm.Get(name)) }
	return fmt.Sprintf("tcp syn_sent %s, syn_recv %s, established %s, fin_wait %s, time_wait %s, close %s; udp %s / stream %s; icmp %s; generic %s",
		common.Dur(tm.TCP(track.TCPSynSent)), common.Dur(tm.TCP(track.TCPSynRecv)), common.Dur(tm.TCP(track.TCPEstablished)),
		common.Dur(tm.TCP(track.TCPFinWait)), common.Dur(tm.TCP(track.TCPTimeWait)), common.Dur(tm.TCP(track.TCPClose)),
		d("nf_conntrack_udp_timeout"), d("nf_conntrack_udp_timeout_stream"), d("nf_conntrack_icmp_timeout"), d("nf_conntrack_generic_timeout"))
}
