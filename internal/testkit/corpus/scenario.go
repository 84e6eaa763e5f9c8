package corpus

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/rules"
)

// Sizes of the three scales every pattern is captured at: the entries of
// the view's table at its largest, roughly.
const (
	S = 900     // hundreds of entries
	M = 30000   // tens of thousands
	L = 200_000 // a production table
)

// ScaleLabel names a size: "S, 900 entries", or the count for other sizes.
func ScaleLabel(size int) string {
	switch size {
	case S:
		return fmt.Sprintf("S, %d entries", size)
	case M:
		return fmt.Sprintf("M, %d entries", size)
	case L:
		return fmt.Sprintf("L, %d entries", size)
	}
	return fmt.Sprintf("%d entries", size)
}

// ScaleName is "S", "M", "L", or the size.
func ScaleName(size int) string {
	switch size {
	case S:
		return "S"
	case M:
		return "M"
	case L:
		return "L"
	}
	return fmt.Sprint(size)
}

// Scenario is one pattern (or one healthy workload) and how to make it.
type Scenario struct {
	// Name is the capture folder's name.
	Name string
	// Rule must fire at warning or above on the view; empty for a healthy
	// workload, on which nothing may.
	Rule string
	// View is the host folder the diagnosis reads (cli, srv, rtr).
	View string
	// Shows says what the capture shows, Method how it is made (README).
	Shows, Method string
	// Sizes the scorecard plays it at.
	Sizes []int
	// Committed, when set, is the capture (relative to the repository root)
	// used at size S instead of playing the scenario: one that cannot be
	// made without changing a global setting.
	Committed string
	// Expect is the severity the pattern's rule must reach (zero: warning).
	// A rule whose pattern is an opportunity rather than a fault (info in
	// its severity model) sets info.
	Expect rules.Severity
	// Rulesets reads the view's ruleset (nft list ruleset) at every sample
	// too (nft-ruleset.tNN.txt), for rules that follow rule counters.
	Rulesets bool

	play func(r *Run)
}

// Expected is the severity the pattern's rule must reach.
func (sc *Scenario) Expected() rules.Severity {
	if sc.Expect == rules.SeverityNone {
		return rules.SeverityWarning
	}
	return sc.Expect
}

// Healthy reports whether the scenario is a healthy workload.
func (sc *Scenario) Healthy() bool { return sc.Rule == "" }

// Plays reports whether the scenario is played (not read from a committed
// capture) at size.
func (sc *Scenario) Plays(size int) bool { return !(size == S && sc.Committed != "") }

// Scenarios returns every scenario, patterns first, in catalog order.
func Scenarios() []*Scenario {
	return []*Scenario{
		synSentGrowth(),
		halfAssured(),
		stuckEstablished(),
		closeGrowth(),
		closeGrowthPeerGone(),
		tableFull(),
		invalidStaleTuple(),
		insertFailed(),
		staleUDP(),
		topTalker(),
		sysctlRiskLiberal(),
		sysctlRiskTimeout(),
		snatPortExhaustion(),
		natPortRangeOverlap(),
		invalidDropped(),
		notrackConflict(),
		notrackCandidate(),
		conntrackUnneeded(),
		healthyWeb(),
		healthyDNS(),
		healthyDBPool(),
		healthyNAT(),
	}
}

// Lookup finds a scenario by name.
func Lookup(name string) (*Scenario, bool) {
	i := slices.IndexFunc(Scenarios(), func(sc *Scenario) bool { return sc.Name == name })
	if i < 0 {
		return nil, false
	}
	return Scenarios()[i], true
}

// Play makes the scenario at size into dir (created if needed): real
// namespaces, real traffic, the capture folder written. It skips the test
// unless it can build namespaces (root, ip, nft, conntrack); everything it
// made is removed in t.Cleanup. nf_conntrack_max is only read: no test
// changes it.
func Play(t testing.TB, sc *Scenario, size int, dir string, opts Options) {
	t.Helper()
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "sysctl", "ss")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("corpus: %v", err)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", sc.Name, size)
	r := &Run{
		T: t, Scenario: sc, Size: size, Dir: dir, Interval: opts.interval(),
		Rand: rand.New(rand.NewPCG(h.Sum64(), 0x63746469616700)),
		kmsg: OpenKmsg(t), stop: make(chan struct{}), lastSec: -1, viewOnly: opts.ViewOnly, gzip: opts.Gzip,
	}
	r.Logf("scenario %s at %s: kernel %s, samples every %s", sc.Name, ScaleLabel(size), kernelRelease(), r.Interval)
	sc.play(r)
}
