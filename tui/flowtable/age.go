package flowtable

import (
	"strings"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Age is how long an entry has been silent, judged from its remaining
// timeout: every accepted packet sets the timeout to its state's full value,
// so full − remaining is the time since the last packet that set it.
type Age struct {
	Idle time.Duration
	// Full is the timeout the entry's state sets, and Sysctl names it.
	Full   time.Duration
	Sysctl string
	Known  bool
	// Capped: an ESTABLISHED entry whose timeout is at or below the
	// unacknowledged-data / retransmission cap (docs/KERNEL.md §1.10). The last
	// packet most likely set the cap, and Idle is measured from it.
	Capped bool
}

// IdleAge judges f's idle age with the timeouts in force.
func IdleAge(f *track.Flow, tm track.Timeouts) Age {
	if !f.Fields.Has(track.FieldTimeout) {
		return Age{} // offloaded entries have no timeout
	}
	var a Age
	p := f.Orig.Proto
	switch {
	case f.Fields.Has(track.FieldGeneric):
		a.Sysctl = "nf_conntrack_generic_timeout"
	case p == track.ProtoTCP && f.HasState():
		st := track.TCPState(f.State)
		a.Sysctl = track.TimeoutSysctl(st)
		a.Full = tm.TCP(st)
		if st == track.TCPEstablished {
			cap := max(tm.Get("nf_conntrack_tcp_timeout_unacknowledged"), tm.Get("nf_conntrack_tcp_timeout_max_retrans"))
			if a.Full > cap && time.Duration(f.Timeout)*time.Second <= cap {
				a.Full, a.Capped = cap, true
				a.Sysctl = "nf_conntrack_tcp_timeout_unacknowledged"
			}
		}
	case p == track.ProtoUDP || p == track.ProtoUDPLite:
		a.Sysctl = "nf_conntrack_udp_timeout"
		if f.Status.Assured() {
			a.Sysctl = "nf_conntrack_udp_timeout_stream"
		}
	case p == track.ProtoICMP:
		a.Sysctl = "nf_conntrack_icmp_timeout"
	case p == track.ProtoICMPv6:
		a.Sysctl = "nf_conntrack_icmpv6_timeout"
	case p == track.ProtoGRE:
		// track.TimeoutOf's rule: the entry's own timeouts, from its
		// creation, when it carries them.
		r := track.TimeoutOf(f, tm)
		a.Sysctl, a.Full = r.Sysctl, r.Value
	case (p == track.ProtoSCTP || p == track.ProtoDCCP) && f.HasState():
		a.Sysctl = "nf_conntrack_" + p.String() + "_timeout_" + strings.ToLower(f.StateName())
	default:
		a.Sysctl = "nf_conntrack_generic_timeout"
	}
	if a.Full == 0 && a.Sysctl != "" {
		a.Full = tm.Get(a.Sysctl)
	}
	rem := time.Duration(f.Timeout) * time.Second
	if a.Full == 0 || rem > a.Full {
		return Age{Full: a.Full, Sysctl: a.Sysctl} // a timeout changed since, or a policy: unknown
	}
	a.Idle, a.Known = a.Full-rem, true
	return a
}
