package main

// The scorecard: every rule's pattern and the healthy workloads of the
// calibration corpus (internal/testkit/corpus, docs/SCORECARD.md) read by
// `ctdiag report` exactly as a user would, at default settings (no --set,
// no config). A pattern's rule must fire at warning or above (at info for
// the patterns that are opportunities, not faults: corpus.Scenario.Expect);
// on a healthy workload nothing may reach warning.

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/corpus"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

var (
	updateScorecard = flag.Bool("scorecard.update", false, "rewrite the scorecard's matrix in docs/SCORECARD.md")
	scorecardSizes  = flag.String("scorecard.sizes", "S,M", "TestKernelScorecard: the sizes to play (S, M, L, comma-separated; L, ≥ 200,000 entries a scenario, takes minutes: make scorecard)")
	scorecardOnly   = flag.String("scorecard.scenarios", "", "TestKernelScorecard: play only these scenarios (names, comma-separated; default all)")
)

const (
	// calibration is the committed corpus: the S-scale captures.
	calibration = captures + "/calibration"
	repoRoot    = "../.."
	scorecardMD = repoRoot + "/docs/SCORECARD.md"
)

// scoreRow is one capture's diagnosis.
type scoreRow struct {
	sc       *corpus.Scenario
	size     int
	dir      string
	fired    map[string]rules.Severity
	summary  map[string]string // rule → the finding's summary
	entries  []int             // per sample
	states   []report.StateCount
	counters []report.Counter
	err      string
}

func (r *scoreRow) name() string {
	return r.sc.Name + " " + corpus.ScaleName(r.size)
}

// ok says whether the row passes: its pattern named at warning or above
// (at info for a pattern that is an opportunity, not a fault: Scenario.Expect),
// or, for a healthy workload, nothing at warning or above.
func (r *scoreRow) ok() bool {
	if r.err != "" {
		return false
	}
	if r.sc.Healthy() {
		for _, sev := range r.fired {
			if atLeastWarning(sev) {
				return false
			}
		}
		return true
	}
	return r.fired[r.sc.Rule] >= r.sc.Expected()
}

func atLeastWarning(sev rules.Severity) bool { return sev >= rules.SeverityWarning }

// problem says what is wrong with a failing row.
func (r *scoreRow) problem() string {
	if r.err != "" {
		return r.err
	}
	if r.sc.Healthy() {
		var loud []string
		for rule, sev := range r.fired {
			if atLeastWarning(sev) {
				loud = append(loud, fmt.Sprintf("%s (%s: %s)", rule, sev, r.summary[rule]))
			}
		}
		slices.Sort(loud)
		return "healthy workload, yet " + strings.Join(loud, "; ")
	}
	if sev := r.fired[r.sc.Rule]; sev != rules.SeverityNone {
		return fmt.Sprintf("%s only at %s: %s", r.sc.Rule, sev, r.summary[r.sc.Rule])
	}
	return fmt.Sprintf("%s did not fire (fired: %v)", r.sc.Rule, r.fired)
}

// scoreCapture runs ctdiag report at default settings over a capture's
// view (and the kernel-log lines at its root) and records what fired.
func scoreCapture(t *testing.T, sc *corpus.Scenario, size int, dir string) *scoreRow {
	t.Helper()
	row := &scoreRow{sc: sc, size: size, dir: dir, fired: map[string]rules.Severity{}, summary: map[string]string{}}
	args := []string{"report", "-o", "json", "--fail-on", "never", filepath.Join(dir, sc.View)}
	if _, err := os.Stat(filepath.Join(dir, "dmesg.txt")); err == nil {
		args = append(args, filepath.Join(dir, "dmesg.txt"))
	}
	out, errOut, code := ctdiag(t, "", args...)
	if code != exitOK {
		row.err = fmt.Sprintf("report: exit %d: %s", code, strings.TrimSpace(errOut))
		return row
	}
	d, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		row.err = err.Error()
		return row
	}
	// A hand-made committed capture may hold notes (table-full's
	// while-full.txt); a generated one holds only the kernel's output.
	if d.Input.MalformedLines != 0 && dir != filepath.Join(repoRoot, sc.Committed) {
		row.err = fmt.Sprintf("the kernel's own output read as malformed: %v", d.Input.Problems)
		return row
	}
	for _, f := range d.Findings {
		row.fired[f.Rule], row.summary[f.Rule] = f.Severity, f.Summary
	}
	for _, s := range d.Samples {
		row.entries = append(row.entries, s.Entries)
	}
	row.states, row.counters = d.Summary.States, d.Summary.Counters
	return row
}

