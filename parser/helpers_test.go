package parser

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// captures is the root of the real-kernel captures (see testdata/README.md).
const captures = "../testdata/kernel-6.18"

// utc parses ktimestamp and dmesg -T dates the way the fixtures were made
// (TZ=UTC), whatever the machine running the tests uses.
var utc = lineParser{loc: time.UTC}

// captureFiles lists every capture file below dir.
func captureFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("only %d capture files under %s: fixtures missing?", len(files), dir)
	}
	return files
}

// readAll returns a file's content, gunzipped if needed.
func readAll(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// lines splits content into lines without their newlines.
func lines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// project is what writing f in style s keeps: /proc has no entry id; the
// styles of conntrack-tools drop what ctnetlink never sends (zone 0, GRE's
// /proc timeouts) and print generic-tracked entries under their protocol
// name.
func project(f track.Flow, s Style) track.Flow {
	f = f.Clone()
	if s == StyleProc {
		f.Fields &^= track.FieldID
		f.ID = 0
		return f
	}
	if f.Zone == 0 {
		f.Fields &^= track.FieldZone
	}
	if f.Fields.Has(track.FieldGRETimeouts) {
		f.Fields &^= track.FieldGRETimeouts
		f.Ext.GRETimeout, f.Ext.GREStreamTimeout = 0, 0
	}
	f.Fields &^= track.FieldGeneric
	return f
}

// decodeFlows reads every flow of content with the given worker count.
func decodeFlows(t testing.TB, content []byte, name string, workers int) ([]track.Flow, *Decoder) {
	t.Helper()
	d, err := NewDecoder(bytes.NewReader(content), name, Options{Workers: workers, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var flows []track.Flow
	if err := d.Flows(func(f *track.Flow) error {
		flows = append(flows, *f)
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return flows, d
}

func writeFlows(t testing.TB, flows []track.Flow, format Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewFlowWriter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	for i := range flows {
		if err := w.Write(&flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustParseFlow(t testing.TB, line string) track.Flow {
	t.Helper()
	var f track.Flow
	if err := utc.parseFlow([]byte(line), &f); err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return f
}

func isFlowFile(path string) bool {
	base := filepath.Base(path)
	return strings.HasPrefix(base, "nf_conntrack.t") || strings.HasPrefix(base, "conntrack-L") && strings.HasSuffix(base, ".txt") ||
		strings.HasPrefix(base, "proc-nf_conntrack") || strings.HasSuffix(base, "100k.txt.gz")
}
