package ruleset

import (
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// nftText is the state of an `nft list ruleset` reader.
type nftText struct {
	rs    *track.Ruleset
	probs *Problems
	table *track.RuleTable
	chain *track.RuleChain
	// skip is the brace depth of a block that is not a chain (set, map,
	// flowtable, stateful object): its lines are counted, not decoded.
	skip int
}

// parseNftText reads `nft list ruleset` output (with or without -a for
// handles, -n, -s). Sets, maps, flowtables and stateful objects are
// counted as unknown; rules are decoded statement by statement.
func parseNftText(r io.Reader, probs *Problems) (*track.Ruleset, int, error) {
	p := &nftText{rs: &track.Ruleset{}, probs: probs}
	lines, err := eachLine(r, probs, p.line)
	if p.table != nil {
		probs.add(lines, "", syntaxErr("} closing table "+p.table.Name, ""))
		p.endTable()
	}
	return p.rs, lines, err
}

// cutHandle splits "… # handle 12" into the text and the handle.
func cutHandle(t string) (string, uint64) {
	i := strings.LastIndex(t, "# handle ")
	if i < 0 {
		return strings.TrimSpace(t), 0
	}
	h, err := strconv.ParseUint(strings.TrimSpace(t[i+len("# handle "):]), 10, 64)
	if err != nil {
		return strings.TrimSpace(t), 0
	}
	return strings.TrimSpace(t[:i]), h
}

func (p *nftText) line(n int, line string) {
	t, handle := cutHandle(line)
	if p.skip > 0 {
		p.skip += strings.Count(t, "{") - strings.Count(t, "}")
		return
	}
	switch {
	case t == "":
		p.rs.Comments++
	case strings.HasPrefix(t, "#"):
		p.rs.Comments++
		if strings.Contains(t, "managed by iptables-nft") {
			// "# Warning: table ip nat is managed by iptables-nft, do not touch!"
			f := strings.Fields(t)
			if len(f) >= 5 {
				p.rs.Notes = append(p.rs.Notes, "table "+f[3]+" "+f[4]+" was written by iptables-nft: nft's text does not show its x_tables targets (xt target …); read it live or with iptables-nft-save")
			}
		}
	case strings.HasPrefix(t, "table "):
		if p.table != nil {
			p.probs.add(n, line, syntaxErr("} before the next table", t))
			p.endTable()
		}
		f := strings.Fields(strings.TrimSuffix(t, "{"))
		if len(f) < 2 || len(f) > 3 || !strings.HasSuffix(t, "{") {
			p.probs.add(n, line, syntaxErr("table [FAMILY] NAME {", t))
			p.skip = 1
			return
		}
		fam, name := track.RuleFamilyIP, f[1]
		if len(f) == 3 {
			var ok bool
			if fam, ok = track.ParseRuleFamily(f[1]); !ok {
				p.probs.add(n, line, syntaxErr("a family ip, ip6, inet, arp, bridge or netdev", f[1]))
				p.skip = 1
				return
			}
			name = f[2]
		}
		p.table = &track.RuleTable{Family: fam, Name: name, Backend: track.BackendNft}
	case p.table == nil:
		p.probs.add(n, line, syntaxErr("table FAMILY NAME {", t))
	case t == "}":
		if p.chain != nil {
			p.chain = nil
			return
		}
		p.endTable()
	case p.chain == nil && strings.HasPrefix(t, "chain "):
		f := strings.Fields(t)
		if len(f) != 3 || f[2] != "{" {
			p.probs.add(n, line, syntaxErr("chain NAME {", t))
			p.skip = 1
			return
		}
		p.table.Chains = append(p.table.Chains, track.RuleChain{Name: unquote(f[1])})
		p.chain = &p.table.Chains[len(p.table.Chains)-1]
	case p.chain == nil:
		// set, map, flowtable, counter, quota, ct helper/timeout/expectation
		// objects, flags, comment: not rules.
		p.rs.Unknown++
		p.skip = strings.Count(t, "{") - strings.Count(t, "}")
	case strings.HasPrefix(t, "type "):
		if serr := parseChainSpec(t, p.chain); serr != nil {
			p.probs.add(n, line, serr)
		}
	case strings.HasPrefix(t, "comment ") || strings.HasPrefix(t, "policy "):
		if pol, ok := strings.CutPrefix(t, "policy "); ok {
			p.chain.Policy = strings.TrimSuffix(strings.TrimSpace(pol), ";")
		}
	default:
		words, serr := nftWords(t)
		if serr != nil {
			p.probs.add(n, line, serr)
			return
		}
		r := track.Rule{Handle: handle, Text: t, Position: len(p.chain.Rules) + 1}
		decodeNftStatements(words, &r, p.table.Family, &p.rs.Unknown)
		p.chain.Rules = append(p.chain.Rules, r)
	}
}

func (p *nftText) endTable() {
	if looksLikeIptablesNft(p.table) {
		p.table.Backend = track.BackendIptablesNft
	}
	p.rs.Tables = append(p.rs.Tables, *p.table)
	p.table, p.chain = nil, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseChainSpec reads "type nat hook postrouting priority srcnat; policy
// accept;" (device "eth0" for netdev chains).
func parseChainSpec(t string, c *track.RuleChain) *SyntaxError {
	for _, part := range strings.Split(t, ";") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "policy":
			if len(f) != 2 {
				return syntaxErr("policy accept|drop", part)
			}
			c.Policy = f[1]
		case "comment":
		case "type":
			if len(f) < 4 {
				return syntaxErr("type TYPE hook HOOK priority PRIORITY", part)
			}
			c.Type = f[1]
			for i := 2; i+1 < len(f); i++ {
				switch f[i] {
				case "hook":
					h, ok := track.ParseHook(f[i+1])
					if !ok {
						return syntaxErr("a hook (prerouting, input, forward, output, postrouting, ingress, egress)", f[i+1])
					}
					c.Hook = h
					i++
				case "device":
					c.Device = unquote(f[i+1])
					i++
				case "priority":
					prio, ok := parsePriority(c.Hook, strings.Join(f[i+1:], " "))
					if !ok {
						return syntaxErr("a priority (a number, or raw, mangle, dstnat, filter, security, srcnat with ±N)", strings.Join(f[i+1:], " "))
					}
					c.Priority = prio
					i = len(f)
				}
			}
			if c.Hook == track.HookNone {
				return syntaxErr("hook HOOK", part)
			}
		default:
			return syntaxErr("type …; policy …;", part)
		}
	}
	return nil
}

