package track

import "strconv"

// TCPState is the tracker's TCP state (enum tcp_conntrack, docs/KERNEL.md §1.1). The
// numbers are the ones ctnetlink sends in CTA_PROTOINFO_TCP_STATE.
type TCPState uint8

// TCP states in kernel order. Value 9 is SYN_SENT2 (simultaneous open); its
// slot used to be TCP_CONNTRACK_LISTEN and old tools print "LISTEN" there.
const (
	TCPNone TCPState = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
	numTCPStates
)

var tcpStateNames = [numTCPStates]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
}

// TCPStates lists every named TCP state in kernel order.
func TCPStates() []TCPState {
	s := make([]TCPState, numTCPStates)
	for i := range s {
		s[i] = TCPState(i)
	}
	return s
}

// String returns the kernel's name, or "UNKNOWN(n)" for a number the kernel
// does not define (the kernel never stores one; a corrupt source might).
func (s TCPState) String() string {
	if s < numTCPStates {
		return tcpStateNames[s]
	}
	return "UNKNOWN(" + strconv.Itoa(int(s)) + ")"
}

// Known reports whether s is one of the kernel's named states.
func (s TCPState) Known() bool { return s < numTCPStates }

// ParseTCPState accepts the kernel's names and "LISTEN", the old name of
// state 9.
func ParseTCPState(name string) (TCPState, bool) {
	for i, n := range tcpStateNames {
		if n == name {
			return TCPState(i), true
		}
	}
	if name == "LISTEN" {
		return TCPSynSent2, true
	}
	return 0, false
}

// SCTPState is the SCTP tracker's state (enum sctp_conntrack).
type SCTPState uint8

// SCTP states in kernel order (nf_conntrack_proto_sctp.c).
const (
	SCTPNone SCTPState = iota
	SCTPClosed
	SCTPCookieWait
	SCTPCookieEchoed
	SCTPEstablished
	SCTPShutdownSent
	SCTPShutdownRecd
	SCTPShutdownAckSent
	SCTPHeartbeatSent
	SCTPHeartbeatAcked // removed from newer kernels; still a valid number on old ones
	numSCTPStates
)

var sctpStateNames = [numSCTPStates]string{
	"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
	"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED",
}

// String returns the kernel's name, or "UNKNOWN(n)".
func (s SCTPState) String() string {
	if s < numSCTPStates {
		return sctpStateNames[s]
	}
	return "UNKNOWN(" + strconv.Itoa(int(s)) + ")"
}

// ParseSCTPState accepts the kernel's names.
func ParseSCTPState(name string) (SCTPState, bool) {
	for i, n := range sctpStateNames {
		if n == name {
			return SCTPState(i), true
		}
	}
	return 0, false
}

// DCCPState is the state of the DCCP tracker, removed before 6.18 (DCCP is
// tracked as a generic protocol there) but present in older kernels' dumps.
type DCCPState uint8

// DCCP states in kernel order (enum ct_dccp_states).
const (
	DCCPNone DCCPState = iota
	DCCPRequest
	DCCPRespond
	DCCPPartOpen
	DCCPOpen
	DCCPCloseReq
	DCCPClosing
	DCCPTimeWait
	DCCPIgnore
	DCCPInvalid
	numDCCPStates
)

var dccpStateNames = [numDCCPStates]string{
	"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN",
	"CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE", "INVALID",
}

// String returns the kernel's name, or "UNKNOWN(n)".
func (s DCCPState) String() string {
	if s < numDCCPStates {
		return dccpStateNames[s]
	}
	return "UNKNOWN(" + strconv.Itoa(int(s)) + ")"
}

// ParseDCCPState accepts the kernel's names.
func ParseDCCPState(name string) (DCCPState, bool) {
	for i, n := range dccpStateNames {
		if n == name {
			return DCCPState(i), true
		}
	}
	return 0, false
}

// ProtoHasState reports whether entries of protocol p carry a named state.
func ProtoHasState(p Proto) bool {
	return p == ProtoTCP || p == ProtoSCTP || p == ProtoDCCP
}

// StateName returns the name of state number n for protocol p ("" when p has
// no states).
func StateName(p Proto, n uint8) string {
	switch p {
	case ProtoTCP:
		return TCPState(n).String()
	case ProtoSCTP:
		return SCTPState(n).String()
	case ProtoDCCP:
		return DCCPState(n).String()
	}
	return ""
}

// ParseStateName returns the state number for a state name of protocol p.
func ParseStateName(p Proto, name string) (uint8, bool) {
	switch p {
	case ProtoTCP:
		s, ok := ParseTCPState(name)
		return uint8(s), ok
	case ProtoSCTP:
		s, ok := ParseSCTPState(name)
		return uint8(s), ok
	case ProtoDCCP:
		s, ok := ParseDCCPState(name)
		return uint8(s), ok
	}
	return 0, false
}
