package ruleset

import (
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// iptables -L listings: "iptables -t nat -nvL" as people paste it and
// capture scripts save it, one table after another, each introduced by a
// comment line that names the command ("### iptables -t nat -nvL"):
//
//	Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
//	 pkts bytes target     prot opt in     out     source               destination
//	  120  7200 MASQUERADE  6    --  *      nat-rs  0.0.0.0/0            0.0.0.0/0            masq ports: 20000-20099
//
// With or without -v (counters, interfaces), -x (exact counters, else
// 474K), --line-numbers, -n (numbers, else names such as "anywhere",
// "tcp", "dpt:http"). The listing does not say which table it is: the
// command in the comment before it does, else it is the filter table, as
// for iptables itself. Matches and targets are read back from the words
// iptables prints for them (ctstate, masq ports:, to:, CT notrack, …);
// what is not understood is kept in the rule's text in <…> and makes the
// rule Partial.

// listColumns are the columns a listing's header line names.
type listColumns struct {
	num, counters, ifaces bool
}

// pendingRule is a rule whose target is resolved once its table's chains
// are all known (a jump to a chain listed further down).
type pendingRule struct {
	chain  int
	rule   int
	target string
	isGoto bool
	extra  []string
	line   int
}

// iptList is the state of a listing reader.
type iptList struct {
	rs      *track.Ruleset
	probs   *Problems
	family  track.RuleFamily
	backend track.RuleBackend
	table   *track.RuleTable
	name    string // the next table's name, from a command comment
	chain   int    // index of the chain being read, -1 before any
	cols    listColumns
	header  bool // the chain's column header was read
	pending []pendingRule
}

// parseIptablesList reads iptables -L / ip6tables -L listings.
func parseIptablesList(r io.Reader, probs *Problems) (*track.Ruleset, int, error) {
	p := &iptList{rs: &track.Ruleset{}, probs: probs, family: track.RuleFamilyIP, backend: track.BackendIptables, name: "filter", chain: -1}
	lines, err := eachLine(r, probs, p.line)
	p.finish()
	return p.rs, lines, err
}

func (p *iptList) line(n int, line string) {
	t := strings.TrimSpace(line)
	switch {
	case t == "":
		p.rs.Comments++
		p.header = false
	case strings.HasPrefix(t, "#"):
		p.rs.Comments++
		p.command(t)
	case strings.HasPrefix(t, "Chain "):
		p.chainLine(n, line, t)
	case p.chain >= 0 && !p.header && isListHeader(t):
		p.cols = listColumns{num: strings.HasPrefix(t, "num "), counters: strings.Contains(t, "pkts"), ifaces: strings.Contains(t, " in ")}
		p.header = true
	case p.chain >= 0 && p.header:
		p.ruleLine(n, line, t)
	default:
		p.probs.add(n, line, syntaxErr("Chain NAME (policy …) or (N references), its column header, or a rule", t))
	}
}

func isListHeader(t string) bool {
	f := strings.Fields(t)
	for i, w := range f {
		if w == "target" {
			return i+1 < len(f) && f[i+1] == "prot"
		}
	}
	return false
}

// command reads "### iptables -t nat -nvL", "# ip6tables-legacy --table=raw -L":
// a new table, its family and backend.
func (p *iptList) command(t string) {
	words := strings.Fields(strings.TrimLeft(t, "# "))
	if len(words) == 0 {
		return
	}
	tool := words[0]
	if i := strings.LastIndexByte(tool, '/'); i >= 0 {
		tool = tool[i+1:]
	}
	if !strings.HasPrefix(tool, "iptables") && !strings.HasPrefix(tool, "ip6tables") {
		if strings.Contains(t, "iptables-legacy tables present") {
			p.rs.Notes = append(p.rs.Notes, "the listing says iptables-legacy tables are present too (iptables-legacy -L shows them)")
		}
		return
	}
	p.finish()
	p.family = track.RuleFamilyIP
	if strings.HasPrefix(tool, "ip6tables") {
		p.family = track.RuleFamilyIP6
	}
	switch {
	case strings.Contains(tool, "-legacy"):
		p.backend = track.BackendIptablesLegacy
	case strings.Contains(tool, "-nft"):
		p.backend = track.BackendIptablesNft
	default:
		p.backend = track.BackendIptables
	}
	p.name = "filter"
	for i, w := range words {
		switch {
		case (w == "-t" || w == "--table") && i+1 < len(words):
			p.name = words[i+1]
		case strings.HasPrefix(w, "--table="):
			p.name = strings.TrimPrefix(w, "--table=")
		case strings.HasPrefix(w, "-t") && len(w) > 2 && !strings.HasPrefix(w, "--"):
			p.name = w[2:]
		}
	}
}

// finish closes the table being read: targets are resolved now that its
// chains are known.
func (p *iptList) finish() {
	t := p.table
	if t == nil {
		return
	}
	for _, pr := range p.pending {
		r := &t.Chains[pr.chain].Rules[pr.rule]
		if pr.target != "" {
			// The target's words decoded the action already (CT notrack,
			// zone, helper; NAT ranges): decodeTarget only names its kind.
			decoded := r.Action
			decodeTarget(pr.target, pr.isGoto, r, t)
			if decoded.Kind != track.ActionNone {
				r.Action = decoded
			}
			if pr.isGoto && r.Verdict == track.VerdictJump {
				r.Verdict = track.VerdictGoto
			}
		}
		r.Text = IptablesText(t.Chains[pr.chain].Name, r, pr.extra...)
		if pr.target != "" && !spelledTarget(pr.target, t) {
			// A target the model does not keep (LOG, MARK, CONNMARK …):
			// its name, as iptables-save writes it.
			r.Text = strings.Replace(r.Text, " -j CT", "", 1) + " -j " + pr.target
		}
	}
	p.rs.Tables = append(p.rs.Tables, *t)
	p.table, p.pending, p.chain, p.header = nil, nil, -1, false
}

// chainLine reads "Chain INPUT (policy ACCEPT 12 packets, 3400 bytes)",
// "Chain INPUT (policy DROP)" or "Chain KUBE-X (2 references)".
func (p *iptList) chainLine(n int, line, t string) {
	rest := strings.TrimPrefix(t, "Chain ")
	name, paren, ok := strings.Cut(rest, " (")
	if !ok || name == "" || !strings.HasSuffix(paren, ")") {
		p.probs.add(n, line, syntaxErr("Chain NAME (policy …) or Chain NAME (N references)", t))
		return
	}
	paren = strings.TrimSuffix(paren, ")")
	if p.table == nil {
		p.table = &track.RuleTable{Family: p.family, Name: p.name, Backend: p.backend}
	}
	if _, dup := p.table.Chain(name); dup {
		p.probs.add(n, line, syntaxErr("each chain once per table (a \"### iptables -t TABLE -nvL\" line before each listing names its table)", name))
		p.chain, p.header = -1, false
		return
	}
	c := track.RuleChain{Name: name}
	if pol, ok := strings.CutPrefix(paren, "policy "); ok {
		f := strings.Fields(pol)
		if len(f) == 0 || f[0] != "ACCEPT" && f[0] != "DROP" {
			p.probs.add(n, line, syntaxErr("policy ACCEPT or DROP", pol))
			return
		}
		c.Policy = strings.ToLower(f[0])
		if len(f) == 5 && f[2] == "packets," && f[4] == "bytes" {
			pk, ok1 := listCount(f[1])
			by, ok2 := listCount(f[3])
			if !ok1 || !ok2 {
				p.probs.add(n, line, syntaxErr("N packets, N bytes", pol))
				return
			}
			c.PolicyCounter, c.HasPolicyCounter = track.RuleCounter{Packets: pk, Bytes: by}, true
		} else if len(f) != 1 {
			p.probs.add(n, line, syntaxErr("policy ACCEPT N packets, N bytes", pol))
			return
		}
		if h, prio, typ, ok := builtinChain(p.table.Name, name); ok {
			c.Hook, c.Priority, c.Type = h, prio, typ
		}
	} else if !strings.HasSuffix(paren, "references") && !strings.HasSuffix(paren, "reference") {
		p.probs.add(n, line, syntaxErr("(policy …) or (N references)", paren))
		return
	}
	p.table.Chains = append(p.table.Chains, c)
	p.chain, p.header = len(p.table.Chains)-1, false
}

// spelledTarget: IptablesText writes the target from the decoded rule.
func spelledTarget(target string, t *track.RuleTable) bool {
	if _, ok := t.Chain(target); ok {
		return true
	}
	switch target {
	case "ACCEPT", "DROP", "REJECT", "RETURN", "QUEUE", "NFQUEUE", "MASQUERADE", "SNAT", "DNAT", "REDIRECT", "CT", "NOTRACK":
		return true
	}
	return false
}

// listCount reads a counter as -L prints it: "474", or without -x
// "474K", "12M", "3G" (rounded to thousands: the exact value is lost).
func listCount(s string) (uint64, bool) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1e3
	case strings.HasSuffix(s, "M"):
		mult = 1e6
	case strings.HasSuffix(s, "G"):
		mult = 1e9
	case strings.HasSuffix(s, "T"):
		mult = 1e12
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > (1<<64-1)/mult {
		return 0, false
	}
	return v * mult, true
}

