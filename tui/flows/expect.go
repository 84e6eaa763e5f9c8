package flows

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// Expect says what the kernel's tracker waits for next on entry f, and when
// it gives up, from its state, flags and remaining timeout (docs/KERNEL.md §1.3
// transitions, §1.10 timeouts, §1.11 ASSURED, §2.3 UDP, §2.4 ICMP). It is a
// reading of the rules, not a prediction of traffic.
func Expect(f *track.Flow, age flowtable.Age) string {
	rem := time.Duration(f.Timeout) * time.Second
	expires := "expires in " + common.Dur(rem) + " unless a packet refreshes it"
	if !f.Fields.Has(track.FieldTimeout) {
		return "offloaded to a flowtable: the fast path keeps it alive while traffic flows; no timeout is shown"
	}
	if f.Status&track.StatusFixedTimeout != 0 {
		return "fixed timeout: packets do not refresh it; removed in " + common.Dur(rem)
	}
	peer := endpoint(f.Orig.Dst, f.Orig.DstPort, f.Orig.Proto)
	p := f.Orig.Proto
	switch {
	case p == track.ProtoTCP && f.HasState():
		switch track.TCPState(f.State) {
		case track.TCPSynSent:
			return "a SYN-ACK from " + peer + " (→ SYN_RECV). Retransmitted SYNs do not refresh the timeout: without an answer it is removed in " + common.Dur(rem)
		case track.TCPSynSent2:
			return "simultaneous open: a SYN-ACK either way (→ SYN_RECV); removed in " + common.Dur(rem) + " otherwise"
		case track.TCPSynRecv:
			return "the client's ACK, which completes the handshake (→ ESTABLISHED) and makes it [ASSURED]; " + expires
		case track.TCPEstablished:
			s := "data or ACKs either way reset the timeout to " + common.Dur(age.Full) + "; a FIN → FIN_WAIT, an RST → CLOSE; " + expires
			if age.Capped {
				s = "unacknowledged data or retransmissions capped the timeout at " + common.Dur(age.Full) + ": an ACK of the data restores the full timeout; " + expires
			}
			if !f.Status.Assured() && f.Status.SeenReply() {
				s = "a third packet either way makes this picked-up connection [ASSURED]; " + expires
			}
			return s
		case track.TCPFinWait:
			return "the ACK of the FIN (→ CLOSE_WAIT) or the other side's FIN (→ LAST_ACK); " + expires
		case track.TCPCloseWait:
			return "the other side's FIN (→ LAST_ACK); " + expires
		case track.TCPLastAck:
			return "the last ACK (→ TIME_WAIT); " + expires
		case track.TCPTimeWait:
			return "nothing: removed in " + common.Dur(rem) + "; a new SYN on the same tuple re-opens it as a fresh entry"
		case track.TCPClose:
			return "nothing (an RST closed it): removed in " + common.Dur(rem)
		}
	case p == track.ProtoUDP || p == track.ProtoUDPLite:
		switch {
		case !f.Status.SeenReply():
			return "a reply from " + peer + " (it then loses [UNREPLIED]); " + expires
		case !f.Status.Assured():
			return "more traffic after the 2-second mark makes it [ASSURED] with the stream timeout; " + expires
		default:
			return "each packet resets the timeout to the stream timeout " + common.Dur(age.Full) + "; " + expires
		}
	case p.IsICMP():
		if !f.Status.SeenReply() {
			return "the reply (type " + fmt.Sprint(f.Reply.Type) + "); ICMP entries are never [ASSURED]; " + expires
		}
		return "nothing more: ICMP entries are never [ASSURED] and stay until the timeout; " + expires
	}
	return "any packet of the flow refreshes it; " + expires
}

func endpoint(a netip.Addr, port uint16, p track.Proto) string {
	if p.HasPorts() {
		return netip.AddrPortFrom(a, port).String()
	}
	return a.String()
}
