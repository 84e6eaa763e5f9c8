// Command gendump writes a deterministic, realistic conntrack table of N
// entries, for benchmarks:
//
//	go run ./internal/cmd/gendump -n 1000000 > /tmp/dump-1m.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

func main() {
	n := flag.Int("n", 1000000, "number of entries")
	seed := flag.Uint64("seed", 1, "random seed; the same seed gives the same table")
	acct := flag.Float64("acct", 0.1, "share of entries with accounting counters")
	format := flag.String("o", "proc", "output format: "+parser.OutputFormatNames)
	flag.Parse()
	if err := run(*n, *seed, *acct, *format); err != nil {
		fmt.Fprintln(os.Stderr, "gendump:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, acct float64, format string) error {
	f, err := parser.ParseOutputFormat(format)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	w, err := parser.NewFlowWriter(out, f)
	if err != nil {
		return err
	}
	err = gendump.Generate(gendump.Options{N: n, Seed: seed, AcctShare: acct}, func(fl *track.Flow) error {
		return w.Write(fl)
	})
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return out.Flush()
}