// isOpt is the opt column: "--", "-f" (fragments), "!f".
func isOpt(s string) bool { return s == "--" || s == "-f" || s == "!f" }

// isAddrWord is a source or destination column.
func isAddrWord(s string) bool {
	s = strings.TrimPrefix(s, "!")
	if s == "anywhere" {
		return true
	}
	_, ok := parsePrefix(s)
	return ok
}

// ruleLine reads one rule: [num] [pkts bytes] target prot [opt] [in out]
// source destination [what the matches and the target print].
func (p *iptList) ruleLine(n int, line, t string) {
	f := strings.Fields(t)
	// The source and destination are the first two address words after
	// the fixed columns; what comes before them is fixed by the header.
	lead := 0
	if p.cols.num {
		lead++
	}
	if p.cols.counters {
		lead += 2
	}
	at := -1
	for i := lead + 1; i+1 < len(f); i++ {
		if isAddrWord(f[i]) && isAddrWord(f[i+1]) {
			at = i
			break
		}
	}
	if at < 0 {
		p.probs.add(n, line, syntaxErr("a rule: target prot opt in out source destination", t))
		return
	}
	var r track.Rule
	if p.cols.counters {
		pk, ok1 := listCount(f[lead-2])
		by, ok2 := listCount(f[lead-1])
		if !ok1 || !ok2 {
			p.probs.add(n, line, syntaxErr("packet and byte counters", f[lead-2]+" "+f[lead-1]))
			return
		}
		r.Counter, r.HasCounter = track.RuleCounter{Packets: pk, Bytes: by}, true
	}
	mid := f[lead:at]
	if p.cols.ifaces {
		if len(mid) < 3 {
			p.probs.add(n, line, syntaxErr("target prot opt in out", strings.Join(mid, " ")))
			return
		}
		setListIface(&r.Match.InIface, &r.Match.InNeg, mid[len(mid)-2])
		setListIface(&r.Match.OutIface, &r.Match.OutNeg, mid[len(mid)-1])
		mid = mid[:len(mid)-2]
	}
	if len(mid) > 0 && isOpt(mid[len(mid)-1]) {
		mid = mid[:len(mid)-1]
	}
	target := ""
	switch len(mid) {
	case 1:
	case 2:
		target, mid = mid[0], mid[1:]
	default:
		p.probs.add(n, line, syntaxErr("target prot opt", strings.Join(mid, " ")))
		return
	}
	proto := mid[0]
	neg := strings.HasPrefix(proto, "!")
	proto = strings.TrimPrefix(proto, "!")
	if proto != "all" && proto != "0" {
		pr, ok := track.ParseProto(strings.ToLower(proto))
		if !ok {
			if v, err := strconv.ParseUint(proto, 10, 8); err == nil {
				pr, ok = track.Proto(v), true
			}
		}
		if !ok {
			p.probs.add(n, line, syntaxErr("a protocol", proto))
			return
		}
		r.Match.Proto, r.Match.ProtoNeg = pr, neg
	}
	for i, side := range []struct {
		ps  *[]netip.Prefix
		neg *bool
	}{{&r.Match.Src, &r.Match.SrcNeg}, {&r.Match.Dst, &r.Match.DstNeg}} {
		w := f[at+i]
		*side.neg = strings.HasPrefix(w, "!")
		w = strings.TrimPrefix(w, "!")
		if w == "anywhere" {
			continue
		}
		pf, _ := parsePrefix(w)
		if pf.Bits() != 0 {
			*side.ps = []netip.Prefix{pf}
		} else if *side.neg {
			*side.ps = []netip.Prefix{pf} // "! 0.0.0.0/0": nothing
		}
	}
	isGoto := false
	extra := decodeListExtras(f[at+2:], &r, target, &isGoto, &p.rs.Unknown)
	c := &p.table.Chains[p.chain]
	r.Position = len(c.Rules) + 1
	c.Rules = append(c.Rules, r)
	p.pending = append(p.pending, pendingRule{chain: p.chain, rule: len(c.Rules) - 1, target: target, isGoto: isGoto, extra: extra, line: n})
}

