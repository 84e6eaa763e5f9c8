package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/track"
)

// sampleAsChild runs as nobody inside the test namespace.
func sampleAsChild(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("the child must not be root")
	}
	var metas, flows int
	var extra track.Snapshot
	sink := &funcSink{
		begin: func(track.Snapshot) { metas++ },
		flow:  func() { flows++ },
		extra: func(x *track.Snapshot) { extra = *x },
	}
	res, err := collector.Sample(context.Background(), collector.Config{TableOptional: true}, collector.SampleOptions{Samples: 1}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if metas != 1 || flows != 0 || !extra.HasCount || !extra.HasMax || len(extra.Stats.CPUs) == 0 || len(extra.Sysctls) < 10 {
		t.Fatalf("samples %d, flows %d, extra %+v", metas, flows, extra)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "not readable without root") {
		t.Fatalf("notes %v", res.Notes)
	}
	fmt.Printf("CHILD OK count=%d\n", extra.Count)
}

type funcSink struct {
	begin func(track.Snapshot)
	flow  func()
	extra func(*track.Snapshot)
}

func (s *funcSink) BeginSample(m track.Snapshot) error { s.begin(m); return nil }
func (s *funcSink) Flow(*track.Flow) error             { s.flow(); return nil }
func (s *funcSink) Extra(x *track.Snapshot) error      { s.extra(x); return nil }
func (s *funcSink) EndSample() error                   { return nil }
