package track

import "fmt"

// The TCP tracker: nf_conntrack_proto_tcp.c of Linux 6.12-7.2 (hence 6.18),
// docs/KERNEL.md §1. Function and field names follow the kernel's so the two can be
// read side by side.

// tcpDir is one direction's window data (struct ip_ct_tcp_state).
type tcpDir struct {
	end    uint32 // td_end: highest seq+len sent
	maxend uint32 // td_maxend: highest right edge the sender may reach
	maxwin uint32 // td_maxwin: largest window seen, scaled
	maxack uint32 // td_maxack: highest ack sent
	scale  uint8  // td_scale
	flags  uint8  // tcpFlag*
}

// tcpConn is an entry's TCP state (struct ip_ct_tcp).
type tcpConn struct {
	seen       [2]tcpDir
	state      TCPState
	lastDir    uint8
	lastIndex  uint8
	retrans    uint8 // u8 in the kernel too: it wraps after 255
	lastWscale uint8
	lastFlags  uint8
	lastWin    uint16
	lastSeq    uint32
	lastAck    uint32
	lastEnd    uint32
}

// Per-direction flags (uapi nf_conntrack_tcp.h, docs/KERNEL.md §1.1).
const (
	tcpFlagWindowScale      = 0x01
	tcpFlagSACKPerm         = 0x02
	tcpFlagCloseInit        = 0x04
	tcpFlagBeLiberal        = 0x08
	tcpFlagDataUnack        = 0x10
	tcpFlagMaxackSet        = 0x20
	tcpFlagExpChallengeAck  = 0x40 // in lastFlags
	tcpFlagSimultaneousOpen = 0x80 // in lastFlags
)

// Packet classes ("index", docs/KERNEL.md §1.2).
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
)

func tcpIndex(f TCPFlags) uint8 {
	switch {
	case f&TCPRst != 0:
		return tcpRstSet
	case f&TCPSyn != 0:
		if f&TCPAck != 0 {
			return tcpSynAckSet
		}
		return tcpSynSet
	case f&TCPFin != 0:
		return tcpFinSet
	case f&TCPAck != 0:
		return tcpAckSet
	}
	return tcpNoneSet
}

// Transition-table results that are not states.
const (
	sIV = TCPState(10) // TCP_CONNTRACK_MAX: invalid
	sIG = TCPState(11) // TCP_CONNTRACK_IGNORE
)

