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
	if h := a.snatHits(t); len(h) > 0 {
		summary += fmt.Sprintf("; %s to %s has %d of its %d source NAT ports taken (snat-port-exhaustion): connections it cannot translate fail here",
			h[0].key.tsrc.addr(), dstText(h[0].key), h[0].use.entries, h[0].ports.Size())
	} else if l.dns > 0 && l.dnsDNAT > 0 {
		summary += fmt.Sprintf("; %d UDP/53 entries, %d of them translated to a DNS server (DNAT): the DNS A/AAAA race in that translation is the usual cause", l.dns, l.dnsDNAT)
	} else if l.dns > 0 {
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
	rs, _ := t.ruleset()
	switch {
	case l.dns > 0 && l.dnsDNAT > 0:
		// NOTRACK would stop the translation: stop the race at the clients.
		data["DNSDNAT"], data["DNATRule"] = l.dnsDNAT, "the service's DNAT rule"
		if r, ok := dnsDNATRule(t, rs); ok {
			data["DNATRule"] = ruleName(r)
			f.Evidence.Rules = append(f.Evidence.Rules, pointAt("translates DNS to its server", r))
		}
		ids = append(ids, "dns-dnat")
	case l.dns > 0:
		if id := notrackRemedyID(rs, "dns", l.ipv6 == l.entries, track.ProtoUDP, 53, data); id != "" {
			ids = append(ids, id)
		} else {
			ids = append(ids, "dns-clients")
		}
	}
	if l.snat > 0 {
		ids = append(ids, "snat")
	}
	f.Remedies = a.remedies(rules.InsertFailed, data, ids...)
	return f
}

// dnsDNATRule is the rule that translates the busiest DNS service of the
// last sample now, when the ruleset was read.
func dnsDNATRule(t timeline, rs *track.Ruleset) (track.RuleRef, bool) {
	l := t.last()
	if rs == nil || l.nat == nil {
		return track.RuleRef{}, false
	}
	var best backendKey
	n := 0
	for k, u := range l.nat.backends {
		if k.svc.port == 53 && (u.entries > n || u.entries == n && cmpAddrPortKey(k.svc, best.svc) < 0) {
			best, n = k, u.entries
		}
	}
	if n == 0 {
		return track.RuleRef{}, false
	}
	svc := best.svc.addrPort()
	fam := track.FamilyIPv4
	if svc.Addr().Is6() {
		fam = track.FamilyIPv6
	}
	if ts := rs.ServiceTargets(fam, track.ProtoUDP, svc.Addr(), 53); len(ts) > 0 {
		return ts[0].Rule, true
	}
	return track.RuleRef{}, false
}
