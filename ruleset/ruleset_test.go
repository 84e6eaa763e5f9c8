package ruleset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

func parseFile(t *testing.T, name string) *Result {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f, name, FormatNone)
	if err != nil {
		t.Fatal(err)
	}
	if res.Problems.Count > 0 {
		t.Fatalf("%s: %d problems, first %v", name, res.Problems.Count, res.Problems.First)
	}
	return res
}

// find returns the rules of table/chain whose text contains sub.
func find(t *testing.T, rs *track.Ruleset, backend track.RuleBackend, fam track.RuleFamily, table, chain, sub string) track.Rule {
	t.Helper()
	for _, r := range rs.Rules() {
		if r.Backend == backend && r.Family == fam && r.Table == table && r.Chain == chain && strings.Contains(r.Rule.Text, sub) {
			return r.Rule
		}
	}
	t.Fatalf("no %s %s %s %s rule with %q in %v", backend, fam, table, chain, sub, rs.Rules())
	return track.Rule{}
}

func wantAction(t *testing.T, r track.Rule, want track.RuleAction) {
	t.Helper()
	if r.Action != want {
		t.Errorf("%q: action %+v, want %+v", r.Text, r.Action, want)
	}
}

var (
	masq30000 = track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 30000, Max: 30019}, Flags: track.NATRandomFully}
	snat5000  = track.RuleAction{Kind: track.ActionSNAT, AddrMin: mustAddr("192.0.2.10"), AddrMax: mustAddr("192.0.2.12"),
		Ports: track.PortRange{Min: 5000, Max: 5999}, Flags: track.NATRandom | track.NATPersistent}
	dnat8080 = track.RuleAction{Kind: track.ActionDNAT, AddrMin: mustAddr("10.0.0.5"), AddrMax: mustAddr("10.0.0.5"), Ports: track.PortRange{Min: 8080, Max: 8081}}
)

// TestIptablesSaveCaptured reads real iptables-nft-save -c and
// iptables-legacy-save -c outputs.
func TestIptablesSaveCaptured(t *testing.T) {
	res := parseFile(t, "iptables-nft-save-c.txt")
	if res.Format != FormatIptablesSave {
		t.Fatalf("format %v", res.Format)
	}
	rs := res.Ruleset
	nft, ip := track.BackendIptablesNft, track.RuleFamilyIP
	wantAction(t, find(t, rs, nft, ip, "nat", "POSTROUTING", "MASQUERADE"), masq30000)
	wantAction(t, find(t, rs, nft, ip, "nat", "POSTROUTING", "SNAT"), snat5000)
	wantAction(t, find(t, rs, nft, ip, "nat", "PREROUTING", "DNAT"), dnat8080)
	wantAction(t, find(t, rs, nft, ip, "raw", "PREROUTING", "--notrack"), track.RuleAction{Kind: track.ActionNotrack})
	wantAction(t, find(t, rs, nft, ip, "raw", "OUTPUT", "NOTRACK"), track.RuleAction{Kind: track.ActionNotrack})
	wantAction(t, find(t, rs, nft, ip, "raw", "PREROUTING", "--helper"), track.RuleAction{Kind: track.ActionCtHelper, Helper: "ftp"})
	wantAction(t, find(t, rs, nft, ip, "raw", "PREROUTING", "--zone"), track.RuleAction{Kind: track.ActionCtZone, Zone: 7})
	inv := find(t, rs, nft, ip, "filter", "INPUT", "INVALID")
	if !inv.IsInvalidDrop() || !inv.HasCounter {
		t.Errorf("INVALID drop not recognised: %+v", inv)
	}
	fwd := find(t, rs, nft, ip, "filter", "FORWARD", "ctstate")
	if fwd.Match.CtState != track.CtStateNew|track.CtStateDNAT || !fwd.Match.CtStateNeg {
		t.Errorf("! --ctstate NEW,DNAT: %+v", fwd.Match)
	}
	kx := find(t, rs, nft, ip, "nat", "KUBE-X", "DNAT")
	if kx.Comment != "dns svc" || kx.Match.Proto != track.ProtoUDP {
		t.Errorf("KUBE-X rule: %+v", kx)
	}
	jump := find(t, rs, nft, ip, "nat", "OUTPUT", "KUBE-X")
	if jump.Verdict != track.VerdictJump || jump.Target != "KUBE-X" {
		t.Errorf("jump: %+v", jump)
	}
	post, _ := rs.Tables[2].Chain("POSTROUTING")
	if post.Hook != track.HookPostrouting || post.Priority != track.PrioritySrcNAT || post.Type != "nat" {
		t.Errorf("nat POSTROUTING: %+v", post)
	}

	legacy := parseFile(t, "iptables-legacy-save-c.txt").Ruleset
	wantAction(t, find(t, legacy, track.BackendIptablesLegacy, ip, "nat", "POSTROUTING", "MASQUERADE"),
		track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 20000, Max: 20099}, Flags: track.NATRandomFully})

	six := parseFile(t, "ip6tables-nft-save-c.txt").Ruleset
	wantAction(t, find(t, six, nft, track.RuleFamilyIP6, "nat", "POSTROUTING", "MASQUERADE"),
		track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 40000, Max: 40099}})
}

