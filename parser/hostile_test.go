package parser

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Inputs that once crashed the decoder, or that it read silently wrong.
// Every test decodes with the zero Options, as the command line does.

// TestYearlessAndDmesgTStampsWithCLIOptions: syslog stamps have no year and
// dmesg -T no zone; with the options the CLI passes (no Location) they once
// panicked ("time: missing Location"). The year is the latest that puts the
// stamp at most a day after the reference time.
func TestYearlessAndDmesgTStampsWithCLIOptions(t *testing.T) {
	now := time.Date(2027, 1, 5, 12, 0, 0, 0, time.Local)
	in := "Nov 21 13:00:29 h kernel: nf_conntrack: table full, dropping packet\n" +
		"Jan  5 11:00:00 h kernel: nf_conntrack: table full, dropping packet\n" +
		"[Tue Nov 20 22:30:22 2018] nf_conntrack: table full, dropping packet\n" +
		"Jan  1 00:00:00 host conntrack-logger: [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1\n"
	for _, opts := range []Options{{}, {Now: now}} {
		d, err := NewDecoder(strings.NewReader(in), "k", opts)
		if err != nil {
			t.Fatal(err)
		}
		var s track.Snapshot
		if err := d.ReadInto(&s); err != nil {
			t.Fatal(err)
		}
		if d.Format() != FormatMixed || len(s.KernelLog) != 3 || len(s.Events) != 1 || d.Problems().Count != 0 {
			t.Fatalf("%s, %d log lines, %d events, %v", d.Format(), len(s.KernelLog), len(s.Events), d.Problems().Samples)
		}
		if opts.Now.IsZero() {
			continue
		}
		want := []time.Time{
			time.Date(2026, 11, 21, 13, 0, 29, 0, time.Local), // November is ahead of January 5: last year's
			time.Date(2027, 1, 5, 11, 0, 0, 0, time.Local),
			time.Date(2018, 11, 20, 22, 30, 22, 0, time.Local),
		}
		for i, w := range want {
			if got := s.KernelLog[i].Time; !got.Equal(w) || s.KernelLog[i].Kind != track.KernelLogTableFull {
				t.Errorf("line %d: %v %v, want %v", i+1, got, s.KernelLog[i].Kind, w)
			}
		}
		if got := s.Events[0].Time; !got.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.Local)) {
			t.Errorf("event time %v", got)
		}
	}
}

// TestOverlongFirstLine: a first line longer than the detection window once
// made the input "empty". It is a malformed line 1 now, and what follows is
// read and numbered from line 2.
func TestOverlongFirstLine(t *testing.T) {
	var in bytes.Buffer
	in.Write(bytes.Repeat([]byte("x"), 200<<10))
	in.WriteString("\n" + specProcLines[0] + "\n" + specProcLines[1] + "\n")
	for _, workers := range []int{1, 2} {
		flows, d := decodeFlows(t, in.Bytes(), "long.txt", workers)
		p := d.Problems()
		if d.Format() != FormatProc || len(flows) != 2 || p.Count != 1 || p.Samples[0].Line != 1 ||
			!strings.Contains(p.Samples[0].Error(), "long.txt:1: expected a line shorter than 64 KiB") {
			t.Fatalf("workers %d: %s, %d flows, %+v", workers, d.Format(), len(flows), p)
		}
		if d.Counts().Lines != 3 {
			t.Errorf("workers %d: %d lines", workers, d.Counts().Lines)
		}
	}
	// A later bad line is numbered past the skipped one.
	in.WriteString("garbage\n")
	_, d := decodeFlows(t, in.Bytes(), "long.txt", 1)
	if p := d.Problems(); p.Count != 2 || p.Samples[1].Line != 4 {
		t.Fatalf("%+v", p)
	}
}

