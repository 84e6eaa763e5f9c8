package analyzer

import (
	"fmt"
	"strconv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// churnPort is a destination port and how fast connections to it come and
// go, as its short-lived entries tell.
type churnPort struct {
	proto   track.Proto
	port    uint16
	short   int     // TIME_WAIT/CLOSE or unassured UDP entries
	entries int     // every entry to the port
	rate    float64 // new connections a second: short-lived entries over their timeout
}

// notrackCandidate: a busy service conntrack could leave alone
// (rules/notrack_candidate.go).
func (a *Analyzer) notrackCandidate(t timeline, sum *Summary) *Finding {
	l := t.last()
	rs, _ := t.ruleset()
	if rs == nil || !l.meta.HasTable || l.nat == nil || float64(l.entries) < a.param(rules.NotrackCandidate, "min_entries") {
		return nil
	}
	minShare := a.param(rules.NotrackCandidate, "min_share")
	minRate := a.param(rules.NotrackCandidate, "min_rate")
	tw := l.timeouts.TCP(track.TCPTimeWait).Seconds()
	udp, _ := l.timeouts.UDP()
	fam := track.FamilyIPv4
	if l.ipv6 == l.entries {
		fam = track.FamilyIPv6
	}
	var best *churnPort
	for i, proto := range []track.Proto{track.ProtoTCP, track.ProtoUDP} {
		timeout, all := tw, l.tcpPort
		if proto == track.ProtoUDP {
			timeout, all = udp.Seconds(), l.udpPort
		}
		for p, n := range l.nat.short[i] {
			if n == 0 || l.share(int(n)) < minShare || timeout <= 0 {
				continue
			}
			c := churnPort{proto: proto, port: uint16(p), short: int(n), entries: int(all[p]), rate: float64(n) / timeout}
			if c.rate < minRate || l.nat.portNAT(proto, c.port) > 0 || !leftAlone(rs, fam, proto, c.port) {
				continue
			}
			if best == nil || c.short > best.short {
				best = &c
			}
		}
	}
	if best == nil {
		return nil
	}
	sev := rules.SeverityInfo
	pressed := sum.Pressure.HasMax && sum.Pressure.Max > 0 && sum.Pressure.Utilisation >= a.param(rules.TableFull, "warn_utilisation")
	if pressed {
		sev = rules.SeverityWarning
	}
	kind := "TIME_WAIT or CLOSE"
	if best.proto == track.ProtoUDP {
		kind = "unassured UDP"
	}
	summary := fmt.Sprintf("%s/%d: %d %s entries (%s of the table), about %s new connections; none translated, no NAT or state rule names the port and no NOTRACK rule covers it",
		best.proto, best.port, best.short, kind, human.Percent(l.share(best.short)), human.Rate(best.rate))
	if pressed {
		summary += fmt.Sprintf("; the table is %s full", human.Percent(sum.Pressure.Utilisation))
	}
	f := &Finding{Severity: sev, Summary: summary}
	fig := func(name, value string) { f.Evidence.Figures = append(f.Evidence.Figures, Figure{name, value}) }
	fig("entries to the port", strconv.Itoa(best.entries))
	fig("short-lived ("+kind+")", strconv.Itoa(best.short))
	fig("new connections (short-lived entries over their timeout)", human.Rate(best.rate))
	fig("translated entries to the port", "0")
	data := map[string]any{"Rate": fmt.Sprintf("%.0f", best.rate), "Share": human.Percent(l.share(best.short)), "StateNote": ""}
	if st, ok := statefulAccept(rs, fam); ok {
		data["StateNote"] = fmt.Sprintf("\nUntracked packets skip %s: accept them where it stands (ct state untracked accept;\niptables: -m conntrack --ctstate UNTRACKED -j ACCEPT).", ruleName(st))
		f.Evidence.Rules = append(f.Evidence.Rules, pointAt("stateful accept the untracked packets would skip", st))
	}
	id := notrackRemedyID(rs, "notrack", fam == track.FamilyIPv6, best.proto, best.port, data)
	f.Remedies = a.remedies(rules.NotrackCandidate, data, id)
	return f
}

// leftAlone: no NOTRACK rule covers proto/port yet, and no NAT or state
// rule names the port.
func leftAlone(rs *track.Ruleset, fam track.Family, proto track.Proto, port uint16) bool {
	if len(rs.Notracked(fam, proto, port)) > 0 {
		return false
	}
	named := rs.Select(func(x *track.Rule) bool {
		m := &x.Match
		if !x.NeedsConntrack() || m.Proto != 0 && (m.Proto == proto) == m.ProtoNeg {
			return false
		}
		return portsHold(m.DPorts, m.DPortNeg, port) || portsHold(m.SPorts, m.SPortNeg, port)
	})
	return len(named) == 0
}

func portsHold(prs []track.PortRange, neg bool, p uint16) bool {
	if len(prs) == 0 {
		return false
	}
	in := false
	for _, r := range prs {
		in = in || r.Contains(p)
	}
	return in != neg
}

// statefulAccept is the first rule that accepts by conntrack state without
// naming ports, in a chain on the input or forward path: untracked packets
// do not match it.
func statefulAccept(rs *track.Ruleset, fam track.Family) (track.RuleRef, bool) {
	for _, r := range rs.Select(func(x *track.Rule) bool {
		m := &x.Match
		return x.Verdict == track.VerdictAccept && m.CtState != 0 && !m.CtStateNeg && !m.CtState.Has(track.CtStateUntracked) &&
			len(m.DPorts) == 0 && len(m.SPorts) == 0
	}) {
		if r.Family.Covers(fam) && (r.Hook == track.HookInput || r.Hook == track.HookForward || r.Hook == track.HookOutput) {
			return r, true
		}
	}
	return track.RuleRef{}, false
}
