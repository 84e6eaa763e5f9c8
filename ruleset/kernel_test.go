package ruleset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// threeWays writes a ruleset into ns with nft, iptables-nft and (when
// the kernel has legacy x_tables) iptables-legacy. port is a local TCP
// port whose rules count real traffic. It reports whether the legacy part
// was written.
func threeWays(t *testing.T, ns *netnstest.NS, port int) bool {
	t.Helper()
	netnstest.RequireTools(t, "iptables-nft", "ip6tables-nft")
	p := strconv.Itoa(port)
	ns.Nft(t, `table ip natx {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth9" ip protocol tcp counter masquerade to :30000-30019 fully-random
		ip saddr 10.1.0.0/16 ip protocol udp snat to 192.0.2.1-192.0.2.4:1024-2047 persistent
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		udp dport 53 dnat to 10.0.0.3:5353
	}
}
table inet filt {
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		udp dport { 8125, 8126 } notrack
	}
	chain in {
		type filter hook input priority filter; policy accept;
		ct state invalid counter drop
		tcp dport `+p+` ct state new counter accept
	}
}
`)
	for _, c := range []string{
		"iptables-nft -t raw -A PREROUTING -p udp --dport 123 -j CT --notrack",
		"iptables-nft -t nat -A POSTROUTING -o eth8 -p tcp -j MASQUERADE --to-ports 30000-30019 --random-fully",
		"iptables-nft -t nat -A POSTROUTING -s 10.2.0.0/16 -p tcp -j SNAT --to-source 192.0.2.10-192.0.2.12:5000-5999 --persistent",
		"iptables-nft -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8080-8081",
		"iptables-nft -A INPUT -p tcp --dport " + p + " -m conntrack --ctstate NEW -j ACCEPT",
		"iptables-nft -A INPUT -m conntrack --ctstate INVALID -j DROP",
		"iptables-nft -A FORWARD -m conntrack ! --ctstate NEW,DNAT -j ACCEPT",
		"ip6tables-nft -t nat -A POSTROUTING -p udp -j MASQUERADE --to-ports 40000-40099",
	} {
		f := strings.Fields(c)
		ns.MustOutput(t, f[0], f[1:]...)
	}
	if _, err := ns.Output("iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-o", "eth7", "-p", "tcp", "-j", "MASQUERADE", "--to-ports", "20000-20099", "--random-fully"); err != nil {
		t.Logf("no iptables-legacy here (%v): the legacy part is not tested", err)
		return false
	}
	ns.MustOutput(t, "iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", p, "-j", "ACCEPT")
	ns.MustOutput(t, "iptables-legacy", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "--dport", "514", "-j", "CT", "--notrack")
	return true
}

