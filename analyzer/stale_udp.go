package analyzer

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
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
	if float64(total) < a.param(rules.StaleUDP, "min_entries") || len(hits) == 0 {
		return nil
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
		{"untranslated entries", strconv.Itoa(total)},
		{"outlived the UDP timeout", strconv.Itoa(refreshedTotal)},
	}
	data := map[string]any{"Dst": top.key.Addr().String(), "DstPort": strconv.Itoa(int(top.key.Port()))}
	f.Remedies = a.remedies(rules.StaleUDP, data, "show", "delete", "prevent")
	return f
}