// TestScorecard reads the committed corpus (testdata/kernel-6.18/calibration,
// and the committed table-full capture): no root needed.
func TestScorecard(t *testing.T) {
	var rows []*scoreRow
	for _, sc := range corpus.Scenarios() {
		dir := filepath.Join(calibration, sc.Name)
		if sc.Committed != "" {
			dir = filepath.Join(repoRoot, sc.Committed)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: no committed capture at %s (make it: go run ./internal/cmd/gencorpus -scenario %s -scale S -out %s)",
				sc.Name, dir, sc.Name, strings.TrimPrefix(calibration, repoRoot+"/"))
			continue
		}
		rows = append(rows, scoreCapture(t, sc, corpus.S, dir))
	}
	finishScorecard(t, rows, "corpus")
}

// TestKernelScorecard plays every scenario at every size in namespaces of
// its own, in parallel, and scores the captures it made (removed after).
func TestKernelScorecard(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "sysctl", "ss")
	if testing.Short() {
		t.Skip("plays every scenario at every size (about a minute): not in -short")
	}
	// Not in parallel with the other kernel tests: the scenarios' shapes
	// (births planned per second) need the CPU they were calibrated with;
	// beside the others, top-talker M once grew too slowly to warn.
	raiseFileLimit(t)
	var (
		mu   sync.Mutex
		rows []*scoreRow
	)
	// Large captures are limited by CPU and the global hash table they
	// share; small ones by their timeline: they all run, the large ones a
	// few at a time, largest first. Five at once on two cores stretched a
	// 200,000-entry dump to 6 s, and a scenario's planned births ended
	// before its last samples (top-talker L played no rise to diagnose).
	large := make(chan struct{}, 3)
	type job struct {
		sc   *corpus.Scenario
		size int
	}
	var jobs []job
	for _, sc := range corpus.Scenarios() {
		if *scorecardOnly != "" && !slices.Contains(strings.Split(*scorecardOnly, ","), sc.Name) {
			continue
		}
		for _, size := range sc.Sizes {
			if slices.Contains(strings.Split(*scorecardSizes, ","), corpus.ScaleName(size)) {
				jobs = append(jobs, job{sc, size})
			}
		}
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.size, a.size) })
	start := time.Now()
	t.Run("play", func(t *testing.T) {
		for _, j := range jobs {
			t.Run(j.sc.Name+"/"+corpus.ScaleName(j.size), func(t *testing.T) {
				t.Parallel()
				var row *scoreRow
				defer func() { // a play that failed or was skipped is a row too
					if row == nil {
						why := "the play failed (see the subtest's log)"
						if t.Skipped() {
							why = "skipped (see the subtest's log)"
						}
						mu.Lock()
						rows = append(rows, &scoreRow{sc: j.sc, size: j.size, err: why})
						mu.Unlock()
					}
				}()
				if j.sc.Plays(j.size) {
					if j.size >= corpus.L {
						large <- struct{}{}
						defer func() { <-large }()
					}
					dir := t.TempDir()
					corpus.Play(t, j.sc, j.size, dir, corpus.Options{Interval: 3 * time.Second, ViewOnly: true})
					row = scoreCapture(t, j.sc, j.size, dir)
					keepMissed(t, row, dir)
				} else {
					row = scoreCapture(t, j.sc, j.size, filepath.Join(repoRoot, j.sc.Committed))
				}
				mu.Lock()
				rows = append(rows, row)
				mu.Unlock()
				if !row.ok() {
					t.Errorf("%s: %s", row.name(), row.problem())
				}
			})
		}
	})
	t.Logf("played %d captures in %v", len(rows), time.Since(start).Round(time.Second))
	finishScorecard(t, rows, "live")
}

