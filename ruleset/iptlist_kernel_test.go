package ruleset

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelIptablesListAgreesWithSave writes rules with iptables-nft,
// ip6tables-nft and iptables-legacy, sends traffic through some, and
// requires iptables -nvxL (as a capture script saves it) and
// iptables-save -c of the same namespace to read to the same rules.
func TestKernelIptablesListAgreesWithSave(t *testing.T) {
	netnstest.RequireTools(t, "iptables-nft", "ip6tables-nft", "iptables-nft-save")
	ns := netnstest.NewNS(t)
	cmds := []string{
		"iptables-nft -t raw -A PREROUTING -p udp --dport 123 -j CT --notrack",
		"iptables-nft -t raw -A OUTPUT -p udp --dport 123 -j NOTRACK",
		"iptables-nft -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp",
		"iptables-nft -t raw -A PREROUTING -p tcp --dport 22 -j CT --zone 7",
		"iptables-nft -A INPUT -m conntrack --ctstate INVALID -j DROP",
		"iptables-nft -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT",
		"iptables-nft -A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT",
		"iptables-nft -A INPUT -s 10.0.0.0/8 ! -i lo -p udp --sport 53 -j ACCEPT",
		"iptables-nft -A OUTPUT -o lo -p icmp -j ACCEPT",
		"iptables-nft -A FORWARD -m conntrack ! --ctstate NEW,DNAT -j ACCEPT",
		"iptables-nft -A FORWARD -p tcp --dport 25 -j REJECT --reject-with tcp-reset",
		"iptables-nft -t nat -A POSTROUTING -o veth0 -p tcp -j MASQUERADE --to-ports 30000-30019 --random-fully",
		"iptables-nft -t nat -A POSTROUTING -s 10.2.0.0/16 -p tcp -j SNAT --to-source 192.0.2.10-192.0.2.12:5000-5999 --persistent --random",
		"iptables-nft -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8080-8081",
		"iptables-nft -t nat -A PREROUTING -p tcp --dport 82 -j REDIRECT --to-ports 8082",
		"iptables-nft -t nat -N KUBE-X",
		"iptables-nft -t nat -N KUBE-Y",
		"iptables-nft -t nat -A OUTPUT -j KUBE-X",
		"iptables-nft -t nat -A KUBE-X -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 10.244.1.5:53",
		"iptables-nft -t nat -A KUBE-X -p udp --dport 54 -g KUBE-Y",
		"ip6tables-nft -t nat -A POSTROUTING -p udp -j MASQUERADE --to-ports 40000-40099",
		"ip6tables-nft -A INPUT -m conntrack --ctstate INVALID -j DROP",
	}
	for _, c := range cmds {
		f := strings.Fields(c)
		ns.MustOutput(t, f[0], f[1:]...)
	}
	// Counters that are not zero.
	ns.MustOutput(t, "ping", "-c", "3", "-i", "0.2", "-W", "1", "127.0.0.1")

	type tool struct{ list, save string }
	tools := []tool{{"iptables-nft", "iptables-nft-save"}, {"ip6tables-nft", "ip6tables-nft-save"}}
	if _, err := ns.Output("iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-o", "veth1", "-p", "tcp", "-j", "MASQUERADE", "--to-ports", "20000-20099"); err == nil {
		ns.MustOutput(t, "iptables-legacy", "-t", "raw", "-A", "OUTPUT", "-p", "udp", "--dport", "515", "-j", "NOTRACK")
		tools = append(tools, tool{"iptables-legacy", "iptables-legacy-save"})
	} else {
		t.Logf("no iptables-legacy here (%v)", err)
	}
	compared := 0
	for _, tl := range tools {
		var listing bytes.Buffer
		for _, table := range []string{"raw", "mangle", "nat", "filter"} {
			listing.WriteString("### " + tl.list + " -t " + table + " -nvxL\n")
			listing.Write(ns.MustOutput(t, tl.list, "-t", table, "-nvxL"))
		}
		save := ns.MustOutput(t, tl.save, "-c")
		l, err := Parse(&listing, tl.list, FormatNone)
		if err != nil || l.Format != FormatIptablesList || l.Problems.Count > 0 {
			t.Fatalf("%s -nvxL: %v %v %v", tl.list, l.Format, err, l.Problems.First)
		}
		s, err := Parse(bytes.NewReader(save), tl.save, FormatNone)
		if err != nil || s.Problems.Count > 0 {
			t.Fatalf("%s: %v %v", tl.save, err, s.Problems.First)
		}
		byPlace := map[string]track.Rule{}
		for _, r := range s.Ruleset.Rules() {
			byPlace[r.Family.String()+" "+r.Table+" "+r.Chain+" "+strconv.Itoa(r.Rule.Position)] = r.Rule
		}
		for _, r := range l.Ruleset.Rules() {
			key := r.Family.String() + " " + r.Table + " " + r.Chain + " " + strconv.Itoa(r.Rule.Position)
			want, ok := byPlace[key]
			if !ok {
				t.Errorf("%s: %s: %q not in %s", tl.list, key, r.Rule.Text, tl.save)
				continue
			}
			delete(byPlace, key)
			got := r.Rule
			got.Text, want.Text = "", ""
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s:\n list %+v\n save %+v", tl.list, key, got, want)
			}
			compared++
		}
		for k, r := range byPlace {
			t.Errorf("%s: %s %q not in the listing", tl.list, k, r.Text)
		}
	}
	t.Logf("%d rules read alike from both", compared)
	if compared < len(cmds)-4 {
		t.Errorf("only %d rules compared", compared)
	}
}