// setListIface reads an interface column: "*" or "any" for any, "!lo", "eth+".
func setListIface(name *string, neg *bool, w string) {
	if w == "*" || w == "any" {
		return
	}
	*neg = strings.HasPrefix(w, "!")
	*name = strings.TrimPrefix(w, "!")
}

// servicePorts are the names iptables prints for common ports without -n
// (from /etc/services).
var servicePorts = map[string]uint16{
	"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67, "bootpc": 68, "http": 80, "pop3": 110,
	"ntp": 123, "imap2": 143, "snmp": 161, "ldap": 389, "https": 443, "syslog": 514, "submission": 587, "imaps": 993,
	"mysql": 3306, "postgresql": 5432, "redis": 6379, "http-alt": 8080, "webcache": 8080,
}

// listPort reads a port as -L prints it: a number or a service name.
func listPort(s string) (uint16, bool) {
	if v, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(v), true
	}
	v, ok := servicePorts[s]
	return v, ok
}

// listPortRange reads "80", "1000:2000", "http", "8000:http-alt".
func listPortRange(s string) (track.PortRange, bool) {
	lo, hi, isRange := strings.Cut(s, ":")
	a, ok := listPort(lo)
	if !ok {
		return track.PortRange{}, false
	}
	b := a
	if isRange {
		if b, ok = listPort(hi); !ok || b < a {
			return track.PortRange{}, false
		}
	}
	return track.PortRange{Min: a, Max: b}, true
}

