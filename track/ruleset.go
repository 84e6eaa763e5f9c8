package track

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// The firewall ruleset of a network namespace, as far as conntrack is
// concerned: tables, chains on their hooks with their priorities, and per
// rule what makes conntrack matter (state matches, NOTRACK, zones, helpers,
// NAT with its ranges and flags) with the rule's counter and its text.
// Package ruleset reads it (nftables netlink, iptables-legacy-save, files);
// a Snapshot carries it so that samples, bundles, the TUI and the analyzer
// all see the ruleset that was in force when the table was read.

// RuleBackend says which tool wrote a table, so a remedy can be given in
// the host's own syntax.
type RuleBackend uint8

// Backends.
const (
	BackendUnknown        RuleBackend = iota
	BackendNft                        // nft (nftables native)
	BackendIptablesNft                // iptables-nft: iptables syntax, nftables in the kernel
	BackendIptablesLegacy             // iptables-legacy: x_tables in the kernel
	BackendIptables                   // iptables syntax, kernel side not known (an unmarked iptables-save file)
)

var backendNames = [...]string{"unknown", "nft", "iptables-nft", "iptables-legacy", "iptables"}

func (b RuleBackend) String() string {
	if int(b) < len(backendNames) {
		return backendNames[b]
	}
	return "unknown"
}

// IsIptables reports whether rules are written in iptables syntax.
func (b RuleBackend) IsIptables() bool {
	return b == BackendIptablesNft || b == BackendIptablesLegacy || b == BackendIptables
}

// MarshalText writes the backend's name.
func (b RuleBackend) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads a backend's name.
func (b *RuleBackend) UnmarshalText(t []byte) error {
	for i, n := range backendNames {
		if n == string(t) {
			*b = RuleBackend(i)
			return nil
		}
	}
	return fmt.Errorf("unknown ruleset backend %q", t)
}

// RuleFamily is an nftables table family; the values are the kernel's
// NFPROTO_* numbers.
type RuleFamily uint8

// Table families.
const (
	RuleFamilyInet   RuleFamily = 1
	RuleFamilyIP     RuleFamily = 2
	RuleFamilyARP    RuleFamily = 3
	RuleFamilyNetdev RuleFamily = 5
	RuleFamilyBridge RuleFamily = 7
	RuleFamilyIP6    RuleFamily = 10
)

var ruleFamilyNames = map[RuleFamily]string{
	RuleFamilyInet: "inet", RuleFamilyIP: "ip", RuleFamilyARP: "arp",
	RuleFamilyNetdev: "netdev", RuleFamilyBridge: "bridge", RuleFamilyIP6: "ip6",
}

// String is nft's name ("ip", "ip6", "inet", ...).
func (f RuleFamily) String() string {
	if n, ok := ruleFamilyNames[f]; ok {
		return n
	}
	return fmt.Sprintf("family%d", uint8(f))
}

// ParseRuleFamily reads nft's family name.
func ParseRuleFamily(s string) (RuleFamily, bool) {
	for f, n := range ruleFamilyNames {
		if n == s {
			return f, true
		}
	}
	return 0, false
}

// MarshalText writes nft's family name.
func (f RuleFamily) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads nft's family name.
func (f *RuleFamily) UnmarshalText(t []byte) error {
	v, ok := ParseRuleFamily(string(t))
	if !ok {
		return fmt.Errorf("unknown table family %q", t)
	}
	*f = v
	return nil
}

// Covers reports whether a table of family f sees packets of the address
// family fam (an inet table sees both).
func (f RuleFamily) Covers(fam Family) bool {
	switch f {
	case RuleFamilyInet, RuleFamilyBridge, RuleFamilyNetdev:
		return true
	case RuleFamilyIP:
		return fam == FamilyIPv4
	case RuleFamilyIP6:
		return fam == FamilyIPv6
	}
	return false
}

// Hook is a netfilter hook a base chain is attached to.
type Hook uint8

