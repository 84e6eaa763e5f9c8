// Command ctchurn makes a steady stream of conntrack events in a network
// namespace, for scripts/bench-exporter.sh: RATE entries a second are
// created over ctnetlink with a short timeout, so the kernel destroys as
// many a second once they expire: 2 × RATE events a second in all. It
// changes kernel state: run it only in a namespace made for the purpose.
//
//	ctchurn -netns bench -rate 5000 -duration 2m
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
)

func main() {
	netns := flag.String("netns", "", "namespace name (ip netns)")
	rate := flag.Int("rate", 5000, "entries created per second (each also expires: twice as many events)")
	from := flag.Int("from", 2_000_000, "index of the first entry (ctfill.Entry): above the table's own")
	timeout := flag.Uint("timeout", 2, "seconds each entry lives")
	duration := flag.Duration("duration", time.Minute, "how long to run")
	flag.Parse()
	if *netns == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "ctchurn: give -netns NAME and a positive -rate")
		os.Exit(2)
	}
	fl, err := ctfill.NewIn("/run/netns/" + *netns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer fl.Close()
	const tick = 10 * time.Millisecond
	per := max(1, *rate*int(tick)/int(time.Second))
	i := *from
	start := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	made := 0
	for time.Since(start) < *duration {
		for k := 0; k < per; k++ {
			f := ctfill.Entry(i)
			f.Timeout = uint32(*timeout)
			i++
			if err := fl.Add(&f); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		if err := fl.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		made += per
		<-t.C
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "ctchurn: %d entries in %v (%.0f/s)\n", made, d.Round(time.Millisecond), float64(made)/d.Seconds())
}
