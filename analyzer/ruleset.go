package analyzer

import (
	"fmt"
	"strings"

	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// The firewall ruleset beside the table: which one is in force, and how a
// remedy is written in the host's own syntax (nft or iptables, its own
// tables and chains).

// ruleset is the ruleset read with the latest sample that has one, and
// that sample's index; nil when none was read.
func (t timeline) ruleset() (*track.Ruleset, int) {
	for i := len(t.s) - 1; i >= 0; i-- {
		if rs := t.s[i].meta.Ruleset; rs != nil {
			return rs, i
		}
	}
	return nil, -1
}

// ruleName names a rule for a sentence: "ip nat POSTROUTING #1 (-A
// POSTROUTING -o eth0 -j MASQUERADE --to-ports 30000-30019)".
func ruleName(r track.RuleRef) string {
	return fmt.Sprintf("%s %s %s #%d (%s)", r.Family, r.Table, r.Chain, r.Rule.Position, r.Rule.Text)
}

// pointAt is a rule as evidence.
func pointAt(role string, r track.RuleRef) RuleRef { return RuleRef{Role: role, RuleRef: r} }

// hostSyntax is how remedies are written for a ruleset: the backend and,
// for iptables, the command.
func hostSyntax(rs *track.Ruleset, fam track.RuleFamily) (backend track.RuleBackend, iptables string) {
	b := rs.HostBackend()
	if b.IsIptables() {
		return b, rs.IptablesCommand(b, fam)
	}
	return b, ""
}

// notrackRemedyID picks the NOTRACK remedy spelled in the host's syntax
// (remedy ids notrack, notrack-nft, notrack-iptables; prefix "dns" for
// insert-failed's) and fills its figures, or returns "" when the port is
// NOTRACKed already: a port is never proposed twice.
func notrackRemedyID(rs *track.Ruleset, prefix string, ipv6 bool, proto track.Proto, port uint16, data map[string]any) string {
	data["Proto"], data["Port"] = proto.String(), fmt.Sprint(port)
	if rs == nil {
		return prefix
	}
	fam := track.FamilyIPv4
	if ipv6 {
		fam = track.FamilyIPv6
	}
	if len(rs.Notracked(fam, proto, port)) > 0 {
		return ""
	}
	rfam := track.RuleFamilyIP
	if ipv6 {
		rfam = track.RuleFamilyIP6
	}
	b, ipt := hostSyntax(rs, rfam)
	switch {
	case b.IsIptables():
		data["Iptables"] = ipt
		return prefix + "-iptables"
	case b == track.BackendNft:
		if pre, out, ok := rs.RawChains(); ok {
			data["NftFamily"], data["NftTable"], data["NftPre"], data["NftOut"] = pre.Family.String(), pre.Table, pre.Chain, out.Chain
			return prefix + "-nft"
		}
	}
	return prefix
}

// filterChainsID finds the host's input and forward filter chains for a
// remedy that adds rules there (remedy ids base, base-nft, base-iptables),
// filling NftFamily, NftTable, NftIn, NftFwd or Iptables.
func filterChainsID(rs *track.Ruleset, base string, fam track.RuleFamily, data map[string]any) string {
	if rs == nil {
		return base
	}
	b, ipt := hostSyntax(rs, fam)
	switch {
	case b.IsIptables():
		data["Iptables"] = ipt
		return base + "-iptables"
	case b == track.BackendNft:
		in, ok1 := rs.BaseChain(track.BackendNft, track.HookInput, track.PriorityMangle+1, track.PrioritySrcNAT-1, "filter")
		fwd, ok2 := rs.BaseChain(track.BackendNft, track.HookForward, track.PriorityMangle+1, track.PrioritySrcNAT-1, "filter")
		if ok1 && ok2 && in.Family == fwd.Family && in.Table == fwd.Table {
			data["NftFamily"], data["NftTable"], data["NftIn"], data["NftFwd"] = in.Family.String(), in.Table, in.Chain, fwd.Chain
			return base + "-nft"
		}
	}
	return base
}

// replaceRuleID picks how a remedy replaces rule r by changed in the
// host's syntax (ids base-nft with a handle, base-nft-find without one,
// base-iptables) and fills Family, Table, Chain, Handle, Position,
// NewRule (nft) or NewSpec and Iptables (iptables).
func replaceRuleID(rs *track.Ruleset, base string, r track.RuleRef, changed track.Rule, data map[string]any) string {
	data["Family"], data["Table"], data["Chain"] = r.Family.String(), r.Table, r.Chain
	data["Position"], data["Handle"] = r.Rule.Position, r.Rule.Handle
	if r.Backend.IsIptables() {
		data["Iptables"] = rs.IptablesCommand(r.Backend, r.Family)
		spec := ruleset.IptablesText(r.Chain, &changed)
		data["NewSpec"] = strings.TrimPrefix(spec, "-A "+r.Chain+" ")
		return base + "-iptables"
	}
	changed.Counter = track.RuleCounter{}
	text := ruleset.NftText(&changed)
	text = strings.Replace(text, "counter packets 0 bytes 0", "counter", 1)
	data["NewRule"] = text
	if r.Rule.Handle == 0 {
		return base + "-nft-find"
	}
	return base + "-nft"
}

// freeRange finds size ports for a NAT mapping that overlap none of
// avoid: starting at from when it fits there, else the lowest such window
// of unprivileged ports; ok is false when none is free.
func freeRange(from uint16, size int, avoid []track.PortRange) (track.PortRange, bool) {
	size = min(max(size, 1), 65535-1024+1)
	fits := func(lo int) bool {
		hi := lo + size - 1
		if lo < 1024 || hi > 65535 {
			return false
		}
		r := track.PortRange{Min: uint16(lo), Max: uint16(hi)}
		for _, a := range avoid {
			if _, ok := r.Overlap(a); ok {
				return false
			}
		}
		return true
	}
	if fits(int(from)) {
		return track.PortRange{Min: from, Max: uint16(int(from) + size - 1)}, true
	}
	// Candidate starts: 1024 and just past each range to avoid.
	starts := []int{1024}
	for _, a := range avoid {
		starts = append(starts, int(a.Max)+1)
	}
	best := -1
	for _, s := range starts {
		if fits(s) && (best < 0 || s < best) {
			best = s
		}
	}
	if best < 0 {
		return track.PortRange{}, false
	}
	return track.PortRange{Min: uint16(best), Max: uint16(best + size - 1)}, true
}
