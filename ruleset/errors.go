package ruleset

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrMalformed marks a line that does not have the shape its format
	// requires.
	ErrMalformed = errors.New("malformed ruleset line")
	// ErrUnknownFormat is returned for input that is no ruleset format.
	ErrUnknownFormat = errors.New("not a ruleset format")
	// ErrWrite is returned by Check for a request that is not a read.
	ErrWrite = errors.New("not a read-only nftables request")
	// ErrPermission: reading the ruleset needs CAP_NET_ADMIN.
	ErrPermission = errors.New("reading the ruleset needs root (CAP_NET_ADMIN)")
)

// SyntaxError says what a parser expected and what it found instead.
type SyntaxError struct {
	Expected string
	Got      string
}

func (e *SyntaxError) Error() string {
	if e.Got == "" {
		return "expected " + e.Expected
	}
	return "expected " + e.Expected + ", got " + strconv.Quote(e.Got)
}

// Unwrap makes every SyntaxError an ErrMalformed.
func (e *SyntaxError) Unwrap() error { return ErrMalformed }

const maxQuoted = 60

func clip(s string) string {
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "…"
	}
	return s
}

func syntaxErr(expected, got string) *SyntaxError {
	return &SyntaxError{Expected: expected, Got: clip(got)}
}

// Problem is one malformed line.
type Problem struct {
	Line int    // 1-based
	Text string // the line, shortened
	Err  *SyntaxError
}

func (p Problem) Error() string { return fmt.Sprintf("line %d: %v", p.Line, p.Err) }

// MaxProblems is how many problems are kept with their text; all are
// counted.
const MaxProblems = 5

// Problems counts the malformed lines of one input and keeps the first.
type Problems struct {
	Count int
	First []Problem
}

func (p *Problems) add(line int, text string, err *SyntaxError) {
	p.Count++
	if len(p.First) < MaxProblems {
		p.First = append(p.First, Problem{Line: line, Text: clip(text), Err: err})
	}
}