// Hooks, in the order this package lists them. HookNone is a regular
// chain, reached only by jump or goto.
const (
	HookNone Hook = iota
	HookPrerouting
	HookInput
	HookForward
	HookOutput
	HookPostrouting
	HookIngress
	HookEgress
)

var hookNames = [...]string{"", "prerouting", "input", "forward", "output", "postrouting", "ingress", "egress"}

func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "hook?"
}

// ParseHook reads nft's hook name or iptables' chain name ("PREROUTING").
func ParseHook(s string) (Hook, bool) {
	s = strings.ToLower(s)
	for i, n := range hookNames {
		if i > 0 && n == s {
			return Hook(i), true
		}
	}
	return HookNone, false
}

// MarshalText writes the hook's name ("" for none).
func (h Hook) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a hook's name.
func (h *Hook) UnmarshalText(t []byte) error {
	if len(t) == 0 {
		*h = HookNone
		return nil
	}
	v, ok := ParseHook(string(t))
	if !ok {
		return fmt.Errorf("unknown hook %q", t)
	}
	*h = v
	return nil
}

// packetHooks are the IP hooks in the order this package presents them:
// a forwarded packet meets prerouting, forward, postrouting; a local one
// prerouting, input; a locally sent one output, postrouting.
var packetHooks = [...]Hook{HookPrerouting, HookInput, HookForward, HookOutput, HookPostrouting}

// PacketHooks returns the IP hooks in packet order.
func PacketHooks() []Hook { return packetHooks[:] }

// Standard priorities (include/uapi/linux/netfilter_ipv4.h): where base
// chains sit relative to conntrack itself on a hook. Lower runs first.
const (
	PriorityConntrackDefrag  = -400
	PriorityRaw              = -300
	PriorityConntrack        = -200 // conntrack looks the packet up (prerouting, output)
	PriorityMangle           = -150
	PriorityDstNAT           = -100
	PriorityFilter           = 0
	PrioritySecurity         = 50
	PrioritySrcNAT           = 100
	PriorityConntrackHelper  = 300
	PriorityConntrackConfirm = math.MaxInt32 // conntrack confirms the entry (input, postrouting)
)

// ConntrackPriority says where conntrack itself hooks: it looks packets up at
// priority -200 in prerouting and output, and confirms new entries last
// (INT_MAX) in input and postrouting.
func ConntrackPriority(h Hook) (prio int32, what string, ok bool) {
	switch h {
	case HookPrerouting, HookOutput:
		return PriorityConntrack, "conntrack: look up or create the entry (NOTRACK before here skips it)", true
	case HookInput, HookPostrouting:
		return PriorityConntrackConfirm, "conntrack: confirm new entries into the table", true
	}
	return 0, "", false
}

// PriorityName is nft's name for a standard priority of a hook ("raw",
// "dstnat", "filter+10"), or the number.
func PriorityName(h Hook, prio int32) string {
	names := []struct {
		name string
		prio int32
	}{{"raw", PriorityRaw}, {"mangle", PriorityMangle}, {"filter", PriorityFilter}, {"security", PrioritySecurity}}
	switch h {
	case HookPrerouting, HookOutput:
		names = append(names, struct {
			name string
			prio int32
		}{"dstnat", PriorityDstNAT})
	}
	switch h {
	case HookPostrouting, HookInput:
		names = append(names, struct {
			name string
			prio int32
		}{"srcnat", PrioritySrcNAT})
	}
	for _, n := range names {
		if d := prio - n.prio; d >= -10 && d <= 10 {
			switch {
			case d == 0:
				return n.name
			case d > 0:
				return fmt.Sprintf("%s+%d", n.name, d)
			default:
				return fmt.Sprintf("%s%d", n.name, d)
			}
		}
	}
	return fmt.Sprint(prio)
}

// RuleCounter is a rule's packet and byte counter.
type RuleCounter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// CtState is a set of conntrack states as rules match them. The bits are
// nft's (NF_CT_STATE_*_BIT, the same as xt_state's); SNAT and DNAT, which
// only xt_conntrack has, take two bits above them (xt_conntrack's own
// numbering differs and is converted when read).
type CtState uint16

