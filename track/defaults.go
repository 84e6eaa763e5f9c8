package track

import (
	"strconv"
	"strings"
	"time"
)

// DefaultSysctls are this kernel's conntrack settings when nothing was
// changed (docs/KERNEL.md §2.1–§2.6, 6.18 (observed)). Values are what sysctl prints.
func DefaultSysctls() Sysctls {
	return Sysctls{
		"net.netfilter.nf_conntrack_tcp_timeout_syn_sent":       "120",
		"net.netfilter.nf_conntrack_tcp_timeout_syn_recv":       "60",
		"net.netfilter.nf_conntrack_tcp_timeout_established":    "432000",
		"net.netfilter.nf_conntrack_tcp_timeout_fin_wait":       "120",
		"net.netfilter.nf_conntrack_tcp_timeout_close_wait":     "60",
		"net.netfilter.nf_conntrack_tcp_timeout_last_ack":       "30",
		"net.netfilter.nf_conntrack_tcp_timeout_time_wait":      "120",
		"net.netfilter.nf_conntrack_tcp_timeout_close":          "10",
		"net.netfilter.nf_conntrack_tcp_timeout_max_retrans":    "300",
		"net.netfilter.nf_conntrack_tcp_timeout_unacknowledged": "300",
		"net.netfilter.nf_conntrack_tcp_loose":                  "1",
		"net.netfilter.nf_conntrack_tcp_be_liberal":             "0",
		"net.netfilter.nf_conntrack_tcp_ignore_invalid_rst":     "0",
		"net.netfilter.nf_conntrack_tcp_max_retrans":            "3",
		"net.netfilter.nf_conntrack_udp_timeout":                "30",
		"net.netfilter.nf_conntrack_udp_timeout_stream":         "120",
		"net.netfilter.nf_conntrack_icmp_timeout":               "30",
		"net.netfilter.nf_conntrack_icmpv6_timeout":             "30",
		"net.netfilter.nf_conntrack_generic_timeout":            "600",
		"net.netfilter.nf_conntrack_gre_timeout":                "30",
		"net.netfilter.nf_conntrack_gre_timeout_stream":         "180",
		"net.netfilter.nf_conntrack_sctp_timeout_established":   "210",
		"net.netfilter.nf_conntrack_acct":                       "0",
		"net.netfilter.nf_conntrack_timestamp":                  "0",
		"net.netfilter.nf_conntrack_checksum":                   "1",
		"net.netfilter.nf_conntrack_events":                     "2",
		"net.netfilter.nf_conntrack_log_invalid":                "0",
	}
}

// tcpStateTimeoutNames maps TCP states to their timeout sysctls (SYN_SENT2
// has no sysctl and uses SYN_SENT's built-in 120 s; docs/KERNEL.md §2.1).
var tcpStateTimeoutNames = [numTCPStates]string{
	TCPNone:        "nf_conntrack_tcp_timeout_syn_sent",
	TCPSynSent:     "nf_conntrack_tcp_timeout_syn_sent",
	TCPSynRecv:     "nf_conntrack_tcp_timeout_syn_recv",
	TCPEstablished: "nf_conntrack_tcp_timeout_established",
	TCPFinWait:     "nf_conntrack_tcp_timeout_fin_wait",
	TCPCloseWait:   "nf_conntrack_tcp_timeout_close_wait",
	TCPLastAck:     "nf_conntrack_tcp_timeout_last_ack",
	TCPTimeWait:    "nf_conntrack_tcp_timeout_time_wait",
	TCPClose:       "nf_conntrack_tcp_timeout_close",
	TCPSynSent2:    "",
}

// TimeoutSysctl names the sysctl that sets the timeout of TCP state s ("" for
// SYN_SENT2, which has none).
func TimeoutSysctl(s TCPState) string {
	if s < numTCPStates {
		return tcpStateTimeoutNames[s]
	}
	return ""
}

// Timeouts resolves the timeout values in force: what a snapshot's sysctls
// say, and this kernel's defaults for the rest. The values are resolved
// once, so asking per entry of a million-entry table costs nothing.
type Timeouts struct {
	sysctls Sysctls
	// named holds every timeout sysctl's value in force, by bare name,
	// resolved once: a what-if asks for several per entry.
	named map[string]time.Duration
	tcp   [numTCPStates]time.Duration
	// unack and retrans cap TCP timeouts (docs/KERNEL.md §1.10).
	unack, retrans time.Duration
	udp, udpStream time.Duration
}

// NewTimeouts reads timeouts from s (which may be nil or partial).
func NewTimeouts(s Sysctls) Timeouts {
	t := Timeouts{sysctls: s, named: map[string]time.Duration{}}
	for full := range DefaultSysctls() {
		name := strings.TrimPrefix(full, netfilterPrefix)
		if strings.Contains(name, "timeout") {
			t.named[name] = t.resolve(name)
		}
	}
	for st := TCPState(0); st < numTCPStates; st++ {
		if st == TCPSynSent2 {
			t.tcp[st] = 120 * time.Second // no sysctl (docs/KERNEL.md §2.1)
			continue
		}
		t.tcp[st] = t.Get(TimeoutSysctl(st))
	}
	t.unack = t.Get("nf_conntrack_tcp_timeout_unacknowledged")
	t.retrans = t.Get("nf_conntrack_tcp_timeout_max_retrans")
	t.udp, t.udpStream = t.Get("nf_conntrack_udp_timeout"), t.Get("nf_conntrack_udp_timeout_stream")
	return t
}

// Get returns a timeout sysctl in seconds by its bare name.
func (t Timeouts) Get(name string) time.Duration {
	if d, ok := t.named[name]; ok {
		return d
	}
	return t.resolve(name)
}

// resolve reads one timeout from the sysctls, else the kernel's defaults.
func (t Timeouts) resolve(name string) time.Duration {
	if v, ok := t.sysctls.Int(name); ok {
		return time.Duration(v) * time.Second
	}
	if v, ok := DefaultSysctls().Get(name); ok {
		n, _ := strconv.Atoi(v)
		return time.Duration(n) * time.Second
	}
	return 0
}

// TCP is the timeout a TCP entry gets on entering state s (before the
// retransmission and unacknowledged-data caps of docs/KERNEL.md §1.10).
func (t Timeouts) TCP(s TCPState) time.Duration {
	if s < numTCPStates {
		return t.tcp[s]
	}
	return 0
}

// TCPCap is the larger of the two caps a TCP timeout may be lowered to
// (unacknowledged data, retransmissions; docs/KERNEL.md §1.10).
func (t Timeouts) TCPCap() time.Duration { return max(t.unack, t.retrans) }

// UDP returns the unreplied and the stream timeouts.
func (t Timeouts) UDP() (unreplied, stream time.Duration) {
	return t.udp, t.udpStream
}

// With returns the timeouts with one sysctl (by its bare name) set to d:
// the timeouts a proposed setting would give.
func (t Timeouts) With(name string, d time.Duration) Timeouts {
	return NewTimeouts(LayerSysctls(t.sysctls, Sysctls{name: strconv.Itoa(int(d / time.Second))}))
}
