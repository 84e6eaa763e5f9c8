package ruleset

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// kubeProxyRules is kube-proxy's iptables layout for services x 3
// endpoints: 10 rules and 4 chains per service (10,007 rules in 4,007
// chains for 1,000 services), in iptables-restore syntax.
func kubeProxyRules(services int) string {
	var b strings.Builder
	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	b.WriteString(":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n")
	for s := 0; s < services; s++ {
		fmt.Fprintf(&b, ":KUBE-SVC-%06d - [0:0]\n", s)
		for e := 0; e < 3; e++ {
			fmt.Fprintf(&b, ":KUBE-SEP-%06d-%d - [0:0]\n", s, e)
		}
	}
	b.WriteString("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n")
	b.WriteString("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
	b.WriteString("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n")
	b.WriteString("-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n")
	b.WriteString("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
	for s := 0; s < services; s++ {
		fmt.Fprintf(&b, "-A KUBE-SERVICES -d 10.96.%d.%d/32 -p tcp -m comment --comment \"ns/svc%d:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%06d\n", s/250, s%250+1, s, s)
		for e := 0; e < 3; e++ {
			if e < 2 {
				fmt.Fprintf(&b, "-A KUBE-SVC-%06d -m comment --comment \"ns/svc%d:http\" -m statistic --mode random --probability 0.33333 -j KUBE-SEP-%06d-%d\n", s, s, s, e)
			} else {
				fmt.Fprintf(&b, "-A KUBE-SVC-%06d -m comment --comment \"ns/svc%d:http\" -j KUBE-SEP-%06d-%d\n", s, s, s, e)
			}
			i := s*3 + e
			fmt.Fprintf(&b, "-A KUBE-SEP-%06d-%d -s 10.244.%d.%d/32 -m comment --comment \"ns/svc%d:http\" -j KUBE-MARK-MASQ\n", s, e, i/250, i%250+1, s)
			fmt.Fprintf(&b, "-A KUBE-SEP-%06d-%d -p tcp -m comment --comment \"ns/svc%d:http\" -m tcp -j DNAT --to-destination 10.244.%d.%d:8080\n", s, e, s, i/250, i%250+1)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// nftRules is 10 chains of 1,000 native rules.
func nftRules() string {
	var b strings.Builder
	b.WriteString("table inet bench {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct state invalid counter drop\n\t}\n")
	for c := 0; c < 10; c++ {
		fmt.Fprintf(&b, "\tchain svc%d {\n", c)
		for r := 0; r < 1000; r++ {
			fmt.Fprintf(&b, "\t\tip daddr 10.%d.%d.%d tcp dport %d ct state new counter accept\n", c, r/250, r%250+1, 1000+r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// BenchmarkKernelRead reads a 10,000-rule ruleset from a namespace, and
// reports, measured in the same run, what nft list ruleset and
// iptables-nft-save take for it (ms, median of 5).
func BenchmarkKernelRead(b *testing.B) {
	for _, shape := range []string{"kube-proxy", "nft"} {
		b.Run(shape, func(b *testing.B) {
			ns := netnstest.NewNS(b)
			if shape == "kube-proxy" {
				netnstest.RequireTools(b, "iptables-nft-restore")
				cmd := ns.Exec(context.Background(), "iptables-nft-restore")
				cmd.Stdin = strings.NewReader(kubeProxyRules(1000))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("iptables-nft-restore: %v %s", err, out)
				}
			} else {
				ns.Nft(b, nftRules())
			}
			f, err := os.Open("/run/netns/" + ns.Name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			rs, err := Read(context.Background(), Live{Netns: f})
			if err != nil {
				b.Fatal(err)
			}
			if n := rs.RuleCount(); n < 10000 {
				b.Fatalf("%d rules", n)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Read(context.Background(), Live{Netns: f}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// The tools, timed after the loop: ResetTimer would drop the metrics.
			tools := map[string][]string{"nft-list-ms": {"nft", "list", "ruleset"}}
			if shape == "kube-proxy" {
				tools["iptables-nft-save-ms"] = []string{"iptables-nft-save", "-c"}
			}
			for metric, args := range tools {
				var ts []time.Duration
				for i := 0; i < 5; i++ {
					start := time.Now()
					if err := ns.Exec(context.Background(), args[0], args[1:]...).Run(); err != nil {
						b.Fatal(err)
					}
					ts = append(ts, time.Since(start))
				}
				sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
				b.ReportMetric(float64(ts[2].Microseconds())/1000, metric)
			}
		})
	}
}
