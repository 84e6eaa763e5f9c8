package report

import (
	"fmt"
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
)

// SchemaVersion names the JSON document's shape. Fields are only ever
// added within a version; a rename or removal makes a new version.
const SchemaVersion = "ctdiag.report/v1"

// Document is a whole report. Its JSON form is the stable interface for
// scripts; the other formats render the same content.
type Document struct {
	Schema    string    `json:"schema"`
	Tool      string    `json:"tool"`
	Generated time.Time `json:"generated"`
	// Status is "findings" when a rule fired, else "incomplete" when some
	// rule could not be judged from what was read (checks[].judged false),
	// else "ok".
	Status string `json:"status"`
	// Incomplete is true when some rule could not be judged, whether or not
	// others fired.
	Incomplete bool `json:"incomplete"`
	// Worst is the highest severity that fired ("none" when none did).
	Worst    rules.Severity `json:"worst"`
	Timing   Timing         `json:"timing"`
	Samples  []Sample       `json:"samples"`
	Summary  Summary        `json:"summary"`
	Findings []Finding      `json:"findings"`
	Checks   []Check        `json:"checks"`
	Input    Input          `json:"input"`
	// Overrides lists the rule settings that differ from the shipped
	// catalog, as RULE.PARAM=VALUE, so a result can be reproduced.
	Overrides []string `json:"overrides"`
}

// Timing says how the samples are spaced and where their times came from.
type Timing struct {
	// Source: "file names", "bundle manifest", "file modification times",
	// "--interval 5s", "live", or "none".
	Source string `json:"source"`
	// Relative: sample times are offsets from the first sample, not
	// wall-clock times (samples[].time is then absent).
	Relative    bool    `json:"relative"`
	SpanSeconds float64 `json:"span_seconds"`
}

// Sample is one reading of the table.
type Sample struct {
	Index int `json:"index"`
	// Time is absent when unknown or relative.
	Time *time.Time `json:"time,omitempty"`
	// OffsetSeconds from the first sample; absent when untimed.
	OffsetSeconds *float64 `json:"offset_seconds,omitempty"`
	Source        string   `json:"source"`
	Format        string   `json:"format,omitempty"`
	Entries       int      `json:"entries"`
	Count         *uint64  `json:"count,omitempty"` // nf_conntrack_count when read
	Max           *uint64  `json:"max,omitempty"`   // nf_conntrack_max when read
}

// Summary is the key figures of the last sample and the timeline.
type Summary struct {
	// TableRead is false when no table was read (statistics, sysctls, logs
	// or events alone): entries and states are then unknown, not zero.
	TableRead   bool     `json:"table_read"`
	Entries     int      `json:"entries"`
	Count       *uint64  `json:"count,omitempty"`
	Max         *uint64  `json:"max,omitempty"`
	Utilisation *float64 `json:"utilisation,omitempty"` // 0..1, when max is known and not 0
	// Headroom is how many new entries fit before packets are dropped:
	// max minus the entries the kernel never evicts to make room (ASSURED
	// and not closing; track.Flow.Evictable)
	// (negative when they alone exceed the limit); absent without max.
	Headroom *int64 `json:"headroom,omitempty"`
	// FullInSeconds forecasts when the table reaches max at the growth of
	// its last samples (0: full now); absent when it is not filling.
	FullInSeconds *float64 `json:"full_in_seconds,omitempty"`
	// Peak is the sample where the table was most pressed against the
	// limit in force then, when that was clearly worse than the last one.
	Peak        *Peak        `json:"peak,omitempty"`
	Assured     int          `json:"assured"`
	Offloaded   int          `json:"offloaded"`
	Unreplied   int          `json:"unreplied"`
	HalfAssured int          `json:"half_assured"`
	IPv6        int          `json:"ipv6"`
	States      []StateCount `json:"states"`
	// Across samples (absent with a single sample).
	GrowthPerSecond  *float64 `json:"growth_per_second,omitempty"`
	NewBetween       *int     `json:"new_between_last_samples,omitempty"`
	GoneBetween      *int     `json:"gone_between_last_samples,omitempty"`
	NewPerSecond     *float64 `json:"new_per_second,omitempty"`
	DestroyPerSecond *float64 `json:"destroy_per_second,omitempty"`
	// Events is the kernel's own count of entries created and destroyed
	// between the last two samples, when events were followed then (a
	// record bundle's event log, a live report); absent otherwise.
	Events *EventChurn `json:"events,omitempty"`
	// EventLog summarises conntrack events read without any table (a
	// conntrack -E log given alone).
	EventLog *EventLog `json:"event_log,omitempty"`
	Counters []Counter `json:"counters"`
	Notes    []string  `json:"notes"`
}

