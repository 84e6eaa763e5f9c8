package header

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
)

// Playback is the state of a recording's player, shown in the header.
type Playback struct {
	Paused bool
	Speed  float64
	AtEnd  bool
}

// Model renders the header.
type Model struct {
	c     common.Common
	width int
}

// New returns a header.
func New(c common.Common) *Model { return &Model{c: c} }

// Height is how many lines the header takes.
func (m *Model) Height() int { return 3 }

// SetWidth sets the width it draws at.
func (m *Model) SetWidth(w int) { m.width = w }

// View draws the header for a frame (nil: nothing read yet).
func (m *Model) View(f *common.Frame, pb Playback, src common.SourceInfo) string {
	st := m.c.Styles
	lines := []string{m.identity(f, pb, src), "", ""}
	if f == nil {
		lines[1] = st.Dim.Render("reading the first sample…")
		return m.fit(lines)
	}
	lines[1] = m.gauge(f)
	lines[2] = m.movement(f)
	return m.fit(lines)
}

func (m *Model) fit(lines []string) string {
	for i := range lines {
		lines[i] = common.Fit(lines[i], m.width)
	}
	return strings.Join(lines, "\n")
}

// identity: host, kernel, namespace, source, pace and time. The longest
// form that fits is used: labels, the source's name and the date go first
// when the terminal is narrow.
func (m *Model) identity(f *common.Frame, pb Playback, src common.SourceInfo) string {
	st := m.c.Styles
	// pos is the position and pace, long and short.
	pos := func(long bool) []string {
		if f != nil && f.Samples > 0 {
			p := fmt.Sprintf("%d/%d", f.Sample+1, f.Samples)
			if long {
				p = "sample " + p
			}
			if f.HasOffset {
				p += " t+" + common.Dur(f.Offset)
			}
			play := "▶ " + speed(pb.Speed)
			switch {
			case pb.AtEnd:
				play = "■ end"
			case pb.Paused && long:
				play = "❚❚ paused"
			case pb.Paused:
				play = "❚❚"
			}
			return []string{p, play}
		}
		if pb.Paused {
			return []string{"❚❚ paused"}
		}
		return []string{"every " + common.Dur(src.Interval)}
	}
	// The time: a sample's own when it is a real instant; the clock only
	// for a live source still reading its first. A recording never shows
	// today's clock as if it were the sample's time: its offset (t+25s) says
	// where it is.
	var date, clock string
	switch {
	case f != nil && src.WallClock && !f.Time.IsZero():
		date, clock = f.Time.UTC().Format("2006-01-02 15:04:05Z"), f.Time.UTC().Format("15:04:05Z")
	case f == nil && src.Live():
		date = m.c.Now().UTC().Format("15:04:05Z")
		clock = date
	}
	type form struct {
		labels       bool
		name, kernel bool
		long         bool
	}
	for _, fm := range []form{{true, true, true, true}, {false, true, true, true}, {false, true, true, false}, {false, false, true, false}, {false, false, false, false}} {
		lab := func(l string) string {
			if fm.labels {
				return st.Label.Render(l + " ")
			}
			return ""
		}
		left := []string{st.Title.Render("ctdiag")}
		if src.Host != "" {
			left = append(left, lab("host")+src.Host)
		}
		if fm.kernel && src.Kernel != "" {
			left = append(left, lab("kernel")+src.Kernel)
		}
		ns := "netns "
		if !fm.long {
			ns = "ns "
		}
		if src.Netns != "" {
			left = append(left, st.Label.Render(ns)+src.Netns)
		}
		source := src.Kind.String()
		if fm.name && src.Name != source { // "netlink" names itself once
			name := src.Name
			if !fm.long {
				name = shorten(name, 20)
			}
			source += " " + name
		}
		right := append([]string{st.Label.Render(source)}, pos(fm.long)...)
		if fm.long && date != "" {
			right = append(right, date)
		} else if clock != "" {
			right = append(right, clock)
		}
		l, r := strings.Join(left, "  "), strings.Join(right, " · ")
		if gap := m.width - ansi.StringWidth(l) - ansi.StringWidth(r); gap >= 2 {
			return l + strings.Repeat(" ", gap) + r
		}
	}
	// Very narrow: where the data comes from matters most.
	return strings.Join(pos(false), " · ")
}