// TestNothingButOverlongLines: one 100 MB line, or a gzip of zeros, is no
// conntrack format (it once was an empty table: "0 entries", exit 0).
func TestNothingButOverlongLines(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := io.CopyN(zw, zeroReader{}, 100<<20); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	for name, r := range map[string]io.Reader{
		"line.txt": io.MultiReader(io.LimitReader(repeatReader('x'), 100<<20), strings.NewReader("\n")),
		"zeros.gz": bytes.NewReader(gz.Bytes()),
	} {
		d, err := NewDecoder(r, name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = d.ErrNotConntrack()
		if d.Format() != FormatUnknown || !errors.Is(err, ErrUnknownFormat) ||
			!strings.Contains(err.Error(), name+": not a conntrack format (") {
			t.Fatalf("%s: %s, %v", name, d.Format(), err)
		}
		if p := d.Problems(); p.Count != 1 || p.Samples[0].Line != 1 {
			t.Fatalf("%s: %+v", name, p)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestRandomBytesAreNoFormat: random bytes were once taken for JSON Lines
// (one line in 256 starts with '{') and reported "No problems found". A
// detected format must be believable.
func TestRandomBytesAreNoFormat(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for i := 0; i < 20; i++ {
		b := make([]byte, 1<<20)
		rng.Read(b)
		d, err := NewDecoder(bytes.NewReader(b), "random", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != FormatUnknown || !strings.Contains(d.ErrNotConntrack().Error(), "binary data") {
			t.Fatalf("seed 13 #%d: %s, %v", i, d.Format(), d.ErrNotConntrack())
		}
	}
	// Text that only looks like records is no format either: JSON objects
	// that are not ctdiag's, prose starting with a protocol's name.
	for _, text := range []string{
		"{\"level\":\"info\",\"msg\":\"started\"}\n{\"level\":\"info\",\"msg\":\"stopped\"}\n",
		"tcp is a protocol\nudp is another\n",
	} {
		d, err := NewDecoder(strings.NewReader(text), "prose", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != FormatUnknown || !strings.Contains(d.ErrNotConntrack().Error(), `(line 1: "`) {
			t.Errorf("%q: %s, %v", text, d.Format(), d.ErrNotConntrack())
		}
	}
}

// TestCutGzipReadsWhatIsThere: a gzip cut short (or damaged) once ended
// report with "unexpected EOF"; every reader now reads the entries before
// the cut and reports the cut with the file's name.
func TestCutGzipReadsWhatIsThere(t *testing.T) {
	plain := readAll(t, captures+"/table-100k/proc-nf_conntrack-100k.txt.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	for _, size := range []int{gz.Len() / 2, 4000} { // the big path and the small one
		cut := gz.Bytes()[:size]
		for _, workers := range []int{1, 4} {
			flows, d := decodeFlows(t, cut, "cut.gz", workers)
			p := d.Problems()
			if len(flows) < 10 || len(flows) > 100000 || p.Count != 1 || !p.Truncated() {
				t.Fatalf("size %d workers %d: %d flows, %+v", size, workers, len(flows), p)
			}
			s := p.Samples[0]
			if s.Line != len(flows)+1 || !strings.Contains(s.Error(), "cut.gz:") || !strings.Contains(s.Error(), "the input ends early (unexpected EOF)") {
				t.Errorf("size %d workers %d: %v (after %d flows)", size, workers, &s, len(flows))
			}
		}
		d, err := NewDecoder(bytes.NewReader(cut), "cut.gz", Options{})
		if err != nil {
			t.Fatal(err)
		}
		var snap track.Snapshot
		if err := d.ReadInto(&snap); err != nil || len(snap.Flows) < 10 || !d.Problems().Truncated() {
			t.Fatalf("ReadInto: %v, %d flows, %+v", err, len(snap.Flows), d.Problems())
		}
	}
}

// TestKlogAndEventsBounded: a log or an event stream of any length is
// counted whole and kept bounded (they were once held whole: 5 GB for a
// 7 MB gzip of "table full" lines).
func TestKlogAndEventsBounded(t *testing.T) {
	const n = 3 * track.MaxKernelLogLines
	var klog bytes.Buffer
	for i := 0; i < n; i++ {
		klog.WriteString("[ 1400.936197] nf_conntrack: table full, dropping packet\n")
	}
	s := readSnapshot(t, klog.Bytes(), "dmesg")
	c := s.KernelLogCounts()
	if len(s.KernelLog) != track.MaxKernelLogLines || c.Lines != n || c.Kinds[track.KernelLogTableFull] != n || c.TableFullNetns[0] != n {
		t.Fatalf("kept %d, counted %+v", len(s.KernelLog), c)
	}
	var evs bytes.Buffer
	const m = 5 * track.MaxEvents
	for i := 0; i < m; i++ {
		evs.WriteString("    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1\n")
	}
	s = readSnapshot(t, evs.Bytes(), "events")
	if len(s.Events) < track.MaxEvents || len(s.Events) > 2*track.MaxEvents || s.EventTotals.Created != m {
		t.Fatalf("kept %d events, totals %+v", len(s.Events), s.EventTotals)
	}
	// The same as conntrack -E -o xml prints them.
	first := s.Events[0]
	var xb bytes.Buffer
	xw := NewXMLWriter(&xb)
	for i := 0; i < m; i++ {
		xw.WriteEvent(&first, first.Time)
	}
	xw.Close()
	s = readSnapshot(t, xb.Bytes(), "events.xml")
	if len(s.Events) < track.MaxEvents || len(s.Events) > 2*track.MaxEvents || s.EventTotals.Created != m {
		t.Fatalf("XML: kept %d events, totals %+v", len(s.Events), s.EventTotals)
	}
}
