package track

import (
	"net/netip"
	"strconv"
	"strings"
)

// Questions diagnosis rules ask of a ruleset beyond the basic selections
// of ruleset.go: which backend a remedy should be written for, where a
// rule would go, what a service is translated to now, which NOTRACK rules
// take traffic away from rules that need it.

// Size is how many ports the range holds (0 for the zero range).
func (r PortRange) Size() int {
	if r.IsZero() {
		return 0
	}
	return int(r.Max) - int(r.Min) + 1
}

// Contains reports whether p is in the range (the zero range holds none).
func (r PortRange) Contains(p uint16) bool { return !r.IsZero() && p >= r.Min && p <= r.Max }

// Overlap is the ports two ranges share; ok is false when they share none.
func (r PortRange) Overlap(o PortRange) (PortRange, bool) {
	if r.IsZero() || o.IsZero() {
		return PortRange{}, false
	}
	lo, hi := max(r.Min, o.Min), min(r.Max, o.Max)
	if lo > hi {
		return PortRange{}, false
	}
	return PortRange{Min: lo, Max: hi}, true
}

// DefaultSourceNATPorts is the range a source NAT mapping without a port
// range picks from when the original source port is taken: the kernel
// keeps unprivileged ports unprivileged (1024-65535).
var DefaultSourceNATPorts = PortRange{Min: 1024, Max: 65535}

// LocalPortRange reads net.ipv4.ip_local_port_range ("32768	60999"), the
// ports the namespace's own sockets take when they bind none; ok is false
// when it was not read or is malformed.
func LocalPortRange(s Sysctls) (PortRange, bool) {
	v, ok := s["net.ipv4.ip_local_port_range"]
	if !ok {
		return PortRange{}, false
	}
	f := strings.Fields(v)
	if len(f) != 2 {
		return PortRange{}, false
	}
	lo, e1 := strconv.ParseUint(f[0], 10, 16)
	hi, e2 := strconv.ParseUint(f[1], 10, 16)
	if e1 != nil || e2 != nil || lo > hi || lo == 0 {
		return PortRange{}, false
	}
	return PortRange{Min: uint16(lo), Max: uint16(hi)}, true
}

// HostBackend is the syntax a remedy should be written in: the backend
// that wrote most of the rules that concern conntrack (NAT, state,
// NOTRACK), else most of all rules. An unmarked iptables-save file counts
// as iptables. Ties go to nft. BackendUnknown for an empty ruleset.
func (r *Ruleset) HostBackend() RuleBackend {
	if r == nil {
		return BackendUnknown
	}
	count := func(relevant bool) (nft, ipt, legacy int) {
		for _, t := range r.Tables {
			for _, c := range t.Chains {
				for i := range c.Rules {
					x := &c.Rules[i]
					if relevant && !x.NeedsConntrack() && x.Action.Kind != ActionNotrack {
						continue
					}
					switch {
					case t.Backend == BackendNft:
						nft++
					case t.Backend == BackendIptablesLegacy:
						legacy++
					case t.Backend.IsIptables():
						ipt++
					}
				}
			}
		}
		return
	}
	nft, ipt, legacy := count(true)
	if nft+ipt+legacy == 0 {
		nft, ipt, legacy = count(false)
	}
	switch {
	case nft+ipt+legacy == 0:
		if len(r.Tables) == 0 {
			return BackendUnknown
		}
		return r.Tables[0].Backend
	case nft >= ipt && nft >= legacy:
		return BackendNft
	case legacy > ipt:
		return BackendIptablesLegacy
	}
	for _, t := range r.Tables {
		if t.Backend == BackendIptablesNft {
			return BackendIptablesNft
		}
	}
	return BackendIptables
}

// IptablesCommand is the command that edits tables of backend b for
// family fam: iptables or ip6tables, with -legacy when the namespace also
// holds iptables-nft tables (plain iptables would then be the nft variant).
func (r *Ruleset) IptablesCommand(b RuleBackend, fam RuleFamily) string {
	cmd := "iptables"
	if fam == RuleFamilyIP6 {
		cmd = "ip6tables"
	}
	if b == BackendIptablesLegacy && r != nil {
		for _, t := range r.Tables {
			if t.Backend == BackendIptablesNft || t.Backend == BackendNft {
				return cmd + "-legacy"
			}
		}
	}
	return cmd
}

