package analyzer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// insertFailed: insertions that fail on clashes, not on a full table
// (rules/insert_failed.go).
func (a *Analyzer) insertFailed(t timeline, sum *Summary) *Finding {
	l := t.last()
	ins, insRate, insOK := t.counterDelta(track.CounterInsertFailed)
	clash, clashRate, clashOK := t.counterDelta(track.CounterClashResolve)
	if !clashOK {
		clash, _ = t.counterTotal(track.CounterClashResolve)
	}
	chain, _, _ := t.counterDelta(track.CounterChainTooLong)
	minClash := a.param(rules.InsertFailed, "min_clash_rate")
	sev := rules.SeverityNone
	switch {
	case insOK && float64(ins) >= a.param(rules.InsertFailed, "min_insert_failed"):
		sev = rules.SeverityWarning
	case clashOK && (t.timed && clashRate >= minClash || !t.timed && float64(clash) >= 60*minClash):
		sev = rules.SeverityInfo
	}
	sinceStart := false
	if sev == rules.SeverityNone && !insOK {
		// One reading: what the counters hold since they started (boot, or
		// the namespace's creation). Failed insertions are dropped packets,
		// whenever they were; resolved clashes cost nothing by themselves.
		if total, _ := t.counterTotal(track.CounterInsertFailed); total > 0 {
			sev, ins, sinceStart = rules.SeverityWarning, total, true
		} else if total, _ := t.counterTotal(track.CounterClashResolve); total > 0 {
			sev, clash, sinceStart = rules.SeverityInfo, total, true
		}
	}
	if sev == rules.SeverityNone {
		return nil
	}
	var parts []string
	if sinceStart {
		parts = append(parts, fmt.Sprintf("insert_failed %d and clash_resolve %d since the counters started (one reading of the statistics)", ins, clash))
	} else {
		parts = append(parts, fmt.Sprintf("insert_failed +%d", ins))
		if clashOK {
			parts = append(parts, fmt.Sprintf("clash_resolve +%d", clash))
		}
		if chain > 0 {
			parts = append(parts, fmt.Sprintf("chaintoolong +%d", chain))
		}
	}
	summary := strings.Join(parts, ", ")
	if t.timed && insOK {
		summary += fmt.Sprintf(" (%s insert failures)", human.Rate(insRate))
	}
	if p := sum.Pressure; p.HasMax && p.Max > 0 {
		summary += fmt.Sprintf("; the table is %s full, so this is not a full table", human.Percent(p.Utilisation))
	}
	if l.dns > 0 {
		summary += fmt.Sprintf("; %d UDP/53 entries: the DNS A/AAAA race is the usual cause", l.dns)
	} else if l.snat > 0 {
		summary += fmt.Sprintf("; %d source-NATed entries: SNAT port collisions are likely", l.snat)
	}
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{
				{"insert_failed", strconv.FormatUint(ins, 10)},
				{"clash_resolve", strconv.FormatUint(clash, 10)},
				{"chaintoolong", strconv.FormatUint(chain, 10)},
			},
			Series: t.seriesOf("insert_failed (cumulative)", func(s *sample) float64 {
				return float64(s.meta.Stats.Total(track.CounterInsertFailed))
			}),
		},
	}
	if l.meta.HasTable {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"UDP/53 entries", strconv.Itoa(l.dns)}, Figure{"source-NATed entries", strconv.Itoa(l.snat)})
	}
	data := map[string]any{"InsertFailed": ins, "ClashResolve": clash, "Proto": "udp", "Port": "53", "TableNote": ""}
	if l.meta.HasTable {
		data["TableNote"] = fmt.Sprintf("; %d UDP/53 and %d source-NATed entries in the table", l.dns, l.snat)
	}
	ids := []string{"show"}
	if l.dns > 0 {
		ids = append(ids, "dns")
	}
	if l.snat > 0 {
		ids = append(ids, "snat")
	}
	f.Remedies = a.remedies(rules.InsertFailed, data, ids...)
	return f
}
