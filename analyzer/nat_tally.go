package analyzer

import (
	"github.com/ctdiag/ctdiag/track"
)

// What the rules that read the ruleset beside the table need from the
// entries: source-NATed entries by the reply tuple a SNAT range must keep
// unique (snat-port-exhaustion), short-lived and translated entries by
// destination port (notrack-candidate), and translated UDP entries by
// service and backend (stale-udp against the current DNAT targets). They
// are kept for the ranked sample only and dropped with its rankings.

// snatKey is what a source NAT mapping must keep unique per port: the
// protocol, the translated source address, and the destination address
// and port the replies come from.
type snatKey struct {
	tsrc, dst addrKey
	dport     uint16
	proto     track.Proto
}

// snatUse counts one destination's translated entries.
type snatUse struct {
	entries int
	closing int // TCP TIME_WAIT or CLOSE: the kernel may take these ports back
	minPort uint16
	maxPort uint16
}

// maxSNATKeys bounds the destinations kept; a NAT gateway talking to more
// distinct destinations than this is told so in a note of the finding.
const maxSNATKeys = 1 << 20

// backendKey is a translated UDP flow's service (original destination)
// and backend (reply source).
type backendKey struct {
	svc, backend addrPortKey
}

// backendUse counts the entries of one service that go to one backend.
type backendUse struct {
	entries  int
	examples []track.Flow
}

// maxBackends bounds the service/backend pairs kept.
const maxBackends = 1 << 16

// natTally is the ranked sample's share of the above.
type natTally struct {
	snat         map[snatKey]*snatUse
	snatOverflow int
	// short counts short-lived entries by destination port: TCP in
	// TIME_WAIT or CLOSE, UDP not ASSURED; nat, entries translated either
	// way. Index 0 TCP, 1 UDP.
	short, nat [2][]int32
	backends   map[backendKey]*backendUse
}

func newNATTally() *natTally {
	t := &natTally{snat: map[snatKey]*snatUse{}, backends: map[backendKey]*backendUse{}}
	for i := range t.short {
		t.short[i] = make([]int32, 65536)
		t.nat[i] = make([]int32, 65536)
	}
	return t
}

// natEntry files an entry under the tallies; dnat and snat say how its
// reply tuple was translated.
func (a *Analyzer) natEntry(s *sample, f *track.Flow, keys *entryKeys, snat, dnat bool) {
	o := &f.Orig
	if o.Proto == track.ProtoUDP && o.DstPort == 53 && dnat {
		s.dnsDNAT++
	}
	n := s.nat
	if n == nil || !o.Proto.HasPorts() {
		return
	}
	idx := -1
	short := false
	switch o.Proto {
	case track.ProtoTCP:
		idx = 0
		if st, ok := f.TCPState(); ok && (st == track.TCPTimeWait || st == track.TCPClose) {
			short = true
		}
	case track.ProtoUDP:
		idx = 1
		short = !f.Status.Assured()
	}
	if idx >= 0 {
		if short {
			n.short[idx][o.DstPort]++
		}
		if snat || dnat {
			n.nat[idx][o.DstPort]++
		}
	}
	if snat {
		k := snatKey{tsrc: keyOf(f.Reply.Dst), dst: keyOf(f.Reply.Src), dport: f.Reply.SrcPort, proto: o.Proto}
		u := n.snat[k]
		if u == nil {
			if len(n.snat) >= maxSNATKeys {
				n.snatOverflow++
				return
			}
			u = &snatUse{minPort: f.Reply.DstPort, maxPort: f.Reply.DstPort}
			n.snat[k] = u
		}
		u.entries++
		if st, ok := f.TCPState(); ok && (st == track.TCPTimeWait || st == track.TCPClose) {
			u.closing++
		}
		u.minPort, u.maxPort = min(u.minPort, f.Reply.DstPort), max(u.maxPort, f.Reply.DstPort)
	}
	if dnat && o.Proto == track.ProtoUDP {
		k := backendKey{svc: addrPortKey{keys.dst, o.DstPort}, backend: addrPortKey{keyOf(f.Reply.Src), f.Reply.SrcPort}}
		u := n.backends[k]
		if u == nil {
			if len(n.backends) >= maxBackends {
				return
			}
			u = &backendUse{}
			n.backends[k] = u
		}
		u.entries++
		if len(u.examples) < a.opts.Examples {
			u.examples = append(u.examples, f.Clone())
		}
	}
}

// portShort is how many short-lived entries go to proto/port.
func (n *natTally) portShort(proto track.Proto, port uint16) int {
	switch proto {
	case track.ProtoTCP:
		return int(n.short[0][port])
	case track.ProtoUDP:
		return int(n.short[1][port])
	}
	return 0
}

// portNAT is how many entries to proto/port are translated.
func (n *natTally) portNAT(proto track.Proto, port uint16) int {
	switch proto {
	case track.ProtoTCP:
		return int(n.nat[0][port])
	case track.ProtoUDP:
		return int(n.nat[1][port])
	}
	return 0
}
