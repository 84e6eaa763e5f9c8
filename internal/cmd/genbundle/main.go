// Command genbundle writes a ctdiag record bundle of generated tables to
// standard output, for measuring the bundle reader on inputs of any size
// (scripts/bench-stream.sh):
//
//	go run ./internal/cmd/genbundle -samples 50 -n 1000000 > big.tar.gz
//
// Every sample holds the same deterministic table (internal/bench/gendump), so
// its size, which a tar header needs first, is measured once by generating
// it without keeping it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

func main() {
	samples := flag.Int("samples", 10, "samples in the bundle")
	n := flag.Int("n", 1000000, "entries per sample")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*samples, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genbundle:", err)
		os.Exit(1)
	}
}

// table writes the generated table in /proc format.
func table(w io.Writer, n int, seed uint64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	fw, err := parser.NewFlowWriter(bw, parser.FormatProc)
	if err != nil {
		return err
	}
	if err := gendump.Generate(gendump.Options{N: n, Seed: seed, AcctShare: 0.1}, func(f *track.Flow) error { return fw.Write(f) }); err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func run(samples, n int, seed uint64) error {
	var size counter
	if err := table(&size, n, seed); err != nil {
		return err
	}
	t0 := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	m := &parser.Manifest{Tool: "genbundle", Host: "generated", Kernel: "6.18", Source: "netlink",
		Started: t0, Finished: t0.Add(time.Duration(samples-1) * 10 * time.Second), Interval: "10s"}
	for i := 0; i < samples; i++ {
		m.Samples = append(m.Samples, parser.BundleSample{Time: t0.Add(time.Duration(i) * 10 * time.Second), Entries: n,
			Files: []string{fmt.Sprintf("sample-%03d/nf_conntrack", i+1)}})
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	bw, err := parser.NewBundleWriter(out, "generated", m)
	if err != nil {
		return err
	}
	for _, s := range m.Samples {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(table(pw, n, seed)) }()
		err := bw.Add(s.Files[0], s.Time, size.n, pr)
		pr.Close()
		if err != nil {
			return err
		}
	}
	if err := bw.Close(); err != nil {
		return err
	}
	return out.Flush()
}
