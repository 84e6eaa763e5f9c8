package analyzer

import (
	"fmt"
	"strings"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// halfAssured: handshakes answered but never completed
// (rules/half_assured.go).
func (a *Analyzer) halfAssured(t timeline, _ *Summary) *Finding {
	f := a.stuckHandshakes(t, handshakeRule{
		id:      rules.HalfAssured,
		group:   func(s *sample) *group { return &s.half2 },
		all:     func(s *sample) int { return s.tcp[track.TCPSynRecv][classHalf] },
		state:   track.TCPSynRecv,
		waiting: "answered but never completed",
		sysctl:  "nf_conntrack_tcp_timeout_syn_recv",
	})
	if f == nil {
		return nil
	}
	// Which states the half-assured TCP entries are in.
	l := t.last()
	var parts []string
	for st := range l.tcp {
		if n := l.tcp[st][classHalf]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", track.TCPState(st), n))
		}
	}
	f.Evidence.Figures = append(f.Evidence.Figures, Figure{"half-assured TCP by state", strings.Join(parts, ", ")})
	return f
}
