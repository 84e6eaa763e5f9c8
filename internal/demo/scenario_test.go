package demo

import (
	"testing"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// The scenario tells what its doc says: the table grows after the backend
// stops answering, SYN_SENT [UNREPLIED] entries pile up, the limit is hit
// and entries are dropped, and the analyzer names it.
func TestScenarioTellsItsStory(t *testing.T) {
	snaps, err := Scenario()
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 13 {
		t.Fatalf("%d samples, want 13 (every 5 s for 60 s)", len(snaps))
	}
	synSent := func(s track.Snapshot) (n int) {
		for i := range s.Flows {
			if st, ok := s.Flows[i].TCPState(); ok && st == track.TCPSynSent && s.Flows[i].Unreplied() {
				n++
			}
		}
		return n
	}
	for i, s := range snaps {
		t.Logf("t+%2ds: %4d entries (count %d of %d), %4d SYN_SENT, drop %d early_drop %d", i*5, len(s.Flows), s.Count, s.Max,
			synSent(s), s.Stats.Total(track.CounterDrop), s.Stats.Total(track.CounterEarlyDrop))
	}
	if synSent(snaps[3]) != 0 || synSent(snaps[6]) == 0 {
		t.Error("SYN_SENT entries should appear only once the backend stops answering (20 s)")
	}
	last := snaps[len(snaps)-1]
	if last.Stats.Total(track.CounterDrop)+last.Stats.Total(track.CounterEarlyDrop) == 0 || uint64(len(last.Flows)) < last.Max*9/10 {
		t.Errorf("the table should be full at the end: %d of %d, drops %d", len(last.Flows), last.Max, last.Stats.Total(track.CounterDrop))
	}
	res := analyzer.Analyze(snaps, analyzer.Options{})
	fired := map[string]bool{}
	for _, f := range res.Findings {
		fired[f.Rule] = true
		t.Logf("%s %s: %s", f.Severity, f.Rule, f.Summary)
	}
	for _, want := range []string{rules.SynSentGrowth, rules.TableFull} {
		if !fired[want] {
			t.Errorf("%s did not fire", want)
		}
	}
	again, _ := Scenario()
	if len(again[12].Flows) != len(last.Flows) || again[12].Stats.Total(track.CounterDrop) != last.Stats.Total(track.CounterDrop) {
		t.Error("the scenario is not deterministic")
	}
}