// Conntrack states.
const (
	CtStateInvalid     CtState = 1 << 0
	CtStateEstablished CtState = 1 << 1
	CtStateRelated     CtState = 1 << 2
	CtStateNew         CtState = 1 << 3
	CtStateUntracked   CtState = 1 << 6
	CtStateSNAT        CtState = 1 << 8 // xt_conntrack --ctstate SNAT (its own bit 6)
	CtStateDNAT        CtState = 1 << 9 // xt_conntrack --ctstate DNAT (its own bit 7)
)

var ctStateNames = []struct {
	bit  CtState
	name string
}{{CtStateInvalid, "invalid"}, {CtStateEstablished, "established"}, {CtStateRelated, "related"},
	{CtStateNew, "new"}, {CtStateUntracked, "untracked"}, {CtStateSNAT, "snat"}, {CtStateDNAT, "dnat"}}

// Has reports whether every state of o is in s.
func (s CtState) Has(o CtState) bool { return s&o == o }

// String lists the states the nft way: "established,related".
func (s CtState) String() string {
	var parts []string
	for _, n := range ctStateNames {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ",")
}

// ParseCtState reads one state name, nft's or iptables' ("INVALID").
func ParseCtState(s string) (CtState, bool) {
	s = strings.ToLower(s)
	for _, n := range ctStateNames {
		if n.name == s {
			return n.bit, true
		}
	}
	return 0, false
}