// parsePriority reads "-300", "raw", "filter + 10", "dstnat - 5".
func parsePriority(h track.Hook, s string) (int32, bool) {
	s = strings.ReplaceAll(s, " ", "")
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int32(n), true
	}
	base := s
	off := int64(0)
	if i := strings.IndexAny(s, "+-"); i > 0 {
		base = s[:i]
		n, err := strconv.ParseInt(s[i:], 10, 32)
		if err != nil {
			return 0, false
		}
		off = n
	}
	var prio int32
	switch base {
	case "raw":
		prio = track.PriorityRaw
	case "mangle":
		prio = track.PriorityMangle
	case "dstnat":
		prio = track.PriorityDstNAT
	case "filter":
		prio = track.PriorityFilter
	case "security":
		prio = track.PrioritySecurity
	case "srcnat":
		prio = track.PrioritySrcNAT
	case "out": // bridge
		prio = 100
	default:
		return 0, false
	}
	_ = h
	return prio + int32(off), true
}

// nftWords splits a rule into words: quoted strings and { … } sets stay
// one word each.
func nftWords(t string) ([]string, *SyntaxError) {
	var out []string
	for i := 0; i < len(t); {
		switch c := t[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '"':
			j := strings.IndexByte(t[i+1:], '"')
			if j < 0 {
				return nil, syntaxErr("a closing quote", t[i:])
			}
			out = append(out, t[i:i+j+2])
			i += j + 2
		case c == '{':
			depth, j := 0, i
			for ; j < len(t); j++ {
				if t[j] == '{' {
					depth++
				} else if t[j] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= len(t) {
				return nil, syntaxErr("a closing }", t[i:])
			}
			out = append(out, t[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(t) && t[j] != ' ' && t[j] != '\t' {
				j++
			}
			out = append(out, t[i:j])
			i = j
		}
	}
	return out, nil
}

// setItems splits "{ 80, 443 }" into its items; a plain word is one item.
func setItems(w string) []string {
	if !strings.HasPrefix(w, "{") {
		return strings.Split(w, ",")
	}
	in := strings.TrimSuffix(strings.TrimPrefix(w, "{"), "}")
	var out []string
	for _, x := range strings.Split(in, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// nftKeywords start a statement or match: an unknown statement's values
// run up to the next of them.
var nftKeywords = map[string]bool{
	"ct": true, "notrack": true, "counter": true, "masquerade": true, "snat": true, "dnat": true,
	"redirect": true, "meta": true, "ip": true, "ip6": true, "tcp": true, "udp": true, "th": true,
	"udplite": true, "sctp": true, "dccp": true, "icmp": true, "icmpv6": true, "iifname": true,
	"oifname": true, "iif": true, "oif": true, "accept": true, "drop": true, "reject": true,
	"return": true, "jump": true, "goto": true, "queue": true, "continue": true, "comment": true,
	"log": true, "limit": true, "xt": true, "mark": true, "fib": true, "socket": true, "quota": true,
	"ether": true, "vlan": true, "arp": true, "rt": true, "ipsec": true, "osf": true, "tproxy": true,
	"synproxy": true, "flow": true, "dup": true, "fwd": true, "add": true, "update": true,
	"numgen": true, "jhash": true, "symhash": true, "l4proto": true, "nftrace": true,
}

// nonMatching statements do not narrow what a rule selects.
var nonMatching = map[string]bool{"log": true, "comment": true, "nftrace": true, "dup": true, "add": true, "update": true}

// decodeNftStatements reads nft rule words into r.
func decodeNftStatements(w []string, r *track.Rule, fam track.RuleFamily, unknown *int) {
	m := &r.Match
	i := 0
	// op reads an optional "==" / "!=" and returns whether it negates.
	op := func() bool {
		if i < len(w) && (w[i] == "!=" || w[i] == "==") {
			i++
			return w[i-1] == "!="
		}
		return false
	}
	next := func() (string, bool) {
		if i < len(w) {
			i++
			return w[i-1], true
		}
		return "", false
	}
	skipUnknown := func(first string) {
		*unknown++
		if !nonMatching[first] {
			r.Partial = true
		}
		for i < len(w) && !nftKeywords[w[i]] {
			i++
		}
	}
	for i < len(w) {
		start := i
		k, _ := next()
		switch k {
		case "counter":
			r.HasCounter = true
			if i+3 < len(w) && w[i] == "packets" && w[i+2] == "bytes" {
				pk, e1 := strconv.ParseUint(w[i+1], 10, 64)
				by, e2 := strconv.ParseUint(w[i+3], 10, 64)
				if e1 == nil && e2 == nil {
					r.Counter = track.RuleCounter{Packets: pk, Bytes: by}
				}
				i += 4
			} else if i < len(w) && w[i] == "name" {
				i += 2 // a named counter object
			}
		case "notrack":
			r.Action.Kind = track.ActionNotrack
		case "accept", "drop", "return", "continue":
			var v track.RuleVerdict
			_ = v.UnmarshalText([]byte(k))
			r.Verdict = v
		case "reject":
			r.Verdict = track.VerdictReject
			if i < len(w) && w[i] == "with" {
				i += 3 // with icmp type X / with tcp reset
				if i > len(w) {
					i = len(w)
				}
			}
		case "queue":
			r.Verdict = track.VerdictQueue
			for i < len(w) && !nftKeywords[w[i]] {
				i++
			}
		case "jump", "goto":
			t, ok := next()
			if !ok {
				skipUnknown(k)
				continue
			}
			r.Verdict, r.Target = track.VerdictJump, unquote(t)
			if k == "goto" {
				r.Verdict = track.VerdictGoto
			}
		case "comment":
			c, _ := next()
			r.Comment = unquote(c)
		case "ct":
			key, ok := next()
			if !ok {
				skipUnknown(k)
				continue
			}
			if i < len(w) && w[i] == "set" {
				i++
				val, _ := next()
				switch key {
				case "zone":
					if z, err := strconv.ParseUint(val, 10, 16); err == nil {
						r.Action.Kind, r.Action.Zone = track.ActionCtZone, uint16(z)
					} else {
						r.Action.Kind = track.ActionCtOther
						*unknown++
					}
				case "helper":
					r.Action.Kind, r.Action.Helper = track.ActionCtHelper, unquote(val)
				default:
					if r.Action.Kind == track.ActionNone {
						r.Action.Kind = track.ActionCtOther
					}
				}
				continue
			}
			neg := op()
			if key == "state" {
				val, _ := next()
				st, ok := parseCtStates(strings.Join(setItems(val), ","))
				if !ok {
					i = start + 1
					skipUnknown(k)
					continue
				}
				m.CtState, m.CtStateNeg = st, neg
				continue
			}
			// ct status, mark, helper, direction, original …, count, label …
			m.CtOther = append(m.CtOther, key)
			r.Partial = true
			*unknown++
			for i < len(w) && !nftKeywords[w[i]] {
				i++
			}
		case "masquerade", "snat", "dnat", "redirect":
			decodeNftNAT(k, w, &i, r, unknown)
		case "meta":
			key, _ := next()
			switch key {
			case "l4proto":
				neg := op()
				val, _ := next()
				decodeNftProto(val, neg, r, unknown)
			case "iifname", "oifname":
				neg := op()
				val, _ := next()
				setIface(m, key, unquote(val), neg)
			case "nftrace":
				skipUnknown("nftrace")
			default:
				i = start + 1
				skipUnknown(k)
			}
		case "iifname", "oifname":
			neg := op()
			val, _ := next()
			setIface(m, k, unquote(val), neg)
		case "ip", "ip6":
			field, _ := next()
			switch field {
			case "protocol", "nexthdr":
				neg := op()
				val, _ := next()
				decodeNftProto(val, neg, r, unknown)
			case "saddr", "daddr":
				neg := op()
				val, _ := next()
				var ps []netip.Prefix
				ok := true
				for _, x := range setItems(val) {
					pf, good := parsePrefix(x)
					ok = ok && good
					ps = append(ps, pf)
				}
				if !ok {
					r.Partial = true
					*unknown++
					continue
				}
				if field == "saddr" {
					m.Src, m.SrcNeg = ps, neg
				} else {
					m.Dst, m.DstNeg = ps, neg
				}
			default:
				i = start + 1
				skipUnknown(k)
			}
		case "tcp", "udp", "udplite", "sctp", "dccp", "th":
			field, _ := next()
			if k != "th" {
				p, _ := track.ParseProto(k)
				if m.Proto == 0 {
					m.Proto = p
				}
			}
			switch field {
			case "dport", "sport":
				neg := op()
				val, _ := next()
				var prs []track.PortRange
				ok := true
				for _, x := range setItems(val) {
					pr, good := parsePortRange(x)
					ok = ok && good
					prs = append(prs, pr)
				}
				if !ok {
					r.Partial = true
					*unknown++
					continue
				}
				if field == "dport" {
					m.DPorts, m.DPortNeg = prs, neg
				} else {
					m.SPorts, m.SPortNeg = prs, neg
				}
			default:
				i = start + 1
				skipUnknown(k)
			}
		default:
			i = start + 1
			skipUnknown(k)
		}
	}
	_ = fam
}

func setIface(m *track.RuleMatch, key, val string, neg bool) {
	if key == "iifname" || key == "iif" {
		m.InIface, m.InNeg = val, neg
	} else {
		m.OutIface, m.OutNeg = val, neg
	}
}

func decodeNftProto(val string, neg bool, r *track.Rule, unknown *int) {
	items := setItems(val)
	if len(items) != 1 {
		r.Partial = true // a set of protocols
		*unknown++
		return
	}
	p, ok := track.ParseProto(items[0])
	if !ok {
		r.Partial = true
		*unknown++
		return
	}
	r.Match.Proto, r.Match.ProtoNeg = p, neg
}

// decodeNftNAT reads "masquerade to :30000-30019 random,fully-random",
// "snat ip to 192.0.2.1-192.0.2.4:1024-2047 persistent", "dnat to
// 10.0.0.2:8080", "redirect to :8081".
func decodeNftNAT(k string, w []string, i *int, r *track.Rule, unknown *int) {
	a := &r.Action
	switch k {
	case "masquerade":
		a.Kind = track.ActionMasquerade
	case "snat":
		a.Kind = track.ActionSNAT
	case "dnat":
		a.Kind = track.ActionDNAT
	case "redirect":
		a.Kind = track.ActionRedirect
	}
	if *i < len(w) && (w[*i] == "ip" || w[*i] == "ip6") {
		*i++
	}
	if *i < len(w) && w[*i] == "to" {
		*i++
		if *i >= len(w) {
			return
		}
		v := w[*i]
		*i++
		if strings.HasPrefix(v, ":") {
			if pr, ok := parsePortRange(v[1:]); ok {
				a.Ports = pr
			} else {
				r.Partial = true
				*unknown++
			}
		} else if !parseNATTo(v, a) {
			*unknown++ // a map or expression: the target is not known
		}
	}
	for *i < len(w) && !nftKeywords[w[*i]] {
		var f track.NATFlags
		if err := f.UnmarshalText([]byte(w[*i])); err != nil {
			*unknown++
		}
		a.Flags |= f
		*i++
	}
}
