package ruleset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// TestIptablesListCaptured reads real iptables -L listings (testdata,
// README.md says how they were made): -nvL, -vL (names), -nL (no
// counters), -nvxL --line-numbers, ip6tables, iptables-legacy.
func TestIptablesListCaptured(t *testing.T) {
	res := parseFile(t, "iptables-nft-nvL.txt")
	if res.Format != FormatIptablesList {
		t.Fatalf("format %v", res.Format)
	}
	rs := res.Ruleset
	ipt, ip := track.BackendIptables, track.RuleFamilyIP
	wantAction(t, find(t, rs, ipt, ip, "nat", "POSTROUTING", "MASQUERADE"), masq30000)
	wantAction(t, find(t, rs, ipt, ip, "nat", "POSTROUTING", "SNAT"), snat5000)
	wantAction(t, find(t, rs, ipt, ip, "nat", "PREROUTING", "DNAT"), dnat8080)
	wantAction(t, find(t, rs, ipt, ip, "nat", "PREROUTING", "REDIRECT"), track.RuleAction{Kind: track.ActionRedirect, Ports: track.PortRange{Min: 8082, Max: 8082}})
	wantAction(t, find(t, rs, ipt, ip, "raw", "PREROUTING", "--dport 123"), track.RuleAction{Kind: track.ActionNotrack})
	wantAction(t, find(t, rs, ipt, ip, "raw", "OUTPUT", "--dport 123"), track.RuleAction{Kind: track.ActionNotrack})
	wantAction(t, find(t, rs, ipt, ip, "raw", "PREROUTING", "--helper"), track.RuleAction{Kind: track.ActionCtHelper, Helper: "ftp"})
	wantAction(t, find(t, rs, ipt, ip, "raw", "PREROUTING", "--zone"), track.RuleAction{Kind: track.ActionCtZone, Zone: 7})
	if r := find(t, rs, ipt, ip, "filter", "INPUT", "INVALID"); !r.IsInvalidDrop() || !r.HasCounter {
		t.Errorf("INVALID drop: %+v", r)
	}
	fwd := find(t, rs, ipt, ip, "filter", "FORWARD", "ctstate")
	if fwd.Match.CtState != track.CtStateNew|track.CtStateDNAT || !fwd.Match.CtStateNeg || fwd.Text != "-A FORWARD -m conntrack ! --ctstate NEW,DNAT -j ACCEPT" {
		t.Errorf("! ctstate NEW,DNAT: %+v %q", fwd.Match, fwd.Text)
	}
	web := find(t, rs, ipt, ip, "filter", "INPUT", "multiport")
	if len(web.Match.DPorts) != 3 || web.Match.DPorts[2] != (track.PortRange{Min: 8000, Max: 8080}) || web.Comment != "web ports" {
		t.Errorf("multiport: %+v %q", web.Match, web.Comment)
	}
	dns := find(t, rs, ipt, ip, "filter", "INPUT", "--sport 53")
	if !dns.Match.InNeg || dns.Match.InIface != "lo" || len(dns.Match.Src) != 1 || dns.Match.Src[0].String() != "10.0.0.0/8" {
		t.Errorf("! -i lo -s 10.0.0.0/8: %+v", dns.Match)
	}
	kube := find(t, rs, ipt, ip, "nat", "KUBE-X", "KUBE-Y")
	if kube.Verdict != track.VerdictGoto || kube.Target != "KUBE-Y" {
		t.Errorf("[goto]: %+v", kube)
	}
	if out := find(t, rs, ipt, ip, "nat", "OUTPUT", "KUBE-X"); out.Verdict != track.VerdictJump {
		t.Errorf("a jump to a chain listed later: %+v", out)
	}
	c, _ := rs.Tables[0].Chain("PREROUTING")
	if rs.Tables[0].Name != "raw" || c.Hook != track.HookPrerouting || c.Priority != track.PriorityRaw || !c.HasPolicyCounter {
		t.Errorf("raw PREROUTING: %+v", c)
	}
	if m := find(t, rs, ipt, ip, "mangle", "PREROUTING", "CONNMARK"); m.Action.Kind != track.ActionCtOther || !strings.HasSuffix(m.Text, "-j CONNMARK") {
		t.Errorf("CONNMARK: %+v", m)
	}

	// Without -n: names of protocols, ports and "anywhere".
	names := parseFile(t, "iptables-nft-vL.txt").Ruleset
	wantAction(t, find(t, names, ipt, ip, "nat", "PREROUTING", "DNAT"), dnat8080)
	if r := find(t, names, ipt, ip, "nat", "PREROUTING", "DNAT"); len(r.Match.DPorts) != 1 || r.Match.DPorts[0].Min != 80 || r.Match.Proto != track.ProtoTCP || r.Partial {
		t.Errorf("dpt:http: %+v", r)
	}
	if r := find(t, names, ipt, ip, "filter", "INPUT", "multiport"); len(r.Match.DPorts) != 3 || r.Match.DPorts[2] != (track.PortRange{Min: 8000, Max: 8080}) {
		t.Errorf("http,https,8000:http-alt: %+v", r.Match)
	}
	// --line-numbers -x; no -v (no counters, no interfaces).
	for _, name := range []string{"iptables-nft-nvxL-line-numbers.txt", "iptables-nft-nL.txt"} {
		rs := parseFile(t, name).Ruleset
		wantAction(t, find(t, rs, ipt, ip, "nat", "POSTROUTING", "MASQUERADE"), masq30000)
		if r := find(t, rs, ipt, ip, "nat", "POSTROUTING", "MASQUERADE"); r.Match.OutIface != "veth0" && name != "iptables-nft-nL.txt" {
			t.Errorf("%s: -o veth0: %+v", name, r.Match)
		}
	}
	six := parseFile(t, "ip6tables-nft-nvL.txt").Ruleset
	wantAction(t, find(t, six, ipt, track.RuleFamilyIP6, "nat", "POSTROUTING", "MASQUERADE"), track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 40000, Max: 40099}})
	if r := find(t, six, ipt, track.RuleFamilyIP6, "filter", "INPUT", "fd00::/8"); r.Match.Src[0].String() != "fd00::/8" {
		t.Errorf("fd00::/8: %+v", r.Match)
	}
	legacy := parseFile(t, "iptables-legacy-nvL.txt").Ruleset
	wantAction(t, find(t, legacy, track.BackendIptablesLegacy, ip, "raw", "OUTPUT", "--dport 515"), track.RuleAction{Kind: track.ActionNotrack})
}

