package parser

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// TestMalformedLinesAreCountedNotFatal: bad lines are reported with
// file:line and what was expected; the good lines around them are read.
func TestMalformedLinesAreCountedNotFatal(t *testing.T) {
	good := lines(readAll(t, captures+"/healthy-baseline/srv/nf_conntrack.t05.txt"))
	bad := []struct{ line, expect string }{
		{"ipv4     2 tcp      6 117 TIME_WAIT src=10.231.80.1 dst=10.231.80.2 sport=99999 dport=80 src=10.231.80.2 dst=10.231.80.1 sport=80 dport=57350 [ASSURED] mark=0 zone=0 use=2", "a port number 0-65535"},
		{"ipv4     2 tcp      6 117 TIME_WAIT src=10.231.80.1 dst=10.231.80.2 sport=1 dport=80 [ASSURED] mark=0 zone=0 use=2", "a reply tuple (src=... dst=...) before [ASSURED]"},
		{"ipv4     2 tcp      6 117 BOGUS src=10.231.80.1 dst=10.231.80.2 sport=1 dport=80 src=10.231.80.2 dst=10.231.80.1 sport=80 dport=1 use=2", "a tcp state name"},
		{"ipv4     2 udp      17 30 src=10.231.80.1 dst=fd00::1 sport=1 dport=2 src=10.231.80.2 dst=10.231.80.1 sport=2 dport=1 use=2", "an ipv4 address"},
		{"\x00\x01\x02 binary garbage \xff", "a protocol name and number"},
		{"ipv4     2 tcp      6 117 TIME_WAIT src=10.231.80.1 dst=10.231.80.2 sport=1 dport=80 src=10.231.80.2 dst=10.231.80.1 sport=80 dport=1 use=2 mark=0", "fields in kernel order"},
		{"ipv4     3 tcp      6 117 TIME_WAIT src=1.1.1.1 dst=1.1.1.2 sport=1 dport=2 src=1.1.1.2 dst=1.1.1.1 sport=2 dport=1 use=2", "the address family number"},
		{"ipv4     2 tcp      17 1 src=1.1.1.1 dst=1.1.1.2 sport=1 dport=2 src=1.1.1.2 dst=1.1.1.1 sport=2 dport=1 use=2", "protocol name udp for number 17"},
	}
	var in bytes.Buffer
	badLines := map[int]string{}
	n := 0
	for i, g := range good {
		in.Write(g)
		in.WriteByte('\n')
		n++
		if i < len(bad) {
			in.WriteString(bad[i].line + "\n")
			n++
			badLines[n] = bad[i].expect
		}
	}
	for _, workers := range []int{1, 2} {
		flows, d := decodeFlows(t, in.Bytes(), "dump.txt", workers)
		if len(flows) != len(good) {
			t.Fatalf("workers=%d: %d flows, want %d", workers, len(flows), len(good))
		}
		p := d.Problems()
		if p.Count != len(bad) || len(p.Samples) != MaxSamples {
			t.Fatalf("workers=%d: count %d samples %d", workers, p.Count, len(p.Samples))
		}
		for _, s := range p.Samples {
			expect, ok := badLines[s.Line]
			if !ok || s.File != "dump.txt" {
				t.Fatalf("reported %s:%d, which is not a bad line", s.File, s.Line)
			}
			msg := s.Error()
			if !strings.Contains(msg, expect) || !strings.HasPrefix(msg, fmt.Sprintf("dump.txt:%d: expected ", s.Line)) {
				t.Errorf("line %d: message %q does not say %q", s.Line, msg, expect)
			}
			if !errors.Is(&s, ErrMalformed) {
				t.Errorf("line %d: not ErrMalformed", s.Line)
			}
		}
		if d.Counts().Lines != n {
			t.Errorf("counted %d lines, want %d", d.Counts().Lines, n)
		}
	}
}