// Peak is one sample's pressure.
type Peak struct {
	Sample        int      `json:"sample"`
	OffsetSeconds *float64 `json:"offset_seconds,omitempty"`
	Entries       uint64   `json:"entries"`
	Max           uint64   `json:"max"`
	// MaxCarried: the limit was read in an earlier sample, not in this one.
	MaxCarried  bool    `json:"max_carried"`
	Utilisation float64 `json:"utilisation"`
}

// EventLog is what an event log alone says.
type EventLog struct {
	New             int          `json:"new"`
	Destroy         int          `json:"destroy"`
	Update          int          `json:"update"`
	Lost            int          `json:"lost"`
	First           *time.Time   `json:"first,omitempty"`
	Last            *time.Time   `json:"last,omitempty"`
	ByState         []StateCount `json:"by_state"`
	TopDestinations []Top        `json:"top_destinations"`
	TopSources      []Top        `json:"top_sources"`
}

// EventChurn counts the NEW and DESTROY events between the last two
// samples. Lost counts the times the kernel dropped events in that time
// (the counts are then lower bounds).
type EventChurn struct {
	Created            int      `json:"created"`
	Destroyed          int      `json:"destroyed"`
	CreatedPerSecond   *float64 `json:"created_per_second,omitempty"`
	DestroyedPerSecond *float64 `json:"destroyed_per_second,omitempty"`
	Lost               int      `json:"lost"`
}

// StateCount is how many entries are in one protocol state.
type StateCount struct {
	Name  string  `json:"name"` // "tcp ESTABLISHED", "udp", ...
	Count int     `json:"count"`
	Share float64 `json:"share"`
}

// Counter is a statistics counter summed over CPUs.
type Counter struct {
	Name  string `json:"name"`
	Total uint64 `json:"total"` // in the last sample that has it
	// Delta over the samples that carry statistics; absent with one reading.
	Delta     *uint64  `json:"delta,omitempty"`
	PerSecond *float64 `json:"per_second,omitempty"`
}

// Finding is one rule that fired.
type Finding struct {
	Rule        string         `json:"rule"` // the rule id: `ctdiag rules explain RULE`
	Title       string         `json:"title"`
	Severity    rules.Severity `json:"severity"` // info, warning, critical
	Summary     string         `json:"summary"`
	Evidence    Evidence       `json:"evidence"`
	Explanation string         `json:"explanation"`
	Remedies    []Remedy       `json:"remedies"`
	References  []string       `json:"references"`
}

// Evidence is what a finding rests on.
type Evidence struct {
	Figures []Figure `json:"figures"`
	Series  []Series `json:"series"`
	Top     []Top    `json:"top"`
	// Entries are example table entries in conntrack -L format.
	Entries []string `json:"entries"`
	// Rules are the firewall rules the finding rests on (omitted when none).
	Rules []Rule `json:"rules,omitempty"`
}

// Rule is a firewall rule a finding points at.
type Rule struct {
	Role     string `json:"role"` // what it does in the finding
	Family   string `json:"family"`
	Table    string `json:"table"`
	Chain    string `json:"chain"`
	Backend  string `json:"backend"`
	Position int    `json:"position"`
	Handle   uint64 `json:"handle,omitempty"`
	Text     string `json:"text"`
	// Packets is the rule's counter when it has one.
	Packets *uint64 `json:"packets,omitempty"`
}

// Name names the rule as reports print it: "ip nat POSTROUTING #1".
func (r Rule) Name() string {
	return fmt.Sprintf("%s %s %s #%d", r.Family, r.Table, r.Chain, r.Position)
}

// Figure is one named value, formatted for people.
type Figure struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Series is one value per sample.
type Series struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Point is a sample's value.
type Point struct {
	Sample        int      `json:"sample"`
	OffsetSeconds *float64 `json:"offset_seconds,omitempty"`
	Value         float64  `json:"value"`
}

// Top is one entry of a ranking.
type Top struct {
	Dimension string  `json:"dimension"` // source, destination, destination port, ...
	Key       string  `json:"key"`
	Count     int     `json:"count"`
	Share     float64 `json:"share"`
}

// Remedy is something to do, with the figures filled in. ctdiag never
// applies it.
type Remedy struct {
	Title string `json:"title"`
	// Commands are shell commands to paste as they are, one per element,
	// already made right for the table's network namespace.
	Commands []string `json:"commands"`
	Note     string   `json:"note,omitempty"`
	// Text is the commands, then the note, as the text report prints them.
	Text string `json:"text"`
}