// TestNftCaptured reads real nft -a list ruleset and nft -j list ruleset
// outputs of the same namespace and requires the same decoded model.
func TestNftCaptured(t *testing.T) {
	text := parseFile(t, "nft-list-ruleset-a.txt").Ruleset
	js := parseFile(t, "nft-j-list-ruleset.json").Ruleset
	n, ip := track.BackendNft, track.RuleFamilyIP
	for _, rs := range []*track.Ruleset{text, js} {
		m := find(t, rs, n, ip, "nat4", "post", "masquerade to :30000-30019")
		wantAction(t, m, track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 30000, Max: 30019},
			Flags: track.NATRandom | track.NATRandomFully | track.NATPersistent})
		if m.Match.OutIface != "eth0" || m.Match.Proto != track.ProtoTCP {
			t.Errorf("masquerade match: %+v", m.Match)
		}
		wantAction(t, find(t, rs, n, ip, "nat4", "post", "snat"), track.RuleAction{Kind: track.ActionSNAT,
			AddrMin: mustAddr("192.0.2.1"), AddrMax: mustAddr("192.0.2.4"), Ports: track.PortRange{Min: 1024, Max: 2047}, Flags: track.NATPersistent})
		wantAction(t, find(t, rs, n, track.RuleFamilyIP6, "nat6", "post", "snat"), track.RuleAction{Kind: track.ActionSNAT,
			AddrMin: mustAddr("2001:db8::1"), AddrMax: mustAddr("2001:db8::1"), Ports: track.PortRange{Min: 4000, Max: 4100}})
		wantAction(t, find(t, rs, n, ip, "nat4", "pre", "redirect"), track.RuleAction{Kind: track.ActionRedirect, Ports: track.PortRange{Min: 8081, Max: 8081}})
		nt := find(t, rs, n, track.RuleFamilyInet, "fw", "raw_pre", "8080")
		if nt.Action.Kind != track.ActionNotrack || len(nt.Match.DPorts) != 2 || nt.Match.DPorts[1].Min != 9090 {
			t.Errorf("notrack set: %+v", nt)
		}
		neg := find(t, rs, n, track.RuleFamilyInet, "fw", "input", "!=")
		if neg.Match.CtState != track.CtStateNew|track.CtStateEstablished || !neg.Match.CtStateNeg {
			t.Errorf("ct state != {…}: %+v", neg.Match)
		}
		if inv := find(t, rs, n, track.RuleFamilyInet, "fw", "input", "invalid"); !inv.IsInvalidDrop() {
			t.Error("ct state invalid drop not recognised")
		}
		wantAction(t, find(t, rs, n, track.RuleFamilyInet, "fw", "pre", "zone"), track.RuleAction{Kind: track.ActionCtZone, Zone: 5})
		if len(rs.Tables) != 8 {
			t.Errorf("%d tables", len(rs.Tables))
		}
		// nft shows what iptables-nft wrote; its tables are recognised.
		if b := rs.Tables[3].Backend; b != track.BackendIptablesNft {
			t.Errorf("ip raw backend %v", b)
		}
	}
	// The text keeps handles too.
	if r := find(t, text, n, ip, "nat4", "pre", "dnat to 10.0.0.2"); r.Handle != 6 {
		t.Errorf("handle %d", r.Handle)
	}
}

