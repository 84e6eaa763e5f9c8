package track_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// A scenario narrates packets between a client and a server through one
// engine, in the style of gVisor's tcpconntrack tests: each step says what
// happens on the wire and asserts one thing, the state the packet gets and
// the entry as /proc would show it right after.
type scenario struct {
	t   *testing.T
	e   *track.Engine
	now time.Time

	client, server netip.Addr
	cport, sport   uint16
	proto          track.Proto
}

var (
	client4 = netip.MustParseAddr("127.0.0.1")
	server4 = netip.MustParseAddr("127.0.0.2")
	epoch   = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
)

// newScenario starts an engine with sysctls given as "name=value".
func newScenario(t *testing.T, sysctls ...string) *scenario {
	t.Helper()
	return newScenarioConfig(t, track.EngineConfig{Sysctls: sysctlMap(t, sysctls...)})
}

func newScenarioConfig(t *testing.T, cfg track.EngineConfig) *scenario {
	t.Helper()
	e, err := track.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{t: t, e: e, now: epoch, client: client4, server: server4, cport: 40000, sport: 80, proto: track.ProtoTCP}
}

func sysctlMap(t *testing.T, kv ...string) track.Sysctls {
	s := track.Sysctls{}
	for _, x := range kv {
		k, v, ok := strings.Cut(x, "=")
		if !ok {
			t.Fatalf("bad sysctl %q", x)
		}
		s[k] = v
	}
	return s
}

// wait advances the clock.
func (s *scenario) wait(d time.Duration) { s.now = s.now.Add(d) }

// Directions on the wire.
const (
	fromClient = iota
	fromServer
)

// tcp sends a TCP segment with no options.
func (s *scenario) tcp(from int, flags track.TCPFlags, seq, ack uint32, payload int) track.Verdict {
	return s.tcpWin(from, flags, seq, ack, payload, 64240, track.TCPOptions{})
}

func (s *scenario) tcpWin(from int, flags track.TCPFlags, seq, ack uint32, payload int, win uint16, opts track.TCPOptions) track.Verdict {
	doff := uint8(5)
	if opts.Present {
		doff = 8
	}
	if !opts.HasSACK {
		opts.SACK = ack
	}
	p := s.packet(from, track.ProtoTCP)
	p.TCP = track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: win, DataOffset: doff, Options: opts}
	p.L4Length = int(doff)*4 + payload
	p.Length = 20 + p.L4Length
	return s.e.Process(p)
}

// udp sends a datagram with a payload of n bytes.
func (s *scenario) udp(from int, n int) track.Verdict {
	p := s.packet(from, s.proto)
	p.L4Length = 8 + n
	p.Length = 20 + p.L4Length
	p.UDP = track.UDPHeader{Length: uint16(p.L4Length), Checksum: 1}
	return s.e.Process(p)
}

func (s *scenario) packet(from int, proto track.Proto) *track.Packet {
	p := &track.Packet{Time: s.now, Family: track.FamilyIPv4, Proto: proto}
	if s.client.Is6() {
		p.Family = track.FamilyIPv6
	}
	if from == fromClient {
		p.Src, p.Dst, p.SrcPort, p.DstPort = s.client, s.server, s.cport, s.sport
	} else {
		p.Src, p.Dst, p.SrcPort, p.DstPort = s.server, s.client, s.sport, s.cport
	}
	return p
}

// orig is the scenario connection's original tuple.
func (s *scenario) orig() track.Tuple {
	return track.Tuple{Family: track.FamilyIPv4, Proto: s.proto, Src: s.client, Dst: s.server, SrcPort: s.cport, DstPort: s.sport}
}

// entry describes the scenario's entry as /proc would list it 10 ms after
// the last step: "STATE TIMEOUT [UNREPLIED] [ASSURED]", "TIMEOUT ..." for
// protocols without a state, or "gone".
func (s *scenario) entry() string { return describe(s.e, s.now.Add(10*time.Millisecond), s.orig()) }

func describe(e *track.Engine, at time.Time, orig track.Tuple) string {
	for _, f := range e.Table(at) {
		if f.Orig != orig && f.Orig != orig.Reply() {
			continue
		}
		var b []string
		if st := f.StateName(); st != "" {
			b = append(b, st)
		}
		b = append(b, fmt.Sprint(f.Timeout))
		if f.Unreplied() {
			b = append(b, "[UNREPLIED]")
		}
		if f.Status.Assured() {
			b = append(b, "[ASSURED]")
		}
		return strings.Join(b, " ")
	}
	return "gone"
}

// step asserts what a narrated step did: the ct state the packet got, the
// action, and the entry afterwards. An empty want field is not checked.
func (s *scenario) step(narration string, v track.Verdict, state track.CTState, entry string) {
	s.t.Helper()
	got := s.entry()
	if v.State != state || got != entry {
		s.t.Errorf("%s: got ct state %s (%s %s), entry %q; want %s, %q", narration, v.State, v.Action, v.Reason, got, state, entry)
	}
}

// stat returns a statistic's total.
func (s *scenario) stat(c track.Counter) uint64 {
	st := s.e.Stats()
	return st.Total(c)
}
