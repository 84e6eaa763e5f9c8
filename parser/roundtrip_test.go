package parser

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// TestRoundTripFlowDumps: every real flow dump read and written back in its
// own format reproduces the file byte for byte, on the sequential and the
// parallel path.
func TestRoundTripFlowDumps(t *testing.T) {
	checked, entries := 0, 0
	for _, path := range captureFiles(t, captures) {
		if !isFlowFile(path) {
			continue
		}
		content := readAll(t, path)
		for _, workers := range []int{1, 3} {
			flows, d := decodeFlows(t, content, path, workers)
			if d.Problems().Count != 0 {
				t.Errorf("%s: %d malformed lines, first %v", path, d.Problems().Count, d.Problems().Samples[0])
				continue
			}
			format := d.Format()
			if len(content) > 0 && !format.IsFlowTable() {
				t.Errorf("%s: detected %s", path, format)
				continue
			}
			if len(content) == 0 {
				continue
			}
			out := writeFlows(t, flows, format)
			if !bytes.Equal(out, content) {
				t.Errorf("%s (%s, %d workers): written back differs\n%s", path, format, workers, firstDiff(out, content))
			}
		}
		checked++
		entries += len(lines(content))
	}
	if checked < 45 || entries < 200000 {
		t.Fatalf("round-tripped only %d files / %d entries", checked, entries)
	}
	t.Logf("%d flow dumps, %d entries, byte-exact", checked, entries)
}

