package track

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func testRuleset() *Ruleset {
	return &Ruleset{Tables: []RuleTable{
		{Family: RuleFamilyIP, Name: "nat", Backend: BackendIptablesNft, Chains: []RuleChain{
			{Name: "POSTROUTING", Hook: HookPostrouting, Priority: PrioritySrcNAT, Rules: []Rule{
				{Position: 1, Match: RuleMatch{Proto: ProtoTCP, OutIface: "eth0"},
					Action: RuleAction{Kind: ActionMasquerade, Ports: PortRange{30000, 30019}, Flags: NATRandomFully}},
				{Position: 2, Action: RuleAction{Kind: ActionSNAT, AddrMin: netip.MustParseAddr("192.0.2.1"), AddrMax: netip.MustParseAddr("192.0.2.4")}},
			}},
			{Name: "PREROUTING", Hook: HookPrerouting, Priority: PriorityDstNAT, Rules: []Rule{
				{Position: 1, Match: RuleMatch{Proto: ProtoUDP, DPorts: []PortRange{{53, 53}}},
					Action: RuleAction{Kind: ActionDNAT, AddrMin: netip.MustParseAddr("10.0.0.3"), AddrMax: netip.MustParseAddr("10.0.0.3"), Ports: PortRange{5353, 5353}}},
			}},
		}},
		{Family: RuleFamilyInet, Name: "fw", Backend: BackendNft, Chains: []RuleChain{
			{Name: "in", Hook: HookInput, Priority: PriorityFilter, Rules: []Rule{
				{Position: 1, Match: RuleMatch{CtState: CtStateInvalid}, Verdict: VerdictDrop, HasCounter: true, Counter: RuleCounter{Packets: 7}},
			}},
			{Name: "raw", Hook: HookPrerouting, Priority: PriorityRaw, Rules: []Rule{
				{Position: 1, Match: RuleMatch{Proto: ProtoUDP, DPorts: []PortRange{{8125, 8126}}}, Action: RuleAction{Kind: ActionNotrack}},
			}},
		}},
		{Family: RuleFamilyIP6, Name: "six", Backend: BackendNft, Chains: []RuleChain{
			{Name: "post", Hook: HookPostrouting, Priority: PrioritySrcNAT, Rules: []Rule{
				{Position: 1, Match: RuleMatch{Proto: ProtoUDP}, Action: RuleAction{Kind: ActionMasquerade, Ports: PortRange{40000, 40099}}},
			}},
		}},
	}}
}

func TestRulesetQueries(t *testing.T) {
	rs := testRuleset()
	if got := rs.SourceNATPortRanges(FamilyIPv4, ProtoTCP); len(got) != 1 || got[0].Rule.Action.PortCount() != 20 || got[0].Chain != "POSTROUTING" {
		t.Errorf("IPv4 TCP SNAT ranges: %v", got)
	}
	if got := rs.SourceNATPortRanges(FamilyIPv4, ProtoUDP); len(got) != 0 {
		t.Errorf("IPv4 UDP SNAT ranges: %v (the range rule is TCP only, the other has no ports)", got)
	}
	if got := rs.SourceNATPortRanges(FamilyIPv6, ProtoUDP); len(got) != 1 || got[0].Table != "six" {
		t.Errorf("IPv6 UDP: %v", got)
	}
	if got := rs.NATRules(ActionSNAT, FamilyIPv4, 0); len(got) != 1 || got[0].Rule.Action.AddrCount() != 4 {
		t.Errorf("SNAT rules: %v", got)
	}
	if got := rs.InvalidDrops(); len(got) != 1 || got[0].Rule.Counter.Packets != 7 {
		t.Errorf("invalid drops: %v", got)
	}
	if got := rs.Notracked(FamilyIPv4, ProtoUDP, 8126); len(got) != 1 {
		t.Errorf("udp/8126: %v", got)
	}
	if got := rs.Notracked(FamilyIPv4, ProtoUDP, 8127); len(got) != 0 {
		t.Errorf("udp/8127: %v", got)
	}
	if got := rs.Notracked(FamilyIPv4, ProtoTCP, 8125); len(got) != 0 {
		t.Errorf("tcp/8125: %v", got)
	}
	d := rs.DNATTargets()
	if len(d) != 1 || !d[0].Contains(netip.MustParseAddr("10.0.0.3"), 5353) || d[0].Contains(netip.MustParseAddr("10.0.0.4"), 5353) ||
		d[0].Contains(netip.MustParseAddr("10.0.0.3"), 53) || d[0].Proto != ProtoUDP {
		t.Errorf("DNAT targets: %+v", d)
	}
	n := rs.NeedsConntrack()
	if len(n.NAT) != 4 || len(n.State) != 1 || len(n.Helper) != 0 || !n.Any() {
		t.Errorf("needs: %d NAT, %d state, %d helper", len(n.NAT), len(n.State), len(n.Helper))
	}
	if (&Ruleset{}).NeedsConntrack().Any() {
		t.Error("an empty ruleset needs conntrack")
	}
	var nilRS *Ruleset
	if nilRS.Rules() != nil {
		t.Error("a nil ruleset has rules")
	}
}

