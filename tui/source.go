package tui

import (
	"context"
	"time"

	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
)

// Source is where the TUI's samples come from: the live kernel (the
// collector) or a recording replayed sample by sample. It is the seam a live
// collector plugs into: implement Describe, Read and Close.
type Source interface {
	// Describe says what the header shows about the source. It is called
	// after every Read, so it may change (events lost, a namespace gone).
	Describe() Description
	// Read reads one sample and streams it into sink, in track.SampleSink
	// order: BeginSample (meta with Time and Source), every entry through
	// Flow (the *track.Flow may be reused: the sink copies), what was read
	// beside the table through Extra (statistics, nf_conntrack_count and
	// _max, sysctls, kernel-log lines, and the events seen since the last
	// Read), then EndSample.
	//
	// Read runs off the UI goroutine, never concurrently with itself or with
	// a Recording's Seek. It should return promptly when ctx is done. An
	// error (lost privileges, the namespace gone) is shown in the status
	// line; the TUI keeps the last good sample and reads again at the next
	// refresh.
	Read(ctx context.Context, sink track.SampleSink) (ReadReport, error)
	// Close releases the source (sockets, files).
	Close() error
}

// Description is what the header shows about a source.
type Description = common.SourceInfo

// ReadReport says what a Read met besides the sample.
type ReadReport struct {
	Malformed int      // malformed lines (text sources)
	Problems  []string // the first few, as file:line: what was expected
	Skipped   []string // inputs skipped, with why
	// Warning is shown in the status line: a degraded mode ("netlink
	// refused: reading /proc instead"), a partial read.
	Warning string
}

// Recording is a Source that replays a fixed sequence of samples, so the
// TUI can pause, step back and forth and change speed.
type Recording interface {
	Source
	// Len is the number of samples.
	Len() int
	// Seek makes the next Read read sample i.
	Seek(i int)
	// Position is the sample the next Read reads.
	Position() int
	// Gap is the time between sample i-1 and sample i, when the recording
	// knows it (it paces playback at speed 1×).
	Gap(i int) (time.Duration, bool)
}
