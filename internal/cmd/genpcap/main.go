// Command genpcap writes a deterministic capture of a realistic TCP mix
// (internal/bench/genpcap) for benchmarks of ctdiag replay:
//
//	go run ./internal/cmd/genpcap -conns 100000 -active 10000 > mix.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/ctdiag/ctdiag/internal/bench/genpcap"
	"github.com/ctdiag/ctdiag/track"
)

func main() {
	conns := flag.Int("conns", 100000, "TCP connections")
	active := flag.Int("active", 10000, "connections open at once")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	// Streamed: a capture of any size takes the memory of the open
	// connections (scripts/bench-stream.sh pipes gigabytes of it).
	pw, err := genpcap.NewPcapWriter(w)
	n := 0
	if err == nil {
		err = genpcap.EachTCPMix(*conns, *active, *seed, func(p *track.Packet) error {
			n++
			return pw.Write(p)
		})
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genpcap: %d packets\n", n)
}
