package track

// The seam between what reads samples (parser, collector, replays) and what
// takes them (analyzer, TUI, recorder): defined here, beside the types they
// carry, so a consumer need not import a reader.

// SampleSink receives successive samples from a reader of them
// (parser.WalkSamples, the live collector, a replay). For each sample:
// BeginSample, then its entries one by one through Flow (f is reused: copy
// what you keep), then any number of Extra with what was read beside the
// table, then EndSample.
type SampleSink interface {
	// BeginSample starts a sample. meta carries Source and Time: the table
	// file's modification time (zero for standard input).
	BeginSample(meta Snapshot) error
	Flow(f *Flow) error
	// Extra adds statistics, counts, sysctls, kernel-log lines and events
	// to the current sample (s has no flows).
	Extra(s *Snapshot) error
	EndSample() error
}

// SampleCounter is implemented by sinks that want to know, before the
// first sample, how many will come: an analysis ranks only the last one and
// need not prepare the others for it.
type SampleCounter interface {
	ExpectSamples(n int)
}

// EventSink is implemented by sinks that take a sample's events one at a
// time as they are read. Without it, events reach the sink in Extra's
// snapshot, which keeps only the latest (MaxEvents); with it, an
// event log of any length costs what the sink keeps of it. The snapshot
// Extra then gives still counts them (EventTotals).
type EventSink interface {
	Event(e *Event) error
}

// SysctlHinter is implemented by sinks that want, before the first sample,
// every sysctl the inputs hold: a capture often reads sysctls once, and
// they still tell how to read the entries of samples that carry none.
type SysctlHinter interface {
	SysctlHint(s Sysctls)
}