func speed(s float64) string {
	if s == 0 {
		s = 1
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".") + "×"
}

func shorten(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	r := []rune(s)
	return "…" + string(r[len(r)-n+1:])
}

// gauge: count/max with headroom and, when the table is filling, when it
// will be full: analyzer.PressureOf's figures, as ctdiag report gives them.
func (m *Model) gauge(f *common.Frame) string {
	st := m.c.Styles
	p := f.Pressure
	label := st.Label.Render("entries ") + st.Value.Render(common.Int(p.Count))
	if !p.HasMax || p.Max == 0 {
		max := "max unknown (no sysctls read)"
		if p.HasMax {
			max = "nf_conntrack_max 0 (unlimited)"
		}
		return label + "  " + st.Dim.Render(max)
	}
	u := p.Utilisation
	warn := m.c.Config.Param(rules.TableFull, "warn_utilisation")
	crit := m.c.Config.Param(rules.TableFull, "critical_utilisation")
	pst := st.Pressure(u, warn, crit)
	label += st.Label.Render("/") + common.Int(p.Max)
	if p.MaxElsewhere != "" {
		label += st.Dim.Render("*")
	}
	pct := common.FitLeft(human.Percent(u), 5)
	full := ""
	if p.HasFullIn {
		full = "  " + pst.Render(common.FullIn(p.FullInSeconds))
	}
	for _, head := range []string{
		fmt.Sprintf("headroom %s = max − %s ASSURED", common.Int(p.Headroom), common.Int(p.Assured)),
		"headroom " + common.Int(p.Headroom),
	} {
		barW := min(40, m.width-ansi.StringWidth(label)-ansi.StringWidth(head)-ansi.StringWidth(full)-12)
		if barW >= 6 {
			return label + " " + pst.Render("["+common.Bar(u, barW)+"]") + " " + pst.Render(pct) + "  " + st.Label.Render(head) + full
		}
	}
	return label + " " + pst.Render(pct) + "  " + st.Label.Render("headroom "+common.Int(p.Headroom)) + full
}

// movement: entries created/destroyed and the statistics counters per
// second (or per sample when untimed, or totals with one reading).
func (m *Model) movement(f *common.Frame) string {
	st := m.c.Styles
	r := f.Rates
	per := "per s: "
	if r.Seconds == 0 {
		per = "per sample: "
	}
	var parts []string
	if r.HasNew {
		how := ""
		switch {
		case !r.FromEvents:
			how = "~" // from comparing tuples: entries that came and went are missed
		case r.EventsLost:
			how = "≥" // events were lost in between
		}
		parts = append(parts, st.Label.Render(per+"new ")+how+common.Num(r.New)+st.Label.Render(" destroy ")+how+common.Num(r.Destroyed))
	} else {
		parts = append(parts, st.Dim.Render("new/destroy: needs two samples"))
	}
	counters := []track.Counter{track.CounterDrop, track.CounterEarlyDrop, track.CounterInvalid, track.CounterInsertFailed}
	known, deltas := false, true
	for _, c := range counters {
		cr := r.Counters[c]
		known = known || cr.Known
		deltas = deltas && (!cr.Known || cr.HasDelta)
	}
	switch {
	case !known:
		parts = append(parts, st.Dim.Render("no statistics read"))
	default:
		var cs []string
		for _, c := range counters {
			cr := r.Counters[c]
			if !cr.Known {
				continue
			}
			v, val := common.Int(cr.Total), st.Value
			if deltas {
				v = common.Num(cr.PerSec)
				if cr.Delta > 0 && c != track.CounterInvalid {
					val = st.Crit
				}
			}
			cs = append(cs, st.Label.Render(c.String()+" ")+val.Render(v))
		}
		s := strings.Join(cs, " ")
		if !deltas {
			s += st.Dim.Render(" (totals)")
		} else if !r.HasNew {
			s = st.Label.Render(per) + s
		}
		parts = append(parts, s)
	}
	if f.Source.Events {
		lost := st.Label.Render("events lost: none")
		if f.Source.LostEvents > 0 {
			lost = st.Crit.Render("events lost " + common.Int(f.Source.LostEvents) + "×")
		}
		parts = append(parts, lost)
	}
	return strings.Join(parts, st.Dim.Render(" │ "))
}
