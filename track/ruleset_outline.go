package track

import (
	"fmt"
	"strings"
)

// The ruleset as people read it: the hooks in the order a packet meets
// them, each with its base chains by priority and conntrack's own place,
// and under each chain the rules that concern conntrack (a jump shows the
// chain it reaches under it). ctdiag ruleset prints it; the terminal UI's
// ruleset pane shows it.

// OutlineKind is what one line of an outline is.
type OutlineKind uint8

// Outline lines.
const (
	OutlineHook      OutlineKind = iota + 1 // a hook: "PREROUTING"
	OutlineConntrack                        // conntrack's step on the hook
	OutlineChain                            // a base chain on the hook
	OutlineRule                             // a rule (Depth > 0 under a jump)
	OutlineOthers                           // "… N other rules"
)

// OutlineLine is one line of an outline.
type OutlineLine struct {
	Kind     OutlineKind
	Hook     Hook
	Priority int32
	// Conntrack says what conntrack does here (OutlineConntrack).
	Conntrack string
	// Chain is the base chain (OutlineChain) or the rule's place
	// (OutlineRule).
	Chain RuleRef
	// Policy is a base chain's policy.
	Policy string
	// Depth is how many jumps down a rule is from its base chain.
	Depth int
	// Others counts rules left out (OutlineOthers).
	Others int
}

// maxOutlineDepth bounds how many jumps an outline follows.
const maxOutlineDepth = 16

// Outline lays the ruleset out by hook; with all, every rule, else those
// that concern conntrack (and the jumps that reach them).
func (r *Ruleset) Outline(all bool) []OutlineLine {
	if r == nil {
		return nil
	}
	idx := make([]*chainIndex, len(r.Tables))
	for i := range r.Tables {
		idx[i] = newChainIndex(&r.Tables[i])
	}
	var out []OutlineLine
	for _, p := range r.PacketPath() {
		out = append(out, OutlineLine{Kind: OutlineHook, Hook: p.Hook})
		for _, s := range p.Steps {
			if s.Conntrack != "" {
				out = append(out, OutlineLine{Kind: OutlineConntrack, Hook: p.Hook, Priority: s.Priority, Conntrack: s.Conntrack})
				continue
			}
			t := &r.Tables[s.TableIndex]
			x := idx[s.TableIndex]
			c, _ := x.chain(s.Chain)
			ref := RuleRef{Family: t.Family, Table: t.Name, Backend: t.Backend, Chain: c.Name, Hook: c.Hook, Priority: c.Priority}
			out = append(out, OutlineLine{Kind: OutlineChain, Hook: p.Hook, Priority: s.Priority, Chain: ref, Policy: c.Policy})
			out = x.rules(out, p.Hook, ref, c, all, 0, map[string]bool{c.Name: true})
		}
	}
	return out
}

// chainIndex finds a table's chains by name and remembers which reach a
// rule that concerns conntrack (kube-proxy has thousands of chains and as
// many jumps).
type chainIndex struct {
	t        *RuleTable
	byName   map[string]int
	relevant map[string]bool
}

func newChainIndex(t *RuleTable) *chainIndex {
	x := &chainIndex{t: t, byName: make(map[string]int, len(t.Chains)), relevant: map[string]bool{}}
	for i, c := range t.Chains {
		x.byName[c.Name] = i
	}
	return x
}

func (x *chainIndex) chain(name string) (*RuleChain, bool) {
	i, ok := x.byName[name]
	if !ok {
		return nil, false
	}
	return &x.t.Chains[i], true
}

// rules adds a chain's rules (the relevant ones unless all), and under a
// jump or goto the rules of the chain it reaches.
func (x *chainIndex) rules(out []OutlineLine, h Hook, base RuleRef, c *RuleChain, all bool, depth int, seen map[string]bool) []OutlineLine {
	other := 0
	flush := func() {
		if other > 0 {
			out = append(out, OutlineLine{Kind: OutlineOthers, Hook: h, Depth: depth, Others: other})
			other = 0
		}
	}
	for i := range c.Rules {
		rule := &c.Rules[i]
		var sub *RuleChain
		if (rule.Verdict == VerdictJump || rule.Verdict == VerdictGoto) && !seen[rule.Target] && len(seen) < maxOutlineDepth {
			if s, ok := x.chain(rule.Target); ok && (all || x.reachesRelevant(s, map[string]bool{})) {
				sub = s
			}
		}
		if !all && sub == nil && !rule.ConcernsConntrack() {
			other++
			continue
		}
		flush()
		ref := RuleRef{Family: base.Family, Table: base.Table, Backend: base.Backend, Chain: c.Name, Hook: c.Hook, Priority: c.Priority, Rule: *rule}
		out = append(out, OutlineLine{Kind: OutlineRule, Hook: h, Chain: ref, Depth: depth})
		if sub != nil {
			seen[sub.Name] = true
			out = x.rules(out, h, base, sub, all, depth+1, seen)
			delete(seen, sub.Name)
		}
	}
	flush()
	return out
}

// ConcernsConntrack reports whether the rule needs conntrack or keeps
// packets out of it.
func (r *Rule) ConcernsConntrack() bool {
	return r.NeedsConntrack() || r.Action.Kind == ActionNotrack
}

// reachesRelevant reports whether chain c or a chain it reaches holds a
// rule that concerns conntrack.
func (x *chainIndex) reachesRelevant(c *RuleChain, seen map[string]bool) bool {
	if v, ok := x.relevant[c.Name]; ok {
		return v
	}
	if seen[c.Name] {
		return false
	}
	seen[c.Name] = true
	v := false
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.ConcernsConntrack() {
			v = true
			break
		}
		if r.Verdict == VerdictJump || r.Verdict == VerdictGoto {
			if s, ok := x.chain(r.Target); ok && x.reachesRelevant(s, seen) {
				v = true
				break
			}
		}
	}
	x.relevant[c.Name] = v
	return v
}

// Tag names what a rule does to conntrack, for the eye to catch:
// "[MASQUERADE ports 30000-30019 fully-random]", "[INVALID DROP]",
// "[NOTRACK]", "[state established,related]", "[→ KUBE-SERVICES]".
func (r *Rule) Tag() string {
	a := r.Action
	switch {
	case r.IsInvalidDrop():
		return "[INVALID " + strings.ToUpper(r.Verdict.String()) + "]"
	case a.Kind == ActionNotrack:
		return "[NOTRACK]"
	case a.Kind.IsNAT():
		s := strings.ToUpper(a.Kind.String())
		if !a.Ports.IsZero() {
			s += " ports " + a.Ports.String()
		}
		if a.Flags != 0 {
			s += " " + a.Flags.String()
		}
		return "[" + s + "]"
	case a.Kind == ActionCtZone:
		return fmt.Sprintf("[zone %d]", a.Zone)
	case a.Kind == ActionCtHelper:
		return "[helper " + a.Helper + "]"
	case r.Match.CtState != 0:
		neg := ""
		if r.Match.CtStateNeg {
			neg = "!"
		}
		return "[state " + neg + r.Match.CtState.String() + "]"
	case r.Match.UsesConntrack():
		return "[ct " + strings.Join(r.Match.CtOther, ",") + "]"
	case r.Verdict == VerdictJump || r.Verdict == VerdictGoto:
		return "[→ " + r.Target + "]"
	}
	return ""
}

// Plain is the rule's text without the counter's values nft prints in
// it ("counter packets 3 bytes 180" becomes "counter"), and marked when
// it was only partly decoded.
func (r *Rule) Plain() string {
	t := withoutCounter(r.Text)
	if r.Partial {
		t += "   (partly decoded)"
	}
	return t
}
