package demo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// ScenarioName describes the built-in scenario in headers and reports.
const ScenarioName = "scenario: a web frontend whose backend stops answering (reference engine)"

// Scenario tells a short story through the reference conntrack engine
// (track.Engine): a web frontend (10.20.0.1) takes HTTPS connections from
// clients, answers DNS for them and connects to its backend (10.30.0.5:8080)
// for each request. Twenty seconds in, the backend stops answering: its
// SYNs go unanswered (SYN_SENT [UNREPLIED] grows), the clients whose
// requests now hang keep their connections open and silent, and the table,
// whose limit is set low (4096) so the story fits in a minute, fills up
// until new entries are dropped. It returns one snapshot every 5 s of the
// story's time, with the engine's statistics, count and max.
//
// The engine is deterministic: the same scenario every time.
func Scenario() ([]track.Snapshot, error) {
	const (
		limit    = 4096
		duration = 60 * time.Second
		every    = 5 * time.Second
	)
	start := Start()
	eng, err := track.NewEngine(track.EngineConfig{Sysctls: track.Sysctls{
		"nf_conntrack_max": fmt.Sprint(limit), "nf_conntrack_buckets": "1024",
	}, Seed: 1})
	if err != nil {
		return nil, err
	}
	s := &story{eng: eng, rng: rand.New(rand.NewPCG(7, 7)), frontend: netip.MustParseAddr("10.20.0.1"),
		backend: netip.MustParseAddr("10.30.0.5")}
	var snaps []track.Snapshot
	next := start
	for t := start; t.Before(start.Add(duration + time.Millisecond)); t = t.Add(20 * time.Millisecond) {
		if !t.Before(next) {
			snaps = append(snaps, s.snapshot(next))
			next = next.Add(every)
		}
		broken := t.Sub(start) >= 20*time.Second
		s.tick(t, broken)
	}
	return snaps, nil
}

// story is the scenario's traffic generator.
type story struct {
	eng               *track.Engine
	rng               *rand.Rand
	frontend, backend netip.Addr
	client            int
	port              uint16
}

func (s *story) snapshot(at time.Time) track.Snapshot {
	snap := s.eng.Snapshot(at)
	snap.Source = track.Source{Kind: track.SourceEngine, Name: ScenarioName, Host: "demo-frontend", Kernel: "model of Linux 6.18", Netns: "demo"}
	return snap
}

// tick sends 20 ms worth of traffic: a new client connection every tick
// (50/s), with a DNS exchange for one in four, and its backend connection.
func (s *story) tick(t time.Time, broken bool) {
	s.client++
	s.port++
	if s.port < 1024 {
		s.port = 1024
	}
	client := netip.AddrFrom4([4]byte{172, 16, byte(s.client >> 8 % 16), byte(s.client)})
	cport := 30000 + uint16(s.client%30000)
	if s.client%4 == 0 {
		s.udp(t, client, s.frontend, cport, 53, true)
	}
	// The client's HTTPS connection to the frontend.
	cseq, fseq := s.rng.Uint32(), s.rng.Uint32()
	s.tcp(t, client, s.frontend, cport, 443, track.TCPSyn, cseq, 0, 0)
	s.tcp(t.Add(time.Millisecond), s.frontend, client, 443, cport, track.TCPSyn|track.TCPAck, fseq, cseq+1, 0)
	s.tcp(t.Add(2*time.Millisecond), client, s.frontend, cport, 443, track.TCPAck, cseq+1, fseq+1, 0)
	s.tcp(t.Add(3*time.Millisecond), client, s.frontend, cport, 443, track.TCPAck|track.TCPPsh, cseq+1, fseq+1, 300)
	s.tcp(t.Add(4*time.Millisecond), s.frontend, client, 443, cport, track.TCPAck, fseq+1, cseq+301, 0)

	// The frontend's connection to the backend, from an ephemeral port.
	bport := 40000 + s.port%20000
	bseq, kseq := s.rng.Uint32(), s.rng.Uint32()
	s.tcp(t.Add(5*time.Millisecond), s.frontend, s.backend, bport, 8080, track.TCPSyn, bseq, 0, 0)
	if broken {
		return // no SYN-ACK: the frontend waits, and so does its client
	}
	s.tcp(t.Add(6*time.Millisecond), s.backend, s.frontend, 8080, bport, track.TCPSyn|track.TCPAck, kseq, bseq+1, 0)
	s.tcp(t.Add(7*time.Millisecond), s.frontend, s.backend, bport, 8080, track.TCPAck, bseq+1, kseq+1, 0)
	s.tcp(t.Add(8*time.Millisecond), s.backend, s.frontend, 8080, bport, track.TCPAck|track.TCPPsh, kseq+1, bseq+1, 800)
	// Both connections close: the frontend answers and closes first.
	for _, c := range []struct {
		a, b         netip.Addr
		ap, bp       uint16
		aseq, bseq   uint32
		t0           time.Duration
		closesFirstA bool
	}{
		{s.frontend, s.backend, bport, 8080, bseq + 1, kseq + 801, 9 * time.Millisecond, true},
		{s.frontend, client, 443, cport, fseq + 1, cseq + 301, 12 * time.Millisecond, true},
	} {
		s.tcp(t.Add(c.t0), c.a, c.b, c.ap, c.bp, track.TCPFin|track.TCPAck, c.aseq, c.bseq, 0)
		s.tcp(t.Add(c.t0+time.Millisecond), c.b, c.a, c.bp, c.ap, track.TCPFin|track.TCPAck, c.bseq, c.aseq+1, 0)
		s.tcp(t.Add(c.t0+2*time.Millisecond), c.a, c.b, c.ap, c.bp, track.TCPAck, c.aseq+1, c.bseq+1, 0)
	}
}

func (s *story) tcp(t time.Time, src, dst netip.Addr, sport, dport uint16, flags track.TCPFlags, seq, ack uint32, payload int) {
	p := track.Packet{Time: t, Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: src, Dst: dst, SrcPort: sport, DstPort: dport,
		TCP: track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: 64240, DataOffset: 5}}
	p.L4Length = 20 + payload
	p.Length = 20 + p.L4Length
	s.eng.Process(&p)
}

// udp sends a query and, when answered, its answer 1 ms later.
func (s *story) udp(t time.Time, src, dst netip.Addr, sport, dport uint16, answered bool) {
	q := track.Packet{Time: t, Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: src, Dst: dst, SrcPort: sport, DstPort: dport,
		L4Length: 40, Length: 60, UDP: track.UDPHeader{Length: 40, Checksum: 1}}
	s.eng.Process(&q)
	if answered {
		a := q
		a.Time = t.Add(time.Millisecond)
		a.Src, a.Dst, a.SrcPort, a.DstPort = dst, src, dport, sport
		a.L4Length, a.Length, a.UDP.Length = 120, 140, 120
		s.eng.Process(&a)
	}
}
