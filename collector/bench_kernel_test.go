package collector

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// benchN is the table size of the kernel benchmarks (CTDIAG_BENCH_N).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("CTDIAG_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 200000
}

// requireRoom skips a benchmark of n entries that the global
// nf_conntrack_max would not let one namespace hold. Benchmarks do not
// change the limit; scripts/bench-live.sh raises it for a 1M run.
func requireRoom(b *testing.B, n int) {
	b.Helper()
	if max := netnstest.ConntrackMax(b); max != 0 && max < n {
		b.Skipf("nf_conntrack_max is %d, below CTDIAG_BENCH_N=%d: raise it for the run (scripts/bench-live.sh does)", max, n)
	}
}

// countingSink counts events and keeps the first and last arrival.
type countingSink struct {
	n, resynced atomic.Int64
	first, last atomic.Int64 // unix nanoseconds
	losses      atomic.Int64
}

func (s *countingSink) Event(ev *track.Event) error {
	now := time.Now().UnixNano()
	if s.n.Add(1) == 1 {
		s.first.Store(now)
	}
	s.last.Store(now)
	return nil
}
func (s *countingSink) Expect(track.EventType, time.Time, *track.Expectation) error { return nil }
func (s *countingSink) Resync(*track.Flow) error                                    { s.resynced.Add(1); return nil }
func (s *countingSink) Lost(track.EventLoss) error                                  { s.losses.Add(1); return nil }

// BenchmarkKernelEvents measures how fast the collector takes events: a
// namespace gets N entries created over netlink in batches (NEW events),
// then is flushed (N DESTROY events in one burst), while Events runs with
// its default buffer. It reports events/s for each phase (first to last
// event) and the losses, which must be zero or reported: received + the
// entries covered by resyncs account for every event.
//
//	CTDIAG_BENCH_N=1000000 go test ./collector -run '^$' -bench KernelEvents -benchtime 1x
func BenchmarkKernelEvents(b *testing.B) {
	netnstest.Require(b)
	n := benchN()
	requireRoom(b, n)
	for range b.N {
		ns := netnstest.NewNS(b)
		c, err := Open(Config{Netns: Netns{Name: ns.Name}})
		if err != nil {
			b.Fatal(err)
		}
		fill, err := ctfill.NewIn("/run/netns/" + ns.Name)
		if err != nil {
			b.Fatal(err)
		}
		for _, phase := range []string{"new", "destroy"} {
			sink := &countingSink{}
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan struct{})
			done := make(chan EventStats, 1)
			go func() {
				st, _ := c.Events(ctx, EventOptions{Ready: func() { close(ready) }}, sink)
				done <- st
			}()
			<-ready
			start := time.Now()
			if phase == "new" {
				err = fill.Fill(0, n)
			} else {
				err = fill.Flush()
			}
			if err != nil {
				b.Fatal(err)
			}
			generated := time.Since(start)
			deadline := time.Now().Add(30 * time.Second)
			for sink.n.Load() < int64(n) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // a resync may still run
			cancel()
			st := <-done
			got := sink.n.Load()
			span := time.Duration(sink.last.Load() - sink.first.Load())
			b.ReportMetric(float64(got)/span.Seconds(), phase+"-events/s")
			b.ReportMetric(float64(n)/generated.Seconds(), phase+"-generated/s")
			b.ReportMetric(float64(len(st.Losses)), phase+"-losses")
			b.ReportMetric(float64(st.Events)/float64(max(st.Reads, 1)), phase+"-events/read")
			if got < int64(n) && len(st.Losses) == 0 {
				b.Errorf("%s: %d of %d events and no loss reported", phase, got, n)
			}
			b.Logf("%s: %d events of %d in %v (generated in %v), %d losses, buffer %d bytes", phase, got, n, span, generated, len(st.Losses), st.ReadBuffer)
		}
		fill.Close()
		c.Close()
	}
}

// BenchmarkKernelDump measures a streamed dump of N entries (decoding
// included, nothing kept).
func BenchmarkKernelDump(b *testing.B) {
	netnstest.Require(b)
	n := benchN()
	requireRoom(b, n)
	ns := netnstest.NewNS(b)
	fill, err := ctfill.NewIn("/run/netns/" + ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	if err := fill.Fill(0, n); err != nil {
		b.Fatal(err)
	}
	fill.Close()
	c, err := Open(Config{Netns: Netns{Name: ns.Name}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		info, err := c.Flows(context.Background(), DumpFilter{}, func(*track.Flow) error { return nil })
		if err != nil || info.Entries != n {
			b.Fatalf("%d entries, %v", info.Entries, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
