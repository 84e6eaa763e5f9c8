package analyzer

import (
	"fmt"
	"sort"

	"github.com/ctdiag/ctdiag/rules"
)

// evaluator judges one rule over the timeline; nil when it does not fire.
// Each lives in the file named after its rule (syn_sent_growth.go, …),
// beside the rule's catalog entry in package rules.
type evaluator func(a *Analyzer, t timeline, sum *Summary) *Finding

// evaluators maps every catalog rule to its evaluation.
func evaluators() map[string]evaluator {
	return map[string]evaluator{
		rules.SynSentGrowth:     (*Analyzer).synSentGrowth,
		rules.HalfAssured:       (*Analyzer).halfAssured,
		rules.StuckEstablished:  (*Analyzer).stuckEstablished,
		rules.CloseGrowth:       (*Analyzer).closeGrowth,
		rules.TableFull:         (*Analyzer).tableFull,
		rules.InvalidStaleTuple: (*Analyzer).invalidStaleTuple,
		rules.InsertFailed:      (*Analyzer).insertFailed,
		rules.StaleUDP:          (*Analyzer).staleUDP,
		rules.TopTalker:         (*Analyzer).topTalker,
		rules.SysctlRisk:        (*Analyzer).sysctlRisk,

		rules.SNATPortExhaustion:  (*Analyzer).snatPortExhaustion,
		rules.NATPortRangeOverlap: (*Analyzer).natPortRangeOverlap,
		rules.InvalidDropped:      (*Analyzer).invalidDropped,
		rules.NotrackConflict:     (*Analyzer).notrackConflict,
		rules.NotrackCandidate:    (*Analyzer).notrackCandidate,
		rules.ConntrackUnneeded:   (*Analyzer).conntrackUnneeded,
	}
}

// Result evaluates every enabled rule over the samples read so far.
func (a *Analyzer) Result() *Result {
	if a.taken != nil {
		return a.taken
	}
	res := &Result{}
	a.remedyErrors = nil
	if len(a.done) == 0 {
		res.Summary.Notes = []string{"no samples: nothing was read"}
		res.Incomplete = true
		return res
	}
	t := a.timeline()
	t.last().prepareRankings()
	res.Summary = a.summary(t)
	for i, s := range t.s {
		info := SampleInfo{Offset: t.offsets[i], Source: s.meta.Source.Name, Format: s.meta.Source.Format,
			Entries: s.entries, Count: s.meta.Count, HasCount: s.meta.HasCount, Max: s.meta.Max, HasMax: s.meta.HasMax,
			HasTable: s.meta.HasTable}
		info.Time = s.meta.Time
		res.Samples = append(res.Samples, info)
	}
	have := a.inputs(t)
	evals := evaluators()
	a.fired = map[string]bool{}
	for _, r := range a.cfg.Rules() {
		if !a.cfg.Enabled(r.ID) {
			continue
		}
		check := Check{Rule: r.ID, Title: r.Title, Judged: r.Judged(have)}
		if f := evals[r.ID](a, t, &res.Summary); f != nil {
			f.Rule, f.Title = r.ID, r.Title
			f.Severity = a.cfg.Severity(r.ID, f.Severity)
			f.Explanation, f.References = r.Explanation, r.References
			check.Fired, check.Severity, check.Judged = true, f.Severity, true
			a.fired[r.ID] = true
			res.Findings = append(res.Findings, *f)
		}
		if !check.Judged {
			check.Missing = r.Missing(have)
			res.Incomplete = true
		}
		res.Checked = append(res.Checked, check)
	}
	order := map[string]int{}
	for i, r := range rules.Catalog() {
		order[r.ID] = i
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		if res.Findings[i].Severity != res.Findings[j].Severity {
			return res.Findings[i].Severity > res.Findings[j].Severity
		}
		return order[res.Findings[i].Rule] < order[res.Findings[j].Rule]
	})
	res.RemedyErrors = a.remedyErrors
	return res
}

// TakeResult is Result for a caller that takes one per sample (a live
// exporter): the result taken, what only it needed is freed — the last
// sample's rankings (its biggest sources are kept, as every earlier
// sample's are) and the tuples of the sample before it, which only the
// last is compared with — and it is what Result returns until the next
// sample ends. What the next sample is compared with is kept, so the
// results that follow are those Result would give.
func (a *Analyzer) TakeResult() *Result {
	res := a.Result()
	a.taken = res
	if n := len(a.done); n > 0 {
		a.done[n-1].dropKeys()
		if n > 1 {
			a.done[n-2].hashes = nil
		}
	}
	return res
}

// Unranked says no Result will be taken while the current sample is the
// last (a live exporter's next analyzer, started a sample early): the
// tallies only rankings need are not kept for it, as for any sample that
// is not the last. Call it before the sample's first entry.
func (a *Analyzer) Unranked() error {
	s := a.cur
	switch {
	case s == nil:
		return fmt.Errorf("analyzer: Unranked before BeginSample")
	case s.entries > 0:
		return fmt.Errorf("analyzer: Unranked after the sample's first entry")
	}
	s.ranked = false
	s.whatIf, s.nat = whatIfs{}, nil
	return nil
}

func (a *Analyzer) param(rule, name string) float64 { return a.cfg.Param(rule, name) }

// inputs says what the samples hold, for deciding which rules could be
// judged.
func (a *Analyzer) inputs(t timeline) rules.Input {
	var have rules.Input
	tables := 0
	for _, s := range t.s {
		if s.meta.HasTable {
			tables++
		}
		if len(s.meta.Stats.CPUs) > 0 {
			have |= rules.InputStats
		}
		if len(s.meta.Sysctls) > 0 {
			have |= rules.InputSysctls
		}
		if len(s.meta.KernelLog) > 0 {
			have |= rules.InputKernelLog
		}
		if s.meta.Ruleset != nil {
			have |= rules.InputRuleset
		}
	}
	if len(a.hint) > 0 || len(a.opts.Sysctls) > 0 {
		have |= rules.InputSysctls
	}
	if tables > 0 {
		have |= rules.InputTable
	}
	if tables > 1 {
		have |= rules.InputSamples
	}
	if _, ok := t.maxOf(); ok {
		have |= rules.InputLimit
	}
	return have
}
