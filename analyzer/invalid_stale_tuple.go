package analyzer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// invalidStaleTuple: tuples reused while their old entry lingers, and
// INVALID packets (rules/invalid_stale_tuple.go).
func (a *Analyzer) invalidStaleTuple(t timeline, _ *Summary) *Finding {
	delta, perSec, deltaOK := t.counterDelta(track.CounterInvalid)
	total, totalOK := t.counterTotal(track.CounterInvalid)
	reused := 0
	var example *track.Flow
	for _, s := range t.s {
		reused += s.reused
		if example == nil && s.reusedExample != nil {
			example = s.reusedExample
		}
	}
	byReuse := float64(reused) >= a.param(rules.InvalidStaleTuple, "min_reused")
	byCounter := deltaOK && (t.timed && perSec >= a.param(rules.InvalidStaleTuple, "min_rate") ||
		!t.timed && float64(delta) >= a.param(rules.InvalidStaleTuple, "min_delta"))
	sinceStart := !deltaOK && totalOK && total > 0
	if !byReuse && !byCounter && !sinceStart {
		return nil
	}
	sev := rules.SeverityInfo
	if byReuse || byCounter {
		sev = rules.SeverityWarning
	}
	if byCounter && t.timed && perSec >= a.param(rules.InvalidStaleTuple, "critical_rate") {
		sev = rules.SeverityCritical
	}
	var parts []string
	if reused > 0 {
		parts = append(parts, fmt.Sprintf("%s seen in TIME_WAIT or CLOSE came back as new handshakes in the next sample", human.Plural(reused, "tuple", "tuples")))
	}
	switch {
	case deltaOK:
		s := fmt.Sprintf("%d INVALID packets between samples", delta)
		if t.timed {
			s += fmt.Sprintf(" (%s)", human.Rate(perSec))
		}
		parts = append(parts, s)
	case totalOK && total > 0:
		parts = append(parts, fmt.Sprintf("%d INVALID packets since the counters started (one reading of the statistics)", total))
	}
	if reused == 0 {
		parts = append(parts, "no tuple reuse is visible in the table, so other causes are as likely (out-of-window packets, rejected flag combinations): let the kernel log them")
	}
	f := &Finding{
		Severity: sev,
		Summary:  strings.Join(parts, "; "),
		Evidence: Evidence{
			Figures: []Figure{{"tuples reused", strconv.Itoa(reused)}},
			Series: t.seriesOf("invalid (cumulative)", func(s *sample) float64 {
				return float64(s.meta.Stats.Total(track.CounterInvalid))
			}),
		},
	}
	if deltaOK {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"invalid between samples", strconv.FormatUint(delta, 10)})
		if t.timed {
			f.Evidence.Figures = append(f.Evidence.Figures, Figure{"invalid rate", human.Rate(perSec)})
		}
	} else if totalOK {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"invalid since the counters started", strconv.FormatUint(total, 10)})
	}
	l := t.last()
	data := map[string]any{"Reused": reused, "Filter": "", "TimeWaitTimeout": l.timeouts.TCP(track.TCPTimeWait).Seconds()}
	ids := []string{"log"}
	if example != nil {
		f.Evidence.Entries = []string{flowLine(example)}
		data["Example"] = example.Orig.String()
		data["Filter"] = fmt.Sprintf("-d %s --dport %d", example.Orig.Dst, example.Orig.DstPort)
		ids = append(ids, "show", "ports")
		if l.timeouts.TCP(track.TCPTimeWait).Seconds() > 60 {
			ids = append(ids, "timewait")
		}
	}
	f.Remedies = a.remedies(rules.InvalidStaleTuple, data, ids...)
	return f
}
