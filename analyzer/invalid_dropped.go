package analyzer

import (
	"fmt"
	"strconv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// invalidDrops is what the samples' rulesets say of their INVALID-drop
// rules.
type invalidDrops struct {
	rules    []track.RuleRef // of the latest ruleset
	total    uint64          // their counters in the latest ruleset
	moved    uint64          // summed rises between rulesets read at successive samples
	compared bool            // two rulesets or more had such rules to compare
	seconds  float64         // between the first and the last of them, when timed
}

func (t timeline) invalidDrops() invalidDrops {
	var d invalidDrops
	var prev map[string]uint64
	first, last := -1, -1
	for i, s := range t.s {
		rs := s.meta.Ruleset
		if rs == nil {
			continue
		}
		cur := map[string]uint64{}
		var total uint64
		for _, r := range rs.InvalidDrops() {
			if !r.Rule.HasCounter {
				continue
			}
			cur[r.Key()] = r.Rule.Counter.Packets
			total += r.Rule.Counter.Packets
		}
		d.rules, d.total = rs.InvalidDrops(), total
		if prev != nil && len(cur) > 0 {
			for k, v := range cur {
				if p, ok := prev[k]; ok && v >= p {
					d.moved += v - p
					d.compared = true
				}
			}
		}
		if len(cur) > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
		prev = cur
	}
	if d.compared && t.timed && last > first {
		d.seconds = t.offsets[last] - t.offsets[first]
	}
	return d
}

// invalidDropped: INVALID packets dropped by a rule, or passed on
// untranslated where no rule drops them (rules/invalid_dropped.go).
func (a *Analyzer) invalidDropped(t timeline, _ *Summary) *Finding {
	rs, _ := t.ruleset()
	if rs == nil {
		return nil
	}
	d := t.invalidDrops()
	inv, invRate, invOK := t.counterDelta(track.CounterInvalid)
	if len(d.rules) > 0 {
		return a.invalidDroppedByRule(t, d, inv, invOK)
	}
	// No rule drops them: with NAT they go on untranslated.
	nat := rs.NATRules(track.ActionNone, 0, 0)
	liberal, known := t.sysctls().Int("nf_conntrack_tcp_be_liberal")
	if !known {
		liberal, known = a.hint.Int("nf_conntrack_tcp_be_liberal")
	}
	if len(nat) == 0 || liberal != 0 || !invOK || float64(inv) < a.param(rules.InvalidDropped, "min_invalid") {
		return nil
	}
	summary := fmt.Sprintf("invalid +%d between samples", inv)
	if t.timed {
		summary += fmt.Sprintf(" (%s)", human.Rate(invRate))
	}
	summary += fmt.Sprintf(", no rule drops INVALID packets and %d NAT rules translate addresses: those packets go on untranslated and the host that gets them answers with resets", len(nat))
	f := &Finding{Severity: rules.SeverityWarning, Summary: summary}
	fig := func(name, value string) { f.Evidence.Figures = append(f.Evidence.Figures, Figure{name, value}) }
	fig("invalid between samples", strconv.FormatUint(inv, 10))
	be := "0"
	if !known {
		be = "0 (the kernel's default; the sysctls were not read)"
	}
	fig("nf_conntrack_tcp_be_liberal", be)
	fig("NAT rules", strconv.Itoa(len(nat)))
	f.Evidence.Series = t.seriesOf("invalid (cumulative)", func(s *sample) float64 { return float64(s.meta.Stats.Total(track.CounterInvalid)) })
	for i, r := range nat {
		if i == 3 {
			break
		}
		f.Evidence.Rules = append(f.Evidence.Rules, pointAt("translates addresses (INVALID packets skip it)", r))
	}
	data := map[string]any{"Invalid": inv, "LogProto": "6"}
	f.Remedies = a.remedies(rules.InvalidDropped, data, "log", filterChainsID(rs, "drop", track.RuleFamilyIP, data))
	return f
}

// invalidDroppedByRule: the INVALID-drop rules' counters.
func (a *Analyzer) invalidDroppedByRule(t timeline, d invalidDrops, inv uint64, invOK bool) *Finding {
	minDropped := a.param(rules.InvalidDropped, "min_dropped")
	var sev rules.Severity
	var summary string
	rate := 0.0
	switch {
	case d.compared:
		if float64(d.moved) < minDropped {
			return nil
		}
		sev = rules.SeverityInfo
		summary = fmt.Sprintf("%d packets dropped as INVALID between samples", d.moved)
		if d.seconds > 0 {
			rate = float64(d.moved) / d.seconds
			summary += fmt.Sprintf(" (%s)", human.Rate(rate))
			if rate >= a.param(rules.InvalidDropped, "warn_rate") {
				sev = rules.SeverityWarning
			}
		}
	default:
		if float64(d.total) < minDropped {
			return nil
		}
		sev = rules.SeverityInfo
		summary = fmt.Sprintf("%d packets dropped as INVALID since the rules were loaded (one reading of their counters)", d.total)
	}
	summary += " by " + ruleName(d.rules[0])
	if len(d.rules) > 1 {
		summary += fmt.Sprintf(" and %d more INVALID-drop rules", len(d.rules)-1)
	}
	if invOK {
		summary += fmt.Sprintf("; the kernel counted invalid +%d", inv)
	}
	f := &Finding{Severity: sev, Summary: summary}
	fig := func(name, value string) { f.Evidence.Figures = append(f.Evidence.Figures, Figure{name, value}) }
	if d.compared {
		fig("dropped between samples", strconv.FormatUint(d.moved, 10))
	}
	fig("dropped since the rules were loaded", strconv.FormatUint(d.total, 10))
	if invOK {
		fig("invalid between samples (kernel statistic)", strconv.FormatUint(inv, 10))
	}
	if rate > 0 {
		fig("drop rate", human.Rate(rate))
	}
	f.Evidence.Series = t.seriesOf("dropped as INVALID (rule counters)", func(s *sample) float64 {
		if s.meta.Ruleset == nil {
			return 0
		}
		var n uint64
		for _, r := range s.meta.Ruleset.InvalidDrops() {
			n += r.Rule.Counter.Packets
		}
		return float64(n)
	})
	for _, r := range d.rules {
		f.Evidence.Rules = append(f.Evidence.Rules, pointAt("drops INVALID packets", r))
	}
	f.Remedies = a.remedies(rules.InvalidDropped, map[string]any{"LogProto": "6"}, "log")
	return f
}