// Check is one enabled rule's outcome.
type Check struct {
	Rule     string         `json:"rule"`
	Title    string         `json:"title"`
	Fired    bool           `json:"fired"`
	Severity rules.Severity `json:"severity,omitempty"`
	// Judged is false when what the rule needs was not read; Missing then
	// says what would let it be judged.
	Judged  bool   `json:"judged"`
	Missing string `json:"missing,omitempty"`
}

// Input says what was read and what was wrong with it.
type Input struct {
	Sources []string `json:"sources"`
	// Read lists every input read with its detected format and entries.
	Read []ReadInput `json:"read"`
	// Skipped inputs, with why.
	Skipped []string `json:"skipped"`
	// MalformedLines over all inputs; Problems shows the first few as
	// "file:line: what was expected".
	MalformedLines int      `json:"malformed_lines"`
	Problems       []string `json:"problems"`
	// Notes say what the source could not give (a live table read without
	// privileges, a kernel without a statistic).
	Notes []string `json:"notes"`
}

// ReadInput is one input that was read.
type ReadInput struct {
	Name    string `json:"name"`
	Format  string `json:"format"`
	Entries int    `json:"entries"`
}

// Meta is what the caller knows beside the analysis.
type Meta struct {
	Tool      string    // "ctdiag v1.2.3"
	Generated time.Time // when the report is made (the caller's clock)
	Timing    string    // where sample times came from
	Relative  bool      // sample times are offsets, not wall-clock times
	Input     Input
	Overrides []string
}

// Build makes the document of an analysis result.
func Build(res *analyzer.Result, meta Meta) *Document {
	d := &Document{
		Schema:    SchemaVersion,
		Tool:      meta.Tool,
		Generated: meta.Generated,
		Status:    "ok",
		Worst:     res.Worst(),
		Timing:    Timing{Source: meta.Timing, Relative: meta.Relative, SpanSeconds: res.Summary.SpanSeconds},
		Samples:   []Sample{},
		Findings:  []Finding{},
		Checks:    []Check{},
		Input:     meta.Input,
		Overrides: nonNil(meta.Overrides),
	}
	if d.Timing.Source == "" {
		d.Timing.Source = res.Summary.Timing
	}
	d.Input.Sources = nonNil(d.Input.Sources)
	d.Input.Skipped = nonNil(d.Input.Skipped)
	d.Input.Problems = nonNil(d.Input.Problems)
	d.Input.Notes = nonNil(d.Input.Notes)
	if d.Input.Read == nil {
		d.Input.Read = []ReadInput{}
	}
	d.Incomplete = res.Incomplete
	switch {
	case len(res.Findings) > 0:
		d.Status = "findings"
	case res.Incomplete:
		d.Status = "incomplete"
	}
	for i, s := range res.Samples {
		out := Sample{Index: i, Source: s.Source, Format: s.Format, Entries: s.Entries}
		if !s.Time.IsZero() && !meta.Relative {
			t := s.Time
			out.Time = &t
		}
		if s.Offset >= 0 {
			out.OffsetSeconds = ptr(s.Offset)
		}
		if s.HasCount {
			out.Count = ptr(s.Count)
		}
		if s.HasMax {
			out.Max = ptr(s.Max)
		}
		d.Samples = append(d.Samples, out)
	}
	d.Summary = buildSummary(&res.Summary)
	for _, f := range res.Findings {
		d.Findings = append(d.Findings, buildFinding(&f))
	}
	for _, c := range res.Checked {
		out := Check{Rule: c.Rule, Title: c.Title, Fired: c.Fired, Judged: c.Judged, Missing: c.Missing}
		if c.Fired {
			out.Severity = c.Severity
		}
		d.Checks = append(d.Checks, out)
	}
	return d
}

