package analyzer

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// staleUDP: UDP clients stuck on an untranslated service address
// (rules/stale_udp.go).
func (a *Analyzer) staleUDP(t timeline, _ *Summary) *Finding {
	l := t.last()
	type hit struct {
		key             netip.AddrPort
		svc             *service
		refreshed, seen int
	}
	var hits []hit
	total, refreshedTotal := 0, 0
	unreplied, _ := l.timeouts.UDP()
	for k, svc := range l.services {
		if svc.translated == 0 || svc.untranslated == 0 {
			continue
		}
		h := hit{key: k.addrPort(), svc: svc}
		for _, hash := range svc.stale {
			rec, ok := a.staleSeen[hash]
			if ok && rec.first < len(t.s)-1 && t.timed && !rec.since.IsZero() &&
				l.meta.Time.Sub(rec.since).Seconds() > unreplied.Seconds() {
				h.refreshed++ // outlived its timeout: something keeps refreshing it
			}
			h.seen++
		}
		total += svc.untranslated
		refreshedTotal += h.refreshed
		hits = append(hits, h)
	}
	moved := a.movedBackends(t)
	for _, m := range moved {
		total += m.use.entries
	}
	if float64(total) < a.param(rules.StaleUDP, "min_entries") || len(hits)+len(moved) == 0 {
		return nil
	}
	if len(hits) == 0 {
		return a.staleBackends(moved)
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].svc.untranslated != hits[j].svc.untranslated {
			return hits[i].svc.untranslated > hits[j].svc.untranslated
		}
		return hits[i].key.String() < hits[j].key.String()
	})
	top := hits[0]
	summary := fmt.Sprintf("%d UDP entries to %s were never translated while %d others to it are", top.svc.untranslated, top.key, top.svc.translated)
	if len(hits) > 1 {
		summary += fmt.Sprintf(" (and %d more services)", len(hits)-1)
	}
	if refreshedTotal > 0 {
		summary += fmt.Sprintf("; %d of them outlived the %s UDP timeout: their clients keep them alive", refreshedTotal, human.Seconds(unreplied.Seconds()))
	}
	if len(moved) > 0 {
		summary += "; " + movedPhrase(moved)
	}
	f := &Finding{Severity: rules.SeverityWarning, Summary: summary}
	for _, h := range hits {
		if len(f.Evidence.Top) >= a.opts.Top {
			break
		}
		f.Evidence.Top = append(f.Evidence.Top, Top{Dimension: "service (untranslated)", Key: h.key.String(), Count: h.svc.untranslated,
			Share: float64(h.svc.untranslated) / float64(h.svc.untranslated+h.svc.translated)})
	}
	var ex []example
	for _, fl := range top.svc.examples {
		ex = append(ex, example{flow: fl})
	}
	f.Evidence.Entries = entryLines(ex)
	f.Evidence.Figures = []Figure{
		{"untranslated entries", strconv.Itoa(total - movedEntries(moved))},
		{"outlived the UDP timeout", strconv.Itoa(refreshedTotal)},
	}
	data := map[string]any{"Dst": top.key.Addr().String(), "DstPort": strconv.Itoa(int(top.key.Port()))}
	if len(moved) == 0 {
		f.Remedies = a.remedies(rules.StaleUDP, data, "show", "delete", "prevent")
		return f
	}
	g := a.staleBackends(moved)
	f.Evidence.Figures = append(f.Evidence.Figures, g.Evidence.Figures...)
	f.Evidence.Rules = g.Evidence.Rules
	f.Remedies = append(a.remedies(rules.StaleUDP, data, "show", "delete"), a.remedies(rules.StaleUDP, movedData(moved[0]), "delete-backend", "prevent")...)
	return f
}

// movedBackend is a service whose translated UDP entries go to a backend
// no current DNAT rule for it targets.
type movedBackend struct {
	key     backendKey
	use     *backendUse
	targets []track.DNATTarget
}

