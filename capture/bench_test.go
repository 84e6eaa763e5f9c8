package capture_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/internal/bench/genpcap"
	"github.com/ctdiag/ctdiag/track"
)

// BenchmarkReaderTCPMix reads and decodes a pcap of the engine benchmark's
// TCP mix from memory: the reader's share of ctdiag replay.
func BenchmarkReaderTCPMix(b *testing.B) {
	var buf bytes.Buffer
	if err := genpcap.WritePcap(&buf, genpcap.TCPMix(20000, 4000, 1)); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r, err := capture.NewReader(bytes.NewReader(data), "mix")
		if err != nil {
			b.Fatal(err)
		}
		var p track.Packet
		for {
			if err := r.Next(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}
