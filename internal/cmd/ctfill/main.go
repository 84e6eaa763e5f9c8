// Command ctfill fills the conntrack table of a network namespace with
// deterministic entries over ctnetlink, fast (for benchmarks: see
// scripts/bench-live.sh). It changes kernel state: run it only in a
// namespace made for the purpose, e.g.
//
//	ip netns add bench && ip netns exec bench ctfill -n 1000000
//	ctfill -netns bench -n 1000000
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
)

func main() {
	n := flag.Int("n", 100000, "entries to create")
	from := flag.Int("from", 0, "index of the first entry (ctfill.Entry)")
	netns := flag.String("netns", "", "namespace name (ip netns); default: the current one")
	flag.Parse()
	var (
		f   *ctfill.Filler
		err error
	)
	if *netns != "" {
		f, err = ctfill.NewIn("/run/netns/" + *netns)
	} else {
		f, err = ctfill.New(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	start := time.Now()
	if err := f.Fill(*from, *n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "ctfill: %d entries in %v (%.0f/s)\n", *n, d.Round(time.Millisecond), float64(*n)/d.Seconds())
}
