package track_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/bench/genpcap"
	"github.com/ctdiag/ctdiag/track"
)

// BenchmarkEngineTCPMix measures replay speed on one core: packets/s of
// a realistic TCP mix with 10,000 connections open at once.
func BenchmarkEngineTCPMix(b *testing.B) {
	packets := genpcap.TCPMix(50000, 10000, 1)
	b.ResetTimer()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e, _ := track.NewEngine(track.EngineConfig{})
		for i := range packets {
			e.Process(&packets[i])
		}
		n += len(packets)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEngineMemory1M tracks 1,000,000 flows and reports the heap they
// take per flow.
func BenchmarkEngineMemory1M(b *testing.B) {
	const flows = 1000000
	server := netip.MustParseAddr("10.1.0.1")
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	var perFlow float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e, _ := track.NewEngine(track.EngineConfig{Sysctls: track.Sysctls{"nf_conntrack_max": "0"}})
		p := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Dst: server, DstPort: 443, Time: now,
			TCP: track.TCPHeader{Seq: 1, Flags: track.TCPSyn, Window: 64240, DataOffset: 5}, L4Length: 20, Length: 40}
		for i := range flows {
			p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			p.SrcPort = uint16(1024 + i%60000)
			e.Process(&p)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := e.Len(now); n != flows {
			b.Fatalf("%d flows tracked", n)
		}
		perFlow = float64(after.HeapAlloc-before.HeapAlloc) / flows
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perFlow, "B/flow")
	b.ReportMetric(0, "ns/op")
}
