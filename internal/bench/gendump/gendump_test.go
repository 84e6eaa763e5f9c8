package gendump_test

import (
	"bytes"
	"testing"

	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

func generate(t *testing.T, opts gendump.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := parser.NewFlowWriter(&buf, parser.FormatProc)
	if err != nil {
		t.Fatal(err)
	}
	if err := gendump.Generate(opts, func(f *track.Flow) error { return w.Write(f) }); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// TestDeterministicRealisticParsable: the same seed gives the same bytes,
// the mix follows the real 100k capture, and every line reads back.
func TestDeterministicRealisticParsable(t *testing.T) {
	opts := gendump.Options{N: 20000, Seed: 7, AcctShare: 0.1}
	a, b := generate(t, opts), generate(t, opts)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different tables")
	}
	if c := generate(t, gendump.Options{N: 20000, Seed: 8, AcctShare: 0.1}); bytes.Equal(a, c) {
		t.Fatal("different seeds, same table")
	}
	d, err := parser.NewDecoder(bytes.NewReader(a), "gen", parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var est, v6, acct, n int
	err = d.Flows(func(f *track.Flow) error {
		n++
		if s, ok := f.TCPState(); ok && s == track.TCPEstablished && f.Family() == track.FamilyIPv4 {
			est++
		}
		if f.Family() == track.FamilyIPv6 {
			v6++
		}
		if f.Fields.Has(track.FieldOrigCounters) {
			acct++
		}
		return nil
	})
	if err != nil || d.Problems().Count != 0 || n != 20000 || d.Format() != parser.FormatProc {
		t.Fatalf("n=%d err=%v problems=%v format=%s", n, err, d.Problems().Samples, d.Format())
	}
	// Real capture: 50.0 % IPv4 ESTABLISHED, 5.9 % IPv6; 10 % with counters asked.
	for _, c := range []struct {
		name      string
		got       int
		low, high float64
	}{{"ipv4 established", est, 0.47, 0.53}, {"ipv6", v6, 0.05, 0.07}, {"accounting", acct, 0.08, 0.12}} {
		if share := float64(c.got) / float64(n); share < c.low || share > c.high {
			t.Errorf("%s share %.3f, want %.2f..%.2f", c.name, share, c.low, c.high)
		}
	}
}