// TestPacketPath: hooks in packet order, conntrack between raw and the
// dstnat chains in prerouting, confirmation last in postrouting.
func TestPacketPath(t *testing.T) {
	var got []string
	for _, p := range testRuleset().PacketPath() {
		var steps []string
		for _, s := range p.Steps {
			if s.Conntrack != "" {
				steps = append(steps, "conntrack")
			} else {
				steps = append(steps, s.Table+"/"+s.Chain)
			}
		}
		got = append(got, p.Hook.String()+": "+strings.Join(steps, " "))
	}
	want := []string{
		"prerouting: fw/raw conntrack nat/PREROUTING",
		"input: fw/in conntrack",
		"forward: ",
		"output: conntrack",
		"postrouting: nat/POSTROUTING six/post conntrack",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packet path:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if PriorityName(HookPrerouting, -300) != "raw" || PriorityName(HookPostrouting, 100) != "srcnat" ||
		PriorityName(HookInput, 10) != "filter+10" || PriorityName(HookPrerouting, -1000) != "-1000" {
		t.Error("priority names")
	}
}

// TestRulesetJSON: the enums travel as names and come back.
func TestRulesetJSON(t *testing.T) {
	rs := testRuleset()
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"backend":"iptables-nft"`, `"hook":"postrouting"`, `"ports":"30000-30019"`, `"flags":"fully-random"`, `"ct_state":"invalid"`, `"verdict":"drop"`, `"family":"inet"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON lacks %s: %s", s, b)
		}
	}
	var back Ruleset
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rs) {
		t.Errorf("JSON round trip:\n%+v\n%+v", back, *rs)
	}
	var f NATFlags
	if f.UnmarshalText([]byte("random-fully,persistent")) != nil || f != NATRandomFully|NATPersistent {
		t.Errorf("iptables flag names: %v", f)
	}
}

func TestSnapshotMergeRuleset(t *testing.T) {
	var s Snapshot
	s.Merge(&Snapshot{Ruleset: testRuleset()})
	s.Merge(&Snapshot{})
	if s.Ruleset == nil || len(s.Ruleset.Tables) != 3 {
		t.Errorf("merged ruleset: %v", s.Ruleset)
	}
}

// A NOTRACK rule that names a source port covers a service's answers from
// that port; it does not cover other ports.
func TestMatchesPort(t *testing.T) {
	m := RuleMatch{Proto: ProtoUDP, SPorts: []PortRange{{5301, 5301}}}
	if !m.MatchesPort(ProtoUDP, 5301) || m.MatchesPort(ProtoUDP, 5300) || m.MatchesPort(ProtoTCP, 5301) {
		t.Error("udp sport 5301")
	}
	any := RuleMatch{Proto: ProtoUDP}
	if !any.MatchesPort(ProtoUDP, 9) {
		t.Error("a rule naming no port covers every port")
	}
	neg := RuleMatch{DPorts: []PortRange{{53, 53}}, DPortNeg: true}
	if neg.MatchesPort(ProtoUDP, 53) || !neg.MatchesPort(ProtoUDP, 54) {
		t.Error("dport != 53")
	}
}

// Two files of one sample: iptables-save's and ip6tables-save's tables
// add up; a table read twice (at the sample and at the end) is the later.
func TestMergeRulesets(t *testing.T) {
	v4 := &Ruleset{Source: "iptables-save.txt", Tables: []RuleTable{{Family: RuleFamilyIP, Name: "nat", Backend: BackendIptables}}, Unknown: 1}
	v6 := &Ruleset{Source: "ip6tables-save.txt", Tables: []RuleTable{{Family: RuleFamilyIP6, Name: "nat", Backend: BackendIptables}}, Unknown: 2}
	both := MergeRulesets(v4, v6)
	if len(both.Tables) != 2 || both.Unknown != 3 || both.Source != "iptables-save.txt, ip6tables-save.txt" {
		t.Errorf("v4+v6: %+v", both)
	}
	later := &Ruleset{Tables: []RuleTable{{Family: RuleFamilyIP, Name: "nat", Backend: BackendIptables, Chains: []RuleChain{{Name: "POSTROUTING"}}}}, Unknown: 1}
	m := MergeRulesets(both, later)
	if len(m.Tables) != 2 || len(m.Tables[1].Chains) != 1 || m.Tables[0].Family != RuleFamilyIP6 || m.Unknown != 3 {
		t.Errorf("re-read: %+v", m.Tables)
	}
	if MergeRulesets(nil, v4) != v4 || MergeRulesets(v4, nil) != v4 {
		t.Error("nil")
	}
	var s Snapshot
	s.Merge(&Snapshot{Ruleset: v4})
	s.Merge(&Snapshot{Ruleset: v6})
	if s.Ruleset == nil || len(s.Ruleset.Tables) != 2 {
		t.Errorf("Snapshot.Merge: %+v", s.Ruleset)
	}
}