// ChainRef names a chain with its table.
type ChainRef struct {
	Family   RuleFamily
	Table    string
	Chain    string
	Hook     Hook
	Priority int32
	Backend  RuleBackend
}

// BaseChain finds a base chain of backend b on hook h whose priority is in
// [lo, hi] and whose type is typ ("" any), in a table that sees IPv4 (inet
// preferred, then ip). The first found in read order wins.
func (r *Ruleset) BaseChain(b RuleBackend, h Hook, lo, hi int32, typ string) (ChainRef, bool) {
	if r == nil {
		return ChainRef{}, false
	}
	var best ChainRef
	found := false
	for _, t := range r.Tables {
		if t.Backend != b || !t.Family.Covers(FamilyIPv4) || t.Family == RuleFamilyBridge || t.Family == RuleFamilyNetdev {
			continue
		}
		for _, c := range t.Chains {
			if c.Hook != h || c.Priority < lo || c.Priority > hi || typ != "" && c.Type != "" && c.Type != typ {
				continue
			}
			ref := ChainRef{Family: t.Family, Table: t.Name, Chain: c.Name, Hook: c.Hook, Priority: c.Priority, Backend: t.Backend}
			if !found || best.Family != RuleFamilyInet && t.Family == RuleFamilyInet {
				best, found = ref, true
			}
		}
	}
	return best, found
}

// RawChains are the nft base chains a NOTRACK rule can go in: prerouting
// and output, before conntrack looks packets up (priority below -200), in
// one table. ok is false unless both exist in the same table.
func (r *Ruleset) RawChains() (pre, out ChainRef, ok bool) {
	if r == nil {
		return
	}
	for _, t := range r.Tables {
		if t.Backend != BackendNft || !t.Family.Covers(FamilyIPv4) || t.Family == RuleFamilyBridge || t.Family == RuleFamilyNetdev {
			continue
		}
		var p, o *RuleChain
		for i := range t.Chains {
			c := &t.Chains[i]
			if c.Priority >= PriorityConntrack || c.Type != "" && c.Type != "filter" {
				continue
			}
			if c.Hook == HookPrerouting && p == nil {
				p = c
			}
			if c.Hook == HookOutput && o == nil {
				o = c
			}
		}
		if p != nil && o != nil {
			ref := func(c *RuleChain) ChainRef {
				return ChainRef{Family: t.Family, Table: t.Name, Chain: c.Name, Hook: c.Hook, Priority: c.Priority, Backend: t.Backend}
			}
			return ref(p), ref(o), true
		}
	}
	return
}

// IsKubernetes reports whether the ruleset is a Kubernetes node's:
// kube-proxy's chains (KUBE-SERVICES, KUBE-NODEPORTS, ...) or its nft
// table (kube-proxy).
func (r *Ruleset) IsKubernetes() bool {
	if r == nil {
		return false
	}
	for _, t := range r.Tables {
		if t.Name == "kube-proxy" {
			return true
		}
		for _, c := range t.Chains {
			if strings.HasPrefix(c.Name, "KUBE-") {
				return true
			}
		}
	}
	return false
}

// Selects reports whether the match can select a packet of protocol proto
// from src to dst:dport (invalid addresses and port 0 are not checked).
// Interfaces and conntrack state are not looked at.
func (m *RuleMatch) Selects(proto Proto, src, dst netip.Addr, dport uint16) bool {
	if m.Proto != 0 && proto != 0 && (m.Proto == proto) == m.ProtoNeg {
		return false
	}
	in := func(ps []netip.Prefix, neg bool, a netip.Addr) bool {
		if len(ps) == 0 || !a.IsValid() {
			return true
		}
		hit := false
		for _, p := range ps {
			hit = hit || p.Contains(a)
		}
		return hit != neg
	}
	if !in(m.Src, m.SrcNeg, src) || !in(m.Dst, m.DstNeg, dst) {
		return false
	}
	if dport != 0 && len(m.DPorts) > 0 {
		hit := false
		for _, r := range m.DPorts {
			hit = hit || dport >= r.Min && dport <= r.Max
		}
		if hit == m.DPortNeg {
			return false
		}
	}
	return true
}

