package analyzer

import (
	"time"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// Result is what the analysis found.
type Result struct {
	Summary  Summary
	Samples  []SampleInfo // every sample, in order
	Findings []Finding    // worst first
	// Checked lists every enabled rule with whether it fired, in catalog
	// order (a JUnit report makes a test case of each).
	Checked []Check
	// Incomplete says some enabled rule could not be judged from what was
	// read (Check.Missing says what it needed): "no problems" cannot be
	// said of it.
	Incomplete bool
	// RemedyErrors lists remedy templates left out for want of a figure.
	// It is a bug when not empty; the tests require it empty.
	RemedyErrors []string
}

// SampleInfo describes one sample of the timeline.
type SampleInfo struct {
	Time     time.Time // zero when untimed
	Offset   float64   // seconds since the first sample; -1 when untimed
	Source   string    // file name or live source
	Format   string    // detected text format, when read from text
	Entries  int       // entries listed
	Count    uint64    // nf_conntrack_count, when read
	HasCount bool
	Max      uint64 // nf_conntrack_max, when read
	HasMax   bool
	HasTable bool // the table was read (Entries is meaningful)
}

// Check is one rule's outcome.
type Check struct {
	Rule     string
	Title    string
	Fired    bool
	Severity rules.Severity // of the finding, when fired
	// Judged is false when what the rule needs was not read; Missing then
	// says what it needed.
	Judged  bool
	Missing string
}

// Worst is the highest severity among the findings.
func (r *Result) Worst() rules.Severity {
	w := rules.SeverityNone
	for _, f := range r.Findings {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w
}

// Summary holds the key figures of the timeline, shown even when nothing
// is wrong.
type Summary struct {
	Samples int
	// Timing says where sample times came from ("interval 5s", "file
	// modification times", "bundle manifest", "none").
	Timing string
	// SpanSeconds is the time from the first to the last sample (0 when
	// untimed or one sample).
	SpanSeconds float64

	// TableRead says some sample read the table itself; without it the
	// entry figures are not zero but unknown.
	TableRead bool
	// Figures of the last sample.
	Entries     int
	Count       uint64 // nf_conntrack_count when read (may differ from Entries)
	HasCount    bool
	Assured     int
	Unreplied   int
	HalfAssured int
	Offloaded   int // [OFFLOAD]/[HW_OFFLOAD]: neither half-open nor evictable
	// Pressure holds the limit, utilisation, headroom, growth and time to
	// full, as PressureOf computes them for every view.
	Pressure Pressure
	// Peak is the sample where the table was most pressed (highest
	// utilisation against the limit in force then), when it is not the
	// last: a table that was full and has been relieved since.
	Peak   *PeakSample
	States []StateCount // by protocol and state, largest first
	IPv6   int

	// Across the timeline (when there are two samples or more).
	NewPerSec   float64 // flows followed by tuple: appeared
	GonePerSec  float64 // disappeared
	NewBetween  int     // appeared between the last two samples
	GoneBetween int
	// Events, when they were followed between the last two samples (a
	// record bundle's event log, a live follower): the kernel's own count
	// of entries created and destroyed, which tuple comparison misses for
	// entries that came and went in between. EventsLost counts overruns in
	// that time: the counts are then lower bounds.
	EventsFollowed                 bool
	EventsCreated, EventsDestroyed int
	CreatedPerSec, DestroyedPerSec float64
	EventsLost                     int
	StatsDeltas                    []Delta // per-CPU counters summed, first to last sample
	// Events summarises an event log read without a table; nil otherwise.
	Events *EventSummary

	Notes []string // what could not be judged and why
}

// PeakSample is one sample's pressure, with where it is in the timeline.
type PeakSample struct {
	Sample   int
	Offset   float64 // seconds since the first sample; -1 when untimed
	Pressure Pressure
	// MaxCarried says the limit was not read in that sample but carried from
	// an earlier one.
	MaxCarried bool
}

// EventSummary describes conntrack events read without any table (a
// conntrack -E log given alone): what came and went, by state and peer.
type EventSummary struct {
	New, Destroy, Update int
	Lost                 int
	FirstTime, LastTime  time.Time    // zero when the events carry no times
	ByState              []StateCount // NEW events by protocol and state
	TopDestinations      []Top        // of NEW events
	TopSources           []Top
}

// StateCount is how many entries have one protocol state.
type StateCount struct {
	Name  string // "tcp ESTABLISHED", "udp", "icmp"
	Count int
	Share float64
}

// Delta is a counter's change over the timeline.
type Delta struct {
	Name     string
	Current  uint64 // in the last sample that has it
	HasDelta bool   // two samples or more carry the counter
	Delta    uint64
	HasRate  bool // the samples are timed
	PerSec   float64
}

// DeltaPtr is the delta, or nil with a single reading.
func (d Delta) DeltaPtr() *uint64 {
	if !d.HasDelta {
		return nil
	}
	v := d.Delta
	return &v
}

// PerSecPtr is the rate, or nil when untimed.
func (d Delta) PerSecPtr() *float64 {
	if !d.HasRate {
		return nil
	}
	v := d.PerSec
	return &v
}

// Finding is one rule that fired, with its evidence and remedies.
type Finding struct {
	Rule        string
	Title       string
	Severity    rules.Severity
	Summary     string // one line with numbers
	Evidence    Evidence
	Explanation string
	Remedies    []Remedy
	References  []string
}

// Evidence is what a finding rests on.
type Evidence struct {
	Figures []Figure
	Series  []Series
	Top     []Top
	Entries []string // example entries in conntrack -L format
	// Rules are the firewall rules the finding rests on.
	Rules []RuleRef
}

// RuleRef is a firewall rule a finding points at, with what it does there.
type RuleRef struct {
	Role string // "translates these connections", "drops INVALID packets", …
	track.RuleRef
}

// Figure is one named number, already formatted.
type Figure struct {
	Name  string
	Value string
}

// Series is one value per sample.
type Series struct {
	Name   string
	Points []Point
}

// Point is a sample's value; Offset is seconds since the first sample
// (negative when the timeline has no times).
type Point struct {
	Sample int
	Offset float64
	Value  float64
}

// Top is one entry of a ranking (who or what holds the entries).
type Top struct {
	Dimension string // "source", "destination", "destination port", ...
	Key       string
	Count     int
	Share     float64 // of the set the finding is about
}
