package track_test

import (
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// The engine is the oracle for the snapshot arithmetic: it knows when each
// entry's last packet came, IdleAge must find it from the table alone.
func TestIdleAgeAgainstEngine(t *testing.T) {
	e, err := track.NewEngine(track.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	last := map[track.Tuple]time.Time{}
	now := epoch
	send := func(port uint16, from int, flags track.TCPFlags, seq, ack uint32, payload int) {
		s := &scenario{e: e, now: now, client: client4, server: server4, cport: port, sport: 80, proto: track.ProtoTCP}
		s.tcp(from, flags, seq, ack, payload)
		last[s.orig()] = now
	}
	// Connections left in different states at different times.
	for i := range 40 {
		port := uint16(20000 + i)
		send(port, fromClient, syn, 1000, 0, 0)
		if i%5 > 0 {
			send(port, fromServer, synack, 5000, 1001, 0)
		}
		if i%5 > 1 {
			send(port, fromClient, ack, 1001, 5001, 0)
		}
		if i%5 == 3 {
			send(port, fromClient, psh, 1001, 5001, 50) // unacknowledged data
		}
		if i%5 == 4 {
			send(port, fromClient, finack, 1001, 5001, 0)
			send(port, fromServer, finack, 5001, 1002, 0)
			send(port, fromClient, ack, 1002, 5002, 0)
		}
		now = now.Add(time.Duration(i%7) * 1700 * time.Millisecond)
	}
	at := now.Add(3 * time.Second)
	ts := track.NewTimeouts(e.Sysctls())
	for _, f := range e.Table(at) {
		want := at.Sub(last[f.Orig])
		got := track.IdleAge(&f, ts)
		if d := got - want; d > time.Second || d < -time.Second {
			t.Errorf("%s %s (%d s left): idle age %v, engine knows %v", f.Orig, f.StateName(), f.Timeout, got, want)
		}
	}
}

func TestWhatIfSnapshot(t *testing.T) {
	e, _ := track.NewEngine(track.EngineConfig{})
	s := &scenario{t: t, e: e, now: epoch, client: client4, server: server4, sport: 80, proto: track.ProtoTCP}
	// Four connections reach TIME_WAIT 0, 20, 60 and 110 s before the snapshot.
	for i, ago := range []time.Duration{110, 60, 20, 0} {
		s.now = epoch.Add((110 - ago) * time.Second)
		s.cport = uint16(30000 + i)
		s.tcp(fromClient, syn, 1000, 0, 0)
		s.tcp(fromServer, synack, 5000, 1001, 0)
		s.tcp(fromClient, ack, 1001, 5001, 0)
		s.tcp(fromClient, finack, 1001, 5001, 0)
		s.tcp(fromServer, finack, 5001, 1002, 0)
		s.tcp(fromClient, ack, 1002, 5002, 0)
	}
	flows := e.Table(s.now.Add(time.Millisecond))
	cur := track.NewTimeouts(nil)
	for _, tc := range []struct {
		timeWait     string
		predicted    float64
		extrapolated bool
	}{
		{"30", 2, false},  // only the two younger than 30 s stay
		{"120", 4, false}, // unchanged
		{"240", 8, true},  // twice as long: twice as many, in steady state
	} {
		next := track.NewTimeouts(track.Sysctls{"nf_conntrack_tcp_timeout_time_wait": tc.timeWait})
		got := track.WhatIfSnapshot(flows, cur, next)
		if len(got) != 1 || got[0].Key != "tcp TIME_WAIT" || got[0].Current != 4 || got[0].Predicted != tc.predicted || got[0].Extrapolated != tc.extrapolated {
			t.Errorf("time_wait=%s: %+v; want 4 now, %v predicted (extrapolated %v)", tc.timeWait, got, tc.predicted, tc.extrapolated)
		}
	}
}

// TestTimeoutOfAgreesWithEngine: right after each packet of a scenario, the
// timeout rule what-if infers from the entry (protocol, state, flags and
// time left) is the one the engine just set: TimeoutOf's value is the
// displayed timeout plus the second the kernel's floor takes off, and the
// idle age is under a second. Covers TCP's states and caps, UDP before and
// after the 2-second stream rule, ICMP, GRE before and after assurance,
// and the generic tracker.
func TestTimeoutOfAgreesWithEngine(t *testing.T) {
	tm := track.NewTimeouts(nil)
	check := func(s *scenario, what string) {
		t.Helper()
		at := s.now.Add(10 * time.Millisecond)
		for _, f := range s.e.Table(at) {
			if f.Orig != s.orig() {
				continue
			}
			rule := track.TimeoutOf(&f, tm)
			if want := time.Duration(f.Timeout+1) * time.Second; rule.Value != want {
				t.Errorf("%s: entry %s %v shows %d s: TimeoutOf says %s = %v, want %v", what, f.StateName(), f.Status, f.Timeout, rule.Sysctl, rule.Value, want)
			}
			if age := track.IdleAge(&f, tm); age >= time.Second {
				t.Errorf("%s: idle age %v right after a packet", what, age)
			}
			return
		}
		t.Errorf("%s: no entry", what)
	}
	const syn, ack, fin = track.TCPSyn, track.TCPAck, track.TCPFin

	s := newScenario(t)
	s.tcp(fromClient, syn, 1000, 0, 0)
	check(s, "TCP SYN_SENT")
	s.tcp(fromServer, syn|ack, 5000, 1001, 0)
	check(s, "TCP SYN_RECV")
	s.tcp(fromClient, ack, 1001, 5001, 0)
	check(s, "TCP ESTABLISHED")
	s.tcp(fromClient, ack, 1001, 5001, 100) // data not yet acknowledged
	check(s, "TCP ESTABLISHED with unacknowledged data")
	s.tcp(fromServer, ack, 5001, 1101, 0)
	check(s, "TCP ESTABLISHED, data acknowledged")
	s.tcp(fromClient, fin|ack, 1101, 5001, 0)
	check(s, "TCP FIN_WAIT")
	s.tcp(fromServer, fin|ack, 5001, 1102, 0)
	check(s, "TCP LAST_ACK")
	s.tcp(fromClient, ack, 1102, 5002, 0)
	check(s, "TCP TIME_WAIT")

	s = newScenario(t)
	s.proto, s.sport = track.ProtoUDP, 53
	s.udp(fromClient, 10)
	check(s, "UDP unreplied")
	s.udp(fromServer, 10)
	check(s, "UDP replied")
	s.wait(3 * time.Second)
	s.udp(fromClient, 10)
	check(s, "UDP stream, assured")

	s = newScenario(t)
	s.proto, s.cport, s.sport = track.ProtoGRE, 0, 0
	s.udp(fromClient, 10)
	check(s, "GRE unreplied")
	s.udp(fromServer, 10)
	check(s, "GRE replied, not yet assured")
	s.udp(fromClient, 10)
	check(s, "GRE assured")

	// A GRE entry keeps the timeouts of its creation, whatever the
	// sysctls say now (here the defaults, where it was made with 60 s).
	s = newScenario(t, "nf_conntrack_gre_timeout=60")
	s.proto, s.cport, s.sport = track.ProtoGRE, 0, 0
	s.udp(fromClient, 10)
	check(s, "GRE made with a 60 s timeout")

	s = newScenario(t)
	s.proto, s.cport, s.sport = 253, 0, 0
	s.udp(fromClient, 10)
	check(s, "generic")
}
