package analyzer

import (
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// synSentGrowth: SYNs that get no answer (rules/syn_sent_growth.go).
func (a *Analyzer) synSentGrowth(t timeline, _ *Summary) *Finding {
	return a.stuckHandshakes(t, handshakeRule{
		id:      rules.SynSentGrowth,
		group:   func(s *sample) *group { return &s.syn },
		all:     func(s *sample) int { return s.synAll },
		state:   track.TCPSynSent,
		waiting: "waiting for a SYN-ACK",
		sysctl:  "nf_conntrack_tcp_timeout_syn_sent",
	})
}