// TestJSONRoundTrip writes every captured ruleset as ctdiag JSON and
// reads it back unchanged.
func TestJSONRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		n++
		rs := parseFile(t, filepath.Base(f)).Ruleset
		var buf bytes.Buffer
		if err := WriteJSON(&buf, rs); err != nil {
			t.Fatal(err)
		}
		if Detect(buf.Bytes()) != FormatJSON {
			t.Fatalf("%s: own JSON not detected", f)
		}
		back, err := Parse(&buf, "json", FormatNone)
		if err != nil || back.Problems.Count > 0 {
			t.Fatalf("%s: %v %v", f, err, back.Problems.First)
		}
		if !reflect.DeepEqual(normalise(rs), normalise(back.Ruleset)) {
			t.Errorf("%s: JSON round trip differs:\n%+v\n%+v", f, rs, back.Ruleset)
		}
	}
	if n < 5 {
		t.Fatalf("only %d captures", n)
	}
}

// normalise makes nil and empty slices equal (JSON omits empty ones).
func normalise(rs *track.Ruleset) *track.Ruleset {
	c := *rs
	c.Tables = append([]track.RuleTable{}, rs.Tables...)
	for i := range c.Tables {
		c.Tables[i].Chains = append([]track.RuleChain{}, c.Tables[i].Chains...)
		for j := range c.Tables[i].Chains {
			ch := &c.Tables[i].Chains[j]
			if len(ch.Rules) == 0 {
				ch.Rules = nil
			}
		}
	}
	return &c
}

// TestMalformed: bad lines are counted with their line number and what
// was expected; the rest is read.
func TestMalformed(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		expected string
		rules    int
	}{
		{"ipt-bad-counter", "*filter\n:INPUT ACCEPT [0:0]\n[x:1] -A INPUT -j DROP\n-A INPUT -j ACCEPT\nCOMMIT\n", 3, "[packets:bytes]", 1},
		{"ipt-undeclared-chain", "*nat\n:POSTROUTING ACCEPT [0:0]\n-A NOPE -j MASQUERADE\nCOMMIT\n", 3, "a chain declared", 0},
		{"ipt-bad-ports", "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -p tcp -j MASQUERADE --to-ports 9-1\nCOMMIT\n", 3, "an address range and/or port range", 0},
		{"ipt-no-commit", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state BOGUS -j DROP\n", 3, "conntrack states", 0},
		{"nft-bad-hook", "table ip t {\n\tchain c {\n\t\ttype filter hook sideways priority 0;\n\t}\n}\n", 3, "a hook", 0},
		{"nft-bad-quote", "table ip t {\n\tchain c {\n\t\tiifname \"eth0 accept\n\t\tdrop\n\t}\n}\n", 3, "a closing quote", 1},
		{"nft-json-bad", "{\"nftables\": [{\"table\": {\"family\": \"ip\", \"name\": \"t\"}},\n{\"chain\": {\"family\": \"ip\", \"table\": \"zz\", \"name\": \"c\"}}]}\n", 2, "the chain's table listed before it", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Parse(strings.NewReader(c.in), c.name, FormatNone)
			if err != nil {
				t.Fatal(err)
			}
			if res.Problems.Count == 0 {
				t.Fatalf("no problem reported for %q", c.in)
			}
			p := res.Problems.First[0]
			if p.Line != c.line || !strings.Contains(p.Err.Error(), c.expected) || !errors.Is(p.Err, ErrMalformed) {
				t.Errorf("problem %+v (%v), want line %d expecting %q", p, p.Err, c.line, c.expected)
			}
			if n := res.Ruleset.RuleCount(); n != c.rules {
				t.Errorf("%d rules read, want %d", n, c.rules)
			}
		})
	}
}

