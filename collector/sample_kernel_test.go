package collector

import (
	"context"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// sampleSink records what Sample streams.
type sampleSink struct {
	metas   []track.Snapshot
	entries []int
	extras  []track.Snapshot
	ended   int
}

func (s *sampleSink) BeginSample(meta track.Snapshot) error {
	s.metas = append(s.metas, meta)
	s.entries = append(s.entries, 0)
	return nil
}
func (s *sampleSink) Flow(*track.Flow) error        { s.entries[len(s.entries)-1]++; return nil }
func (s *sampleSink) Extra(x *track.Snapshot) error { s.extras = append(s.extras, *x); return nil }
func (s *sampleSink) EndSample() error              { s.ended++; return nil }

// TestKernelSampleStreamsLiveSamples: Sample (what ctdiag report uses for
// a live source) streams N samples an interval apart, each with its time,
// source, entries and extras, over netlink and over /proc.
func TestKernelSampleStreamsLiveSamples(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	fill(t, ns, 0, 300)
	for _, src := range []SourceChoice{SourceNetlink, SourceProcfs} {
		var sink sampleSink
		progress := 0
		res, err := Sample(context.Background(), Config{Netns: Netns{Name: ns.Name}, Source: src},
			SampleOptions{Samples: 3, Interval: 200 * time.Millisecond, Progress: func(n, e int) { progress = n }}, &sink)
		if err != nil {
			t.Fatal(err)
		}
		want := track.SourceNetlink
		if src == SourceProcfs {
			want = track.SourceProcfs
		}
		if len(sink.metas) != 3 || sink.ended != 3 || len(sink.extras) != 3 || progress != 3 || len(res.Entries) != 3 {
			t.Fatalf("%v: %d samples, %d ended, %d extras", want, len(sink.metas), sink.ended, len(sink.extras))
		}
		for i, m := range sink.metas {
			if m.Source.Kind != want || m.Source.Netns != ns.Name || m.Source.Host == "" || m.Source.Kernel == "" {
				t.Errorf("sample %d source %+v", i, m.Source)
			}
			if i > 0 {
				if d := m.Time.Sub(sink.metas[i-1].Time); d < 150*time.Millisecond || d > 2*time.Second {
					t.Errorf("samples %v apart", d)
				}
			}
			x := sink.extras[i]
			if sink.entries[i] != 300 || res.Entries[i] != 300 || x.Count != 300 || !x.HasMax || len(x.Stats.CPUs) == 0 || len(x.Sysctls) < 20 {
				t.Errorf("%v sample %d: %d entries, count %d, max %v, %d cpus, %d sysctls", want, i, sink.entries[i], x.Count, x.HasMax, len(x.Stats.CPUs), len(x.Sysctls))
			}
		}
	}
}