func readLive(t *testing.T, ns *netnstest.NS) *track.Ruleset {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := Read(context.Background(), Live{Netns: f, NetnsName: ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func rule(t *testing.T, rs *track.Ruleset, backend track.RuleBackend, fam track.RuleFamily, table, chain string, keep func(*track.Rule) bool) track.Rule {
	t.Helper()
	for _, r := range rs.Rules() {
		if r.Backend == backend && r.Family == fam && r.Table == table && r.Chain == chain && keep(&r.Rule) {
			return r.Rule
		}
	}
	t.Fatalf("no such %s %s %s %s rule among %v", backend, fam, table, chain, rs.Rules())
	return track.Rule{}
}

func isAction(k track.ActionKind) func(*track.Rule) bool {
	return func(r *track.Rule) bool { return r.Action.Kind == k }
}

// TestKernelThreeWays writes a ruleset with nft, iptables-nft and
// iptables-legacy into a namespace, reads it live, checks the decoded
// model, sends real traffic and checks the counters moved, and reads the
// tools' own outputs of the same namespace offline to the same model.
func TestKernelThreeWays(t *testing.T) {
	ns := netnstest.NewNS(t)
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	legacy := threeWays(t, ns, int(port))

	rs := readLive(t, ns)
	ip, nftB, iptB := track.RuleFamilyIP, track.BackendNft, track.BackendIptablesNft
	check := func(got track.Rule, want track.RuleAction) {
		t.Helper()
		if got.Action != want {
			t.Errorf("%q: %+v, want %+v", got.Text, got.Action, want)
		}
	}
	masq := track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 30000, Max: 30019}, Flags: track.NATRandomFully}
	check(rule(t, rs, nftB, ip, "natx", "post", isAction(track.ActionMasquerade)), masq)
	check(rule(t, rs, nftB, ip, "natx", "post", isAction(track.ActionSNAT)), track.RuleAction{Kind: track.ActionSNAT,
		AddrMin: mustAddr("192.0.2.1"), AddrMax: mustAddr("192.0.2.4"), Ports: track.PortRange{Min: 1024, Max: 2047}, Flags: track.NATPersistent})
	check(rule(t, rs, nftB, ip, "natx", "pre", isAction(track.ActionDNAT)), track.RuleAction{Kind: track.ActionDNAT,
		AddrMin: mustAddr("10.0.0.3"), AddrMax: mustAddr("10.0.0.3"), Ports: track.PortRange{Min: 5353, Max: 5353}})
	check(rule(t, rs, iptB, ip, "nat", "POSTROUTING", isAction(track.ActionMasquerade)), masq)
	check(rule(t, rs, iptB, ip, "nat", "POSTROUTING", isAction(track.ActionSNAT)), track.RuleAction{Kind: track.ActionSNAT,
		AddrMin: mustAddr("192.0.2.10"), AddrMax: mustAddr("192.0.2.12"), Ports: track.PortRange{Min: 5000, Max: 5999}, Flags: track.NATPersistent})
	check(rule(t, rs, iptB, ip, "nat", "PREROUTING", isAction(track.ActionDNAT)), track.RuleAction{Kind: track.ActionDNAT,
		AddrMin: mustAddr("10.0.0.5"), AddrMax: mustAddr("10.0.0.5"), Ports: track.PortRange{Min: 8080, Max: 8081}})
	check(rule(t, rs, iptB, track.RuleFamilyIP6, "nat", "POSTROUTING", isAction(track.ActionMasquerade)),
		track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 40000, Max: 40099}})
	nt := rule(t, rs, iptB, ip, "raw", "PREROUTING", isAction(track.ActionNotrack))
	if nt.Match.Proto != track.ProtoUDP || len(nt.Match.DPorts) != 1 || nt.Match.DPorts[0].Min != 123 {
		t.Errorf("CT --notrack match: %+v", nt.Match)
	}
	// xt_conntrack numbers DNAT differently from nft: converted.
	fwd := rule(t, rs, iptB, ip, "filter", "FORWARD", func(r *track.Rule) bool { return r.Match.CtState != 0 })
	if fwd.Match.CtState != track.CtStateNew|track.CtStateDNAT || !fwd.Match.CtStateNeg || fwd.Text != "-A FORWARD -m conntrack ! --ctstate NEW,DNAT -j ACCEPT" {
		t.Errorf("! --ctstate NEW,DNAT read as %+v %q", fwd.Match, fwd.Text)
	}
	if len(rs.InvalidDrops()) < 2 {
		t.Errorf("INVALID drops: %v", rs.InvalidDrops())
	}
	// udp/123: the CT --notrack rule only; the nft rule's anonymous set
	// { 8125, 8126 } was read (NFT_MSG_GETSETELEM) and decoded.
	if n := rs.Notracked(track.FamilyIPv4, track.ProtoUDP, 123); len(n) != 1 || n[0].Backend != iptB {
		t.Errorf("udp/123 NOTRACKed by %v", n)
	}
	set := rule(t, rs, nftB, track.RuleFamilyInet, "filt", "raw", isAction(track.ActionNotrack))
	if set.Partial || len(set.Match.DPorts) != 2 || set.Match.DPorts[0] != (track.PortRange{Min: 8125, Max: 8125}) ||
		set.Match.DPorts[1] != (track.PortRange{Min: 8126, Max: 8126}) || set.Text != "udp dport { 8125, 8126 } notrack" {
		t.Errorf("udp dport { 8125, 8126 } notrack read as %+v %q", set.Match, set.Text)
	}
	if n := rs.Notracked(track.FamilyIPv4, track.ProtoUDP, 8126); len(n) != 1 || n[0].Backend != nftB {
		t.Errorf("udp/8126 NOTRACKed by %v", n)
	}
	if n := rs.Notracked(track.FamilyIPv4, track.ProtoTCP, 123); len(n) != 0 {
		t.Errorf("tcp/123 NOTRACKed by %v", n)
	}
	if legacy {
		check(rule(t, rs, track.BackendIptablesLegacy, ip, "nat", "POSTROUTING", isAction(track.ActionMasquerade)),
			track.RuleAction{Kind: track.ActionMasquerade, Ports: track.PortRange{Min: 20000, Max: 20099}, Flags: track.NATRandomFully})
		if !strings.Contains(strings.Join(rs.Notes, "\n"), "iptables-legacy-save -c") {
			t.Errorf("no note about the legacy tables: %v", rs.Notes)
		}
	}
	// Where conntrack sits: after raw, before the dstnat chains.
	for _, p := range rs.PacketPath() {
		if p.Hook != track.HookPrerouting {
			continue
		}
		var order []string
		for _, s := range p.Steps {
			if s.Conntrack != "" {
				order = append(order, "conntrack")
			} else {
				order = append(order, s.Table+"/"+s.Chain)
			}
		}
		got := strings.Join(order, " ")
		if !strings.Contains(got, "raw/PREROUTING") || strings.Index(got, "conntrack") < strings.Index(got, "filt/raw") ||
			strings.Index(got, "conntrack") > strings.Index(got, "natx/pre") {
			t.Errorf("prerouting order: %s", got)
		}
	}

	// Real traffic moves the counters.
	newRule := func(rs *track.Ruleset, b track.RuleBackend, table, chain string) track.Rule {
		fam := ip
		if table == "filt" {
			fam = track.RuleFamilyInet
		}
		return rule(t, rs, b, fam, table, chain, func(r *track.Rule) bool {
			return len(r.Match.DPorts) == 1 && r.Match.DPorts[0].Min == port
		})
	}
	before := map[string]uint64{"nft": newRule(rs, nftB, "filt", "in").Counter.Packets, "ipt": newRule(rs, iptB, "filter", "INPUT").Counter.Packets}
	if legacy {
		before["legacy"] = newRule(rs, track.BackendIptablesLegacy, "filter", "INPUT").Counter.Packets
	}
	const conns = 7
	for i := 0; i < conns; i++ {
		c, err := ns.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "hello %d\n", i)
		c.Close()
	}
	after := readLive(t, ns)
	for name, b := range before {
		var r track.Rule
		switch name {
		case "nft":
			r = newRule(after, nftB, "filt", "in")
		case "ipt":
			r = newRule(after, iptB, "filter", "INPUT")
		default:
			r = newRule(after, track.BackendIptablesLegacy, "filter", "INPUT")
		}
		if d := r.Counter.Packets - b; d < conns {
			t.Errorf("%s rule %q counted %d packets for %d new connections", name, r.Text, d, conns)
		}
	}

	// The tools' own outputs, read offline, say the same.
	for _, tool := range [][]string{{"iptables-nft-save", "-c"}, {"nft", "-j", "list", "ruleset"}, {"nft", "-a", "list", "ruleset"}} {
		out := ns.MustOutput(t, tool[0], tool[1:]...)
		res, err := Parse(bytes.NewReader(out), tool[0], FormatNone)
		if err != nil || res.Problems.Count > 0 {
			t.Fatalf("%v: %v %v", tool, err, res.Problems.First)
		}
		if tool[0] == "iptables-nft-save" {
			check(rule(t, res.Ruleset, iptB, ip, "nat", "POSTROUTING", isAction(track.ActionMasquerade)), masq)
			got, live := newRule(res.Ruleset, iptB, "filter", "INPUT").Counter, newRule(after, iptB, "filter", "INPUT").Counter
			if got != live {
				t.Errorf("iptables-nft-save -c counter %+v, live %+v", got, live)
			}
			continue
		}
		check(rule(t, res.Ruleset, nftB, ip, "natx", "post", isAction(track.ActionMasquerade)), masq)
		got, live := newRule(res.Ruleset, nftB, "filt", "in").Counter, newRule(after, nftB, "filt", "in").Counter
		if got != live {
			t.Errorf("%v counter %+v, live %+v", tool, got, live)
		}
	}
}

