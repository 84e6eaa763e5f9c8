package parser_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

var (
	bigDumpOnce sync.Once
	bigDump     []byte
)

// dump1M is the generated 1,000,000-entry /proc table of scripts/bench.sh
// (seed 1, 10 % with accounting), built once in memory.
func dump1M(b *testing.B) []byte {
	bigDumpOnce.Do(func() {
		var buf bytes.Buffer
		buf.Grow(200 << 20)
		w, _ := parser.NewFlowWriter(&buf, parser.FormatProc)
		gendump.Generate(gendump.Options{N: 1000000, Seed: 1, AcctShare: 0.1}, func(f *track.Flow) error { return w.Write(f) })
		w.Close()
		bigDump = buf.Bytes()
	})
	return bigDump
}

// BenchmarkDecode1M streams a million entries. allocs/op and B/op are per
// million-entry input: they stay what a 100k input costs (a fixed pool of
// chunks), so parsing allocates O(1) per line.
func BenchmarkDecode1M(b *testing.B) {
	content := dump1M(b)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := parser.NewDecoder(bytes.NewReader(content), "1m", parser.Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := d.Flows(func(*track.Flow) error { n++; return nil }); err != nil || n != 1000000 {
			b.Fatal(n, err)
		}
	}
}