// tcpConntracks is the transition table (docs/KERNEL.md §1.3): [dir][index][state].
var tcpConntracks = [2][6][10]TCPState{
	{ // ORIGINAL
		//        sNO          sSS          sSR          sES             sFW          sCW           sLA           sTW          sCL          sS2
		/*syn*/ {TCPSynSent, TCPSynSent, sIG, sIG, sIG, sIG, sIG, TCPSynSent, TCPSynSent, TCPSynSent2},
		/*synack*/ {sIV, sIV, TCPSynRecv, sIV, sIV, sIV, sIV, sIV, sIV, TCPSynRecv},
		/*fin*/ {sIV, sIV, TCPFinWait, TCPFinWait, TCPLastAck, TCPLastAck, TCPLastAck, TCPTimeWait, TCPClose, sIV},
		/*ack*/ {TCPEstablished, sIV, TCPEstablished, TCPEstablished, TCPCloseWait, TCPCloseWait, TCPTimeWait, TCPTimeWait, TCPClose, sIV},
		/*rst*/ {sIV, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose},
		/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{ // REPLY
		/*syn*/ {sIV, TCPSynSent2, sIV, sIV, sIV, sIV, sIV, TCPSynSent, sIV, TCPSynSent2},
		/*synack*/ {sIV, TCPSynRecv, sIG, sIG, sIG, sIG, sIG, sIG, sIG, TCPSynRecv},
		/*fin*/ {sIV, sIV, TCPFinWait, TCPFinWait, TCPLastAck, TCPLastAck, TCPLastAck, TCPTimeWait, TCPClose, sIV},
		/*ack*/ {sIV, sIG, TCPSynRecv, TCPEstablished, TCPCloseWait, TCPCloseWait, TCPTimeWait, TCPTimeWait, TCPClose, sIG},
		/*rst*/ {sIV, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose},
		/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// tcpValidFlags are the valid flag combinations once ECE, CWR and PSH are
// removed (tcp_error, docs/KERNEL.md §1.7).
func tcpValidFlags(f TCPFlags) bool {
	switch f &^ (TCPEce | TCPCwr | TCPPsh) {
	case TCPSyn, TCPSyn | TCPUrg, TCPSyn | TCPAck, TCPRst, TCPRst | TCPAck,
		TCPFin | TCPAck, TCPFin | TCPAck | TCPUrg, TCPAck, TCPAck | TCPUrg:
		return true
	}
	return false
}

// Sequence-number comparisons modulo 2^32 (before()/after()).
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }
func seqAfter(a, b uint32) bool  { return int32(b-a) < 0 }

// segmentEnd is segment_seq_plus_len: seq + payload + SYN + FIN.
func segmentEnd(p *Packet) uint32 {
	end := p.TCP.Seq + uint32(p.L4Length-int(p.TCP.DataOffset)*4)
	if p.TCP.Flags&TCPSyn != 0 {
		end++
	}
	if p.TCP.Flags&TCPFin != 0 {
		end++
	}
	return end
}

// maxAckWindow is MAXACKWINDOW(sender).
func maxAckWindow(s *tcpDir) uint32 { return max(s.maxwin, 66000) }

// tcpError rejects malformed packets before any state handling.
func (e *Engine) tcpError(p *Packet) (string, bool) {
	doff := int(p.TCP.DataOffset) * 4
	switch {
	case doff < 20 || p.L4Length < doff:
		return "truncated packet", true
	case e.checksum && p.BadChecksum:
		return "bad checksum", true
	case !tcpValidFlags(p.TCP.Flags):
		return "invalid tcp flag combination", true
	}
	return "", false
}

// tcpOptions is the kernel's tcp_options: a header with options resets the
// direction's scale and flags (keeping BE_LIBERAL) before reading them.
func tcpOptions(s *tcpDir, o *TCPOptions) {
	if !o.Present {
		return
	}
	s.scale = 0
	s.flags &= tcpFlagBeLiberal
	if o.SACKPerm {
		s.flags |= tcpFlagSACKPerm
	}
	if o.HasWScale {
		s.scale = o.WScale
		s.flags |= tcpFlagWindowScale
	}
}

// tcpNew sets up a new entry's TCP state from its first packet (docs/KERNEL.md §1.8).
func (e *Engine) tcpNew(c *conn, p *Packet) (string, bool) {
	th := &p.TCP
	switch tcpConntracks[dirOriginal][tcpIndex(th.Flags)][TCPNone] {
	case TCPSynSent:
		c.tcp = tcpConn{}
		s := &c.tcp.seen[0]
		s.end = segmentEnd(p)
		s.maxwin = max(uint32(th.Window), 1)
		s.maxend = s.end
		tcpOptions(s, &th.Options)
	case TCPEstablished:
		if !e.tcp.loose {
			return "invalid new (nf_conntrack_tcp_loose=0)", false
		}
		// Mid-stream pickup: the history is lost, so both directions are
		// tracked liberally for the entry's whole life.
		c.tcp = tcpConn{}
		s := &c.tcp.seen[0]
		s.end = segmentEnd(p)
		s.maxwin = max(uint32(th.Window), 1)
		s.maxend = s.end + s.maxwin
		c.tcp.seen[0].flags = tcpFlagSACKPerm | tcpFlagBeLiberal
		c.tcp.seen[1].flags = tcpFlagSACKPerm | tcpFlagBeLiberal
	default:
		return "invalid new", false
	}
	c.tcp.lastIndex = tcpNoneSet
	return "", true
}

// tcpEstablished is nf_conntrack_tcp_established: ESTABLISHED and ASSURED.
func tcpEstablished(c *conn) bool {
	return c.tcp.state == TCPEstablished && c.status.Assured()
}

// tcpCanEarlyDrop: the closing states.
func tcpCanEarlyDrop(s TCPState) bool {
	switch s {
	case TCPFinWait, TCPLastAck, TCPTimeWait, TCPClose, TCPCloseWait:
		return true
	}
	return false
}

// rstCheck is what the RST checks of docs/KERNEL.md §1.5.5 decide.
type rstCheck uint8

const (
	rstWindow    rstCheck = iota // go on to the window check
	rstInWindow                  // accept without the window check
	rstInvalid                   // "invalid rst"
	rstKeepState                 // window check, but the state stays
)

// tcpRSTChecks runs the checks on an RST the table sends to CLOSE.
func (e *Engine) tcpRSTChecks(c *conn, p *Packet, dir int, old TCPState) rstCheck {
	ct := &c.tcp
	th := &p.TCP
	if tcpCanEarlyDrop(old) {
		return rstInWindow
	}
	keep := false
	if ct.seen[1-dir].flags&tcpFlagMaxackSet != 0 && ct.lastIndex != tcpSynSet {
		seq := th.Seq
		switch {
		case seq == 0 && !tcpEstablished(c):
			return rstWindow
		case seqBefore(seq, ct.seen[1-dir].maxack) && !e.tcp.ignoreInvalidRST:
			return rstInvalid
		case !tcpEstablished(c) || seq == ct.seen[1-dir].maxack:
			return rstWindow
		case ct.lastIndex == tcpAckSet && int(ct.lastDir) == dir && seq == ct.lastEnd:
			return rstWindow // an RST train after data
		}
		keep = true // in window but not exact: let a challenge ACK through
	}
	// An RST answering a SYN from the other side or an ACK let through
	// earlier. The SYN's direction matters: 6.18 (observed) rejects an RST that
	// follows its own side's SYN (kerneldiff sequence B12, docs/ENGINE.md).
	if ((c.status.SeenReply() && ct.lastIndex == tcpSynSet && int(ct.lastDir) != dir) ||
		(!c.status.Assured() && ct.lastIndex == tcpAckSet)) && th.Ack == ct.lastEnd {
		return rstInWindow
	}
	if old == TCPSynSent && ct.lastIndex == tcpAckSet && ct.lastDir == dirReply && th.Seq == ct.lastAck {
		return rstInWindow // answers a challenge ACK
	}
	if keep {
		return rstKeepState
	}
	return rstWindow
}

// tcpPacket is nf_conntrack_tcp_packet.
func (e *Engine) tcpPacket(c *conn, p *Packet, dir int, created bool, now uint32) result {
	if reason, bad := e.tcpError(p); bad {
		return result{kind: resInvalid, reason: reason}
	}
	if created {
		if reason, ok := e.tcpNew(c, p); !ok {
			return result{kind: resInvalid, reason: reason}
		}
	}
	ct := &c.tcp
	th := &p.TCP
	old := ct.state
	index := tcpIndex(th.Flags)
	next := tcpConntracks[dir][index][old]
	inWindow := false

	switch next {
	case TCPSynSent:
		if old < TCPTimeWait {
			break
		}
		// A new SYN on a closed connection: re-open it if it was closed
		// by FINs, or by an RST from this side (docs/KERNEL.md §1.5.1).
		if (ct.seen[dir].flags|ct.seen[1-dir].flags)&tcpFlagCloseInit != 0 ||
			(int(ct.lastDir) == dir && ct.lastIndex == tcpRstSet) {
			return result{kind: resRepeat}
		}
		// Otherwise the SYN is ignored (a SYN never resynchronises).
		r, _ := e.tcpIgnore(c, p, dir, index, old)
		return r
	case sIG:
		if r, done := e.tcpIgnore(c, p, dir, index, old); done {
			return r
		}
		// Resync: this SYN-ACK answers a SYN we ignored (docs/KERNEL.md §1.5.2).
		old, next = TCPSynSent, TCPSynRecv
	case sIV:
		return result{kind: resInvalid, reason: fmt.Sprintf("packet (index %d) in dir %d invalid, state %s", index, dir, old)}
	case TCPTimeWait:
		if old == TCPLastAck && index == tcpAckSet && int(ct.lastDir) != dir &&
			ct.lastIndex == tcpSynSet && ct.lastFlags&tcpFlagExpChallengeAck != 0 {
			ct.lastFlags &^= tcpFlagExpChallengeAck
			return result{kind: resIgnore, reason: "challenge-ack ignored"}
		}
	case TCPSynSent2:
		ct.lastFlags |= tcpFlagSimultaneousOpen
	case TCPSynRecv:
		if dir == dirReply && index == tcpAckSet && ct.lastFlags&tcpFlagSimultaneousOpen != 0 {
			next = TCPEstablished
		}
	case TCPClose:
		if index != tcpRstSet {
			break
		}
		switch e.tcpRSTChecks(c, p, dir, old) {
		case rstInWindow:
			inWindow = true
		case rstInvalid:
			return result{kind: resInvalid, reason: "invalid rst"}
		case rstKeepState:
			next = old
		}
	}

	if !inWindow {
		switch res, reason := e.tcpInWindow(c, p, dir, index); res {
		case resIgnore:
			return result{kind: resIgnore, reason: reason}
		case resInvalid:
			e.tcpHandleInvalid(c, dir, index, now)
			return result{kind: resInvalid, reason: reason}
		}
	}

	// From here on the packet is in window.
	ct.lastIndex = index
	ct.lastDir = uint8(dir)
	ct.state = next
	if old != next && next == TCPFinWait {
		ct.seen[dir].flags |= tcpFlagCloseInit
	}

	T := &e.timeouts.tcp
	var timeout uint32
	switch {
	case int(ct.retrans) >= e.tcp.maxRetrans && T[next] > T[tcpTimeoutRetrans]:
		timeout = T[tcpTimeoutRetrans]
	case index == tcpRstSet:
		timeout = T[TCPClose]
	case (ct.seen[0].flags|ct.seen[1].flags)&tcpFlagDataUnack != 0 && T[next] > T[tcpTimeoutUnack]:
		timeout = T[tcpTimeoutUnack]
	case ct.lastWin == 0 && T[next] > T[tcpTimeoutRetrans]:
		timeout = T[tcpTimeoutRetrans]
	default:
		timeout = T[next]
	}

	if !c.status.SeenReply() {
		if th.Flags&TCPRst != 0 {
			// The only answer is an RST (or the client gave up): no
			// connection worth keeping (docs/KERNEL.md §1.5.6).
			e.account(c, p, dir)
			return result{kind: resKill, reason: "RST before any reply"}
		}
		if index == tcpSynSet && old == TCPSynSent {
			// A retransmitted SYN does not renew the timeout, so port
			// reuse cannot keep an entry alive for ever (docs/KERNEL.md §1.10).
			return result{kind: resAccept, reason: "retransmitted SYN: timeout not renewed"}
		}
		if next == TCPEstablished && timeout > T[tcpTimeoutUnack] {
			timeout = T[tcpTimeoutUnack] // pickup: no long timeout before a reply
		}
	} else if !c.status.Assured() && (old == TCPSynRecv || old == TCPEstablished) && next == TCPEstablished {
		c.status |= StatusAssured
	}
	e.refresh(c, p, dir, now, timeout)
	return result{kind: resAccept}
}

// tcpIgnore handles a packet the table ignores (docs/KERNEL.md §1.4). done is false
// when the packet is a SYN-ACK that resynchronises the entry: the caller then
// goes on as for a normal SYN-ACK.
func (e *Engine) tcpIgnore(c *conn, p *Packet, dir int, index uint8, old TCPState) (result, bool) {
	ct := &c.tcp
	th := &p.TCP
	if index == tcpSynAckSet && ct.lastIndex == tcpSynSet && int(ct.lastDir) != dir && th.Ack == ct.lastEnd {
		// Both ends are in sync and we are not: take the SYN we ignored as
		// the start of the connection.
		ld := ct.lastDir
		s := &ct.seen[ld]
		s.end = ct.lastEnd
		s.maxend = ct.lastEnd
		s.maxwin = max(uint32(ct.lastWin), 1)
		s.scale = ct.lastWscale
		ct.lastFlags &^= tcpFlagExpChallengeAck
		s.flags = ct.lastFlags
		r := &ct.seen[dir]
		*r = tcpDir{flags: r.flags & tcpFlagBeLiberal}
		return result{}, false
	}
	ct.lastIndex = index
	ct.lastDir = uint8(dir)
	ct.lastSeq = th.Seq
	ct.lastEnd = segmentEnd(p)
	ct.lastWin = th.Window
	if index == tcpSynSet && dir == dirOriginal {
		// Remember the SYN's options for a resync, and whether its answer
		// may be an RFC 5961 challenge ACK.
		var seen tcpDir
		tcpOptions(&seen, &th.Options)
		ct.lastFlags, ct.lastWscale = 0, 0
		if seen.flags&tcpFlagWindowScale != 0 {
			ct.lastFlags |= tcpFlagWindowScale
			ct.lastWscale = seen.scale
		}
		if seen.flags&tcpFlagSACKPerm != 0 {
			ct.lastFlags |= tcpFlagSACKPerm
		}
		if old == TCPLastAck {
			ct.lastFlags |= tcpFlagExpChallengeAck
		}
	}
	if old == TCPSynSent && index == tcpAckSet && dir == dirReply {
		ct.lastAck = th.Ack // possibly a challenge ACK to the SYN
	}
	return result{kind: resIgnore, reason: fmt.Sprintf("packet (index %d) in dir %d ignored, state %s", index, dir, old)}, true
}

// tcpInitSender initialises a direction from a SYN or SYN-ACK.
func tcpInitSender(sender, receiver *tcpDir, p *Packet, end, win uint32, dir int) {
	sender.end = end
	sender.maxend = end
	sender.maxwin = max(win, 1)
	tcpOptions(sender, &p.TCP.Options)
	// Window scaling counts only if both sides offered it (RFC 1323).
	if dir == dirReply && !(sender.flags&tcpFlagWindowScale != 0 && receiver.flags&tcpFlagWindowScale != 0) {
		sender.scale = 0
		receiver.scale = 0
	}
}

// tcpInWindow is the window check (docs/KERNEL.md §1.6). It returns resAccept,
// resIgnore or resInvalid and, for the last two, why.
func (e *Engine) tcpInWindow(c *conn, p *Packet, dir int, index uint8) (resKind, string) {
	ct := &c.tcp
	sender, receiver := &ct.seen[dir], &ct.seen[1-dir]
	th := &p.TCP
	syn, ackFlag := th.Flags&TCPSyn != 0, th.Flags&TCPAck != 0

	seq := th.Seq
	ack, sack := th.Ack, th.Ack
	winRaw := th.Window
	win := uint32(winRaw)
	end := segmentEnd(p)
	if receiver.flags&tcpFlagSACKPerm != 0 && th.Options.HasSACK {
		sack = th.Options.SACK
	}

	// Failed checks are accepted anyway when this direction is liberal.
	verdict := func(res resKind, reason string) (resKind, string) {
		if sender.flags&tcpFlagBeLiberal != 0 || e.tcp.beLiberal {
			return resAccept, ""
		}
		return res, reason
	}

	if sender.maxwin == 0 {
		if syn {
			tcpInitSender(sender, receiver, p, end, win, dir)
			if !ackFlag {
				return resAccept, "" // simultaneous open
			}
		} else {
			// Mid-connection: the history is lost, use this packet.
			sender.end = end
			swin := win << sender.scale
			sender.maxwin = max(swin, 1)
			sender.maxend = end + sender.maxwin
			if receiver.maxwin == 0 {
				receiver.end = sack
				receiver.maxend = sack
			} else if sack == receiver.end+1 {
				receiver.end++ // a reply to a keepalive
			}
		}
	} else if syn && seqAfter(end, sender.end) && (ct.state == TCPSynSent || ct.state == TCPSynRecv) {
		// A re-initialised sender (RFC 793): restart this direction.
		tcpInitSender(sender, receiver, p, end, win, dir)
		if dir == dirReply && !ackFlag {
			return resAccept, ""
		}
	}

	if !ackFlag {
		ack, sack = receiver.end, receiver.end
	} else if th.Flags&TCPRst != 0 && ack == 0 {
		ack, sack = receiver.end, receiver.end // broken stacks: RST+ACK with ack 0
	}
	if th.Flags&TCPRst != 0 && seq == 0 && ct.state == TCPSynSent {
		seq, end = sender.end, sender.end // an RST answering a SYN
	}

	if !seqBefore(seq, sender.maxend+1) {
		overshot := end - sender.maxend + 1
		ackOK := seqAfter(sack, receiver.end-maxAckWindow(sender)-1)
		inRecvWin := receiver.maxwin != 0 && seqAfter(end, sender.end-receiver.maxwin-1)
		if inRecvWin && ackOK && overshot <= receiver.maxwin && seqBefore(sack, receiver.end+1) {
			// More than the window allows, but otherwise fine: remember
			// the data so its ACK is not over the upper bound later.
			sender.end = end
			sender.flags |= tcpFlagDataUnack
			return verdict(resIgnore, fmt.Sprintf("%d bytes more than expected", overshot))
		}
		return verdict(resInvalid, fmt.Sprintf("SEQ is over upper bound %d (over the window of the receiver)", sender.maxend+1))
	}
	if !seqBefore(sack, receiver.end+1) {
		return verdict(resInvalid, fmt.Sprintf("ACK is over upper bound %d (ACKed data not seen yet)", receiver.end+1))
	}
	if receiver.maxwin != 0 && !seqAfter(end, sender.end-receiver.maxwin-1) {
		return verdict(resIgnore, fmt.Sprintf("SEQ is under lower bound %d (already ACKed data retransmitted)", sender.end-receiver.maxwin-1))
	}
	if !seqAfter(sack, receiver.end-maxAckWindow(sender)-1) {
		return verdict(resIgnore, fmt.Sprintf("ignored ACK under lower bound %d (possible overly delayed)", receiver.end-maxAckWindow(sender)-1))
	}

	// In window: update both directions.
	if !syn {
		win <<= sender.scale
	}
	if swin := win + (sack - ack); sender.maxwin < swin {
		sender.maxwin = swin
	}
	if seqAfter(end, sender.end) {
		sender.end = end
		sender.flags |= tcpFlagDataUnack
	}
	if ackFlag {
		if sender.flags&tcpFlagMaxackSet == 0 {
			sender.maxack = ack
			sender.flags |= tcpFlagMaxackSet
		} else if seqAfter(ack, sender.maxack) {
			sender.maxack = ack
		}
	}
	if receiver.maxwin != 0 && seqAfter(end, sender.maxend) {
		receiver.maxwin += end - sender.maxend
	}
	if seqAfter(sack+win, receiver.maxend-1) {
		receiver.maxend = sack + win
		if win == 0 {
			receiver.maxend++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tcpFlagDataUnack
	}

	// Count retransmissions of the same ACK-class segment.
	if index == tcpAckSet {
		if int(ct.lastDir) == dir && ct.lastSeq == seq && ct.lastAck == ack && ct.lastEnd == end && ct.lastWin == winRaw {
			ct.retrans++
		} else {
			ct.lastDir = uint8(dir)
			ct.lastSeq, ct.lastAck, ct.lastEnd, ct.lastWin = seq, ack, end, winRaw
			ct.retrans = 0
		}
	}
	return resAccept, ""
}

// tcpHandleInvalid is nf_tcp_handle_invalid: on an ASSURED entry, a FIN or
// RST out of window from one side answered by one from the other lowers the
// timeout to the unacknowledged value (docs/KERNEL.md §1.6).
func (e *Engine) tcpHandleInvalid(c *conn, dir int, index uint8, now uint32) {
	if !c.status.Assured() || c.status&StatusFixedTimeout != 0 {
		return
	}
	if index != tcpRstSet && index != tcpFinSet {
		return
	}
	ct := &c.tcp
	if int(ct.lastDir) != dir && (ct.lastIndex == tcpFinSet || ct.lastIndex == tcpRstSet) {
		left := uint32(max(int32(c.expires-now), 0))
		if left < 120*HZ {
			return
		}
		if unack := e.timeouts.tcp[tcpTimeoutUnack]; left > unack {
			e.setTimeout(c, now, unack)
		}
		return
	}
	ct.lastIndex = index
	ct.lastDir = uint8(dir)
}
