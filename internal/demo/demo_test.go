package demo

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

func TestEmbeddedFilesAreTheOriginals(t *testing.T) {
	for emb, src := range Sources() {
		f, err := Open(emb)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", emb, err)
		}
		got, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", Origin, src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s/%s: regenerate with gzip -n -9", emb, Origin, src)
		}
	}
}

func TestSamples(t *testing.T) {
	s, err := parser.ReadSamples(Inputs(), parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 296, 1000, 1000, 1300} // the scenario log's counts
	if len(s.Snapshots) != len(want) {
		t.Fatalf("%d samples, want %d", len(s.Snapshots), len(want))
	}
	for i, snap := range s.Snapshots {
		if len(snap.Flows) != want[i] {
			t.Errorf("sample %d: %d entries, want %d", i, len(snap.Flows), want[i])
		}
		if snap.Time.IsZero() || i > 0 && !snap.Time.After(s.Snapshots[i-1].Time) {
			t.Errorf("sample %d: time %v", i, snap.Time)
		}
	}
	if v, _ := s.Snapshots[2].Sysctls.Int("nf_conntrack_max"); v != 1000 {
		t.Errorf("t05 should carry the lowered nf_conntrack_max, got %d", v)
	}
	if len(s.Snapshots[2].KernelLog) == 0 {
		t.Error("t05 should carry the table-full kernel-log lines")
	}
	if got := s.Snapshots[4].Stats.Total(track.CounterDrop); got != 4095 { // drop
		t.Errorf("t35 drop total %d, want 4095", got)
	}
	if v, _ := s.Snapshots[4].Sysctls.Int("nf_conntrack_max"); v != 262144 || s.Snapshots[4].Count != 1300 {
		t.Errorf("t35 should carry the final sysctls (max 262144, count 1300), got %d, %d", v, s.Snapshots[4].Count)
	}
	if s.Problems() != 0 {
		t.Errorf("%d malformed lines", s.Problems())
	}
}
