package analyzer

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// snatHit is one destination whose translated entries take most of the
// ports their source NAT rule allows.
type snatHit struct {
	key      snatKey
	use      snatUse
	rule     track.RuleRef
	ports    track.PortRange // what the rule allows (its own range, or the kernel's default)
	explicit bool            // the rule gives the range
	share    float64
}

// snatPortExhaustion: source NAT out of ports to one destination
// (rules/snat_port_exhaustion.go).
func (a *Analyzer) snatPortExhaustion(t timeline, _ *Summary) *Finding {
	hits := a.snatHits(t)
	if len(hits) == 0 {
		return nil
	}
	l := t.last()
	rs, _ := t.ruleset()
	warn := a.param(rules.SNATPortExhaustion, "warn_share")
	top := hits[0]
	ins, _, insOK := t.counterDelta(track.CounterInsertFailed)
	drop, _, dropOK := t.counterDelta(track.CounterDrop)
	minF := a.param(rules.SNATPortExhaustion, "min_failures")
	failing := insOK && float64(ins) >= minF || dropOK && float64(drop) >= minF
	open := top.use.entries - top.use.closing
	sev := rules.SeverityWarning
	if open >= top.ports.Size() || failing {
		sev = rules.SeverityCritical
	}

	summary := fmt.Sprintf("%d of the %d ports %s allows (%s) are taken by %s connections from %s to %s",
		top.use.entries, top.ports.Size(), top.rule.Rule.Action.Kind.String(), top.ports, top.key.proto,
		top.key.tsrc.addr(), dstText(top.key))
	if top.use.closing > 0 {
		summary += fmt.Sprintf(" (%d of them TIME_WAIT or CLOSE)", top.use.closing)
	}
	if failing {
		summary += fmt.Sprintf("; insert_failed +%d and drop +%d between samples: new connections to it fail", ins, drop)
	} else if open >= top.ports.Size() {
		summary += ": every port is held by an open connection, the next one fails"
	}
	if len(hits) > 1 {
		summary += fmt.Sprintf(" (and %d more destinations above %s)", len(hits)-1, human.Percent(warn))
	}
	f := &Finding{Severity: sev, Summary: summary}
	for _, h := range hits {
		if len(f.Evidence.Top) >= a.opts.Top {
			break
		}
		f.Evidence.Top = append(f.Evidence.Top, Top{Dimension: "destination (from translated address)",
			Key: fmt.Sprintf("%s %s → %s", h.key.proto, h.key.tsrc.addr(), dstText(h.key)), Count: h.use.entries, Share: h.share})
	}
	fig := func(name, value string) { f.Evidence.Figures = append(f.Evidence.Figures, Figure{name, value}) }
	fig("entries to the destination", strconv.Itoa(top.use.entries))
	fig("of them TIME_WAIT or CLOSE", strconv.Itoa(top.use.closing))
	rangeText := top.ports.String()
	if !top.explicit {
		rangeText += " (the rule gives none: the kernel's range for unprivileged ports)"
	}
	fig("ports the rule allows", fmt.Sprintf("%d (%s)", top.ports.Size(), rangeText))
	fig("ports taken", human.Percent(top.share))
	fig("translated ports seen", track.PortRange{Min: top.use.minPort, Max: top.use.maxPort}.String())
	if insOK {
		fig("insert_failed between samples", strconv.FormatUint(ins, 10))
	}
	if dropOK {
		fig("drop between samples", strconv.FormatUint(drop, 10))
	}
	if l.nat.snatOverflow > 0 {
		fig("destinations not counted", fmt.Sprintf("%d entries beyond the %d destinations kept", l.nat.snatOverflow, maxSNATKeys))
	}
	f.Evidence.Rules = []RuleRef{pointAt("translates these connections", top.rule)}
	f.Remedies = a.snatRemedies(t, rs, top)
	return f
}

// snatHits are the destinations whose translated entries take warn_share
// or more of the ports their source NAT rule allows, fullest first (none
// without a ruleset).
func (a *Analyzer) snatHits(t timeline) []snatHit {
	l := t.last()
	rs, _ := t.ruleset()
	if rs == nil || !l.meta.HasTable || l.nat == nil || len(l.nat.snat) == 0 {
		return nil
	}
	warn := a.param(rules.SNATPortExhaustion, "warn_share")
	var hits []snatHit
	// The source NAT rules, once: a gateway's table has thousands of
	// destinations, kube-proxy's ruleset thousands of (DNAT) rules.
	var snatRules []track.RuleRef
	for _, r := range rs.NATRules(track.ActionNone, 0, 0) {
		if r.Rule.Action.Kind.IsSourceNAT() {
			snatRules = append(snatRules, r)
		}
	}
	if len(snatRules) == 0 {
		return nil
	}
	for k, u := range l.nat.snat {
		rule, ports, explicit, ok := snatRuleFor(snatRules, k, u)
		if !ok {
			continue
		}
		h := snatHit{key: k, use: *u, rule: rule, ports: ports, explicit: explicit, share: float64(u.entries) / float64(ports.Size())}
		if h.share >= warn {
			hits = append(hits, h)
		}
	}
	if len(hits) == 0 {
		return nil
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].share != hits[j].share {
			return hits[i].share > hits[j].share
		}
		if hits[i].use.entries != hits[j].use.entries {
			return hits[i].use.entries > hits[j].use.entries
		}
		return snatKeyText(hits[i].key) < snatKeyText(hits[j].key)
	})
	return hits
}