// TestKernelAnonymousSets: a rule's anonymous set of ports or addresses
// (hash or interval, negated, IPv4 and IPv6) is read with its elements and
// becomes the rule's match, as nft lists it.
func TestKernelAnonymousSets(t *testing.T) {
	ns := netnstest.NewNS(t)
	ns.Nft(t, `table inet sets {
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		tcp dport { 1000-2000, 3000, 5000-5001 } notrack
		udp sport != { 53, 123 } counter
		ip saddr { 10.0.0.0/8, 192.168.1.1, 172.16.0.0-172.16.0.5 } counter
		ip6 daddr { fd00::/64 } counter
		meta l4proto { tcp, udp } counter
	}
}
`)
	rs := readLive(t, ns)
	get := func(sub string) track.Rule {
		t.Helper()
		return rule(t, rs, track.BackendNft, track.RuleFamilyInet, "sets", "raw", func(r *track.Rule) bool { return strings.Contains(r.Text, sub) })
	}
	nt := get("notrack")
	want := []track.PortRange{{Min: 1000, Max: 2000}, {Min: 3000, Max: 3000}, {Min: 5000, Max: 5001}}
	if nt.Partial || fmt.Sprint(nt.Match.DPorts) != fmt.Sprint(want) || nt.Text != "tcp dport { 1000-2000, 3000, 5000-5001 } notrack" {
		t.Errorf("interval set: %+v %q", nt.Match, nt.Text)
	}
	if len(rs.Notracked(track.FamilyIPv4, track.ProtoTCP, 1500)) != 1 || len(rs.Notracked(track.FamilyIPv4, track.ProtoTCP, 2500)) != 0 {
		t.Error("tcp/1500 is NOTRACKed, tcp/2500 is not")
	}
	if r := get("sport"); r.Partial || !r.Match.SPortNeg || len(r.Match.SPorts) != 2 {
		t.Errorf("udp sport != { 53, 123 }: %+v %q", r.Match, r.Text)
	}
	if r := get("saddr"); r.Partial || fmt.Sprint(r.Match.Src) != "[10.0.0.0/8 172.16.0.0/30 172.16.0.4/31 192.168.1.1/32]" {
		t.Errorf("ip saddr set: %v %q", r.Match.Src, r.Text)
	}
	if r := get("daddr"); r.Partial || fmt.Sprint(r.Match.Dst) != "[fd00::/64]" {
		t.Errorf("ip6 daddr set: %v %q", r.Match.Dst, r.Text)
	}
	// A set of protocols has no place in the model: it stays undecoded.
	if r := get("lookup"); !r.Partial {
		t.Errorf("meta l4proto { tcp, udp }: %+v %q", r.Match, r.Text)
	}
}
