package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatsAndCountFromFiles: conntrack -S output read back is printed as
// conntrack printed it, then ctdiag's lines; two samples give their changes;
// count reads conntrack -C, nf_conntrack_count and /proc/net/stat.
func TestStatsAndCountFromFiles(t *testing.T) {
	f := captures + "/formats/"
	want, err := os.ReadFile(f + "conntrack-S.txt")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := ctdiag(t, "", "stats", f+"conntrack-S.txt")
	if code != 0 || !strings.HasPrefix(out, string(want)) || !strings.Contains(out, "\ntotal   \tfound=0 invalid=1 ") {
		t.Fatalf("stats (exit %d %s):\n%s", code, errOut, out)
	}
	expect, _ := os.ReadFile(f + "conntrack-S-expect.txt")
	if out, _, _ := ctdiag(t, "", "stats", "--expect", f+"conntrack-S-expect.txt"); !strings.HasPrefix(out, string(expect)) {
		t.Errorf("--expect:\n%s", out)
	}
	// A later reading with more invalid packets, 10 s apart.
	dir := t.TempDir()
	later := strings.Replace(string(want), "invalid=1", "invalid=31", 1)
	os.WriteFile(filepath.Join(dir, "s2.txt"), []byte(later), 0o644)
	out, _, code = ctdiag(t, "", "stats", f+"conntrack-S.txt", filepath.Join(dir, "s2.txt"), "--interval", "10s")
	if code != 0 || !strings.Contains(out, "\ndelta   \tfrom=1 to=2 seconds=10 found=+0 invalid=+30 ") ||
		!strings.Contains(out, "\nrate    \tfrom=1 to=2 found=0/s invalid=3/s ") {
		t.Errorf("two samples:\n%s", out)
	}
	out, _, _ = ctdiag(t, "", "stats", filepath.Join(dir, "s2.txt"), f+"conntrack-S.txt")
	if !strings.Contains(out, "invalid=reset") {
		t.Errorf("a counter that went down:\n%s", out)
	}
	out, _, code = ctdiag(t, "", "stats", "-o", "json", f+"conntrack-S.txt", filepath.Join(dir, "s2.txt"), "--interval", "10s")
	var doc struct {
		Samples []struct {
			CPUs  []struct{ CPU int } `json:"cpus"`
			Total map[string]uint64   `json:"total"`
		} `json:"samples"`
		Changes []struct {
			Delta     map[string]*uint64  `json:"delta"`
			PerSecond map[string]*float64 `json:"per_second"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Samples) != 2 || len(doc.Samples[0].CPUs) != 2 ||
		doc.Samples[1].Total["invalid"] != 31 || *doc.Changes[0].Delta["invalid"] != 30 || *doc.Changes[0].PerSecond["invalid"] != 3 {
		t.Errorf("json (%v):\n%s", err, out)
	}
	for _, c := range []struct{ file, want string }{
		{"conntrack-C.txt", "11"}, {"nf_conntrack_count", "11"}, {"stat-nf_conntrack.txt", "11"}, {"proc-nf_conntrack.txt", ""},
	} {
		out, errOut, code := ctdiag(t, "", "count", f+c.file)
		if code != 0 || c.want != "" && strings.TrimSpace(out) != c.want || !strings.Contains(errOut, "entries") {
			t.Errorf("count %s: %q (exit %d, %s)", c.file, out, code, errOut)
		}
	}
	for _, args := range [][]string{
		{"stats", "-o", "xml"}, {"stats", "--samples", "0"}, {"stats", "--netns", "x", f + "conntrack-S.txt"},
		{"stats", f + "conntrack-C.txt"}, {"count", "--samples", "2", f + "conntrack-C.txt"},
		{"events", "--source", "proc"}, {"events", "-o", "json"}, {"events", "-e", "CREATE"}, {"events", "-e", "D"},
		{"events", "-u", "S"}, {"events", "extra"},
	} {
		if _, errOut, code := ctdiag(t, "", args...); code != exitParameter {
			t.Errorf("%v: exit %d %s, want 2", args, code, errOut)
		}
	}
}