// decodeListExtras reads what matches and the target print after the
// destination, into r; it returns the words not understood (grouped) for
// the rule's text, and counts them in unknown.
func decodeListExtras(w []string, r *track.Rule, target string, isGoto *bool, unknown *int) []string {
	var extra []string
	other := func(words ...string) {
		extra = append(extra, strings.Join(words, " "))
		*unknown++
		r.Partial = true
	}
	neg := false
	for i := 0; i < len(w); i++ {
		x := w[i]
		next := func() (string, bool) {
			if i+1 < len(w) {
				i++
				return w[i], true
			}
			return "", false
		}
		switch {
		case x == "!":
			neg = true
			continue
		case x == "[goto]":
			*isGoto = true
		case x == "/*":
			// A comment runs to "*/".
			var words []string
			for i+1 < len(w) && w[i+1] != "*/" {
				i++
				words = append(words, w[i])
			}
			i++
			r.Comment = strings.Join(words, " ")
		case x == "tcp" || x == "udp" || x == "sctp" || x == "dccp" || x == "udplite":
			// "tcp dpt:22", "udp spts:1000:2000", "tcp flags:0x17/0x02"
			for i+1 < len(w) && (strings.Contains(w[i+1], ":") || w[i+1] == "!") && !strings.HasPrefix(w[i+1], "to:") {
				i++
				v := w[i]
				pneg := false
				if v == "!" {
					if i+1 >= len(w) {
						break
					}
					i++
					v, pneg = w[i], true
				}
				key, val, _ := strings.Cut(v, ":")
				if strings.HasPrefix(val, "!") {
					val, pneg = val[1:], true
				}
				switch key {
				case "dpt", "dpts", "spt", "spts":
					pr, ok := listPortRange(val)
					if !ok {
						other(x, v)
						continue
					}
					if key[0] == 'd' {
						r.Match.DPorts, r.Match.DPortNeg = []track.PortRange{pr}, pneg
					} else {
						r.Match.SPorts, r.Match.SPortNeg = []track.PortRange{pr}, pneg
					}
				default:
					other(x, v)
				}
			}
		case x == "multiport":
			kind, _ := next()
			v, _ := next()
			mneg := false
			if v == "!" {
				v, _ = next()
				mneg = true
			} else if strings.HasPrefix(v, "!") {
				v, mneg = v[1:], true
			}
			var prs []track.PortRange
			ok := kind == "dports" || kind == "sports"
			for _, s := range strings.Split(v, ",") {
				pr, good := listPortRange(s)
				ok = ok && good
				prs = append(prs, pr)
			}
			if !ok {
				other("multiport", kind, v)
				continue
			}
			if kind == "dports" {
				r.Match.DPorts, r.Match.DPortNeg = prs, mneg || neg
			} else {
				r.Match.SPorts, r.Match.SPortNeg = prs, mneg || neg
			}
		case x == "ctstate" || x == "state":
			v, _ := next()
			st, ok := parseCtStates(v)
			if !ok {
				other(x, v)
				continue
			}
			r.Match.CtState, r.Match.CtStateNeg = st, neg
		case x == "ctstatus" || x == "ctdir" || x == "ctproto" || x == "ctexpire" || x == "ctorigsrc" || x == "ctorigdst" ||
			x == "ctreplsrc" || x == "ctrepldst" || x == "ctorigsrcport" || x == "ctorigdstport" || x == "ctreplsrcport" || x == "ctrepldstport":
			v, _ := next()
			r.Match.CtOther = append(r.Match.CtOther, strings.TrimPrefix(x, "ct"))
			other(x, v)
		case x == "connmark" || x == "helper" || x == "connlimit" || x == "connbytes":
			r.Match.CtOther = append(r.Match.CtOther, x)
			words := []string{x}
			for i+1 < len(w) && !isListKeyword(w[i+1]) {
				i++
				words = append(words, w[i])
			}
			other(words...)
		case x == "masq" && target == "MASQUERADE":
			// "masq ports: 20000-20099"
			if k, _ := next(); k != "ports:" {
				other("masq", k)
				continue
			}
			v, _ := next()
			if !parseToPorts(v, &r.Action) {
				other("masq ports:", v)
			}
		case x == "redir" && target == "REDIRECT":
			if k, _ := next(); k != "ports" {
				other("redir", k)
				continue
			}
			v, _ := next()
			if !parseToPorts(v, &r.Action) {
				other("redir ports", v)
			}
		case strings.HasPrefix(x, "to:") && (target == "SNAT" || target == "DNAT"):
			if !parseNATTo(strings.TrimPrefix(x, "to:"), &r.Action) {
				other(x)
			}
		case x == "random" || x == "random-fully" || x == "persistent":
			switch x {
			case "random":
				r.Action.Flags |= track.NATRandom
			case "random-fully":
				r.Action.Flags |= track.NATRandomFully
			default:
				r.Action.Flags |= track.NATPersistent
			}
		case x == "CT" && target == "CT":
			// "CT notrack", "CT zone 7", "CT helper ftp"
			v, _ := next()
			switch v {
			case "notrack":
				r.Action = track.RuleAction{Kind: track.ActionNotrack}
			case "zone":
				z, _ := next()
				zone, err := strconv.ParseUint(z, 10, 16)
				if err != nil {
					other("CT zone", z)
					continue
				}
				r.Action = track.RuleAction{Kind: track.ActionCtZone, Zone: uint16(zone)}
			case "helper":
				h, _ := next()
				r.Action = track.RuleAction{Kind: track.ActionCtHelper, Helper: h}
			default:
				r.Action.Kind = track.ActionCtOther
				other("CT", v)
			}
		case x == "NOTRACK" && (target == "CT" || target == "NOTRACK"):
			r.Action = track.RuleAction{Kind: track.ActionNotrack}
		case x == "reject-with" && target == "REJECT":
			next()
		default:
			// Not understood: the words up to the next one we know.
			words := []string{x}
			for i+1 < len(w) && !isListKeyword(w[i+1]) {
				i++
				words = append(words, w[i])
			}
			if target != "" && !isMatchWord(x) {
				// The target's own options (LOG prefix, MARK set …): kept, not narrowing.
				extra = append(extra, strings.Join(words, " "))
				*unknown++
			} else {
				other(words...)
			}
		}
		neg = false
	}
	// CT without notrack/zone/helper is some other conntrack write.
	if target == "CT" && r.Action.Kind == track.ActionNone {
		r.Action.Kind = track.ActionCtOther
	}
	return extra
}

// isListKeyword is a word that starts a match or target's text.
func isListKeyword(s string) bool {
	switch s {
	case "!", "/*", "[goto]", "tcp", "udp", "sctp", "dccp", "udplite", "multiport", "ctstate", "state", "masq", "redir",
		"random", "random-fully", "persistent", "CT", "NOTRACK", "reject-with", "connmark", "helper", "connlimit", "connbytes",
		"mark", "ADDRTYPE", "statistic", "recent:", "limit:", "LOG", "MARK", "CONNMARK", "physdev", "owner", "set", "match-set":
		return true
	}
	return strings.HasPrefix(s, "to:") || strings.HasPrefix(s, "ct")
}

// isMatchWord: the words of matches that narrow a rule (as opposed to a
// target's options) among those not decoded.
func isMatchWord(s string) bool {
	switch s {
	case "mark", "ADDRTYPE", "statistic", "recent:", "limit:", "physdev", "owner", "match-set", "icmp", "icmpv6", "socket", "length", "ttl", "TTL", "tos", "dscp", "pkttype", "iprange", "mac", "time", "string", "hashlimit", "rpfilter", "policy", "cgroup", "bpf":
		return true
	}
	return false
}
