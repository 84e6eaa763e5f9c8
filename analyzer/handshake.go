package analyzer

import (
	"fmt"
	"strconv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// handshakeRule describes one of the two rules about handshakes that stop
// half-way (syn-sent-growth, half-assured): which group of entries, which
// state's timeout, what the entries are waiting for.
type handshakeRule struct {
	id      string
	group   func(*sample) *group
	all     func(*sample) int
	state   track.TCPState
	waiting string // "waiting for a SYN-ACK"
	sysctl  string // the timeout a remedy shortens
}

// stuckHandshakes judges entries older than a round trip: many at one
// destination service, a real share of the table spread over many, or
// rising at every sample.
func (a *Analyzer) stuckHandshakes(t timeline, h handshakeRule) *Finding {
	l := t.last()
	g := h.group(l)
	n := g.count
	count := func(s *sample) float64 { return float64(h.group(s).count) }
	r := t.rise(count)
	p := a.placeOf(g)
	minEntries := a.param(h.id, "min_entries")
	atOneService := float64(n) >= minEntries && (!p.known || p.share*float64(n) >= minEntries)
	spread := float64(n) >= minEntries && l.share(n) >= a.param(h.id, "min_share")
	rising := r.sustained(a.param(h.id, "min_rise"))
	if !atOneService && !spread && !rising {
		return nil
	}
	sev := rules.SeverityWarning
	if float64(n) >= a.param(h.id, "critical_entries") {
		sev = rules.SeverityCritical
	}
	summary := fmt.Sprintf("%s %s for more than %s (oldest %s)", human.Plural(n, "TCP connection", "TCP connections"), h.waiting,
		human.Seconds(a.param(h.id, "min_age")), human.Seconds(g.oldest))
	if ph := p.phrase(); ph != "" {
		summary += ", " + ph
	}
	if rising {
		summary += fmt.Sprintf("; rising at every sample, %.0f → %.0f over the last %d", r.from, r.to, r.steps+1)
	}
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{
				{"stuck entries", strconv.Itoa(n)},
				{"all " + h.state.String() + " entries", strconv.Itoa(h.all(l))},
				{"oldest", human.Seconds(g.oldest)},
				{"mean age", human.Seconds(g.meanAge())},
				{"share of the table", human.Percent(l.share(n))},
			},
			Series:  t.seriesOf("stuck entries", count),
			Top:     a.groupTop(g),
			Entries: entryLines(g.examples),
		},
	}
	if t.timed && r.steps > 0 {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"recent growth", human.Rate(r.perSec)})
	}
	data := map[string]any{"Count": n, "Timeout": int(l.timeouts.TCP(h.state).Seconds())}
	p.placeData(data)
	ids := []string{"show"}
	if p.named {
		ids = append(ids, "confirm")
		if h.state == track.TCPSynSent {
			ids = append(ids, "path")
		} else {
			ids = append(ids, "route", "flood")
		}
	}
	if w, ok := l.whatIf.result(h.sysctl); ok {
		data["SuggestedTimeout"] = int(w.value.Seconds())
		data["WhatIf"] = w.sentence(a.whatIfSource(l, h.sysctl))
		ids = append(ids, "timeout")
	}
	f.Remedies = a.remedies(h.id, data, ids...)
	return f
}

// whatIfSource is the SOURCE a remedy may pass to ctdiag whatif to see
// the same figure: the report's own inputs, when the timeout in force is
// the kernel's default (ctdiag whatif then assumes the same).
func (a *Analyzer) whatIfSource(l *sample, sysctl string) string {
	if a.opts.Sources == "" {
		return ""
	}
	def := track.NewTimeouts(nil)
	if l.timeouts.Get(sysctl) != def.Get(sysctl) {
		return ""
	}
	return a.opts.Sources
}
