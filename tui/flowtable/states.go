package flowtable

import (
	"github.com/ctdiag/ctdiag/track"
)

// StateCount is how many entries share a protocol and state, split by
// status: [UNREPLIED], half-assured (a reply seen, not [ASSURED]) and
// [ASSURED].
type StateCount struct {
	Proto    track.Proto
	State    uint8
	HasState bool
	// Name is "tcp ESTABLISHED" for protocols with states, the protocol
	// name ("udp", "icmp") otherwise.
	Name string

	Count, Unreplied, HalfAssured, Assured int
}

// States lists the table's protocol states that have entries: TCP first in
// its lifecycle order, then the other protocols by number.
func (t *Table) States() []StateCount {
	var out []StateCount
	add := func(p track.Proto, slot int) {
		c := t.states[int(p)*stateSlots+slot]
		n := int(c[classUnreplied] + c[classHalf] + c[classAssured])
		if n == 0 {
			return
		}
		sc := StateCount{Proto: p, Name: p.String(), Count: n,
			Unreplied: int(c[classUnreplied]), HalfAssured: int(c[classHalf]), Assured: int(c[classAssured])}
		if slot > 0 {
			sc.State, sc.HasState = uint8(slot-1), true
			sc.Name += " " + track.StateName(p, sc.State)
		}
		out = append(out, sc)
	}
	for _, s := range tcpOrder {
		add(track.ProtoTCP, 1+int(s))
	}
	for slot := 1 + int(track.TCPSynSent2) + 1; slot < stateSlots; slot++ {
		add(track.ProtoTCP, slot) // numbers the kernel does not define
	}
	add(track.ProtoTCP, 0)
	for p := 0; p < 256; p++ {
		if track.Proto(p) == track.ProtoTCP {
			continue
		}
		for slot := 0; slot < stateSlots; slot++ {
			add(track.Proto(p), slot)
		}
	}
	return out
}

// tcpOrder is the order a connection goes through its states.
var tcpOrder = []track.TCPState{
	track.TCPSynSent, track.TCPSynSent2, track.TCPSynRecv, track.TCPEstablished,
	track.TCPFinWait, track.TCPCloseWait, track.TCPLastAck, track.TCPTimeWait,
	track.TCPClose, track.TCPNone,
}

// Classes counts all entries by status: unreplied, half-assured, assured.
func (t *Table) Classes() (unreplied, half, assured int) {
	for i := range t.states {
		c := &t.states[i]
		unreplied += int(c[classUnreplied])
		half += int(c[classHalf])
		assured += int(c[classAssured])
	}
	return
}
