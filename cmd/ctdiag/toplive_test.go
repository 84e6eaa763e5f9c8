package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/track"
)

// countSink counts the entries of the samples it is given.
type countSink struct{ flows int }

func (s *countSink) BeginSample(track.Snapshot) error { return nil }
func (s *countSink) Flow(*track.Flow) error           { s.flows++; return nil }
func (s *countSink) Extra(*track.Snapshot) error      { return nil }
func (s *countSink) EndSample() error                 { return nil }

var _ track.SampleSink = (*countSink)(nil)

// TestLiveSourceReadAfterClose: the TUI may still be reading when it quits
// and closes its source; a read after Close must fail, not fall back to
// this process's own /proc (another namespace's table).
func TestLiveSourceReadAfterClose(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernel-6.18", "formats", "proc-nf_conntrack.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net", "nf_conntrack"), table, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := newLiveSource(collector.Config{ProcRoot: root}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var first countSink
	if _, err := src.Read(context.Background(), &first); err != nil || first.flows == 0 {
		t.Fatalf("read before Close: %d entries, %v", first.flows, err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	var after countSink
	if _, err := src.Read(context.Background(), &after); !errors.Is(err, errLiveSourceClosed) || after.flows != 0 {
		t.Errorf("read after Close: %d entries, %v; want errLiveSourceClosed", after.flows, err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
