package analyzer

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// stuckEstablished: established connections that pile up silent, or sit
// idle for hours (rules/stuck_established.go).
func (a *Analyzer) stuckEstablished(t timeline, sum *Summary) *Finding {
	l := t.last()
	leak, lk := a.silentLeak(t)
	idle := float64(l.idle.count)
	longIdle := idle >= a.param(rules.StuckEstablished, "min_entries")
	if !leak && !longIdle {
		return nil
	}
	max, hasMax := t.maxOf()
	sev := rules.SeverityInfo
	if leak || l.share(l.idle.count) >= a.param(rules.StuckEstablished, "warn_share") && longIdle {
		sev = rules.SeverityWarning
	}
	if hasMax && max > 0 && longIdle && idle >= a.param(rules.StuckEstablished, "critical_share")*float64(max) {
		sev = rules.SeverityCritical
	}
	if leak && lk.fullIn >= 0 && lk.fullIn <= a.param(rules.StuckEstablished, "critical_time_to_full") {
		sev = rules.SeverityCritical
	}

	var parts []string
	g := &l.idle
	if leak {
		g = &l.silent
		p := a.placeOf(g)
		s := fmt.Sprintf("%d ESTABLISHED entries saw no packet since the previous sample", l.silent.count)
		if ph := p.phrase(); ph != "" {
			s += " (" + ph + ")"
		}
		s += fmt.Sprintf("; established entries rose %.0f → %.0f over the last %d samples and %s of those followed closed: connections opened and left silent",
			lk.rise.from, lk.rise.to, lk.rise.steps+1, human.Percent(lk.closeShare))
		if lk.fullIn >= 0 {
			s += fmt.Sprintf("; being ASSURED they cannot be evicted, and at %s they reach nf_conntrack_max in %s", human.Rate(lk.rise.perSec), human.Seconds(lk.fullIn))
		}
		parts = append(parts, s)
	}
	minIdle := a.param(rules.StuckEstablished, "min_idle")
	if longIdle {
		s := fmt.Sprintf("%d ESTABLISHED entries idle for more than %s (oldest %s), %s of the table", l.idle.count, human.Seconds(minIdle),
			human.Seconds(l.idle.oldest), human.Percent(l.share(l.idle.count)))
		if !leak {
			if ph := a.placeOf(g).phrase(); ph != "" {
				s += ", " + ph
			}
		}
		if !a.sysctlsKnown(t) {
			s += fmt.Sprintf(" (idle ages assume the default %s established timeout: no sysctls were read)", human.Seconds(l.timeouts.TCP(track.TCPEstablished).Seconds()))
		}
		if c := l.idleChange; c[1] > 0 {
			s += fmt.Sprintf("; %d of %d with counters saw no packet between samples", c[0], c[1])
		}
		parts = append(parts, s)
	}
	p := a.placeOf(g)
	f := &Finding{
		Severity: sev,
		Summary:  strings.Join(parts, "; "),
		Evidence: Evidence{
			Figures: []Figure{
				{"ESTABLISHED [ASSURED] entries", strconv.Itoa(l.estAll)},
				{"silent since the previous sample", fmt.Sprintf("%d of the %d followed", l.silent.count, l.estBoth)},
				{"idle longer than " + human.Seconds(minIdle), strconv.Itoa(l.idle.count)},
				{"oldest idle", human.Seconds(math.Max(l.idle.oldest, l.silent.oldest))},
			},
			Top:     a.groupTop(g),
			Entries: entryLines(g.examples),
		},
	}
	if leak {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"closed since the previous sample", human.Percent(lk.closeShare)})
	}
	f.Evidence.Series = append(t.seriesOf("ESTABLISHED [ASSURED] entries", func(s *sample) float64 { return float64(s.estAll) }),
		t.seriesOf("silent since the previous sample", func(s *sample) float64 { return float64(s.silent.count) })...)
	data := map[string]any{"Count": g.count, "Silent": l.silent.count, "OldestIdle": human.Seconds(math.Max(g.oldest, 0))}
	p.placeData(data)
	if p.named && p.srcShare > 0 {
		var clients []string
		for _, r := range g.src.top(3) {
			clients = append(clients, fmt.Sprintf("%s (%d)", r.key.addr(), r.count))
		}
		data["Clients"] = strings.Join(clients, ", ")
	}
	ids := []string{"show"}
	if leak && p.named {
		ids = append(ids, "leak")
	}
	if w, ok := l.whatIf.result("nf_conntrack_tcp_timeout_established"); ok && longIdle {
		data["SuggestedTimeout"] = int(w.value.Seconds())
		data["WhatIf"] = w.sentence(a.whatIfSource(l, w.sysctl))
		ids = append(ids, "timeout")
	}
	if p.named {
		ids = append(ids, "keepalive")
	}
	f.Remedies = a.remedies(rules.StuckEstablished, data, ids...)
	return f
}

// leakShape is what makes established entries a leak.
type leakShape struct {
	rise       rise    // of ESTABLISHED [ASSURED] entries
	closeShare float64 // of those followed from the previous sample, gone or closing
	fullIn     float64 // seconds until they alone reach the limit; -1 when not forecast
}

// silentLeak: established entries rising at every sample, nearly all of
// those followed silent, and none closing.
func (a *Analyzer) silentLeak(t timeline) (bool, leakShape) {
	lk := leakShape{fullIn: -1}
	if len(t.s) < 3 {
		return false, lk
	}
	l, prev := t.last(), t.s[len(t.s)-2]
	if !l.estFollowed {
		return false, lk
	}
	lk.rise = t.rise(func(s *sample) float64 { return float64(s.estAll) })
	if !lk.rise.sustained(a.param(rules.StuckEstablished, "min_rise")) || l.estBoth == 0 {
		return false, lk
	}
	if prev.estAll > 0 {
		lk.closeShare = float64(prev.estAll-l.estBoth) / float64(prev.estAll)
	}
	silentShare := float64(l.silent.count) / float64(l.estBoth)
	if silentShare < a.param(rules.StuckEstablished, "min_silent_share") || lk.closeShare > a.param(rules.StuckEstablished, "max_close_share") {
		return false, lk
	}
	if max, ok := t.maxOf(); ok && max > 0 && lk.rise.perSec > 0 {
		lk.fullIn = math.Max(0, (float64(max)-l.tableSize())/lk.rise.perSec)
	}
	return true, lk
}