func firstDiff(got, want []byte) string {
	g, w := lines(got), lines(want)
	for i := 0; i < len(g) && i < len(w); i++ {
		if !bytes.Equal(g[i], w[i]) {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(g), len(w))
}

// TestRoundTripAcrossStyles: a flow written in any style reads back as the
// same flow, minus what that style cannot show (see project).
func TestRoundTripAcrossStyles(t *testing.T) {
	for _, path := range []string{
		captures + "/formats/proc-nf_conntrack.txt",
		captures + "/formats/conntrack-L-extended-all.txt",
		captures + "/nat-masquerade/rtr/nf_conntrack.t05.txt",
		captures + "/table-100k/proc-nf_conntrack-100k.txt.gz",
	} {
		flows, _ := decodeFlows(t, readAll(t, path), path, 1)
		for _, style := range []Style{StyleProc, StyleExtended, StyleConntrack} {
			var buf []byte
			for i := range flows {
				buf = AppendFlow(buf[:0], &flows[i], style)
				var back track.Flow
				if err := utc.parseFlow(bytes.TrimSuffix(buf, []byte("\n")), &back); err != nil {
					t.Fatalf("%s as %s: %v\n%s", path, style, err, buf)
				}
				want := project(flows[i], style)
				if !back.Equal(&want) {
					t.Fatalf("%s as %s: %s\n read back %+v\n want      %+v", path, style, buf, back, want)
				}
			}
		}
	}
}

// TestRoundTripJSON: JSON and JSON Lines keep every field, including which
// optional parts are present.
func TestRoundTripJSON(t *testing.T) {
	for _, path := range []string{
		captures + "/formats/proc-nf_conntrack.txt",
		captures + "/formats/conntrack-L-extended-all.txt",
		captures + "/table-100k/proc-nf_conntrack-100k.txt.gz",
	} {
		flows, _ := decodeFlows(t, readAll(t, path), path, 1)
		for _, format := range []Format{FormatJSON, FormatJSONL} {
			out := writeFlows(t, flows, format)
			back, d := decodeFlows(t, out, "out."+format.String(), 1)
			if d.Format() != format {
				t.Fatalf("%s: written %s detected as %s", path, format, d.Format())
			}
			if d.Problems().Count != 0 {
				t.Fatalf("%s as %s: %v", path, format, d.Problems().Samples)
			}
			if len(back) != len(flows) {
				t.Fatalf("%s as %s: %d flows back, want %d", path, format, len(back), len(flows))
			}
			for i := range flows {
				if !back[i].Equal(&flows[i]) {
					t.Fatalf("%s as %s, flow %d:\n got  %+v\n want %+v", path, format, i, back[i], flows[i])
				}
			}
			// And from JSON back to the original text.
			if again := writeFlows(t, back, FormatProc); strings.HasSuffix(path, "proc-nf_conntrack.txt") && !bytes.Equal(again, readAll(t, path)) {
				t.Fatalf("%s: proc → %s → proc differs\n%s", path, format, firstDiff(again, readAll(t, path)))
			}
		}
	}
}

// TestRoundTripEvents: conntrack -E lines, with and without -o
// timestamp,extended,id and the [USERSPACE] suffix.
func TestRoundTripEvents(t *testing.T) {
	total := 0
	for _, name := range []string{"conntrack-E.txt", "conntrack-E-timestamp-extended-id.txt"} {
		content := readAll(t, filepath.Join(captures, "formats", name))
		for i, line := range lines(content) {
			var ev track.Event
			if err := utc.parseEvent(line, &ev); err != nil {
				t.Fatalf("%s:%d: %v", name, i+1, err)
			}
			style := StyleConntrack
			if ev.Flow.Orig.Family != 0 && bytes.Contains(line, []byte("] ipv")) {
				style = StyleExtended
			}
			got := AppendEvent(nil, &ev, style)
			if !bytes.Equal(bytes.TrimSuffix(got, []byte("\n")), line) {
				t.Fatalf("%s:%d:\n got %s want %s", name, i+1, got, line)
			}
			total++
		}
	}
	if total < 60 {
		t.Fatalf("only %d event lines", total)
	}
}

// TestRoundTripStats: /proc/net/stat/nf_conntrack, conntrack -S and
// conntrack -S expect are written back byte for byte.
func TestRoundTripStats(t *testing.T) {
	n := 0
	for _, path := range captureFiles(t, captures) {
		base := filepath.Base(path)
		var write func(s *track.Snapshot) []byte
		switch {
		case base == "stat-nf_conntrack.txt":
			write = func(s *track.Snapshot) []byte {
				var b bytes.Buffer
				if err := WriteProcStat(&b, &s.Stats, s.Count); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
		case strings.HasPrefix(base, "conntrack-S"):
			write = func(s *track.Snapshot) []byte {
				var b bytes.Buffer
				if err := WriteConntrackStats(&b, &s.Stats); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
		default:
			continue
		}
		content := readAll(t, path)
		s := readSnapshot(t, content, path)
		if got := write(s); !bytes.Equal(got, content) {
			t.Errorf("%s:\n got %q\nwant %q", path, got, content)
		}
		n++
	}
	if n < 12 {
		t.Fatalf("only %d stats files", n)
	}
}

func readSnapshot(t testing.TB, content []byte, name string) *track.Snapshot {
	t.Helper()
	d, err := NewDecoder(bytes.NewReader(content), name, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var s track.Snapshot
	if err := d.ReadInto(&s); err != nil {
		t.Fatal(err)
	}
	if d.Problems().Count != 0 {
		t.Fatalf("%s: %v", name, d.Problems().Samples)
	}
	return &s
}

// TestRoundTripSysctlsAndKernelLog: sysctl -a (sorted, as sysctl prints it)
// and kernel-log lines come back unchanged.
func TestRoundTripSysctlsAndKernelLog(t *testing.T) {
	n := 0
	for _, path := range captureFiles(t, captures) {
		base := filepath.Base(path)
		content := readAll(t, path)
		var got bytes.Buffer
		switch {
		case strings.HasPrefix(base, "sysctl-nf_conntrack"):
			s := readSnapshot(t, content, path)
			if err := WriteSysctls(&got, s.Sysctls); err != nil {
				t.Fatal(err)
			}
		case base == "dmesg.txt" && len(content) > 0:
			s := readSnapshot(t, content, path)
			if err := WriteKernelLog(&got, s.KernelLog); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if !bytes.Equal(got.Bytes(), content) {
			t.Errorf("%s differs:\n%s", path, firstDiff(got.Bytes(), content))
		}
		n++
	}
	if n < 8 {
		t.Fatalf("only %d files", n)
	}
}