// ServiceTargets are the DNAT or REDIRECT rules that translate a new
// connection of protocol proto to dst:dport now: the rules reached from
// the nat chains of prerouting and output, following jumps and gotos, whose
// matches along the way can select it (address family fam). Partial rules
// on the way are followed, since they may select it.
func (r *Ruleset) ServiceTargets(fam Family, proto Proto, dst netip.Addr, dport uint16) []DNATTarget {
	if r == nil {
		return nil
	}
	var out []DNATTarget
	for ti := range r.Tables {
		t := &r.Tables[ti]
		if !t.Family.Covers(fam) || t.Family == RuleFamilyBridge || t.Family == RuleFamilyNetdev {
			continue
		}
		for ci := range t.Chains {
			c := &t.Chains[ci]
			if c.Hook != HookPrerouting && c.Hook != HookOutput {
				continue
			}
			seen := map[string]bool{}
			var walk func(c *RuleChain, depth int)
			walk = func(c *RuleChain, depth int) {
				if depth > 16 || seen[c.Name] {
					return
				}
				seen[c.Name] = true
				for i := range c.Rules {
					x := &c.Rules[i]
					if !x.Match.Selects(proto, netip.Addr{}, dst, dport) {
						continue
					}
					switch {
					case x.Action.Kind == ActionDNAT || x.Action.Kind == ActionRedirect:
						hi := x.Action.AddrMax
						if !hi.IsValid() {
							hi = x.Action.AddrMin
						}
						out = append(out, DNATTarget{Proto: x.Match.Proto, DPorts: x.Match.DPorts, AddrMin: x.Action.AddrMin, AddrMax: hi,
							Ports: x.Action.Ports, Rule: RuleRef{Family: t.Family, Table: t.Name, Backend: t.Backend, Chain: c.Name,
								Hook: c.Hook, Priority: c.Priority, Rule: *x}})
					case x.Verdict == VerdictJump || x.Verdict == VerdictGoto:
						if next, ok := t.Chain(x.Target); ok {
							walk(next, depth+1)
						}
					}
				}
			}
			walk(c, 0)
		}
	}
	return out
}

// overlapsPorts: two port selections can select a common port.
func overlapsPorts(a []PortRange, aNeg bool, b []PortRange, bNeg bool) bool {
	if len(a) == 0 || len(b) == 0 || aNeg || bNeg {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if _, ok := x.Overlap(y); ok {
				return true
			}
		}
	}
	return false
}

// overlapsPrefixes: two address selections can select a common address.
func overlapsPrefixes(a []netip.Prefix, aNeg bool, b []netip.Prefix, bNeg bool) bool {
	if len(a) == 0 || len(b) == 0 || aNeg || bNeg {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				return true
			}
		}
	}
	return false
}

// Overlaps reports whether some packet can match both m and o, as far as
// protocol, addresses and ports tell (interfaces and states aside).
func (m *RuleMatch) Overlaps(o *RuleMatch) bool {
	if m.Proto != 0 && o.Proto != 0 && !m.ProtoNeg && !o.ProtoNeg && m.Proto != o.Proto {
		return false
	}
	return overlapsPrefixes(m.Src, m.SrcNeg, o.Src, o.SrcNeg) && overlapsPrefixes(m.Dst, m.DstNeg, o.Dst, o.DstNeg) &&
		overlapsPorts(m.DPorts, m.DPortNeg, o.DPorts, o.DPortNeg) && overlapsPorts(m.SPorts, m.SPortNeg, o.SPorts, o.SPortNeg)
}

// NotrackConflict is a NOTRACK rule that takes packets away from a rule
// that needs them tracked: a NAT rule (untracked packets are never
// translated) or a rule matching their conntrack state (untracked packets
// have none but "untracked").
type NotrackConflict struct {
	Notrack RuleRef
	Needs   RuleRef
}

// NotrackConflicts lists the NOTRACK rules whose packets a NAT rule, or a
// state rule naming the same ports, needs tracked: by protocol, address
// and port overlap, on hooks the same packets pass, in tables that see the
// same address family. Only what is certain counts: a NOTRACK rule not
// fully decoded is left out, a state rule with no port of its own (ct
// state established,related accept) only needs an untracked accept beside
// it, and a SNAT or MASQUERADE rule must narrow the same thing the NOTRACK
// rule narrows (ports or addresses): a masquerade of everything leaving an
// interface meets a NOTRACK rule only if the host forwards that traffic,
// which the ruleset cannot tell.
func (r *Ruleset) NotrackConflicts() []NotrackConflict {
	var out []NotrackConflict
	nts := r.NotrackRules()
	if len(nts) == 0 {
		return nil
	}
	for _, x := range r.Select((*Rule).NeedsConntrack) {
		m := &x.Rule.Match
		kind := x.Rule.Action.Kind
		if !kind.IsNAT() {
			if m.CtState == 0 || len(m.DPorts) == 0 && len(m.SPorts) == 0 || m.CtState.Has(CtStateUntracked) && !m.CtStateNeg {
				continue
			}
		}
		for _, n := range nts {
			nm := &n.Rule.Match
			if n.Rule.Partial || !familiesMeet(n.Family, x.Family) || !samePackets(n.Hook, x.Hook) || !nm.Overlaps(m) {
				continue
			}
			if kind.IsSourceNAT() && !narrowsAlike(nm, m) {
				continue
			}
			out = append(out, NotrackConflict{Notrack: n, Needs: x})
		}
	}
	return out
}

