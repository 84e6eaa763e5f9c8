package exporter

import (
	"fmt"
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/track"
)

// Each evaluation streams the model into an analyzer as one more sample.
// Rules that compare samples (growth, counters rising, tuples coming back)
// need a few, and an analyzer keeps something of every sample it saw, so
// it is replaced after evalWindow samples by a fresh one, which starts one
// evaluation before: the findings come from the oldest analyzer alive and
// always rest on 2 to evalWindow samples, so a rule that compares samples
// does not blink when the analyzer is replaced. Feeding two analyzers one
// evaluation in evalWindow costs 1/evalWindow more.
const evalWindow = 6

type liveAnalyzer struct {
	a       *analyzer.Analyzer
	samples int
}

// evaluator runs the catalog over a watcher's model on its schedule.
type evaluator struct {
	opts analyzer.Options
	cfg  *Config
	live []*liveAnalyzer // oldest first
}

// newEvaluator evaluates for the namespace n: remedies name it (ip netns
// exec NAME, nsenter -t PID -n) so they are right where they are pasted.
func newEvaluator(cfg *Config, n collector.Netns) *evaluator {
	return &evaluator{cfg: cfg, opts: analyzer.Options{Config: cfg.Rules,
		Target:     analyzer.Target{Netns: n.Name, NetnsPID: n.PID},
		TallyBatch: tallyBatch}}
}

// tallyBatch keeps the keys an evaluation's address tallies let wait to
// 65,536 (512 KiB each): the exporter holds its model beside them, under a
// memory budget (docs/PERFORMANCE.md).
const tallyBatch = 1 << 16

// run adds one sample (the model at now, with extra's statistics, sysctls,
// kernel-log lines and event counts) and returns the report document of
// the findings.
func (e *evaluator) run(now time.Time, src track.Source, notes []string, extra *track.Snapshot, m *Model) (*report.Document, error) {
	if len(e.live) == 0 || (len(e.live) == 1 && e.live[0].samples == evalWindow-1) {
		e.live = append(e.live, &liveAnalyzer{a: analyzer.New(e.opts)})
	}
	// The model is the whole table (HasTable: it was read, even when empty).
	meta := track.Snapshot{Time: now, Source: src, HasTable: true}
	for i, l := range e.live {
		if err := l.a.BeginSample(meta); err != nil {
			return nil, err
		}
		// Only the oldest gives findings: the others rank nothing yet.
		if i > 0 {
			if err := l.a.Unranked(); err != nil {
				return nil, err
			}
		}
		// Extra comes first: the sample's sysctls decide how entries' ages
		// are read.
		if err := l.a.Extra(extra); err != nil {
			return nil, err
		}
	}
	err := m.Each(now, func(f *track.Flow) error {
		for _, l := range e.live {
			if err := l.a.Flow(f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range e.live {
		if err := l.a.EndSample(); err != nil {
			return nil, err
		}
		l.samples++
	}
	// TakeResult frees what only this result needs (rankings, the tuples
	// of the sample before): at a million entries, tens of megabytes the
	// analyzer would otherwise hold until the next evaluation.
	oldest := e.live[0]
	res := oldest.a.TakeResult()
	if oldest.samples >= evalWindow {
		e.live = e.live[1:]
	}
	where := "this network namespace"
	if src.Netns != "" {
		where = "network namespace " + src.Netns
	}
	meta2 := report.Meta{
		Tool:      e.cfg.Tool,
		Generated: now,
		Timing:    "live, every " + e.cfg.EvalInterval.String(),
		Input: report.Input{
			Sources: []string{fmt.Sprintf("ctdiag exporter's model of the live table of %s via %s (%s, kernel %s)", where, src.Kind, src.Host, src.Kernel)},
			Notes: append([]string{fmt.Sprintf("entries come from the exporter's model, kept by conntrack events and a full dump every %s: "+
				"packets refresh timeouts without an event, so idle ages may read up to %s high; packet counters are not kept", e.cfg.ResyncInterval, e.cfg.ResyncInterval)},
				notes...),
		},
		Overrides: e.cfg.Rules.Overrides(),
	}
	return report.Build(res, meta2), nil
}
