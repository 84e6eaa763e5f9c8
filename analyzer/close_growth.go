package analyzer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// closeHit is one closing kind that piles up.
type closeHit struct {
	kind      closeKind
	now       int
	peak      float64
	peakAt    int
	peakShare float64
	rise      rise
	byShare   bool
	byRise    bool
}

// closeGrowth: CLOSE_WAIT/LAST_ACK, CLOSE or FIN_WAIT entries piling up
// (rules/close_growth.go). TIME_WAIT is churn, not a pile-up.
func (a *Analyzer) closeGrowth(t timeline, _ *Summary) *Finding {
	l := t.last()
	minEntries := a.param(rules.CloseGrowth, "min_entries")
	var hits []closeHit
	for k := closeKind(0); k < numCloseKinds; k++ {
		count := func(s *sample) float64 { return float64(s.closeCount(k)) }
		h := closeHit{kind: k, now: l.closeCount(k), rise: t.rise(count)}
		h.peak, h.peakAt = t.peakOf(count)
		h.peakShare = t.s[h.peakAt].share(int(h.peak))
		h.byShare = h.peak >= minEntries && h.peakShare >= a.param(rules.CloseGrowth, "min_share")
		h.byRise = h.rise.sustained(a.param(rules.CloseGrowth, "min_rise")) && h.rise.to >= minEntries
		if h.byShare || h.byRise {
			hits = append(hits, h)
		}
	}
	if len(hits) == 0 {
		return nil
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].peakShare > hits[j].peakShare })
	sev := rules.SeverityWarning
	if max, ok := t.maxOf(); ok && max > 0 {
		for _, h := range hits {
			if float64(h.now) >= a.param(rules.CloseGrowth, "critical_share")*float64(max) {
				sev = rules.SeverityCritical
			}
		}
	}
	var parts []string
	for _, h := range hits {
		parts = append(parts, a.closePhrase(t, h))
	}
	lead := hits[0]
	g := &l.closing[lead.kind]
	if lead.now == 0 { // a kind that peaked earlier and is gone now: show the largest left
		for _, h := range hits {
			if h.now > 0 {
				g = &l.closing[h.kind]
				break
			}
		}
	}
	p := a.placeOf(g)
	f := &Finding{
		Severity: sev,
		Summary:  strings.Join(parts, "; "),
		Evidence: Evidence{
			Top:     a.groupTop(g),
			Entries: entryLines(g.examples),
		},
	}
	for k := closeKind(0); k < numCloseKinds; k++ {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{k.String() + " entries", strconv.Itoa(l.closeCount(k))})
		f.Evidence.Series = append(f.Evidence.Series, t.seriesOf(k.String(), func(s *sample) float64 { return float64(s.closeCount(k)) })...)
	}
	f.Evidence.Figures = append(f.Evidence.Figures, Figure{"TIME_WAIT entries (ordinary churn)", strconv.Itoa(l.tcpCount(track.TCPTimeWait))})

	state := lead.kind.states()
	if lead.kind == closeWait {
		state = track.TCPCloseWait.String()
		if l.tcpCount(track.TCPLastAck) > l.tcpCount(track.TCPCloseWait) {
			state = track.TCPLastAck.String()
		}
	}
	data := map[string]any{
		"State": state, "States": lead.kind.states(),
		"CloseWait": l.tcpCount(track.TCPCloseWait), "LastAck": l.tcpCount(track.TCPLastAck),
		"PortMatch": "",
	}
	p.placeData(data)
	if p.named && p.port != "" {
		data["PortMatch"] = " and port " + p.port
		data["Proto"], data["Port"] = "tcp", p.port
	}
	ids := []string{"show"}
	for _, h := range hits {
		switch h.kind {
		case closeWait:
			if p.named {
				ids = append(ids, "closewait")
			}
		case closeReset:
			data["Close"] = int(h.peak)
			ids = append(ids, "resets")
		}
	}
	if p.named && p.port != "" {
		rs, _ := t.ruleset()
		port := mustPort(p.port)
		if l.nat == nil || l.nat.portNAT(track.ProtoTCP, port) == 0 {
			if id := notrackRemedyID(rs, "notrack", l.ipv6 == l.entries, track.ProtoTCP, port, data); id != "" {
				ids = append(ids, id)
			}
		}
	}
	f.Remedies = a.remedies(rules.CloseGrowth, data, ids...)
	return f
}

// closePhrase says how one kind piled up.
func (a *Analyzer) closePhrase(t timeline, h closeHit) string {
	var what string
	switch h.kind {
	case closeWait:
		what = "one side closed and the other stopped answering"
	case closeReset:
		what = "connections ending in resets"
	default:
		what = "FINs not acknowledged"
	}
	s := fmt.Sprintf("%s entries", h.kind)
	switch {
	case h.byRise:
		s += fmt.Sprintf(" rose at every sample, %.0f → %.0f over the last %d (%s of the table now)", h.rise.from, h.rise.to, h.rise.steps+1, human.Percent(t.last().share(h.now)))
	case h.peakAt == len(t.s)-1:
		s += fmt.Sprintf(": %d, %s of the table", h.now, human.Percent(h.peakShare))
	default:
		s += fmt.Sprintf(" peaked at %.0f (%s of the table at %s; %d now)", h.peak, human.Percent(h.peakShare), t.at(h.peakAt), h.now)
	}
	return s + ": " + what
}
