package analyzer_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// genTable makes a realistic n-entry table (the mix of the real 100k
// capture) once per benchmark.
func genTable(b *testing.B, n int, seed uint64) []track.Flow {
	b.Helper()
	flows := make([]track.Flow, 0, n)
	err := gendump.Generate(gendump.Options{N: n, Seed: seed, AcctShare: 0.1}, func(f *track.Flow) error {
		flows = append(flows, *f)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return flows
}

// BenchmarkAnalyzeSample1M: the analyzer's own cost for one million-entry
// sample (parsing excluded: see parser's BenchmarkDecode1M).
func BenchmarkAnalyzeSample1M(b *testing.B) {
	flows := genTable(b, 1_000_000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := analyzer.New(analyzer.Options{})
		a.BeginSample(track.Snapshot{})
		for j := range flows {
			a.Flow(&flows[j])
		}
		a.EndSample()
		a.Result()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(flows)), "ns/entry")
}

// BenchmarkRetained1M: the heap an analyzer holds after three
// million-entry samples and a result (what a long-running reader such as
// the exporter keeps between evaluations), in MB.
func BenchmarkRetained1M(b *testing.B) {
	flows := genTable(b, 1_000_000, 1)
	for i := 0; i < b.N; i++ {
		a := analyzer.New(analyzer.Options{})
		for s := 0; s < 3; s++ {
			a.BeginSample(track.Snapshot{HasTable: true, Time: time.Unix(int64(10*s), 0)})
			for j := range flows {
				a.Flow(&flows[j])
			}
			a.EndSample()
		}
		a.Result()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(m.HeapAlloc)/(1<<20)-float64(len(flows))*float64(unsafe.Sizeof(flows[0]))/(1<<20), "MB-retained")
		runtime.KeepAlive(a)
	}
}

// BenchmarkAnalyzeWithRuleset1M: the same sample, with a kube-proxy-sized
// ruleset (1,000 services: 10,007 rules in 4,007 chains, each service's
// DNAT behind two jumps) joined to it by the rules that read the ruleset.
func BenchmarkAnalyzeWithRuleset1M(b *testing.B) {
	flows := genTable(b, 1_000_000, 1)
	rs := kubeRuleset(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := analyzer.New(analyzer.Options{})
		a.BeginSample(track.Snapshot{Ruleset: rs})
		for j := range flows {
			a.Flow(&flows[j])
		}
		a.EndSample()
		a.Result()
	}
}

// kubeRuleset is kube-proxy's iptables layout for services × 3 endpoints.
func kubeRuleset(b *testing.B, services int) *track.Ruleset {
	b.Helper()
	var s strings.Builder
	s.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n")
	for i := 0; i < services; i++ {
		fmt.Fprintf(&s, ":KUBE-SVC-%d - [0:0]\n", i)
		for e := 0; e < 3; e++ {
			fmt.Fprintf(&s, ":KUBE-SEP-%d-%d - [0:0]\n", i, e)
		}
	}
	s.WriteString("-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n-A POSTROUTING -j KUBE-POSTROUTING\n")
	s.WriteString("-A KUBE-POSTROUTING -j MASQUERADE --random-fully\n")
	for i := 0; i < services; i++ {
		fmt.Fprintf(&s, "-A KUBE-SERVICES -d 10.96.%d.%d/32 -p udp -m udp --dport 53 -j KUBE-SVC-%d\n", i/250, i%250+1, i)
		for e := 0; e < 3; e++ {
			fmt.Fprintf(&s, "-A KUBE-SVC-%d -m statistic --mode random --probability 0.33 -j KUBE-SEP-%d-%d\n", i, i, e)
			fmt.Fprintf(&s, "-A KUBE-SEP-%d-%d -p udp -j DNAT --to-destination 10.244.%d.%d:53\n", i, e, (i*3+e)/250, (i*3+e)%250+1)
		}
	}
	s.WriteString("COMMIT\n")
	res, err := ruleset.Parse(strings.NewReader(s.String()), "kube", ruleset.FormatNone)
	if err != nil || res.Problems.Count > 0 {
		b.Fatal(err, res.Problems.First)
	}
	return res.Ruleset
}
