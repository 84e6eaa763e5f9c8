package ruleset

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// NftText writes a rule's decoded parts the way nft lists them ("tcp dport
// 22 ct state new counter packets 3 bytes 180 accept"); extra names parts
// that were not decoded, printed in angle brackets before the statements.
// It is how rules read over netlink get their text, and how a remedy
// spells a rule for an nft host.
func NftText(r *track.Rule, extra ...string) string {
	var w []string
	m := &r.Match
	op := func(neg bool) string {
		if neg {
			return "!= "
		}
		return ""
	}
	if m.InIface != "" {
		w = append(w, "iifname "+op(m.InNeg)+quoteIface(m.InIface))
	}
	if m.OutIface != "" {
		w = append(w, "oifname "+op(m.OutNeg)+quoteIface(m.OutIface))
	}
	for _, x := range []struct {
		key string
		ps  []netip.Prefix
		neg bool
	}{{"saddr", m.Src, m.SrcNeg}, {"daddr", m.Dst, m.DstNeg}} {
		if len(x.ps) == 0 {
			continue
		}
		fam := "ip"
		if x.ps[0].Addr().Is6() {
			fam = "ip6"
		}
		w = append(w, fam+" "+x.key+" "+op(x.neg)+setText(prefixStrings(x.ps)))
	}
	proto := m.Proto.String()
	switch {
	case m.Proto != 0 && !m.ProtoNeg && m.Proto.HasPorts() && (len(m.DPorts) > 0 || len(m.SPorts) > 0):
		// "tcp dport 22" implies the protocol
	case m.Proto != 0:
		w = append(w, "meta l4proto "+op(m.ProtoNeg)+proto)
	}
	portProto := proto
	if m.Proto == 0 || m.ProtoNeg {
		portProto = "th"
	}
	if len(m.SPorts) > 0 {
		w = append(w, portProto+" sport "+op(m.SPortNeg)+setText(rangeStrings(m.SPorts)))
	}
	if len(m.DPorts) > 0 {
		w = append(w, portProto+" dport "+op(m.DPortNeg)+setText(rangeStrings(m.DPorts)))
	}
	if m.CtState != 0 {
		states := strings.Split(m.CtState.String(), ",")
		if m.CtStateNeg {
			w = append(w, "ct state != "+setText(states))
		} else {
			w = append(w, "ct state "+m.CtState.String())
		}
	}
	for _, p := range extra {
		w = append(w, "<"+p+">")
	}
	if r.HasCounter {
		w = append(w, fmt.Sprintf("counter packets %d bytes %d", r.Counter.Packets, r.Counter.Bytes))
	}
	a := &r.Action
	switch a.Kind {
	case track.ActionNotrack:
		w = append(w, "notrack")
	case track.ActionCtZone:
		w = append(w, fmt.Sprintf("ct zone set %d", a.Zone))
	case track.ActionCtHelper:
		w = append(w, fmt.Sprintf("ct helper set %q", a.Helper))
	case track.ActionCtOther:
		w = append(w, "ct … set …")
	case track.ActionMasquerade, track.ActionSNAT, track.ActionDNAT, track.ActionRedirect:
		s := a.Kind.String()
		if to := natTo(a, false); to != "" {
			s += " to " + to
		}
		if a.Flags != 0 {
			s += " " + a.Flags.String()
		}
		w = append(w, s)
	}
	switch r.Verdict {
	case track.VerdictJump, track.VerdictGoto:
		w = append(w, r.Verdict.String()+" "+r.Target)
	case track.VerdictNone:
	default:
		w = append(w, r.Verdict.String())
	}
	if r.Comment != "" {
		w = append(w, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(w, " ")
}

func quoteIface(s string) string {
	if strings.HasSuffix(s, "+") {
		s = strings.TrimSuffix(s, "+") + "*"
	}
	return fmt.Sprintf("%q", s)
}

func setText(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

func rangeStrings(prs []track.PortRange) []string {
	out := make([]string, len(prs))
	for i, p := range prs {
		out[i] = p.String()
	}
	return out
}

// natTo is a NAT mapping's target: "192.0.2.1-192.0.2.4:1024-2047",
// ":30000-30019" (nft) or "30000-30019" (iptables --to-ports).
func natTo(a *track.RuleAction, iptables bool) string {
	s := ""
	if a.AddrMin.IsValid() {
		s = a.AddrMin.String()
		if a.AddrMax.IsValid() && a.AddrMax != a.AddrMin {
			s += "-" + a.AddrMax.String()
		}
		if a.AddrMin.Is6() && !a.Ports.IsZero() {
			s = "[" + s + "]"
		}
	}
	if !a.Ports.IsZero() {
		if s != "" || !iptables {
			s += ":"
		}
		s += a.Ports.String()
	}
	return s
}

// IptablesText writes a rule the way iptables-save does ("-A POSTROUTING
// -o eth0 -p tcp -j MASQUERADE --to-ports 30000-30019 --random-fully"),
// from its decoded parts; extra names parts that were not decoded. It is
// how rules iptables-nft wrote get their text when read over netlink, and
// how a remedy spells a rule for an iptables host.
func IptablesText(chain string, r *track.Rule, extra ...string) string {
	w := []string{"-A", chain}
	m := &r.Match
	not := func(neg bool) {
		if neg {
			w = append(w, "!")
		}
	}
	if len(m.Src) > 0 {
		not(m.SrcNeg)
		w = append(w, "-s", strings.Join(prefixStrings(m.Src), ","))
	}
	if len(m.Dst) > 0 {
		not(m.DstNeg)
		w = append(w, "-d", strings.Join(prefixStrings(m.Dst), ","))
	}
	if m.InIface != "" {
		not(m.InNeg)
		w = append(w, "-i", m.InIface)
	}
	if m.OutIface != "" {
		not(m.OutNeg)
		w = append(w, "-o", m.OutIface)
	}
	if m.Proto != 0 {
		not(m.ProtoNeg)
		w = append(w, "-p", m.Proto.String())
	}
	if len(m.SPorts) > 0 || len(m.DPorts) > 0 {
		multi := len(m.SPorts) > 1 || len(m.DPorts) > 1
		if multi {
			w = append(w, "-m", "multiport")
		} else {
			w = append(w, "-m", m.Proto.String())
		}
		for _, x := range []struct {
			opt string
			prs []track.PortRange
			neg bool
		}{{"--sport", m.SPorts, m.SPortNeg}, {"--dport", m.DPorts, m.DPortNeg}} {
			if len(x.prs) == 0 {
				continue
			}
			var ps []string
			for _, p := range x.prs {
				ps = append(ps, strings.ReplaceAll(p.String(), "-", ":"))
			}
			not(x.neg)
			opt := x.opt
			if multi {
				opt += "s"
			}
			w = append(w, opt, strings.Join(ps, ","))
		}
	}
	if m.CtState != 0 {
		w = append(w, "-m", "conntrack")
		not(m.CtStateNeg)
		w = append(w, "--ctstate", strings.ToUpper(m.CtState.String()))
	}
	if r.Comment != "" {
		w = append(w, "-m", "comment", "--comment", fmt.Sprintf("%q", r.Comment))
	}
	for _, p := range extra {
		w = append(w, "<"+p+">")
	}
	a := &r.Action
	switch a.Kind {
	case track.ActionNotrack:
		w = append(w, "-j", "CT", "--notrack")
	case track.ActionCtZone:
		w = append(w, "-j", "CT", "--zone", fmt.Sprint(a.Zone))
	case track.ActionCtHelper:
		w = append(w, "-j", "CT", "--helper", a.Helper)
	case track.ActionCtOther:
		w = append(w, "-j", "CT")
	case track.ActionMasquerade, track.ActionRedirect:
		w = append(w, "-j", strings.ToUpper(a.Kind.String()))
		if !a.Ports.IsZero() {
			w = append(w, "--to-ports", a.Ports.String())
		}
	case track.ActionSNAT:
		w = append(w, "-j", "SNAT", "--to-source", natTo(a, true))
	case track.ActionDNAT:
		w = append(w, "-j", "DNAT", "--to-destination", natTo(a, true))
	}
	if a.Kind.IsNAT() {
		for _, f := range []struct {
			bit  track.NATFlags
			name string
		}{{track.NATRandom, "--random"}, {track.NATRandomFully, "--random-fully"}, {track.NATPersistent, "--persistent"}} {
			if a.Flags&f.bit != 0 {
				w = append(w, f.name)
			}
		}
	}
	switch r.Verdict {
	case track.VerdictJump:
		w = append(w, "-j", r.Target)
	case track.VerdictGoto:
		w = append(w, "-g", r.Target)
	case track.VerdictNone:
	default:
		w = append(w, "-j", strings.ToUpper(r.Verdict.String()))
	}
	return strings.Join(w, " ")
}
