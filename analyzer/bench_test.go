package analyzer_test

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/internal/gendump"
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
