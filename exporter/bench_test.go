package exporter

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/track"
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkModelMemory fills a model with a million ctfill entries (the
// table the budget is stated for) and reports bytes per entry.
func BenchmarkModelMemory(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		m := NewModel(t0)
		ev := track.Event{Type: track.EventNew}
		for j := 0; j < n; j++ {
			ev.Flow = ctfill.Entry(j)
			m.Event(&ev, t0)
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "bytes/entry")
		runtime.KeepAlive(m)
	}
}

// BenchmarkModelEvent is the cost of applying one event to a model of a
// million entries: a NEW and a DESTROY per iteration pair.
func BenchmarkModelEvent(b *testing.B) {
	const n = 1_000_000
	m := NewModel(t0)
	ev := track.Event{Type: track.EventNew}
	for j := 0; j < n; j++ {
		ev.Flow = ctfill.Entry(j)
		m.Event(&ev, t0)
	}
	flows := make([]track.Flow, 1024)
	for i := range flows {
		flows[i] = ctfill.Entry(n + i)
	}
	now := t0.Add(time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Flow = flows[i%len(flows)]
		ev.Type = track.EventNew
		if (i/len(flows))%2 == 1 {
			ev.Type = track.EventDestroy
		}
		m.Event(&ev, now)
	}
}

// BenchmarkModelEach streams a million entries, as an evaluation does.
func BenchmarkModelEach(b *testing.B) {
	const n = 1_000_000
	m := NewModel(t0)
	ev := track.Event{Type: track.EventNew}
	for j := 0; j < n; j++ {
		ev.Flow = ctfill.Entry(j)
		m.Event(&ev, t0)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := 0
		m.Each(t0, func(*track.Flow) error { k++; return nil })
		if k != n {
			b.Fatal(k)
		}
	}
}

// BenchmarkEvaluate is one evaluation of the rules over a million-entry
// model: the model streamed into the analyzers alive (one, then two once
// the next one starts) and the report document built. Run it with GOGC=25,
// as the exporter runs (cmd/ctdiag serviceGC), and -benchtime 6x or more
// to include an evaluation with two analyzers.
func BenchmarkEvaluate(b *testing.B) {
	const n = 1_000_000
	m := NewModel(t0)
	ev := track.Event{Type: track.EventNew}
	for j := 0; j < n; j++ {
		ev.Flow = ctfill.Entry(j)
		m.Event(&ev, t0)
	}
	cfg := Config{}
	if err := cfg.defaults(); err != nil {
		b.Fatal(err)
	}
	e := newEvaluator(&cfg, collector.Netns{})
	// The peak RSS reported is the evaluations': building the model is not
	// measured (BenchmarkModelMemory is).
	heapInUse()
	debug.FreeOSMemory()
	resetPeakRSS()
	// Every evaluation reads the namespace's sysctls (collector Extra): the
	// kernel's defaults stand for them here.
	extra := track.Snapshot{Count: n, HasCount: true, Max: 1 << 21, HasMax: true, Sysctls: track.DefaultSysctls()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := t0.Add(time.Duration(i+1) * 30 * time.Second)
		if _, err := e.run(now, track.Source{}, nil, &extra, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(e.live)), "analyzers")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MiB")
	b.ReportMetric(float64(heapInUse())/(1<<20), "live-MiB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	runtime.KeepAlive(e)
	runtime.KeepAlive(m)
}

// resetPeakRSS starts the process's peak resident set (VmHWM) again from
// its current RSS (proc(5), clear_refs): it touches this process only.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