// TestTruncatedLastLine: a dump cut mid-write loses its last entry, and the
// report says the dump was truncated (not just that a line was malformed).
func TestTruncatedLastLine(t *testing.T) {
	full := readAll(t, captures+"/table-100k/proc-nf_conntrack-100k.txt.gz")
	for _, cut := range []int{10, 60, 150} { // inside the tuples, the counters, near use=
		end := bytes.LastIndexByte(full[:len(full)-1], '\n') + 1 + cut
		in := full[:end]
		for _, workers := range []int{1, 4} {
			flows, d := decodeFlows(t, in, "cut.txt", workers)
			if len(flows) != 99999 {
				t.Fatalf("cut %d workers %d: %d flows", cut, workers, len(flows))
			}
			p := d.Problems()
			if p.Count != 1 || !p.Truncated() || p.Samples[0].Line != 100000 || !errors.Is(&p.Samples[0], ErrTruncated) {
				t.Fatalf("cut %d workers %d: %+v", cut, workers, p)
			}
			if !strings.Contains(p.Samples[0].Error(), "truncated last line") {
				t.Errorf("message %q", p.Samples[0].Error())
			}
		}
	}
	// A whole last line without its newline is not truncated.
	flows, d := decodeFlows(t, full[:len(full)-1], "nonl.txt", 2)
	if len(flows) != 100000 || d.Problems().Count != 0 {
		t.Fatalf("%d flows, %v", len(flows), d.Problems().Samples)
	}
}

// TestTruncationReportedAfterManyBadLines: even when the first samples are
// taken by other errors, a truncated end is still shown.
func TestTruncationReportedAfterManyBadLines(t *testing.T) {
	var in bytes.Buffer
	for i := 0; i < 10; i++ {
		in.WriteString("garbage line\n")
	}
	in.WriteString(specProcLines[0] + "\n")
	in.WriteString(specProcLines[1][:50])
	for _, workers := range []int{1, 2} {
		_, d := decodeFlows(t, in.Bytes(), "x", workers)
		if p := d.Problems(); p.Count != 11 || !p.Truncated() || p.Samples[MaxSamples-1].Line != 12 {
			t.Fatalf("workers %d: %+v", workers, p)
		}
	}
}

func TestOverlongLine(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(specProcLines[0] + "\n")
	in.Write(bytes.Repeat([]byte("x"), 3<<20))
	in.WriteString("\n" + specProcLines[1] + "\n")
	for _, workers := range []int{1, 2} {
		flows, d := decodeFlows(t, in.Bytes(), "long.txt", workers)
		if len(flows) != 2 || d.Problems().Count != 1 || d.Problems().Samples[0].Line != 2 {
			t.Fatalf("workers %d: %d flows, %+v", workers, len(flows), d.Problems())
		}
	}
}

// TestNotFlows: asking a statistics file for flows is a clear error.
func TestNotFlows(t *testing.T) {
	d, err := Open(captures+"/formats/conntrack-S.txt", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Flows(func(*track.Flow) error { return nil })
	if !errors.Is(err, ErrNotFlows) || !strings.Contains(err.Error(), "conntrack -S statistics") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadJSON(t *testing.T) {
	in := `[
{"family":"ipv4","proto":"tcp","protonum":6,"orig":{"src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":2},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":2,"dport":1},"status":["SEEN_REPLY"]},
{"family":"ipv4","proto":"udp","protonum":6,"orig":{"src":"1.1.1.1","dst":"2.2.2.2"},"reply":{"src":"2.2.2.2","dst":"1.1.1.1"},"status":[]},
{"family":"ipv4","proto":"tcp","protonum":6,"orig":{"src":"1.1.1.1","dst":"2.2.2.2","sport":"x"}},
{"family":"ipv4","proto":"tcp","protonum":6,"orig":{"src":"1.1.1.1","dst":"2.2.2.2","sport":3,"dport":4},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":4,"dport":3},"status":[]}
`
	flows, d := decodeFlows(t, []byte(in), "bad.json", 1)
	p := d.Problems()
	if len(flows) != 2 || p.Count != 3 || !p.Truncated() {
		t.Fatalf("%d flows, %+v", len(flows), p)
	}
	if p.Samples[0].Line != 3 || !strings.Contains(p.Samples[0].Error(), "does not match protonum") {
		t.Errorf("first: %v", &p.Samples[0])
	}
	if p.Samples[1].Line != 4 {
		t.Errorf("second at line %d", p.Samples[1].Line)
	}
}
