package track_test

import (
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// TCP scenarios, one per rule of docs/KERNEL.md §1. Client ISN 1000, server ISN 5000.
// Entries are read 10 ms after each packet, so a fresh 120 s timeout shows
// as 119, as /proc shows it (docs/KERNEL.md §5.1, §8.4).

const (
	syn    = track.TCPSyn
	ack    = track.TCPAck
	fin    = track.TCPFin
	rst    = track.TCPRst
	synack = track.TCPSyn | track.TCPAck
	finack = track.TCPFin | track.TCPAck
	rstack = track.TCPRst | track.TCPAck
	psh    = track.TCPPsh | track.TCPAck
)

// handshake opens the scenario's connection: SYN, SYN-ACK, ACK.
func (s *scenario) handshake() {
	s.t.Helper()
	s.tcp(fromClient, syn, 1000, 0, 0)
	s.tcp(fromServer, synack, 5000, 1001, 0)
	s.tcp(fromClient, ack, 1001, 5001, 0)
	if got := s.entry(); got != "ESTABLISHED 431999 [ASSURED]" {
		s.t.Fatalf("handshake: entry %q", got)
	}
}

// docs/KERNEL.md §1.10's handshake and close: a whole connection's life on this kernel.
func TestEngineTCPLifecycle(t *testing.T) {
	s := newScenario(t)
	s.step("client sends SYN", s.tcp(fromClient, syn, 1000, 0, 0), track.CTNew, "SYN_SENT 119 [UNREPLIED]")
	s.step("server answers SYN-ACK", s.tcp(fromServer, synack, 5000, 1001, 0), track.CTEstablished, "SYN_RECV 59")
	s.step("client ACKs", s.tcp(fromClient, ack, 1001, 5001, 0), track.CTEstablished, "ESTABLISHED 431999 [ASSURED]")
	s.step("client sends 100 bytes", s.tcp(fromClient, psh, 1001, 5001, 100), track.CTEstablished, "ESTABLISHED 299 [ASSURED]")
	s.step("server ACKs all data", s.tcp(fromServer, ack, 5001, 1101, 0), track.CTEstablished, "ESTABLISHED 431999 [ASSURED]")
	s.step("client sends FIN", s.tcp(fromClient, finack, 1101, 5001, 0), track.CTEstablished, "FIN_WAIT 119 [ASSURED]")
	s.step("server ACKs the FIN", s.tcp(fromServer, ack, 5001, 1102, 0), track.CTEstablished, "CLOSE_WAIT 59 [ASSURED]")
	s.step("server sends FIN", s.tcp(fromServer, finack, 5001, 1102, 0), track.CTEstablished, "LAST_ACK 29 [ASSURED]")
	s.step("client ACKs the FIN", s.tcp(fromClient, ack, 1102, 5002, 0), track.CTEstablished, "TIME_WAIT 119 [ASSURED]")
	v := s.tcp(fromClient, syn, 90000, 0, 0)
	s.step("client re-opens with a new SYN", v, track.CTNew, "SYN_SENT 119 [UNREPLIED]")
	if v.Action != track.ActionReopened {
		t.Errorf("re-open: action %s, want reopened", v.Action)
	}
}

func TestEngineTCPNewEntries(t *testing.T) {
	// docs/KERNEL.md §1.8: only SYN, and ACK with loose=1, create entries.
	for _, tc := range []struct {
		narration string
		flags     track.TCPFlags
		sysctls   []string
		state     track.CTState
		entry     string
	}{
		{"client sends SYN", syn, nil, track.CTNew, "SYN_SENT 119 [UNREPLIED]"},
		{"mid-stream ACK is picked up", ack, nil, track.CTNew, "ESTABLISHED 299 [UNREPLIED]"},
		{"mid-stream ACK with loose=0", ack, []string{"nf_conntrack_tcp_loose=0"}, track.CTInvalid, "gone"},
		{"lone SYN-ACK", synack, nil, track.CTInvalid, "gone"},
		{"lone FIN-ACK", finack, nil, track.CTInvalid, "gone"},
		{"lone RST", rst, nil, track.CTInvalid, "gone"},
	} {
		s := newScenario(t, tc.sysctls...)
		s.step(tc.narration, s.tcp(fromClient, tc.flags, 1000, 7000, 0), tc.state, tc.entry)
	}
}

func TestEngineTCPPickupAssured(t *testing.T) {
	// docs/KERNEL.md §1.10/§1.11: the third packet of a picked-up connection assures it.
	s := newScenario(t)
	s.step("client ACK picked up", s.tcp(fromClient, ack, 1000, 7000, 0), track.CTNew, "ESTABLISHED 299 [UNREPLIED]")
	s.step("server ACK is the first reply", s.tcp(fromServer, ack, 7000, 1000, 0), track.CTEstablished, "ESTABLISHED 299")
	s.step("client ACK assures", s.tcp(fromClient, ack, 1000, 7000, 0), track.CTEstablished, "ESTABLISHED 431999 [ASSURED]")
}

func TestEngineTCPErrors(t *testing.T) {
	// docs/KERNEL.md §1.7: bad flag combinations and truncated headers are INVALID and
	// leave the entry alone.
	s := newScenario(t)
	s.handshake()
	s.wait(time.Second)
	for _, tc := range []struct {
		narration string
		flags     track.TCPFlags
	}{
		{"bare FIN without ACK", fin},
		{"SYN+FIN", syn | fin},
		{"SYN+RST", syn | rst},
		{"no flags", 0},
	} {
		s.step(tc.narration, s.tcp(fromClient, tc.flags, 1001, 5001, 0), track.CTInvalid, "ESTABLISHED 431998 [ASSURED]")
	}
	p := s.packet(fromClient, track.ProtoTCP)
	p.TCP = track.TCPHeader{Seq: 1001, Ack: 5001, Flags: ack, DataOffset: 8}
	p.L4Length = 24 // doff says 32 bytes
	s.step("header shorter than its data offset", s.e.Process(p), track.CTInvalid, "ESTABLISHED 431998 [ASSURED]")
	if got := s.stat(track.CounterInvalid); got != 5 {
		t.Errorf("invalid statistic %d, want 5", got)
	}
}

func TestEngineTCPInvalidAndIgnored(t *testing.T) {
	// docs/KERNEL.md §1.4: IV leaves the entry, IG keeps the conntrack but does not
	// refresh the timeout.
	s := newScenario(t)
	s.step("client sends SYN", s.tcp(fromClient, syn, 1000, 0, 0), track.CTNew, "SYN_SENT 119 [UNREPLIED]")
	s.wait(5 * time.Second)
	s.step("client ACKs before any SYN-ACK (invalid)", s.tcp(fromClient, ack, 1001, 5001, 0), track.CTInvalid, "SYN_SENT 114 [UNREPLIED]")
	s.step("server sends an ACK in SYN_SENT (ignored)", s.tcp(fromServer, ack, 5001, 1001, 0), track.CTEstablished, "SYN_SENT 114")
}

func TestEngineTCPSynRetransmitNotRefreshed(t *testing.T) {
	// docs/KERNEL.md §1.10: a retransmitted SYN before any reply keeps the timeout.
	s := newScenario(t)
	s.tcp(fromClient, syn, 1000, 0, 0)
	s.wait(3 * time.Second)
	s.step("client retransmits the SYN", s.tcp(fromClient, syn, 1000, 0, 0), track.CTNew, "SYN_SENT 116 [UNREPLIED]")
	s.step("client SYN with a new ISN", s.tcp(fromClient, syn, 77777, 0, 0), track.CTNew, "SYN_SENT 116 [UNREPLIED]")
}

func TestEngineTCPRSTBeforeReply(t *testing.T) {
	// docs/KERNEL.md §1.5.6: an RST before any reply removes the entry.
	s := newScenario(t)
	s.tcp(fromClient, syn, 1000, 0, 0)
	s.step("server refuses with RST-ACK", s.tcp(fromServer, rstack, 0, 1001, 0), track.CTEstablished, "gone")

	s = newScenario(t)
	s.tcp(fromClient, syn, 1000, 0, 0)
	s.step("client gives up with RST", s.tcp(fromClient, rst, 1001, 0, 0), track.CTNew, "gone")
}

func TestEngineTCPRSTChecks(t *testing.T) {
	// docs/KERNEL.md §1.5.5 on an ESTABLISHED, ASSURED entry. The client acked up to
	// 5001, so the server's td_maxack side is 1001 and the client's is 5001.
	s := newScenario(t)
	s.handshake()
	s.step("server RST with an old sequence number is invalid", s.tcp(fromServer, rst, 4000, 0, 0), track.CTInvalid, "ESTABLISHED 431999 [ASSURED]")
	s.step("server RST in window but not exact keeps the state", s.tcp(fromServer, rst, 5100, 0, 0), track.CTEstablished, "ESTABLISHED 9 [ASSURED]")
	s.step("server RST at exactly the acked sequence closes", s.tcp(fromServer, rst, 5001, 0, 0), track.CTEstablished, "CLOSE 9 [ASSURED]")

	s = newScenario(t, "nf_conntrack_tcp_ignore_invalid_rst=1")
	s.handshake()
	s.step("with ignore_invalid_rst, an old RST is not invalid", s.tcp(fromServer, rst, 4000, 0, 0), track.CTEstablished, "ESTABLISHED 9 [ASSURED]")
}

func TestEngineTCPReopen(t *testing.T) {
	// docs/KERNEL.md §1.5.1: a SYN on CLOSE re-opens only after FINs or an RST from
	// the SYN's side; otherwise it is ignored.
	s := newScenario(t)
	s.handshake()
	s.tcp(fromServer, rst, 5001, 0, 0)
	s.wait(2 * time.Second)
	s.step("client SYN after the server's RST is ignored", s.tcp(fromClient, syn, 9000, 0, 0), track.CTEstablished, "CLOSE 7 [ASSURED]")

	s = newScenario(t)
	s.handshake()
	s.tcp(fromClient, rst, 1001, 0, 0)
	v := s.tcp(fromClient, syn, 9000, 0, 0)
	s.step("client SYN after its own RST re-opens", v, track.CTNew, "SYN_SENT 119 [UNREPLIED]")

	s = newScenario(t)
	s.handshake()
	s.tcp(fromClient, finack, 1001, 5001, 0)
	s.tcp(fromServer, finack, 5001, 1002, 0)
	s.tcp(fromClient, ack, 1002, 5002, 0)
	s.step("server SYN in TIME_WAIT re-opens with roles switched", s.tcp(fromServer, syn, 9000, 0, 0), track.CTNew, "SYN_SENT 119 [UNREPLIED]")
}

func TestEngineTCPResync(t *testing.T) {
	// docs/KERNEL.md §1.5.2 (6.18 (observed)): an ignored SYN answered by a matching
	// SYN-ACK restarts the connection; ASSURED stays.
	s := newScenario(t)
	s.handshake()
	s.tcp(fromServer, rst, 5001, 0, 0)
	s.step("client SYN with a new ISN is ignored", s.tcp(fromClient, syn, 20000, 0, 0), track.CTEstablished, "CLOSE 9 [ASSURED]")
	s.step("server SYN-ACK for that SYN resyncs", s.tcp(fromServer, synack, 60000, 20001, 0), track.CTEstablished, "SYN_RECV 59 [ASSURED]")
	s.step("client ACK completes the new handshake", s.tcp(fromClient, ack, 20001, 60001, 0), track.CTEstablished, "ESTABLISHED 431999 [ASSURED]")
}

func TestEngineTCPChallengeACK(t *testing.T) {
	// docs/KERNEL.md §1.5.3: in LAST_ACK, the ACK answering an ignored SYN is a
	// challenge ACK, not the last ACK.
	s := newScenario(t)
	s.handshake()
	s.tcp(fromClient, finack, 1001, 5001, 0)
	s.tcp(fromServer, finack, 5001, 1002, 0)
	s.step("client SYN in LAST_ACK is ignored", s.tcp(fromClient, syn, 30000, 0, 0), track.CTEstablished, "LAST_ACK 29 [ASSURED]")
	s.step("server challenge ACK leaves LAST_ACK", s.tcp(fromServer, ack, 5002, 1002, 0), track.CTEstablished, "LAST_ACK 29 [ASSURED]")
}

func TestEngineTCPSimultaneousOpen(t *testing.T) {
	// docs/KERNEL.md §1.5.4 (6.18 (observed)).
	s := newScenario(t)
	s.step("client sends SYN", s.tcp(fromClient, syn, 1000, 0, 0), track.CTNew, "SYN_SENT 119 [UNREPLIED]")
	s.step("server sends its own SYN", s.tcp(fromServer, syn, 5000, 0, 0), track.CTEstablished, "SYN_SENT2 119")
	s.step("server SYN-ACKs", s.tcp(fromServer, synack, 5000, 1001, 0), track.CTEstablished, "SYN_RECV 59")
	s.step("client ACKs", s.tcp(fromClient, ack, 1001, 5001, 0), track.CTEstablished, "ESTABLISHED 431999 [ASSURED]")
}

func TestEngineTCPWindow(t *testing.T) {
	// docs/KERNEL.md §1.6.
	s := newScenario(t)
	s.handshake()
	s.step("data 900000 past the window is invalid", s.tcp(fromClient, psh, 901001, 5001, 100), track.CTInvalid, "ESTABLISHED 431999 [ASSURED]")
	s.step("an ACK for data never sent is invalid", s.tcp(fromClient, ack, 1001, 9999999, 0), track.CTInvalid, "ESTABLISHED 431999 [ASSURED]")

	s = newScenario(t, "nf_conntrack_tcp_be_liberal=1")
	s.handshake()
	s.step("with be_liberal the same data is accepted", s.tcp(fromClient, psh, 901001, 5001, 100), track.CTEstablished, "ESTABLISHED 431999 [ASSURED]")

	s = newScenario(t)
	s.handshake()
	s.tcp(fromClient, psh, 1001, 5001, 1000)
	s.tcp(fromServer, ack, 5001, 2001, 0)
	s.wait(time.Second)
	oldSeq := uint32(1001)
	oldSeq -= 200000
	s.step("a retransmission of acked data is ignored", s.tcp(fromClient, psh, oldSeq, 5001, 100), track.CTEstablished, "ESTABLISHED 431998 [ASSURED]")
}

func TestEngineTCPRetransmissions(t *testing.T) {
	// docs/KERNEL.md §1.10: the 4th identical ACK-class segment (3 retransmissions)
	// lowers the timeout to max_retrans.
	s := newScenario(t)
	s.handshake()
	s.tcp(fromClient, psh, 1001, 5001, 10)
	s.tcp(fromServer, ack, 5001, 1011, 0)
	for i := 1; i <= 3; i++ {
		s.tcp(fromClient, psh, 1011, 5001, 10)
	}
	s.step("the third retransmission", s.tcp(fromClient, psh, 1011, 5001, 10), track.CTEstablished, "ESTABLISHED 299 [ASSURED]")
}

func TestEngineTCPWindowScale(t *testing.T) {
	// Window scaling counts only when both sides offer it (docs/KERNEL.md §1.6). The
	// client advertises 1000, i.e. 128000 bytes with scale 7: a segment
	// starting 70000 bytes ahead is in window only when scaled.
	s := newScenario(t)
	opts := track.TCPOptions{Present: true, HasWScale: true, WScale: 7, SACKPerm: true}
	s.tcpWin(fromClient, syn, 1000, 0, 0, 64240, opts)
	s.tcpWin(fromServer, synack, 5000, 1001, 0, 65160, opts)
	s.tcpWin(fromClient, ack, 1001, 5001, 0, 1000, track.TCPOptions{})
	s.step("a segment 70000 bytes ahead fits the scaled window", s.tcpWin(fromServer, psh, 75001, 1001, 100, 509, track.TCPOptions{}), track.CTEstablished, "ESTABLISHED 299 [ASSURED]")

	s = newScenario(t)
	s.tcpWin(fromClient, syn, 1000, 0, 0, 64240, opts)
	s.tcpWin(fromServer, synack, 5000, 1001, 0, 65160, track.TCPOptions{Present: true, SACKPerm: true})
	s.tcpWin(fromClient, ack, 1001, 5001, 0, 1000, track.TCPOptions{})
	s.step("without the server's wscale the window is 1000 bytes", s.tcpWin(fromServer, psh, 75001, 1001, 100, 509, track.TCPOptions{}), track.CTInvalid, "ESTABLISHED 431999 [ASSURED]")
}

func TestEngineTCPOutOfWindowFINLowersTimeout(t *testing.T) {
	// docs/KERNEL.md §1.6, nf_tcp_handle_invalid: out-of-window FIN from one side and
	// RST from the other on an ASSURED entry lower the timeout to UNACK.
	s := newScenario(t)
	s.handshake()
	s.step("client FIN out of window", s.tcp(fromClient, finack, 901001, 5001, 0), track.CTInvalid, "ESTABLISHED 431999 [ASSURED]")
	s.step("server RST out of window", s.tcp(fromServer, rstack, 905001, 1001, 0), track.CTInvalid, "ESTABLISHED 299 [ASSURED]")
}

func TestEngineTCPTimeoutsFromSysctls(t *testing.T) {
	s := newScenario(t, "nf_conntrack_tcp_timeout_syn_sent=7", "net.netfilter.nf_conntrack_tcp_timeout_established=600")
	s.step("SYN with syn_sent=7", s.tcp(fromClient, syn, 1000, 0, 0), track.CTNew, "SYN_SENT 6 [UNREPLIED]")
	s.tcp(fromServer, synack, 5000, 1001, 0)
	s.step("ACK with established=600", s.tcp(fromClient, ack, 1001, 5001, 0), track.CTEstablished, "ESTABLISHED 599 [ASSURED]")
	s.wait(599*time.Second + 990*time.Millisecond)
	s.step("the entry expires 600 s after the last packet", track.Verdict{State: track.CTEstablished}, track.CTEstablished, "gone")
}

func TestEngineTCPRSTAfterOwnSYN(t *testing.T) {
	// docs/KERNEL.md §1.5.5 rule 3 (found by the differential test): an RST skips the
	// window check when it answers a SYN from the other side, not when it
	// follows a SYN of its own side.
	s := newScenario(t)
	s.tcp(fromClient, syn, 1000, 0, 0)
	s.step("server ACK in SYN_SENT is ignored", s.tcp(fromServer, ack, 7000, 1001, 0), track.CTEstablished, "SYN_SENT 119")
	s.step("client retransmits its SYN", s.tcp(fromClient, syn, 1000, 0, 0), track.CTEstablished, "SYN_SENT 119")
	s.step("client RST acking the ignored ACK is invalid", s.tcp(fromClient, rstack, 1001, 7000, 0), track.CTInvalid, "SYN_SENT 119")
}