// movedBackends compares translated UDP entries with the current DNAT
// targets of their service (with the ruleset; none without).
func (a *Analyzer) movedBackends(t timeline) []movedBackend {
	l := t.last()
	rs, _ := t.ruleset()
	if rs == nil || l.nat == nil {
		return nil
	}
	var out []movedBackend
	bySvc := map[addrPortKey][]track.DNATTarget{} // a service's targets, walked once
	for k, u := range l.nat.backends {
		svc, be := k.svc.addrPort(), k.backend.addrPort()
		fam := track.FamilyIPv4
		if svc.Addr().Is6() {
			fam = track.FamilyIPv6
		}
		targets, ok := bySvc[k.svc]
		if !ok {
			targets = rs.ServiceTargets(fam, track.ProtoUDP, svc.Addr(), svc.Port())
			bySvc[k.svc] = targets
		}
		if len(targets) == 0 {
			continue // nothing translates it now that could say where to
		}
		current := false
		for _, tg := range targets {
			current = current || tg.Contains(be.Addr(), be.Port())
		}
		if !current {
			out = append(out, movedBackend{key: k, use: u, targets: targets})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].use.entries != out[j].use.entries {
			return out[i].use.entries > out[j].use.entries
		}
		return cmpAddrPortKey(out[i].key.backend, out[j].key.backend) < 0
	})
	return out
}

func movedEntries(ms []movedBackend) int {
	n := 0
	for _, m := range ms {
		n += m.use.entries
	}
	return n
}

// targetText says where a DNAT target translates to: "10.0.0.6:5353".
func targetText(tg track.DNATTarget) string {
	addr := "the host itself"
	if tg.AddrMin.IsValid() {
		addr = tg.AddrMin.String()
		if tg.AddrMax.IsValid() && tg.AddrMax != tg.AddrMin {
			addr += "-" + tg.AddrMax.String()
		}
	}
	if !tg.Ports.IsZero() {
		if tg.AddrMin.Is6() {
			addr = "[" + addr + "]"
		}
		addr += ":" + tg.Ports.String()
	}
	return addr
}

func movedPhrase(ms []movedBackend) string {
	m := ms[0]
	s := fmt.Sprintf("%d UDP entries to %s still go to %s, which no current rule targets: %s now translates it to %s",
		m.use.entries, m.key.svc.addrPort(), m.key.backend.addrPort(), ruleName(m.targets[0].Rule), targetText(m.targets[0]))
	if len(ms) > 1 {
		s += fmt.Sprintf(" (and %d more old backends)", len(ms)-1)
	}
	return s
}

// staleBackends is the finding for entries kept on a backend the rules
// no longer target.
func (a *Analyzer) staleBackends(ms []movedBackend) *Finding {
	m := ms[0]
	f := &Finding{Severity: rules.SeverityWarning, Summary: strings.ToUpper(movedPhrase(ms)[:1]) + movedPhrase(ms)[1:]}
	for _, x := range ms {
		if len(f.Evidence.Top) >= a.opts.Top {
			break
		}
		f.Evidence.Top = append(f.Evidence.Top, Top{Dimension: "service → old backend", Key: fmt.Sprintf("%s → %s", x.key.svc.addrPort(), x.key.backend.addrPort()), Count: x.use.entries, Share: 1})
	}
	var ex []example
	for _, fl := range m.use.examples {
		ex = append(ex, example{flow: fl})
	}
	f.Evidence.Entries = entryLines(ex)
	f.Evidence.Figures = []Figure{
		{"entries to an old backend", strconv.Itoa(movedEntries(ms))},
		{"the rule translates to", targetText(m.targets[0])},
	}
	f.Evidence.Rules = []RuleRef{pointAt("translates the service now", m.targets[0].Rule)}
	f.Remedies = a.remedies(rules.StaleUDP, movedData(m), "show", "delete-backend", "prevent")
	return f
}

func movedData(m movedBackend) map[string]any {
	svc, be := m.key.svc.addrPort(), m.key.backend.addrPort()
	return map[string]any{"Dst": svc.Addr().String(), "DstPort": strconv.Itoa(int(svc.Port())), "Backend": be.Addr().String(),
		"BackendPort": strconv.Itoa(int(be.Port())), "Rule": ruleName(m.targets[0].Rule), "Now": targetText(m.targets[0])}
}
