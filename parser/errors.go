package parser

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrMalformed marks a line that does not have the shape its format
	// requires.
	ErrMalformed = errors.New("malformed line")
	// ErrTruncated marks a last line cut short (a dump interrupted mid-write).
	ErrTruncated = errors.New("truncated last line")
	// ErrUnknownFormat is returned for input no parser recognises.
	ErrUnknownFormat = errors.New("unknown format")
	// ErrNotFlows is returned when flows were asked of a file that holds
	// something else (statistics, sysctls, a kernel log).
	ErrNotFlows = errors.New("not a flow table")
)

// SyntaxError says what a line parser expected and what it found instead.
type SyntaxError struct {
	Expected string // e.g. "an address after src="
	Got      string // the offending token, shortened
}

func (e *SyntaxError) Error() string {
	if e.Got == "" {
		return "expected " + e.Expected
	}
	return "expected " + e.Expected + ", got " + strconv.Quote(e.Got)
}

// Unwrap makes every SyntaxError an ErrMalformed.
func (e *SyntaxError) Unwrap() error { return ErrMalformed }

// maxQuoted bounds how much of a bad token or line an error repeats.
const maxQuoted = 60

func clip(b []byte) string {
	if len(b) > maxQuoted {
		return string(b[:maxQuoted]) + "…"
	}
	return string(b)
}

func syntaxErr(expected string, got []byte) error {
	return &SyntaxError{Expected: expected, Got: clip(got)}
}

// LineError places an error at a file and line.
type LineError struct {
	File string
	Line int    // 1-based
	Text string // the line, shortened
	Err  error  // a *SyntaxError, or ErrTruncated wrapping one
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// truncatedError wraps the parse failure of a cut-off last line.
type truncatedError struct{ cause error }

func (e *truncatedError) Error() string {
	return "truncated last line (no newline; the dump was cut mid-write): " + e.cause.Error()
}

func (e *truncatedError) Unwrap() []error { return []error{ErrTruncated, e.cause} }

// Problems collects the malformed lines of one input: all are counted, the
// first few are kept for the report.
type Problems struct {
	Count   int
	Samples []LineError // the first MaxSamples, in line order
}

// MaxSamples is how many malformed lines a Problems keeps verbatim.
const MaxSamples = 5

func (p *Problems) add(e LineError) {
	p.Count++
	switch {
	case len(p.Samples) < MaxSamples:
		p.Samples = append(p.Samples, e)
	case errors.Is(e.Err, ErrTruncated):
		// A cut-off dump is worth saying even after many bad lines.
		p.Samples[MaxSamples-1] = e
	}
}

// mergeKeepTruncated appends q's problems after p's, keeping a truncated
// last line visible.
func (p *Problems) mergeKeepTruncated(q *Problems) {
	n := p.Count + q.Count
	for _, s := range q.Samples {
		p.add(s)
	}
	p.Count = n
}

// Truncated reports whether the input's last line was cut short.
func (p *Problems) Truncated() bool {
	for _, s := range p.Samples {
		if errors.Is(s.Err, ErrTruncated) {
			return true
		}
	}
	return false
}
