package parser

import (
	"bytes"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// Benchmarks for the hot paths. Run with
//
//	go test ./parser -run '^$' -bench . -benchmem
//
// allocs/op of the per-line benchmarks must stay 0: parsing allocates O(1)
// per line, and nothing for ordinary entries.

func benchLines(b *testing.B) [][]byte {
	b.Helper()
	return lines(readAll(b, captures+"/table-100k/proc-nf_conntrack-100k.txt.gz"))
}

// BenchmarkParseFlowLine parses real /proc lines (IPv4, IPv6, TCP, UDP,
// ICMP) one at a time.
func BenchmarkParseFlowLine(b *testing.B) {
	ls := benchLines(b)
	var p lineParser
	var f track.Flow
	var n int64
	for _, l := range ls {
		n += int64(len(l)) + 1
	}
	b.SetBytes(n / int64(len(ls)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.parseFlow(ls[i%len(ls)], &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFlow writes real entries back in /proc format.
func BenchmarkAppendFlow(b *testing.B) {
	ls := benchLines(b)
	flows := make([]track.Flow, len(ls))
	var p lineParser
	for i, l := range ls {
		if err := p.parseFlow(l, &flows[i]); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = AppendFlow(buf[:0], &flows[i%len(flows)], StyleProc)
	}
}

// BenchmarkDecoderFlows streams the whole 100k-entry capture through a
// Decoder, sequentially and in parallel; allocs/op is per input.
func BenchmarkDecoderFlows(b *testing.B) {
	content := readAll(b, captures+"/table-100k/proc-nf_conntrack-100k.txt.gz")
	for _, workers := range []int{1, 2, 4} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2", 4: "workers=4"}[workers], func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				d, err := NewDecoder(bytes.NewReader(content), "bench", Options{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				if err := d.Flows(func(*track.Flow) error { n++; return nil }); err != nil || n != 100000 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
