package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// BenchmarkReport runs ctdiag report on the dump named by CTDIAG_BENCH_DUMP
// (scripts/bench.sh makes a 1M-entry one), parse and analysis together.
func BenchmarkReport(b *testing.B) {
	dump := os.Getenv("CTDIAG_BENCH_DUMP")
	if dump == "" {
		b.Skip("set CTDIAG_BENCH_DUMP to a dump (scripts/bench.sh makes one)")
	}
	for i := 0; i < b.N; i++ {
		if code := run([]string{"report", "--fail-on", "never", dump}, env{stdout: io.Discard, stderr: io.Discard}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkReport3 runs ctdiag report on three dumps 10 s apart: the dump
// named by CTDIAG_BENCH_DUMP and its -s2 and -s3 siblings (scripts/bench.sh).
func BenchmarkReport3(b *testing.B) {
	dump := os.Getenv("CTDIAG_BENCH_DUMP")
	if dump == "" {
		b.Skip("set CTDIAG_BENCH_DUMP to a dump (scripts/bench.sh makes one)")
	}
	base := strings.TrimSuffix(dump, ".txt")
	for i := 0; i < b.N; i++ {
		args := []string{"report", "--fail-on", "never", "--interval", "10s", dump, base + "-s2.txt", base + "-s3.txt"}
		if code := run(args, env{stdout: io.Discard, stderr: io.Discard}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