func buildSummary(s *analyzer.Summary) Summary {
	out := Summary{
		TableRead:   s.TableRead,
		Entries:     s.Entries,
		Assured:     s.Assured,
		Unreplied:   s.Unreplied,
		HalfAssured: s.HalfAssured,
		IPv6:        s.IPv6,
		States:      []StateCount{},
		Counters:    []Counter{},
		Notes:       nonNil(s.Notes),
	}
	if s.HasCount {
		out.Count = ptr(s.Count)
	}
	p := s.Pressure
	if p.HasMax {
		out.Max = ptr(p.Max)
	}
	if p.HasHeadroom {
		out.Utilisation = ptr(p.Utilisation)
		out.Headroom = ptr(p.Headroom)
	}
	if p.HasFullIn {
		out.FullInSeconds = ptr(p.FullInSeconds)
	}
	if pk := s.Peak; pk != nil {
		out.Peak = &Peak{Sample: pk.Sample, Entries: pk.Pressure.Count, Max: pk.Pressure.Max, MaxCarried: pk.MaxCarried, Utilisation: pk.Pressure.Utilisation}
		if pk.Offset >= 0 {
			out.Peak.OffsetSeconds = ptr(pk.Offset)
		}
	}
	out.Offloaded = s.Offloaded
	if ev := s.Events; ev != nil {
		log := &EventLog{New: ev.New, Destroy: ev.Destroy, Update: ev.Update, Lost: ev.Lost,
			ByState: []StateCount{}, TopDestinations: []Top{}, TopSources: []Top{}}
		if !ev.FirstTime.IsZero() {
			log.First, log.Last = ptr(ev.FirstTime), ptr(ev.LastTime)
		}
		for _, st := range ev.ByState {
			log.ByState = append(log.ByState, StateCount{Name: st.Name, Count: st.Count, Share: st.Share})
		}
		for _, t := range ev.TopDestinations {
			log.TopDestinations = append(log.TopDestinations, Top{Dimension: t.Dimension, Key: t.Key, Count: t.Count, Share: t.Share})
		}
		for _, t := range ev.TopSources {
			log.TopSources = append(log.TopSources, Top{Dimension: t.Dimension, Key: t.Key, Count: t.Count, Share: t.Share})
		}
		out.EventLog = log
	}
	for _, st := range s.States {
		out.States = append(out.States, StateCount{Name: st.Name, Count: st.Count, Share: st.Share})
	}
	if s.Samples > 1 {
		out.NewBetween, out.GoneBetween = ptr(s.NewBetween), ptr(s.GoneBetween)
		if s.SpanSeconds > 0 && p.HasGrowth {
			out.GrowthPerSecond = ptr(p.GrowthPerSec)
		}
		if s.SpanSeconds > 0 {
			out.NewPerSecond, out.DestroyPerSecond = ptr(s.NewPerSec), ptr(s.GonePerSec)
		}
		if s.EventsFollowed {
			ev := &EventChurn{Created: s.EventsCreated, Destroyed: s.EventsDestroyed, Lost: s.EventsLost}
			if s.SpanSeconds > 0 {
				ev.CreatedPerSecond, ev.DestroyedPerSecond = ptr(s.CreatedPerSec), ptr(s.DestroyedPerSec)
			}
			out.Events = ev
		}
	}
	for _, c := range s.StatsDeltas {
		out.Counters = append(out.Counters, Counter{Name: c.Name, Total: c.Current, Delta: c.DeltaPtr(), PerSecond: c.PerSecPtr()})
	}
	return out
}

func buildFinding(f *analyzer.Finding) Finding {
	out := Finding{
		Rule:        f.Rule,
		Title:       f.Title,
		Severity:    f.Severity,
		Summary:     f.Summary,
		Explanation: f.Explanation,
		References:  nonNil(f.References),
		Remedies:    []Remedy{},
		Evidence: Evidence{
			Figures: []Figure{},
			Series:  []Series{},
			Top:     []Top{},
			Entries: nonNil(f.Evidence.Entries),
		},
	}
	for _, fig := range f.Evidence.Figures {
		out.Evidence.Figures = append(out.Evidence.Figures, Figure{Name: fig.Name, Value: fig.Value})
	}
	for _, s := range f.Evidence.Series {
		ser := Series{Name: s.Name, Points: []Point{}}
		for _, p := range s.Points {
			pt := Point{Sample: p.Sample, Value: p.Value}
			if p.Offset >= 0 {
				pt.OffsetSeconds = ptr(p.Offset)
			}
			ser.Points = append(ser.Points, pt)
		}
		out.Evidence.Series = append(out.Evidence.Series, ser)
	}
	for _, t := range f.Evidence.Top {
		out.Evidence.Top = append(out.Evidence.Top, Top{Dimension: t.Dimension, Key: t.Key, Count: t.Count, Share: t.Share})
	}
	for _, r := range f.Remedies {
		out.Remedies = append(out.Remedies, Remedy{Title: r.Title, Commands: nonNil(r.Commands), Note: r.Note, Text: r.Text()})
	}
	for _, r := range f.Evidence.Rules {
		x := Rule{Role: r.Role, Family: r.Family.String(), Table: r.Table, Chain: r.Chain, Backend: r.Backend.String(),
			Position: r.Rule.Position, Handle: r.Rule.Handle, Text: r.Rule.Text}
		if r.Rule.HasCounter {
			x.Packets = ptr(r.Rule.Counter.Packets)
		}
		out.Evidence.Rules = append(out.Evidence.Rules, x)
	}
	return out
}

// Fails reports whether the document has a finding at or above severity
// failOn (SeverityNone: never).
func (d *Document) Fails(failOn rules.Severity) bool {
	if failOn == rules.SeverityNone {
		return false
	}
	for _, f := range d.Findings {
		if f.Severity >= failOn {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
