package common

import (
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// SourceInfo is what the header says about where the samples come from.
type SourceInfo struct {
	Kind track.SourceKind // netlink, procfs, file, engine
	// Name is what is read: a path, a directory, "/proc/net/nf_conntrack",
	// "netlink".
	Name                string
	Host, Kernel, Netns string
	// Interval is how often a live source is read; 0 for recordings.
	Interval time.Duration
	// Timing says where sample times come from ("wall clock", "capture
	// times", "every 5s", "none"); WallClock is set when they are real
	// instants (not synthetic offsets, not absent).
	Timing    string
	WallClock bool
	// Events is set when the source follows conntrack events between reads
	// (they arrive in the sample's Extra); LostEvents counts the times the
	// kernel dropped events because the reader fell behind (overruns; the
	// kernel does not say how many events each one lost), since the start.
	Events     bool
	LostEvents uint64
}

// Live reports whether the source reads a running kernel.
func (s SourceInfo) Live() bool {
	return s.Kind == track.SourceNetlink || s.Kind == track.SourceProcfs
}

// CPUBudget is the share of one core a live session aims to stay under on
// average: analysis runs less often when refreshing would cost more.
const CPUBudget = 0.8

// Frame is everything one refresh produced. It is immutable once sent: the
// panes read it from the UI goroutine while the next one is being made.
type Frame struct {
	Seq    int // refresh number, from 1
	Source SourceInfo

	// Sample is this sample's index: in the recording, or since the session
	// began for a live source. Samples is the recording's length (0 live).
	Sample, Samples int
	Time            time.Time // when the sample was read; zero if unknown

	Table *flowtable.Table
	// View is the flows pane's selection (its filter and order at request
	// time) over Table; Talkers the ranking it asked for (nil: none asked).
	View      *flowtable.View
	ViewQuery string
	ViewOrder flowtable.Order
	Talkers   *flowtable.Ranking

	// Result is the analysis of the samples up to ResultSample (it may lag
	// when analysis runs less often than collection); nil before the first.
	Result       *analyzer.Result
	ResultSample int
	// AnalyzeEvery: a live source's samples are analysed one in this many
	// (1: all), so that refreshing stays within its CPU budget.
	AnalyzeEvery int

	Pressure Pressure
	// Offset is how long after a recording's first sample this one was
	// taken (HasOffset: the samples have times).
	Offset    time.Duration
	HasOffset bool
	// StatsSample is, when this sample read no statistics, the sample of
	// the recording that did (-1: none did, or not known yet).
	StatsSample int
	Rates       Rates
	History     []Point // this session's samples up to this one, oldest first
	Events      []track.Event
	Sysctls     track.Sysctls // every sysctl known so far, later ones winning

	// Ruleset is the firewall ruleset in force at this sample: read with
	// it, else the nearest read before it (or, when none was, after it):
	// RulesetSample says which sample it was read with (-1: none read).
	// RulesetOutline lays it out by hook (the rules that concern
	// conntrack); RuleDeltas is each rule's packets since the ruleset read
	// with an earlier sample, by track.RuleRef.Key.
	Ruleset        *track.Ruleset
	RulesetSample  int
	RulesetOutline []track.OutlineLine
	RuleDeltas     map[string]RuleDelta

	Malformed int      // malformed lines in this sample's inputs
	Skipped   []string // inputs skipped, with why
	Took      time.Duration
}

// Pressure is how full the table is: analyzer.PressureOf's figures (the
// one computation of utilisation, headroom, growth and time to full, which
// ctdiag report shows too) and what they were computed from.
type Pressure struct {
	analyzer.Pressure
	// CountFromKern: Count is nf_conntrack_count as read, which differs
	// from the Listed entries.
	CountFromKern bool
	Listed        int
	// MaxElsewhere says where Max was read when not with this sample ("an
	// earlier sample"); empty when it was.
	MaxElsewhere string
	// Assured entries ([ASSURED] or offloaded) are never evicted by early
	// drop (docs/KERNEL.md); Evictable ones may be, to make room.
	Assured, Evictable int
	Free               int64 // Max − Count
}

// Rates are per-second figures since the previous sample.
type Rates struct {
	// Seconds since the previous sample; 0 when there is none or samples
	// carry no times (figures are then per sample).
	Seconds float64
	HasPrev bool

	// New and Destroyed count entries that appeared and disappeared: from
	// events when the source follows them (exact), else by comparing the
	// two samples' tuples (entries that came and went in between are
	// missed).
	New, Destroyed float64
	HasNew         bool
	FromEvents     bool
	// EventsLost: the kernel dropped events in this interval, so New and
	// Destroyed are lower bounds.
	EventsLost bool

	Counters [track.NumCounters]CounterRate
}

// CounterRate is one statistics counter: its total and its change.
type CounterRate struct {
	Known    bool // the source reported it
	Total    uint64
	HasDelta bool // the previous sample had it too
	Delta    uint64
	PerSec   float64 // 0 when untimed
}

// Per turns a count into the rate shown: per second when timed, per sample
// otherwise.
func (r Rates) Per(v float64) float64 {
	if r.Seconds > 0 {
		return v / r.Seconds
	}
	return v
}

// Point is one sample of the session, kept for sparklines.
type Point struct {
	Time    time.Time
	Entries int
	States  map[string]int // by flowtable.StateCount.Name
	Classes [3]int         // unreplied, half-assured, assured
}

// RuleDelta is how a rule's packet counter moved since an earlier
// reading of the ruleset.
type RuleDelta struct {
	Packets uint64
	PerSec  float64 // when the readings are timed
	HasRate bool
}

// FrameMsg carries a new frame to every pane.
type FrameMsg struct{ Frame *Frame }
