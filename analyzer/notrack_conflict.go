package analyzer

import (
	"fmt"
	"strings"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// notrackConflict: a NOTRACK rule takes traffic that NAT or a state rule
// needs (rules/notrack_conflict.go).
func (a *Analyzer) notrackConflict(t timeline, _ *Summary) *Finding {
	rs, _ := t.ruleset()
	if rs == nil {
		return nil
	}
	cs := rs.NotrackConflicts()
	if len(cs) == 0 {
		return nil
	}
	c := cs[0]
	need := "a state rule"
	if k := c.Needs.Rule.Action.Kind; k.IsNAT() {
		need = "the " + k.String() + " rule"
	}
	what := selection(&c.Notrack.Rule)
	summary := fmt.Sprintf("%s takes %s out of conntrack, which %s %s needs", ruleName(c.Notrack), what, need, ruleName(c.Needs))
	if c.Needs.Rule.Action.Kind.IsNAT() {
		summary += ": untracked packets are never translated"
	} else {
		summary += fmt.Sprintf(": untracked packets never match ct state %s", c.Needs.Rule.Match.CtState)
	}
	if c.Notrack.Rule.HasCounter {
		summary += fmt.Sprintf(" (the NOTRACK rule counted %d packets)", c.Notrack.Rule.Counter.Packets)
	}
	if len(cs) > 1 {
		summary += fmt.Sprintf("; %d more such pairs", len(cs)-1)
	}
	f := &Finding{Severity: rules.SeverityWarning, Summary: summary}
	seen := map[string]bool{}
	for _, x := range cs {
		for _, p := range []RuleRef{pointAt("NOTRACK", x.Notrack), pointAt("needs those packets tracked", x.Needs)} {
			if k := p.Role + p.Key(); !seen[k] {
				seen[k] = true
				f.Evidence.Rules = append(f.Evidence.Rules, p)
			}
		}
	}
	for _, x := range []track.RuleRef{c.Notrack, c.Needs} {
		if x.Rule.HasCounter {
			f.Evidence.Figures = append(f.Evidence.Figures, Figure{fmt.Sprintf("%s #%d packets", x.Chain, x.Rule.Position), fmt.Sprint(x.Rule.Counter.Packets)})
		}
	}
	data := map[string]any{"Notrack": ruleName(c.Notrack), "Needs": ruleName(c.Needs), "What": what}
	id := replaceRuleID(rs, "delete", c.Notrack, c.Notrack.Rule, data)
	f.Remedies = a.remedies(rules.NotrackConflict, data, id)
	return f
}

// selection says in words what a rule selects: "udp dport 53".
func selection(r *track.Rule) string {
	x := *r
	x.Action, x.Verdict, x.Target, x.HasCounter, x.Comment = track.RuleAction{}, track.VerdictNone, "", false, ""
	s := ruleset.NftText(&x)
	if strings.TrimSpace(s) == "" {
		return "every packet"
	}
	return s
}
