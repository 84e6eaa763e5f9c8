package ruleset

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
)

func testRuleset(masqPackets uint64) *track.Ruleset {
	return &track.Ruleset{Source: "test", Tables: []track.RuleTable{
		{Family: track.RuleFamilyIP, Name: "nat", Backend: track.BackendIptablesNft, Chains: []track.RuleChain{
			{Name: "POSTROUTING", Hook: track.HookPostrouting, Priority: track.PrioritySrcNAT, Policy: "accept", Rules: []track.Rule{
				{Position: 1, Text: "-A POSTROUTING -o eth0 -p tcp -j MASQUERADE --to-ports 30000-30019", HasCounter: true,
					Counter: track.RuleCounter{Packets: masqPackets}, Match: track.RuleMatch{Proto: track.ProtoTCP, OutIface: "eth0"},
					Action: track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 30000, Max: 30019}}},
				{Position: 2, Text: "-A POSTROUTING -o eth1 -j ACCEPT", Verdict: track.VerdictAccept},
			}},
		}},
		{Family: track.RuleFamilyIP, Name: "mangle", Backend: track.BackendIptablesNft, Chains: []track.RuleChain{
			{Name: "INPUT", Hook: track.HookInput, Priority: track.PriorityMangle, Policy: "accept", Rules: []track.Rule{
				{Position: 1, Text: "-A INPUT -p tcp --dport 22 -j ACCEPT", Verdict: track.VerdictAccept},
			}},
		}},
	}}
}

func newPane(t *testing.T, w, h int) *Model {
	t.Helper()
	r := lipgloss.NewRenderer(nil)
	m := New(common.Common{Styles: common.NewStyles(r), Keys: common.NewKeyMap(true), Config: rules.DefaultConfig()})
	m.SetSize(w, h)
	return m
}

// The pane shows the rules that concern conntrack, their counters and how
// they moved, marks the rule a finding points at, and opens it.
func TestRulesetPane(t *testing.T) {
	rs := testRuleset(1200)
	ref := rs.Rules()[0]
	res := &analyzer.Result{Findings: []analyzer.Finding{{Rule: rules.SNATPortExhaustion, Severity: rules.SeverityCritical,
		Summary:  "20 of the 20 ports masquerade allows (30000-30019) are taken",
		Evidence: analyzer.Evidence{Rules: []analyzer.RuleRef{{Role: "translates these connections", RuleRef: ref}}}}}}
	f := &common.Frame{Sample: 1, Ruleset: rs, RulesetSample: 1, RulesetOutline: rs.Outline(false), Result: res,
		RuleDeltas: map[string]common.RuleDelta{ref.Key(): {Packets: 200, PerSec: 40, HasRate: true}}}
	m := newPane(t, 100, 18)
	m.Update(common.FrameMsg{Frame: f})
	view := ansi.Strip(m.View())
	for _, want := range []string{"3 rules in 2 tables (iptables-nft) · needs conntrack: 0 state, 1 NAT, 0 helper/zone",
		"POSTROUTING", "ip nat POSTROUTING [iptables-nft, policy accept]", "› ", "1,200 +40/s", "[MASQUERADE ports 30000-30019]",
		"◂ snat-port-exhaustion", "… 1 other rules"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	// The mangle table has no rule that concerns conntrack: left out.
	if strings.Contains(view, "mangle") || strings.Contains(view, "INPUT") {
		t.Errorf("a chain with nothing to show is shown:\n%s", view)
	}
	if m.Want(100) != len(m.rows)+2 {
		t.Errorf("want %d for %d rows", m.Want(100), len(m.rows))
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if !m.Zoomed() {
		t.Fatal("enter did not open the rule")
	}
	detail := ansi.Strip(m.View())
	for _, want := range []string{"ip nat POSTROUTING #1", "-A POSTROUTING -o eth0 -p tcp -j MASQUERADE --to-ports 30000-30019",
		"on postrouting at priority 100 (srcnat)", "+200 packets since the ruleset read before (40/s)",
		"snat-port-exhaustion: translates these connections", "20 of the 20 ports masquerade allows"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, detail)
		}
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if m.Zoomed() {
		t.Error("esc did not close it")
	}
	// The selection stays on its rule across refreshes.
	f2 := *f
	f2.Ruleset = testRuleset(1400)
	f2.RulesetOutline = f2.Ruleset.Outline(false)
	m.Update(common.FrameMsg{Frame: &f2})
	if m.rows[m.cursor].line.Chain.Rule.Position != 1 || !strings.Contains(ansi.Strip(m.View()), "1,400") {
		t.Errorf("after a refresh: cursor %d\n%s", m.cursor, ansi.Strip(m.View()))
	}
}

// Without a ruleset the pane says what to give it.
func TestRulesetPaneNone(t *testing.T) {
	m := newPane(t, 60, 6)
	m.Update(common.FrameMsg{Frame: &common.Frame{RulesetSample: -1}})
	view := strings.Join(strings.Fields(ansi.Strip(m.View())), " ")
	if !strings.Contains(view, "No firewall ruleset read") || !strings.Contains(view, "iptables -nvL") || m.Want(60) != 3 {
		t.Errorf("%q", view)
	}
}