// MarshalText lists the states.
func (s CtState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a comma-separated list of states.
func (s *CtState) UnmarshalText(t []byte) error {
	*s = 0
	if len(t) == 0 {
		return nil
	}
	for _, p := range strings.Split(string(t), ",") {
		b, ok := ParseCtState(p)
		if !ok {
			return fmt.Errorf("unknown conntrack state %q", p)
		}
		*s |= b
	}
	return nil
}

// RuleMatch is what a rule selects, as far as it was understood. Empty
// fields match anything. A rule with parts not decoded has Rule.Partial
// set: it may select less than RuleMatch says.
type RuleMatch struct {
	Proto    Proto          `json:"proto,omitempty"` // L4 protocol; 0 any
	ProtoNeg bool           `json:"proto_neg,omitempty"`
	Src      []netip.Prefix `json:"src,omitempty"`
	SrcNeg   bool           `json:"src_neg,omitempty"`
	Dst      []netip.Prefix `json:"dst,omitempty"`
	DstNeg   bool           `json:"dst_neg,omitempty"`
	SPorts   []PortRange    `json:"sports,omitempty"`
	SPortNeg bool           `json:"sport_neg,omitempty"`
	DPorts   []PortRange    `json:"dports,omitempty"`
	DPortNeg bool           `json:"dport_neg,omitempty"`
	InIface  string         `json:"iif,omitempty"`
	InNeg    bool           `json:"iif_neg,omitempty"`
	OutIface string         `json:"oif,omitempty"`
	OutNeg   bool           `json:"oif_neg,omitempty"`

	// CtState is the set of states a ct state / ctstate / state match
	// accepts (CtStateNeg: all but these); zero when the rule has none.
	CtState    CtState `json:"ct_state,omitempty"`
	CtStateNeg bool    `json:"ct_state_neg,omitempty"`
	// CtOther says the rule matches other conntrack data (status, mark,
	// direction, original/reply tuples, expiry, labels, count, zone,
	// helper): it needs conntrack too.
	CtOther []string `json:"ct_other,omitempty"`
}

// UsesConntrack reports whether the match reads conntrack state.
func (m *RuleMatch) UsesConntrack() bool { return m.CtState != 0 || len(m.CtOther) > 0 }

// MatchesPort reports whether packets of protocol proto to or from port p
// (a service's queries or its answers) can match, ignoring what else the
// rule selects: a rule that names neither port matches any; one that
// names ports matches when the destination ports or the source ports
// hold p.
func (m *RuleMatch) MatchesPort(proto Proto, p uint16) bool {
	if m.Proto != 0 && (m.Proto == proto) == m.ProtoNeg {
		return false
	}
	if len(m.DPorts) == 0 && len(m.SPorts) == 0 {
		return true
	}
	holds := func(prs []PortRange, neg bool) bool {
		if len(prs) == 0 {
			return false
		}
		in := false
		for _, r := range prs {
			in = in || p >= r.Min && p <= r.Max
		}
		return in != neg
	}
	return holds(m.DPorts, m.DPortNeg) || holds(m.SPorts, m.SPortNeg)
}

// ActionKind is what a rule does that concerns conntrack.
type ActionKind uint8

// Conntrack-relevant actions.
const (
	ActionNone       ActionKind = iota
	ActionNotrack               // notrack, -j NOTRACK, -j CT --notrack
	ActionSNAT                  // snat, -j SNAT
	ActionDNAT                  // dnat, -j DNAT
	ActionMasquerade            // masquerade, -j MASQUERADE
	ActionRedirect              // redirect, -j REDIRECT
	ActionCtZone                // ct zone set, -j CT --zone
	ActionCtHelper              // ct helper set, -j CT --helper
	ActionCtOther               // other ct writes (mark, label, timeout, expectation; -j CT --ctevents …)
)

var actionNames = [...]string{"", "notrack", "snat", "dnat", "masquerade", "redirect", "ct-zone", "ct-helper", "ct-set"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "action?"
}

// MarshalText writes the action's name.
func (k ActionKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads an action's name.
func (k *ActionKind) UnmarshalText(t []byte) error {
	for i, n := range actionNames {
		if n == string(t) {
			*k = ActionKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown rule action %q", t)
}

// IsNAT reports whether the action is a NAT mapping.
func (k ActionKind) IsNAT() bool {
	return k == ActionSNAT || k == ActionDNAT || k == ActionMasquerade || k == ActionRedirect
}

// IsSourceNAT reports whether the action rewrites the source
// (SNAT, MASQUERADE): the port range conntrack must find a free tuple in.
func (k ActionKind) IsSourceNAT() bool { return k == ActionSNAT || k == ActionMasquerade }

// NATFlags are a NAT mapping's flags.
type NATFlags uint8

// NAT flags (NF_NAT_RANGE_PROTO_RANDOM, _PROTO_RANDOM_FULLY, _PERSISTENT).
const (
	NATRandom      NATFlags = 1 << 0
	NATRandomFully NATFlags = 1 << 1
	NATPersistent  NATFlags = 1 << 2
)

var natFlagNames = []struct {
	bit  NATFlags
	name string
}{{NATRandom, "random"}, {NATRandomFully, "fully-random"}, {NATPersistent, "persistent"}}

// String lists the flags the nft way ("random,persistent").
func (f NATFlags) String() string {
	var parts []string
	for _, n := range natFlagNames {
		if f&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ",")
}

// MarshalText lists the flags.
func (f NATFlags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a comma-separated list of flags (random-fully too).
func (f *NATFlags) UnmarshalText(t []byte) error {
	*f = 0
	if len(t) == 0 {
		return nil
	}
	for _, p := range strings.Split(string(t), ",") {
		if p == "random-fully" {
			p = "fully-random"
		}
		ok := false
		for _, n := range natFlagNames {
			if n.name == p {
				*f |= n.bit
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("unknown NAT flag %q", p)
		}
	}
	return nil
}

// RuleAction is the conntrack-relevant thing a rule does.
type RuleAction struct {
	Kind ActionKind `json:"kind,omitempty"`
	// AddrMin..AddrMax is a NAT mapping's address range (invalid: the
	// address is kept, or for MASQUERADE the output interface's).
	AddrMin netip.Addr `json:"addr_min,omitzero"`
	AddrMax netip.Addr `json:"addr_max,omitzero"`
	// Ports is a NAT mapping's port range (zero: ports are kept where
	// possible).
	Ports PortRange `json:"ports,omitzero"`
	Flags NATFlags  `json:"flags,omitempty"`
	// Zone is the zone ct zone set / CT --zone gives.
	Zone uint16 `json:"zone,omitempty"`
	// Helper names the helper ct helper set / CT --helper assigns.
	Helper string `json:"helper,omitempty"`
}

// PortCount is how many ports a NAT mapping's port range holds; 0 when
// it gives none (the kernel then keeps the port, or picks one in the same
// half, privileged or not, on a clash).
func (a *RuleAction) PortCount() int {
	if !a.Kind.IsNAT() {
		return 0
	}
	if a.Ports.IsZero() {
		return 0
	}
	return int(a.Ports.Max) - int(a.Ports.Min) + 1
}

// AddrCount is how many addresses a NAT mapping spreads over (1 when it
// gives none: the interface's or the kept address).
func (a *RuleAction) AddrCount() uint64 {
	if !a.AddrMin.IsValid() {
		return 1
	}
	hi := a.AddrMax
	if !hi.IsValid() {
		return 1
	}
	var n uint64 = 1
	for x := a.AddrMin; x.Less(hi) && n < 1<<32; x = x.Next() {
		n++
	}
	return n
}

// RuleVerdict is how a rule ends packet processing in its chain.
type RuleVerdict uint8

// Verdicts; VerdictNone continues with the next rule.
const (
	VerdictNone RuleVerdict = iota
	VerdictAccept
	VerdictDrop
	VerdictReject
	VerdictReturn
	VerdictJump
	VerdictGoto
	VerdictQueue
)

var verdictNames = [...]string{"", "accept", "drop", "reject", "return", "jump", "goto", "queue"}

func (v RuleVerdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict?"
}

// MarshalText writes the verdict's name.
func (v RuleVerdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a verdict's name.
func (v *RuleVerdict) UnmarshalText(t []byte) error {
	for i, n := range verdictNames {
		if n == string(t) {
			*v = RuleVerdict(i)
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %q", t)
}

// Rule is one rule with what concerns conntrack decoded.
type Rule struct {
	// Handle is the nftables rule handle (0 when the source has none:
	// iptables-legacy, iptables-save files).
	Handle uint64 `json:"handle,omitempty"`
	// Position is the rule's place in its chain, from 1.
	Position int `json:"position"`
	// Text is the rule as its backend spells it: an nft statement list, or
	// an iptables-save line without the counter ("-A POSTROUTING -o eth0 -j
	// MASQUERADE").
	Text       string      `json:"text"`
	Counter    RuleCounter `json:"counter"`
	HasCounter bool        `json:"has_counter,omitempty"`
	Comment    string      `json:"comment,omitempty"`

	Match   RuleMatch   `json:"match"`
	Action  RuleAction  `json:"action"`
	Verdict RuleVerdict `json:"verdict,omitempty"`
	// Target is the chain of a jump or goto.
	Target string `json:"target,omitempty"`
	// Partial: the rule has matches or statements that were not decoded
	// (they are in Text), so it may select fewer packets than Match says.
	Partial bool `json:"partial,omitempty"`
}

// NeedsConntrack reports whether the rule works only with connection
// tracking: it matches conntrack state, translates addresses, or sets a
// zone or helper.
func (r *Rule) NeedsConntrack() bool {
	return r.Match.UsesConntrack() || r.Action.Kind.IsNAT() || r.Action.Kind == ActionCtHelper ||
		r.Action.Kind == ActionCtZone || r.Action.Kind == ActionCtOther
}

// IsInvalidDrop reports whether the rule drops (or rejects) packets
// conntrack marked INVALID: ct state invalid drop, -m conntrack --ctstate
// INVALID -j DROP.
func (r *Rule) IsInvalidDrop() bool {
	return !r.Match.CtStateNeg && r.Match.CtState.Has(CtStateInvalid) &&
		(r.Verdict == VerdictDrop || r.Verdict == VerdictReject)
}

// RuleChain is a chain: a base chain on a hook, or a regular chain.
type RuleChain struct {
	Name string `json:"name"`
	// Hook is HookNone for a regular chain (reached by jump or goto).
	Hook     Hook   `json:"hook,omitempty"`
	Priority int32  `json:"priority,omitempty"`
	Type     string `json:"type,omitempty"`   // filter, nat, route
	Policy   string `json:"policy,omitempty"` // accept, drop (base chains)
	Device   string `json:"device,omitempty"` // netdev ingress/egress
	// PolicyCounter counts packets the policy decided (iptables chains).
	PolicyCounter    RuleCounter `json:"policy_counter,omitzero"`
	HasPolicyCounter bool        `json:"has_policy_counter,omitempty"`
	Rules            []Rule      `json:"rules"`
}

// IsBase reports whether the chain is attached to a hook.
func (c *RuleChain) IsBase() bool { return c.Hook != HookNone }

// RuleTable is a table of one family.
type RuleTable struct {
	Family  RuleFamily  `json:"family"`
	Name    string      `json:"name"`
	Backend RuleBackend `json:"backend"`
	Chains  []RuleChain `json:"chains"`
}

// Chain returns the chain named name.
func (t *RuleTable) Chain(name string) (*RuleChain, bool) {
	for i := range t.Chains {
		if t.Chains[i].Name == name {
			return &t.Chains[i], true
		}
	}
	return nil, false
}

// Ruleset is the rules of one network namespace (or a file of them).
type Ruleset struct {
	// Source says where it was read: "nftables netlink", a file name.
	Source string      `json:"source,omitempty"`
	Tables []RuleTable `json:"tables"`
	// Notes say how it was read (legacy tables read with
	// iptables-legacy-save, what could not be read).
	Notes []string `json:"notes,omitempty"`
	// Incomplete says some tables could not be read (the notes say which):
	// what the ruleset lacks cannot be concluded from it.
	Incomplete bool `json:"incomplete,omitempty"`
	// Unknown counts expressions, statements and options that were not
	// decoded (each rule that has any is Partial); Comments counts comment
	// lines of a file. Neither is dropped silently.
	Unknown  int `json:"unknown,omitempty"`
	Comments int `json:"comments,omitempty"`
}

// Backends lists the backends of the tables, each once, in table order.
func (r *Ruleset) Backends() []RuleBackend {
	var out []RuleBackend
	for _, t := range r.Tables {
		seen := false
		for _, b := range out {
			seen = seen || b == t.Backend
		}
		if !seen {
			out = append(out, t.Backend)
		}
	}
	return out
}

// RuleCount is the number of rules in all tables.
func (r *Ruleset) RuleCount() int {
	n := 0
	for _, t := range r.Tables {
		for _, c := range t.Chains {
			n += len(c.Rules)
		}
	}
	return n
}

// RuleRef is one rule with where it is: what a finding names.
type RuleRef struct {
	Family   RuleFamily
	Table    string
	Backend  RuleBackend
	Chain    string
	Hook     Hook // the chain's own hook (HookNone for a regular chain)
	Priority int32
	Rule     Rule
}

// String names the rule for people: "ip nat POSTROUTING #3: -A POSTROUTING ...".
func (r RuleRef) String() string {
	return fmt.Sprintf("%s %s %s #%d: %s", r.Family, r.Table, r.Chain, r.Rule.Position, r.Rule.Text)
}

// Rules returns every rule with its place, table by table, chain by chain.
func (r *Ruleset) Rules() []RuleRef {
	return r.Select(func(*Rule) bool { return true })
}

// Select returns the rules keep accepts, with their places.
func (r *Ruleset) Select(keep func(*Rule) bool) []RuleRef {
	if r == nil {
		return nil
	}
	var out []RuleRef
	for ti := range r.Tables {
		t := &r.Tables[ti]
		for ci := range t.Chains {
			c := &t.Chains[ci]
			for i := range c.Rules {
				if keep(&c.Rules[i]) {
					out = append(out, RuleRef{Family: t.Family, Table: t.Name, Backend: t.Backend,
						Chain: c.Name, Hook: c.Hook, Priority: c.Priority, Rule: c.Rules[i]})
				}
			}
		}
	}
	return out
}

// NATRules returns the NAT rules (of kind, or any NAT when kind is
// ActionNone) that can apply to packets of address family fam and
// protocol proto (0: any family or protocol).
func (r *Ruleset) NATRules(kind ActionKind, fam Family, proto Proto) []RuleRef {
	return ruleRefs(r.Select(func(x *Rule) bool {
		if !x.Action.Kind.IsNAT() || kind != ActionNone && x.Action.Kind != kind {
			return false
		}
		if proto != 0 && x.Match.Proto != 0 && (x.Match.Proto == proto) == x.Match.ProtoNeg {
			return false
		}
		return true
	})).keepFamily(fam)
}

// SourceNATPortRanges returns the SNAT and MASQUERADE rules that map to
// an explicit port range, for family fam and protocol proto (0: any).
func (r *Ruleset) SourceNATPortRanges(fam Family, proto Proto) []RuleRef {
	var out []RuleRef
	for _, x := range r.NATRules(ActionNone, fam, proto) {
		if x.Rule.Action.Kind.IsSourceNAT() && !x.Rule.Action.Ports.IsZero() {
			out = append(out, x)
		}
	}
	return out
}

type ruleRefs []RuleRef

func (rs ruleRefs) keepFamily(fam Family) []RuleRef {
	if fam == 0 {
		return rs
	}
	var out []RuleRef
	for _, x := range rs {
		if x.Family.Covers(fam) {
			out = append(out, x)
		}
	}
	return out
}

// InvalidDrops returns the rules that drop packets conntrack marked INVALID.
func (r *Ruleset) InvalidDrops() []RuleRef {
	return r.Select(func(x *Rule) bool { return x.IsInvalidDrop() })
}

// NotrackRules returns the rules that keep packets out of conntrack.
func (r *Ruleset) NotrackRules() []RuleRef {
	return r.Select(func(x *Rule) bool { return x.Action.Kind == ActionNotrack })
}

// Notracked reports the NOTRACK rules that can select packets of protocol
// proto to or from port port (address family fam, 0: any); a rule with
// undecoded parts counts, since it may.
func (r *Ruleset) Notracked(fam Family, proto Proto, port uint16) []RuleRef {
	var out []RuleRef
	for _, x := range ruleRefs(r.NotrackRules()).keepFamily(fam) {
		if x.Rule.Match.MatchesPort(proto, port) {
			out = append(out, x)
		}
	}
	return out
}

// Needs says why conntrack is needed: the first rules of each kind.
type Needs struct {
	State  []RuleRef // rules matching conntrack state or other conntrack data
	NAT    []RuleRef // NAT rules
	Helper []RuleRef // rules assigning a helper or zone, or writing ct data
}

// Any reports whether some rule needs conntrack.
func (n Needs) Any() bool { return len(n.State)+len(n.NAT)+len(n.Helper) > 0 }

// NeedsConntrack lists the rules that need connection tracking, by kind.
func (r *Ruleset) NeedsConntrack() Needs {
	var n Needs
	for _, x := range r.Select((*Rule).NeedsConntrack) {
		switch {
		case x.Rule.Action.Kind.IsNAT():
			n.NAT = append(n.NAT, x)
		case x.Rule.Match.UsesConntrack():
			n.State = append(n.State, x)
		default:
			n.Helper = append(n.Helper, x)
		}
	}
	return n
}

// DNATTarget is where a DNAT or REDIRECT rule sends connections.
type DNATTarget struct {
	// Proto and DPorts are what the rule matches (0 / empty: any).
	Proto  Proto
	DPorts []PortRange
	// AddrMin..AddrMax and Ports are the translation (AddrMin invalid for
	// REDIRECT: the local address).
	AddrMin, AddrMax netip.Addr
	Ports            PortRange
	Rule             RuleRef
}

// Contains reports whether addr and port are a destination the rule may
// translate to.
func (d DNATTarget) Contains(addr netip.Addr, port uint16) bool {
	if d.AddrMin.IsValid() {
		hi := d.AddrMax
		if !hi.IsValid() {
			hi = d.AddrMin
		}
		if addr.Less(d.AddrMin) || hi.Less(addr) {
			return false
		}
	}
	return d.Ports.IsZero() || port >= d.Ports.Min && port <= d.Ports.Max
}

// DNATTargets lists the destinations DNAT and REDIRECT rules translate to.
func (r *Ruleset) DNATTargets() []DNATTarget {
	var out []DNATTarget
	for _, x := range r.Select(func(x *Rule) bool {
		return x.Action.Kind == ActionDNAT || x.Action.Kind == ActionRedirect
	}) {
		hi := x.Rule.Action.AddrMax
		if !hi.IsValid() {
			hi = x.Rule.Action.AddrMin
		}
		out = append(out, DNATTarget{Proto: x.Rule.Match.Proto, DPorts: x.Rule.Match.DPorts,
			AddrMin: x.Rule.Action.AddrMin, AddrMax: hi, Ports: x.Rule.Action.Ports, Rule: x})
	}
	return out
}

// HookStep is one stop of a packet on a hook: a base chain, or conntrack
// itself (Conntrack set; Table and Chain empty).
type HookStep struct {
	Priority  int32
	Conntrack string // what conntrack does here, when this step is conntrack
	// TableIndex is the table's index in Ruleset.Tables (an iptables-nft
	// and an iptables-legacy table may share family and name).
	TableIndex int
	Family     RuleFamily
	Table      string
	Chain      string
	Backend    RuleBackend
}

// HookPath is the steps on one hook in the order a packet meets them.
type HookPath struct {
	Hook  Hook
	Steps []HookStep
}

// PacketPath returns the IP hooks in packet order, each with its base
// chains by priority and conntrack's own place among them. Chains of
// equal priority keep the order they were read in (the kernel's order of
// registration is not visible). Hooks other than the IP ones (ingress,
// egress) come last when some chain uses them.
func (r *Ruleset) PacketPath() []HookPath {
	hooks := append([]Hook{}, packetHooks[:]...)
	if r != nil {
		for _, t := range r.Tables {
			for _, c := range t.Chains {
				if (c.Hook == HookIngress || c.Hook == HookEgress) && !containsHook(hooks, c.Hook) {
					hooks = append(hooks, c.Hook)
				}
			}
		}
	}
	var out []HookPath
	for _, h := range hooks {
		p := HookPath{Hook: h}
		if prio, what, ok := ConntrackPriority(h); ok {
			p.Steps = append(p.Steps, HookStep{Priority: prio, Conntrack: what})
		}
		if r != nil {
			for ti, t := range r.Tables {
				if t.Family == RuleFamilyARP || t.Family == RuleFamilyBridge {
					continue // other hooks than the IP stack's
				}
				for _, c := range t.Chains {
					if c.Hook == h {
						p.Steps = append(p.Steps, HookStep{Priority: c.Priority, TableIndex: ti, Family: t.Family,
							Table: t.Name, Chain: c.Name, Backend: t.Backend})
					}
				}
			}
		}
		// Stable insertion sort: few steps, and read order breaks ties.
		for i := 1; i < len(p.Steps); i++ {
			for j := i; j > 0 && p.Steps[j].Priority < p.Steps[j-1].Priority; j-- {
				p.Steps[j], p.Steps[j-1] = p.Steps[j-1], p.Steps[j]
			}
		}
		out = append(out, p)
	}
	return out
}

func containsHook(hs []Hook, h Hook) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// MarshalText writes the range as "30000-30019", or "80" for one port.
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "30000-30019" or "80".
func (r *PortRange) UnmarshalText(t []byte) error {
	v, err := parsePortRange(string(t))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
