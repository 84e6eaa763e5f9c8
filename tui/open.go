package tui

import (
	"context"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/rules"
)

// Open says where a recording opens.
type Open int

// Where a recording opens.
const (
	// OpenWorst opens paused on the most telling sample: the one whose
	// analysis has the most severe finding, then the fullest table, then
	// the largest (the later of equals). Every sample is analysed first, as
	// ctdiag report analyses them.
	OpenWorst Open = iota
	// OpenFirst opens on the first sample and plays (unless Paused).
	OpenFirst
	// OpenLast opens paused on the last sample: what ctdiag report judges.
	OpenLast
)

// ParseOpen reads "worst", "first" or "last".
func ParseOpen(s string) (Open, error) {
	switch s {
	case "worst":
		return OpenWorst, nil
	case "first":
		return OpenFirst, nil
	case "last":
		return OpenLast, nil
	}
	return 0, fmt.Errorf("%q: want worst, first or last", s)
}

// telling is how much a sample shows of what is wrong: its worst finding,
// how full the table is and how large.
type telling struct {
	sample      int
	severity    rules.Severity
	rule        string
	utilisation float64
	size        uint64
	limited     bool // utilisation is known
}

// beats reports whether t tells more than u; the later sample wins ties.
func (t telling) beats(u telling) bool {
	switch {
	case t.severity != u.severity:
		return t.severity > u.severity
	case t.utilisation != u.utilisation:
		return t.utilisation > u.utilisation
	case t.size != u.size:
		return t.size > u.size
	}
	return t.sample > u.sample
}

// says is the status line's account of where the recording opened.
func (t telling) says(samples int) string {
	where := fmt.Sprintf("sample, %d of %d", t.sample+1, samples)
	switch {
	case t.severity > rules.SeverityNone:
		return fmt.Sprintf("at the worst %s: %s %s", where, strings.ToUpper(t.severity.String()), t.rule)
	case t.size == 0:
		return "at the last " + where + " (every one empty, no findings)"
	case t.limited:
		return "at the fullest " + where + " (no findings in any)"
	}
	return "at the largest " + where + " (no findings in any)"
}

// scanMsg is one sample of the scan for the most telling.
type scanMsg struct {
	t   telling
	err error
}

// scan analyses the recording's next sample for the most telling.
func (m *Model) scan() tea.Cmd {
	p, ctx := m.pipe, m.ctx
	return func() tea.Msg {
		t, err := p.scan(ctx)
		return scanMsg{t: t, err: err}
	}
}

// onScan keeps the most telling sample so far and scans the next; after the
// last it opens the most telling (or the sample asked for meanwhile).
func (m *Model) onScan(msg scanMsg) tea.Cmd {
	if msg.err != nil {
		if m.ctx.Err() != nil {
			return nil
		}
		m.status.set("source: "+msg.err.Error()+" (opening the first sample)", true)
		m.play.scanning = false
		return m.openAt(0, "")
	}
	if m.best == nil || msg.t.beats(*m.best) {
		t := msg.t
		m.best = &t
	}
	n := m.play.rec.Len()
	if msg.t.sample < n-1 {
		m.status.progress(fmt.Sprintf("analysing every sample to open the most telling: %d of %d…", msg.t.sample+1, n))
		return m.scan()
	}
	m.play.scanning = false
	return m.openAt(m.best.sample, m.best.says(n))
}

// openAt ends the scan on sample i, unless a sample was asked for
// meanwhile (g, G, . or ,): then that one.
func (m *Model) openAt(i int, says string) tea.Cmd {
	if next, queued := m.play.done(); queued {
		i, says = next, ""
	}
	switch {
	case says != "":
		m.status.note(says)
	case !m.status.err:
		m.status.set("", false)
	}
	return m.refresh(i)
}

// pipeline side of the scan.
func (p *pipeline) scan(ctx context.Context) (telling, error) {
	idx := p.next
	if err := p.analyse(ctx, idx); err != nil {
		return telling{}, err
	}
	t := telling{sample: idx}
	if res := p.results[idx]; res != nil {
		for _, f := range res.Findings {
			if f.Severity > t.severity {
				t.severity, t.rule = f.Severity, f.Rule
			}
		}
	}
	pr := p.pressure(idx)
	t.utilisation, t.size, t.limited = pr.Utilisation, pr.Count, pr.HasMax && pr.Max > 0
	return t, nil
}