// keepMissed copies the capture of a row that missed into
// $CTDIAG_SCORECARD_KEEP/NAME, when set, so a miss seen once can be read
// after the test's directories are gone.
func keepMissed(t *testing.T, row *scoreRow, dir string) {
	keep := os.Getenv("CTDIAG_SCORECARD_KEEP")
	if keep == "" || row.ok() {
		return
	}
	dst := filepath.Join(keep, strings.ReplaceAll(row.name(), " ", "-"))
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Logf("keeping the capture: %v", err)
		return
	}
	t.Logf("the capture is kept in %s", dst)
}

// raiseFileLimit lets this process hold the scenarios' real sockets (both
// ends of thousands of connections), for this process only.
func raiseFileLimit(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	const want = 1 << 17
	if old.Cur >= want {
		return
	}
	// Not lowered again at the end: tests running beside this one may hold
	// descriptors by then, and the limit is the test process's own.
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: want, Max: max(want, old.Max)}); err != nil {
		t.Logf("file limit stays %d: %v", old.Cur, err)
	}
}

// finishScorecard logs the matrix, fails on every row that misses, and
// with -scorecard.update writes it into docs/SCORECARD.md.
func finishScorecard(t *testing.T, rows []*scoreRow, section string) {
	t.Helper()
	order := map[string]int{}
	for i, sc := range corpus.Scenarios() {
		order[sc.Name] = i
	}
	slices.SortFunc(rows, func(a, b *scoreRow) int {
		return cmp.Or(cmp.Compare(order[a.sc.Name], order[b.sc.Name]), cmp.Compare(a.size, b.size))
	})
	t.Logf("scorecard (%s), rule × scenario, default settings:\n%s", section, matrixText(rows))
	if section == "corpus" { // the live rows fail in their own subtests
		for _, r := range rows {
			if !r.ok() {
				t.Errorf("%s: %s", r.name(), r.problem())
			}
		}
	}
	if *updateScorecard {
		if err := rewriteSection(scorecardMD, section, matrixMarkdown(rows)+"\n"+figuresMarkdown(rows)); err != nil {
			t.Error(err)
		}
	}
}

// cell is a row's mark under one rule: the severity that fired (C, W, i,
// or · for none), then ✓ where the row's expectation is met there and ✗
// where it is not.
func (r *scoreRow) cell(rule string) string {
	sev := map[rules.Severity]string{rules.SeverityCritical: "C", rules.SeverityWarning: "W", rules.SeverityInfo: "i", rules.SeverityNone: "·"}[r.fired[rule]]
	switch {
	case r.err != "":
		return "err"
	case r.sc.Rule == rule && r.fired[rule] >= r.sc.Expected():
		return sev + " ✓"
	case r.sc.Rule == rule:
		return sev + " ✗"
	case r.sc.Healthy() && atLeastWarning(r.fired[rule]):
		return sev + " ✗"
	}
	return sev
}

func catalogIDs() []string {
	var ids []string
	for _, r := range rules.Catalog() {
		ids = append(ids, r.ID)
	}
	return ids
}

