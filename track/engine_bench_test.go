package track_test

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// tcpMix builds a realistic stream: short TCP connections (handshake, a
// request, a larger response with ACKs, FIN close), interleaved so that
// about `active` connections are open at once, plus one DNS query and
// answer per 10 connections. Packets are 50 µs apart (20,000 packets/s of
// capture time).
func tcpMix(conns, active int, seed uint64) []track.Packet {
	rng := rand.New(rand.NewPCG(seed, 1))
	server := netip.MustParseAddr("10.1.0.1")
	type conn struct {
		steps []track.Packet
		next  int
	}
	mk := func(i int) *conn {
		client := netip.AddrFrom4([4]byte{10, 2, byte(i >> 16), byte(i >> 8)})
		cport := uint16(1024 + i%60000)
		c := &conn{}
		cseq, sseq := rng.Uint32(), rng.Uint32()
		add := func(fromServer bool, flags track.TCPFlags, seq, ack uint32, payload int) {
			p := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: client, Dst: server, SrcPort: cport, DstPort: 443}
			if fromServer {
				p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
			}
			p.TCP = track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: 502, DataOffset: 5, Options: track.TCPOptions{SACK: ack}}
			p.L4Length = 20 + payload
			p.Length = 20 + p.L4Length
			c.steps = append(c.steps, p)
		}
		syn := track.TCPOptions{Present: true, HasWScale: true, WScale: 7, SACKPerm: true}
		add(false, track.TCPSyn, cseq, 0, 0)
		c.steps[0].TCP.Options, c.steps[0].TCP.DataOffset, c.steps[0].L4Length, c.steps[0].TCP.Window = syn, 8, 32, 64240
		add(true, track.TCPSyn|track.TCPAck, sseq, cseq+1, 0)
		c.steps[1].TCP.Options, c.steps[1].TCP.DataOffset, c.steps[1].L4Length = syn, 8, 32
		cseq, sseq = cseq+1, sseq+1
		add(false, track.TCPAck, cseq, sseq, 0)
		add(false, track.TCPAck|track.TCPPsh, cseq, sseq, 300)
		cseq += 300
		for range 1 + rng.IntN(6) {
			add(true, track.TCPAck|track.TCPPsh, sseq, cseq, 1400)
			sseq += 1400
			add(false, track.TCPAck, cseq, sseq, 0)
		}
		add(false, track.TCPFin|track.TCPAck, cseq, sseq, 0)
		add(true, track.TCPFin|track.TCPAck, sseq, cseq+1, 0)
		add(false, track.TCPAck, cseq+1, sseq+1, 0)
		if i%10 == 0 {
			q := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: client, Dst: server, SrcPort: cport + 1, DstPort: 53, L4Length: 40, Length: 60}
			q.UDP = track.UDPHeader{Length: 40, Checksum: 1}
			a := q
			a.Src, a.Dst, a.SrcPort, a.DstPort = q.Dst, q.Src, q.DstPort, q.SrcPort
			c.steps = append([]track.Packet{q, a}, c.steps...)
		}
		return c
	}
	var out []track.Packet
	open := make([]*conn, 0, active)
	started := 0
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for started < conns || len(open) > 0 {
		for len(open) < active && started < conns {
			open = append(open, mk(started))
			started++
		}
		i := rng.IntN(len(open))
		c := open[i]
		p := c.steps[c.next]
		p.Time = now
		now = now.Add(50 * time.Microsecond)
		out = append(out, p)
		c.next++
		if c.next == len(c.steps) {
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	return out
}

// BenchmarkEngineTCPMix measures replay speed on one core: packets/s of
// a realistic TCP mix with 10,000 connections open at once.
func BenchmarkEngineTCPMix(b *testing.B) {
	packets := tcpMix(50000, 10000, 1)
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
