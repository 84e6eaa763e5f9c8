package flowtable

import (
	"runtime"
	"sync"
	"testing"

	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/track"
)

var bench1M = sync.OnceValue(func() *Table {
	t := New(1_000_000)
	gendump.Generate(gendump.Options{N: 1_000_000, Seed: 1, AcctShare: 0.1}, func(f *track.Flow) error {
		t.Add(f)
		return nil
	})
	t.SetTimeouts(track.NewTimeouts(nil))
	return t
})

// BenchmarkAdd1M fills a reused table with a million generated entries
// (the generation itself is included; see BenchmarkGenerate1M).
func BenchmarkAdd1M(b *testing.B) {
	t := New(1_000_000)
	for b.Loop() {
		t.Reset()
		gendump.Generate(gendump.Options{N: 1_000_000, Seed: 1, AcctShare: 0.1}, func(f *track.Flow) error {
			t.Add(f)
			return nil
		})
	}
}

func BenchmarkGenerate1M(b *testing.B) {
	for b.Loop() {
		gendump.Generate(gendump.Options{N: 1_000_000, Seed: 1, AcctShare: 0.1}, func(f *track.Flow) error { return nil })
	}
}

// BenchmarkTableMemory1M reports the heap a million-entry table holds.
func BenchmarkTableMemory1M(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := New(1_000_000)
		gendump.Generate(gendump.Options{N: 1_000_000, Seed: 1, AcctShare: 0.1}, func(f *track.Flow) error {
			t.Add(f)
			return nil
		})
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "MB/table")
		runtime.KeepAlive(t)
	}
}

func BenchmarkSelect1M(b *testing.B) {
	t := bench1M()
	est := func(f *track.Flow) bool {
		return f.Orig.Proto == track.ProtoTCP && f.State == uint8(track.TCPEstablished)
	}
	for _, c := range []struct {
		name  string
		match func(*track.Flow) bool
		o     Order
	}{
		{"filter", est, Order{}},
		{"sort=src", nil, Order{Col: ColSrc}},
		{"sort=dport", nil, Order{Col: ColDport}},
		{"sort=idle", nil, Order{Col: ColIdle}},
		{"sort=timeout/desc", nil, Order{Col: ColTimeout, Desc: true}},
		{"filter+sort=bytes", est, Order{Col: ColBytes}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				t.Select(c.match, c.o)
			}
		})
	}
}

func BenchmarkTalkers1M(b *testing.B) {
	t := bench1M()
	for d := BySource; d < NumDimensions; d++ {
		b.Run(d.String(), func(b *testing.B) {
			for b.Loop() {
				t.Talkers(d, 20)
			}
		})
	}
}

func BenchmarkStates1M(b *testing.B) {
	t := bench1M()
	for b.Loop() {
		t.States()
	}
}