func dstText(k snatKey) string {
	return addrPortText(addrPortKey{k.dst, k.dport}.addrPort())
}

func snatKeyText(k snatKey) string {
	return fmt.Sprintf("%s %s %s", k.proto, k.tsrc.addr(), dstText(k))
}

// snatRuleFor finds the source NAT rule that made a destination's
// entries: a SNAT or MASQUERADE rule for the protocol and destination
// whose port range holds every translated port seen (and whose address
// range holds the translated address), else the first such rule without a
// port range (the kernel's default range then).
func snatRuleFor(snatRules []track.RuleRef, k snatKey, u *snatUse) (track.RuleRef, track.PortRange, bool, bool) {
	fam := track.FamilyIPv4
	if !k.dst.v4 {
		fam = track.FamilyIPv6
	}
	dst, tsrc := k.dst.addr(), k.tsrc.addr()
	var fallback *track.RuleRef
	for _, r := range snatRules {
		act := &r.Rule.Action
		if !r.Family.Covers(fam) || !r.Rule.Match.Selects(k.proto, netip.Addr{}, dst, k.dport) {
			continue
		}
		if act.AddrMin.IsValid() {
			hi := act.AddrMax
			if !hi.IsValid() {
				hi = act.AddrMin
			}
			if tsrc.Less(act.AddrMin) || hi.Less(tsrc) {
				continue
			}
		}
		if act.Ports.IsZero() {
			if fallback == nil {
				r := r
				fallback = &r
			}
			continue
		}
		if act.Ports.Contains(u.minPort) && act.Ports.Contains(u.maxPort) {
			return r, act.Ports, true, true
		}
	}
	if fallback != nil {
		return *fallback, track.DefaultSourceNATPorts, false, true
	}
	return track.RuleRef{}, track.PortRange{}, false, false
}

// snatRemedies: see them, widen the range in the host's syntax (spread with
// fully-random), add addresses.
func (a *Analyzer) snatRemedies(t timeline, rs *track.Ruleset, h snatHit) []Remedy {
	data := map[string]any{
		"Proto": h.key.proto.String(), "Dst": h.key.dst.addr().String(), "DstPort": strconv.Itoa(int(h.key.dport)),
		"SNATAddr": h.key.tsrc.addr().String(), "Entries": h.use.entries, "TimeWait": h.use.closing,
		"Ports": h.ports.String(), "PortCount": h.ports.Size(),
	}
	ids := []string{"show"}
	// Twice what one destination holds, at least 1024 ports: a range that
	// is full says nothing of how many more wanted in, so it doubles too.
	size := max(2*h.use.entries, 1024)
	if h.use.entries >= h.ports.Size() {
		size = max(size, 2*h.ports.Size())
	}
	size = min(size, track.DefaultSourceNATPorts.Size())
	reason := fmt.Sprintf("twice the %d connections to one destination, at least 1024 ports", h.use.entries)
	var avoid []track.PortRange
	if lr, ok := a.localPortRange(t); ok {
		avoid = append(avoid, lr)
		reason += fmt.Sprintf(", clear of ip_local_port_range %s", lr)
	} else {
		avoid = append(avoid, defaultLocalPorts)
		reason += fmt.Sprintf(", clear of the kernel's default ip_local_port_range %s (the host's was not read)", defaultLocalPorts)
	}
	if rs.IsKubernetes() {
		np := a.nodePorts()
		avoid = append(avoid, np)
		reason += fmt.Sprintf(" and of the NodePort range %s", np)
	}
	if h.explicit || size > h.ports.Size() {
		from := h.ports.Min
		if !h.explicit {
			from = 1024
		}
		if wide, ok := freeRange(from, size, avoid); ok && wide.Size() > h.ports.Size() {
			changed := h.rule.Rule
			changed.Action.Ports = wide
			flagNote := ""
			if changed.Action.Flags&track.NATRandomFully == 0 {
				changed.Action.Flags |= track.NATRandomFully
				flagNote = "; fully-random (iptables --random-fully) picks each port at random, so two clients racing for the same port collide less"
			}
			data["NewPorts"], data["NewReason"], data["FlagNote"] = wide.String(), reason, flagNote
			ids = append(ids, replaceRuleID(rs, "widen", h.rule, changed, data))
		}
	}
	ids = append(ids, "addresses")
	return a.remedies(rules.SNATPortExhaustion, data, ids...)
}

// defaultLocalPorts is the kernel's default net.ipv4.ip_local_port_range.
var defaultLocalPorts = track.PortRange{Min: 32768, Max: 60999}

// nodePorts is the NodePort range the catalog is set to.
func (a *Analyzer) nodePorts() track.PortRange {
	lo := a.param(rules.NATPortRangeOverlap, "nodeport_min")
	hi := a.param(rules.NATPortRangeOverlap, "nodeport_max")
	return track.PortRange{Min: uint16(min(lo, 65535)), Max: uint16(min(max(hi, lo), 65535))}
}

// localPortRange is the ip_local_port_range the samples read (the last),
// else one the inputs or the caller gave.
func (a *Analyzer) localPortRange(t timeline) (track.PortRange, bool) {
	for i := len(t.s) - 1; i >= 0; i-- {
		if r, ok := track.LocalPortRange(t.s[i].meta.Sysctls); ok {
			return r, true
		}
	}
	for _, s := range []track.Sysctls{a.opts.Sysctls, a.hint} {
		if r, ok := track.LocalPortRange(s); ok {
			return r, true
		}
	}
	return track.PortRange{}, false
}
