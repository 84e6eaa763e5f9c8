package analyzer

import (
	"fmt"
	"strconv"

	"github.com/ctdiag/ctdiag/rules"
)

// conntrackUnneeded: entries tracked that no rule needs
// (rules/conntrack_unneeded.go).
func (a *Analyzer) conntrackUnneeded(t timeline, _ *Summary) *Finding {
	l := t.last()
	rs, _ := t.ruleset()
	if rs == nil || rs.Incomplete || !l.meta.HasTable || rs.NeedsConntrack().Any() {
		return nil
	}
	entries := l.entries
	if float64(entries) < a.param(rules.ConntrackUnneeded, "min_entries") {
		return nil
	}
	n := rs.RuleCount()
	summary := fmt.Sprintf("%d entries are tracked, yet none of the %d rules of the ruleset matches conntrack state, translates addresses or sets a helper or zone", entries, n)
	stateNote := ""
	if nat := l.snat + l.dnat; nat > 0 {
		stateNote = fmt.Sprintf("; %d of them are translated although no rule translates now: left from rules removed since, they expire by themselves", nat)
		summary += fmt.Sprintf("; %d of them are translated: left from rules removed since", nat)
	}
	f := &Finding{Severity: rules.SeverityInfo, Summary: summary}
	f.Evidence.Figures = []Figure{
		{"entries", strconv.Itoa(entries)},
		{"rules read", strconv.Itoa(n)},
		{"rules that need conntrack", "0"},
		{"translated entries", strconv.Itoa(l.snat + l.dnat)},
	}
	data := map[string]any{"Entries": entries, "Rules": n, "StateNote": stateNote}
	f.Remedies = a.remedies(rules.ConntrackUnneeded, data, "who", "stop")
	return f
}
