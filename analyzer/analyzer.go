package analyzer

import (
	"fmt"
	"time"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// Options tune an analysis. The zero value is the shipped catalog.
type Options struct {
	Config *rules.Config // nil: rules.DefaultConfig()
	// Sysctls the caller gives (a command line's --sysctl): they decide the
	// timeouts entry ages are computed from, over a sample's own sysctls and
	// those found elsewhere in the inputs (track.LayerSysctls); kernel
	// defaults fill the rest.
	Sysctls  track.Sysctls
	Top      int // entries in each ranking; default 5
	Examples int // example entries per finding; default 3
	// Target is where the table was read, so that remedies are right where
	// they are pasted (ip netns exec NAME …, ctdiag --netns NAME).
	Target Target
	// Sources is how a person names the inputs on a command line (the
	// report's file arguments), for remedies that point at ctdiag whatif
	// on the same data; empty for live tables and built-in captures.
	Sources string
	// TallyBatch is how many address keys may wait before a tally counts
	// them (0: 1,048,576, so that a table of up to a million entries is
	// counted once, at the end, on every core). A long-running analyzer
	// under a memory budget (the exporter) sets less: its tallies then
	// count as they go, at some CPU cost.
	TallyBatch int
}

// Target says which network namespace the analysed table belongs to, as a
// person reaches it on the machine it was read on. The zero value is the
// namespace the commands will be run in (or unknown, for captures).
type Target struct {
	Netns    string // a name under /run/netns (ip netns exec NAME)
	NetnsPID int    // a process in the namespace (nsenter -t PID -n)
}

// Analyzer accumulates samples and evaluates the catalog over them.
type Analyzer struct {
	cfg    *rules.Config
	opts   Options
	th     thresholds
	done   []*sample
	cur    *sample
	timing string        // set by SetTimes or SetTiming
	hint   track.Sysctls // every sysctl in the inputs (SysctlHint)
	expect int           // samples announced (ExpectSamples); 0 when unknown
	// Tuples seen in TIME_WAIT or CLOSE in the previous sample, to spot
	// their reuse by a new handshake.
	prevClosed hashSet
	// ESTABLISHED [ASSURED] entries of the previous sample (estKey, sorted),
	// to tell which saw no packet since.
	prevEst sortedIndex
	// Packet counts of idle established entries in the previous sample, to
	// confirm with accounting that they saw no traffic in between.
	prevIdle map[uint64]uint64
	// Untranslated UDP entries to DNAT services, by tuple: the first
	// sample and time they were seen.
	staleSeen map[uint64]staleRec
	// remedyErrors collects remedies left out during Result; fired, the
	// rules that fired so far in it (a remedy may point at one).
	remedyErrors []string
	fired        map[string]bool
	// taken is the Result TakeResult returned for the samples so far.
	taken *Result
}

// thresholds are the parameters consulted for every entry, read once.
type thresholds struct {
	synMinAge, halfMinAge, minIdle float64
}

// New returns an Analyzer with no samples.
func New(opts Options) *Analyzer {
	if opts.Config == nil {
		opts.Config = rules.DefaultConfig()
	}
	if opts.Top <= 0 {
		opts.Top = 5
	}
	if opts.Examples <= 0 {
		opts.Examples = 3
	}
	c := opts.Config
	return &Analyzer{
		cfg:  c,
		opts: opts,
		th: thresholds{
			synMinAge:  c.Param(rules.SynSentGrowth, "min_age"),
			halfMinAge: c.Param(rules.HalfAssured, "min_age"),
			minIdle:    c.Param(rules.StuckEstablished, "min_idle"),
		},
		prevIdle:  map[uint64]uint64{},
		staleSeen: map[uint64]staleRec{},
	}
}

// Analyze runs the catalog over whole snapshots (for tests and small
// inputs; large ones are streamed through BeginSample/Flow/EndSample).
func Analyze(snaps []track.Snapshot, opts Options) *Result {
	a := New(opts)
	for i := range snaps {
		meta := snaps[i]
		meta.Flows = nil
		meta.HasTable = meta.HasTable || len(snaps[i].Flows) > 0
		a.BeginSample(meta)
		for j := range snaps[i].Flows {
			a.Flow(&snaps[i].Flows[j])
		}
		a.EndSample()
	}
	return a.Result()
}

// BeginSample starts a sample (meta without flows). meta.HasTable says
// whether the table itself is read for it (a sample of statistics or
// events alone has none).
func (a *Analyzer) BeginSample(meta track.Snapshot) error {
	if a.cur != nil {
		return fmt.Errorf("analyzer: BeginSample before EndSample")
	}
	meta.Flows = nil
	a.cur = a.newSample(meta)
	return nil
}

// ExpectSamples is told how many samples will come (track.SampleCounter):
// only the last is ranked (who holds the table, where the stuck entries
// go), so the others skip the tallies that rankings need.
func (a *Analyzer) ExpectSamples(n int) { a.expect = n }

// SysctlHint takes every sysctl the inputs hold, before the first sample
// (track.SysctlHinter): samples that carry none of their own are read with
// these rather than the kernel's defaults.
func (a *Analyzer) SysctlHint(s track.Sysctls) {
	a.hint = s
}

// timeoutsFor resolves a sample's timeouts in ctdiag's one order
// (track.LayerSysctls): the kernel's defaults, those found elsewhere in the
// inputs, the sample's own, those the caller gave.
func (a *Analyzer) timeoutsFor(own track.Sysctls) track.Timeouts {
	return track.NewTimeouts(track.LayerSysctls(a.hint, own, a.opts.Sysctls))
}

// SetTimes replaces the samples' times (e.g. from --interval) and says
// where they came from.
func (a *Analyzer) SetTimes(times []time.Time, how string) {
	for i := range a.done {
		if i < len(times) {
			a.done[i].meta.Time = times[i]
		}
	}
	a.timing = how
}

// SetTiming says where the samples' times came from ("file names",
// "bundle manifest", ...), for the summary.
func (a *Analyzer) SetTiming(how string) { a.timing = how }

// Samples is the number of samples read so far.
func (a *Analyzer) Samples() int { return len(a.done) }
