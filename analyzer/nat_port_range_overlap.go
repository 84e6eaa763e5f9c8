package analyzer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// overlapHit is one source NAT rule whose range overlaps ports the host
// uses, with what it overlaps.
type overlapHit struct {
	rule    track.RuleRef
	sev     rules.Severity
	what    []string          // "ip_local_port_range 32768-60999", …
	avoid   []track.PortRange // the ranges overlapped
	served  []uint16          // served ports in the range
	local   bool              // it overlaps ip_local_port_range
	overlap []track.PortRange
}

// natPortRangeOverlap: a SNAT range overlapping the host's own ports
// (rules/nat_port_range_overlap.go).
func (a *Analyzer) natPortRangeOverlap(t timeline, _ *Summary) *Finding {
	rs, _ := t.ruleset()
	if rs == nil {
		return nil
	}
	local, hasLocal := a.localPortRange(t)
	kube := rs.IsKubernetes()
	np := a.nodePorts()
	served := servedPorts(rs)
	var hits []overlapHit
	for _, r := range rs.SourceNATPortRanges(0, 0) {
		ports := r.Rule.Action.Ports
		h := overlapHit{rule: r}
		if kube {
			if o, ok := ports.Overlap(np); ok {
				h.sev = rules.SeverityWarning
				h.what = append(h.what, fmt.Sprintf("the Kubernetes NodePort range %s (ports %s)", np, o))
				h.avoid, h.overlap = append(h.avoid, np), append(h.overlap, o)
			}
		}
		for _, p := range served {
			if ports.Contains(p) {
				h.served = append(h.served, p)
			}
		}
		if len(h.served) > 0 {
			h.sev = rules.SeverityWarning
			var ps []string
			for _, p := range h.served {
				ps = append(ps, fmt.Sprint(p))
				h.avoid = append(h.avoid, track.PortRange{Min: p, Max: p})
			}
			h.what = append(h.what, "ports the host serves ("+strings.Join(ps, ", ")+")")
		}
		if hasLocal {
			if o, ok := ports.Overlap(local); ok {
				h.sev = max(h.sev, rules.SeverityInfo)
				h.local = true
				h.what = append(h.what, fmt.Sprintf("ip_local_port_range %s (ports %s)", local, o))
				h.avoid, h.overlap = append(h.avoid, local), append(h.overlap, o)
			}
		}
		if h.sev != rules.SeverityNone {
			hits = append(hits, h)
		}
	}
	if len(hits) == 0 {
		return nil
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].sev > hits[j].sev })
	top := hits[0]
	ports := top.rule.Rule.Action.Ports
	summary := fmt.Sprintf("%s %s of %s overlaps %s", top.rule.Rule.Action.Kind, ports, ruleName(top.rule), strings.Join(top.what, " and "))
	if len(hits) > 1 {
		summary += fmt.Sprintf(" (and %d more rules)", len(hits)-1)
	}
	f := &Finding{Severity: top.sev, Summary: summary}
	for _, h := range hits {
		f.Evidence.Rules = append(f.Evidence.Rules, pointAt("maps to an overlapping port range", h.rule))
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{fmt.Sprintf("%s %s", h.rule.Chain, h.rule.Rule.Action.Ports), strings.Join(h.what, "; ")})
	}
	if hasLocal {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"ip_local_port_range", local.String()})
	} else {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"ip_local_port_range", "not read (sysctl net.ipv4.ip_local_port_range)"})
	}
	if kube {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"Kubernetes node", "kube-proxy's chains are in the ruleset"})
	}
	data := map[string]any{"Ports": ports.String(), "PortCount": ports.Size(), "Overlaps": strings.Join(top.what, " and ")}
	var ids []string
	avoid := top.avoid
	if hasLocal && !top.local {
		avoid = append(avoid, local)
	}
	if kube {
		avoid = append(avoid, np)
	}
	if moved, ok := freeRange(ports.Min, ports.Size(), avoid); ok {
		changed := top.rule.Rule
		changed.Action.Ports = moved
		data["NewPorts"] = moved.String()
		ids = append(ids, replaceRuleID(rs, "move", top.rule, changed, data))
	}
	if top.local {
		ids = append(ids, "reserve")
	}
	f.Remedies = a.remedies(rules.NATPortRangeOverlap, data, ids...)
	return f
}

// servedPorts are the ports the ruleset shows the host serving: REDIRECT
// targets (a local port), and destination ports the input chains accept
// (a single port or a short list, not a broad range).
func servedPorts(rs *track.Ruleset) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	add := func(p uint16) {
		if p != 0 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, r := range rs.Select(func(x *track.Rule) bool { return x.Action.Kind == track.ActionRedirect }) {
		if ports := r.Rule.Action.Ports; !ports.IsZero() && ports.Size() <= 16 {
			for p := int(ports.Min); p <= int(ports.Max); p++ {
				add(uint16(p))
			}
		}
	}
	for _, r := range rs.Select(func(x *track.Rule) bool {
		return x.Verdict == track.VerdictAccept && !x.Match.DPortNeg && len(x.Match.DPorts) > 0
	}) {
		if r.Hook != track.HookInput {
			continue
		}
		for _, pr := range r.Rule.Match.DPorts {
			if pr.Size() <= 16 {
				for p := int(pr.Min); p <= int(pr.Max); p++ {
					add(uint16(p))
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