func matrixText(rows []*scoreRow) string {
	ids := catalogIDs()
	width := 28
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-*s", width, "scenario")
	for _, id := range ids {
		fmt.Fprintf(&b, " %*s", max(len(id), 5), id)
	}
	b.WriteString("\n")
	pass := 0
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s", width, r.name())
		for _, id := range ids {
			fmt.Fprintf(&b, " %*s", max(len(id), 5)+padFor(r.cell(id)), r.cell(id))
		}
		if r.ok() {
			pass++
			b.WriteString("   ok")
		} else {
			b.WriteString("   MISS")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d of %d rows pass\n", pass, len(rows))
	return b.String()
}

// padFor makes up for the multi-byte marks in fixed-width columns.
func padFor(s string) int { return len(s) - len([]rune(s)) }

func matrixMarkdown(rows []*scoreRow) string {
	ids := catalogIDs()
	var b bytes.Buffer
	b.WriteString("| scenario | " + strings.Join(ids, " | ") + " | |\n|---|" + strings.Repeat("---|", len(ids)) + "---|\n")
	pass := 0
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.name())
		for _, id := range ids {
			fmt.Fprintf(&b, " %s |", r.cell(id))
		}
		if r.ok() {
			pass++
			b.WriteString(" ok |\n")
		} else {
			b.WriteString(" **miss** |\n")
		}
	}
	fmt.Fprintf(&b, "\n%d of %d rows pass (%s, %s/%s).\n", pass, len(rows), time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// figuresMarkdown gives each row's entries per sample, its largest states
// at the end and its non-zero counters: what thresholds are set from.
func figuresMarkdown(rows []*scoreRow) string {
	var b bytes.Buffer
	b.WriteString("| scenario | entries per sample | states at the end | counters (one reading) |\n|---|---|---|---|\n")
	for _, r := range rows {
		var ent, st, ctr []string
		for _, e := range r.entries {
			ent = append(ent, fmt.Sprint(e))
		}
		for i, s := range r.states {
			if i == 4 {
				break
			}
			st = append(st, fmt.Sprintf("%s %d (%.0f%%)", s.Name, s.Count, 100*s.Share))
		}
		for _, c := range r.counters {
			if c.Total != 0 {
				ctr = append(ctr, fmt.Sprintf("%s %d", c.Name, c.Total))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.name(), strings.Join(ent, " → "), strings.Join(st, ", "), strings.Join(ctr, ", "))
	}
	return b.String()
}

// rewriteSection replaces what lies between <!-- scorecard:NAME --> and
// <!-- /scorecard:NAME --> in path.
func rewriteSection(path, name, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := []byte("<!-- scorecard:"+name+" -->\n"), []byte("<!-- /scorecard:"+name+" -->")
	i, j := bytes.Index(b, begin), bytes.Index(b, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s markers", path, begin, end)
	}
	out := append(append(append([]byte{}, b[:i+len(begin)]...), body...), b[j:]...)
	return os.WriteFile(path, out, 0o644)
}

// TestScorecardCoversCatalog: a rule cannot join the catalog without its
// captures, and every scenario names a rule that exists.
func TestScorecardCoversCatalog(t *testing.T) {
	covered := map[string][]int{}
	healthy := 0
	for _, sc := range corpus.Scenarios() {
		if sc.Healthy() {
			healthy++
			if !slices.Contains(sc.Sizes, corpus.S) || !slices.Contains(sc.Sizes, corpus.L) {
				t.Errorf("healthy %s: sizes %v, want S and L", sc.Name, sc.Sizes)
			}
			continue
		}
		if _, ok := rules.Lookup(sc.Rule); !ok {
			t.Errorf("%s expects rule %q, which the catalog does not have", sc.Name, sc.Rule)
		}
		covered[sc.Rule] = append(covered[sc.Rule], sc.Sizes...)
	}
	for _, id := range catalogIDs() {
		for _, size := range []int{corpus.S, corpus.M, corpus.L} {
			if !slices.Contains(covered[id], size) {
				t.Errorf("rule %s has no scenario at %s: add one to internal/testkit/corpus (and its capture to %s)",
					id, corpus.ScaleName(size), calibration)
			}
		}
	}
	if healthy < 4 {
		t.Errorf("%d healthy workloads, want at least 4", healthy)
	}
}