// TestUnknownCounted: matches and statements that are not decoded are
// counted and make the rule partial, never dropped.
func TestUnknownCounted(t *testing.T) {
	in := "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m statistic --mode random --probability 0.5 -j MASQUERADE\nCOMMIT\n"
	res, _ := Parse(strings.NewReader(in), "x", FormatNone)
	r := res.Ruleset.Rules()[0].Rule
	if res.Ruleset.Unknown == 0 || !r.Partial || r.Action.Kind != track.ActionMasquerade {
		t.Errorf("unknown %d, rule %+v", res.Ruleset.Unknown, r)
	}
	in = "table ip t {\n\tchain c {\n\t\tmeta mark 0x1 limit rate 10/second udp dport 53 notrack\n\t}\n}\n"
	res, _ = Parse(strings.NewReader(in), "x", FormatNone)
	r = res.Ruleset.Rules()[0].Rule
	if res.Ruleset.Unknown < 2 || !r.Partial || r.Action.Kind != track.ActionNotrack || len(r.Match.DPorts) != 1 {
		t.Errorf("unknown %d, rule %+v", res.Ruleset.Unknown, r)
	}
}

// TestRenderParses: the text the live reader gives rules is read back by
// the file parsers as the same rule.
func TestRenderParses(t *testing.T) {
	for _, r := range parseFile(t, "iptables-nft-save-c.txt").Ruleset.Rules() {
		text := IptablesText(r.Chain, &r.Rule)
		decl := ":" + r.Chain + " - [0:0]\n"
		if r.Chain != "KUBE-X" {
			decl += ":KUBE-X - [0:0]\n"
		}
		in := "*" + r.Table + "\n" + decl + text + "\nCOMMIT\n"
		res, _ := Parse(strings.NewReader(in), "x", FormatIptablesSave)
		if res.Problems.Count > 0 || res.Ruleset.RuleCount() != 1 {
			t.Fatalf("%q: %v", text, res.Problems.First)
		}
		back := res.Ruleset.Rules()[0].Rule
		if back.Action != r.Rule.Action || back.Verdict != r.Rule.Verdict || !reflect.DeepEqual(back.Match, r.Rule.Match) {
			t.Errorf("%q\n  read back %+v\n  want      %+v", text, back, r.Rule)
		}
	}
	for _, r := range parseFile(t, "nft-j-list-ruleset.json").Ruleset.Rules() {
		if r.Rule.Partial {
			continue
		}
		text := NftText(&r.Rule)
		in := "table " + r.Family.String() + " t {\n\tchain c {\n\t\t" + text + "\n\t}\n}\n"
		res, _ := Parse(strings.NewReader(in), "x", FormatNftText)
		back := res.Ruleset.Rules()[0].Rule
		if back.Action != r.Rule.Action || back.Verdict != r.Rule.Verdict || !reflect.DeepEqual(back.Match, r.Rule.Match) {
			t.Errorf("%q\n  read back %+v\n  want      %+v", text, back, r.Rule)
		}
	}
}

// TestDecodeRuleMsg decodes a rule message built the way the kernel
// encodes "meta l4proto tcp counter masquerade to :30000-30019".
func TestDecodeRuleMsg(t *testing.T) {
	r, err := decodeRuleMsg(ruleMsgSeed())
	if err != nil {
		t.Fatal(err)
	}
	want := track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 30000, Max: 30019}}
	if r.rule.Action != want || r.rule.Match.Proto != track.ProtoTCP || !r.rule.HasCounter || string(r.chain) != "post" || r.unknown != 0 {
		t.Errorf("decoded %+v (chain %q, unknown %d %v)", r.rule, r.chain, r.unknown, r.parts)
	}
	if got := NftText(&r.rule); got != "meta l4proto tcp counter packets 0 bytes 0 masquerade to :30000-30019" {
		t.Errorf("text %q", got)
	}
}