// The real captures in testdata/ carry such listings: their rulesets.
func TestIptablesListOfCaptures(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "testdata", "kernel-6.18", "nat-masquerade", "rtr", "iptables.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f, "iptables.txt", FormatNone)
	if err != nil || res.Problems.Count > 0 {
		t.Fatal(err, res.Problems.First)
	}
	got := res.Ruleset.SourceNATPortRanges(track.FamilyIPv4, track.ProtoTCP)
	if len(got) != 1 || got[0].Rule.Action.Ports != (track.PortRange{Min: 20000, Max: 20099}) || got[0].Rule.Counter.Packets != 120 || got[0].Rule.Match.OutIface != "nat-rs" {
		t.Errorf("MASQUERADE tcp: %+v", got)
	}
	if n := res.Ruleset.NeedsConntrack(); len(n.NAT) != 3 || len(n.State) != 1 {
		t.Errorf("needs: %+v", n)
	}
	f2, _ := os.Open(filepath.Join("..", "testdata", "kernel-6.18", "syn-sent-growth", "srv", "iptables.txt"))
	defer f2.Close()
	res, err = Parse(f2, "iptables.txt", FormatNone)
	if err != nil || res.Problems.Count > 0 {
		t.Fatal(err, res.Problems.First)
	}
	drop := find(t, res.Ruleset, track.BackendIptables, track.RuleFamilyIP, "filter", "INPUT", "8080")
	if drop.Counter.Packets != 7901 || drop.Counter.Bytes != 474000 || !drop.Partial || !strings.Contains(drop.Text, "<tcp flags:0x17/0x02>") {
		t.Errorf("474K and tcp flags: %+v", drop)
	}
}

func TestIptablesListMalformed(t *testing.T) {
	in := `### iptables -t nat -nvL
Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination
  120  7200 MASQUERADE  6    --  *      eth0  0.0.0.0/0            0.0.0.0/0            masq ports: 20000-20099
  abc  7200 MASQUERADE  6    --  *      eth0  0.0.0.0/0            0.0.0.0/0
    1     2 ACCEPT     6    --  *      *       nowhere
Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
Chain X (policy MAYBE 0 packets, 0 bytes)
`
	res, err := Parse(strings.NewReader(in), "x.txt", FormatNone)
	if err != nil {
		t.Fatal(err)
	}
	if res.Problems.Count != 4 {
		t.Fatalf("%d problems: %v", res.Problems.Count, res.Problems.First)
	}
	for i, line := range []int{5, 6, 7, 8} {
		if p := res.Problems.First[i]; p.Line != line || !errors.Is(p.Err, ErrMalformed) {
			t.Errorf("problem %d: %v", i, p)
		}
	}
	if got := res.Ruleset.RuleCount(); got != 1 {
		t.Errorf("%d rules read", got)
	}
}

func TestDetectIptablesList(t *testing.T) {
	for in, want := range map[string]Format{
		"### iptables -t raw -nvL\nChain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n": FormatIptablesList,
		"Chain KUBE-X (2 references)\n": FormatIptablesList,
		"Chain INPUT (policy DROP)\n":   FormatIptablesList,
		"Chain of events\n":             FormatNone,
	} {
		if got := Detect([]byte(in)); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}