// samePackets: a NOTRACK rule on hook n can take packets a rule on hook x
// sees. Prerouting carries what goes on to input, forward and postrouting;
// output what goes on to postrouting. A regular chain (HookNone) may be
// reached from anywhere.
func samePackets(n, x Hook) bool {
	if n == HookNone || x == HookNone {
		return true
	}
	switch n {
	case HookPrerouting:
		return x != HookOutput
	case HookOutput:
		return x == HookOutput || x == HookPostrouting
	}
	return true
}

// narrowsAlike: both matches select by some of the same fields.
func narrowsAlike(a, b *RuleMatch) bool {
	return len(a.DPorts) > 0 && len(b.DPorts) > 0 || len(a.SPorts) > 0 && len(b.SPorts) > 0 ||
		len(a.Src) > 0 && len(b.Src) > 0 || len(a.Dst) > 0 && len(b.Dst) > 0
}

func familiesMeet(a, b RuleFamily) bool {
	return a.Covers(FamilyIPv4) && b.Covers(FamilyIPv4) || a.Covers(FamilyIPv6) && b.Covers(FamilyIPv6)
}

// Key identifies a rule across two readings of a ruleset: its place and
// handle, or its place and text (without the counter's values, which
// change) when there is no handle.
func (r RuleRef) Key() string {
	id := withoutCounter(r.Rule.Text)
	if r.Rule.Handle != 0 {
		id = "#" + strconv.FormatUint(r.Rule.Handle, 10)
	}
	return r.Family.String() + " " + r.Table + " " + r.Backend.String() + " " + r.Chain + " " + strconv.Itoa(r.Rule.Position) + " " + id
}

// withoutCounter drops the values of nft's "counter packets N bytes M".
func withoutCounter(text string) string {
	i := strings.Index(text, "counter packets ")
	if i < 0 {
		return text
	}
	rest := strings.Fields(text[i+len("counter packets "):])
	if len(rest) < 3 || rest[1] != "bytes" {
		return text
	}
	after := strings.Join(rest[3:], " ")
	return strings.TrimSpace(text[:i] + "counter " + after)
}

// MergeRulesets combines two rulesets read for one sample (iptables-save
// and ip6tables-save files, a ruleset read at every sample and one at the
// end): a table b also has (same family, name and backend) is b's, the
// others of both are kept. Either may be nil.
func MergeRulesets(a, b *Ruleset) *Ruleset {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	key := func(t *RuleTable) string { return t.Family.String() + " " + t.Name + " " + t.Backend.String() }
	inB := map[string]bool{}
	for i := range b.Tables {
		inB[key(&b.Tables[i])] = true
	}
	out := &Ruleset{Source: a.Source, Incomplete: a.Incomplete || b.Incomplete, Comments: a.Comments + b.Comments}
	if b.Source != "" && b.Source != a.Source {
		if out.Source != "" {
			out.Source += ", "
		}
		out.Source += b.Source
	}
	replaced := false
	for i := range a.Tables {
		if inB[key(&a.Tables[i])] {
			replaced = true
			continue
		}
		out.Tables = append(out.Tables, a.Tables[i])
	}
	out.Tables = append(out.Tables, b.Tables...)
	// What was not decoded is counted per ruleset, not per table: when a
	// table was read twice, the larger count stands for both.
	if replaced {
		out.Unknown = max(a.Unknown, b.Unknown)
	} else {
		out.Unknown = a.Unknown + b.Unknown
	}
	for _, n := range append(append([]string(nil), a.Notes...), b.Notes...) {
		dup := false
		for _, m := range out.Notes {
			dup = dup || m == n
		}
		if !dup {
			out.Notes = append(out.Notes, n)
		}
	}
	return out
}
