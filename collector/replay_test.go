package collector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

const captures = "../testdata/kernel-6.18"

// TestReplayDegradesWithNotes: a copied /proc tree that holds only the
// table still lists and samples; what is missing (statistics, sysctls,
// slab, kernel log) is left out with notes, not errors.
func TestReplayDegradesWithNotes(t *testing.T) {
	root := t.TempDir()
	table, err := os.ReadFile(captures + "/formats/proc-nf_conntrack.txt")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "net"), 0o755)
	os.WriteFile(filepath.Join(root, "net/nf_conntrack"), table, 0o644)
	c, err := Open(Config{ProcRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	info, err := c.Flows(context.Background(), DumpFilter{Family: 10}, func(*track.Flow) error { n++; return nil })
	if err != nil || n != strings.Count(string(table), "\n") || info.KernelFiltered {
		t.Fatalf("%d entries, %+v, %v", n, info, err)
	}
	x, err := c.Extra(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if x.HasCount || len(x.Stats.CPUs) != 0 || x.HasSlab || len(x.KernelLog) != 0 {
		t.Errorf("extra from nothing: %+v", x)
	}
	notes := strings.Join(c.Notes(), "\n")
	for _, want := range []string{"statistics unavailable", "sysctls unavailable", "memory per entry unknown", "kernel log: not read"} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in:\n%s", want, notes)
		}
	}
	if _, err := c.Events(context.Background(), EventOptions{}, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("events from /proc: %v", err)
	}
}

// TestReplayWithoutTable: an empty root says conntrack is missing and what
// to check.
func TestReplayWithoutTable(t *testing.T) {
	_, err := Open(Config{ProcRoot: t.TempDir()})
	if !errors.Is(err, ErrNoConntrack) || !strings.Contains(err.Error(), "CONFIG_NF_CONNTRACK_PROCFS") {
		t.Errorf("%v", err)
	}
}

func TestParseConnlabel(t *testing.T) {
	names, err := parseConnlabel(strings.NewReader("# labels\n0\tlab-a\n1 lab-b\n1 again\n\n200 big\nx y\n"))
	if len(names) != 2 || names[0] != "lab-a" || names[1] != "lab-b" || err == nil || !strings.Contains(err.Error(), "line 6") {
		t.Errorf("%q %v", names, err)
	}
}
