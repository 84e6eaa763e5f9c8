package parser

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ctdiag/ctdiag/track"
)

// jsonArrayFlows streams the elements of a JSON array of flows. A bad
// element is reported and skipped; a syntax error ends the input (JSON
// cannot be resynchronised) and is reported at its line.
func (d *Decoder) jsonArrayFlows(fn func(*track.Flow) error) error {
	lc := &lineCounter{r: d.br}
	dec := json.NewDecoder(lc)
	syntax := func(err error) error {
		line := lc.lineAt(dec.InputOffset())
		var serr *json.SyntaxError
		if errors.As(err, &serr) {
			line = lc.lineAt(serr.Offset)
		}
		perr := &SyntaxError{Expected: "a JSON array of flow objects", Got: err.Error()}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			d.bad(line, nil, &truncatedError{cause: perr})
		} else {
			d.bad(line, nil, perr)
		}
		return nil
	}
	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return syntax(fmt.Errorf("input does not start with ["))
	}
	var (
		j jsonFlow
		f track.Flow
	)
	for dec.More() {
		j = jsonFlow{}
		err := dec.Decode(&j)
		// Elements are reported at the line where they end: for the
		// one-object-per-line layout ctdiag writes, their own line.
		end := lc.lineAt(dec.InputOffset())
		if err != nil {
			var terr *json.UnmarshalTypeError
			if errors.As(err, &terr) {
				d.bad(end, nil, &SyntaxError{Expected: "a valid flow", Got: err.Error()})
				continue
			}
			return syntax(err)
		}
		if err := flowFromJSON(&j, &f); err != nil {
			d.bad(end, nil, &SyntaxError{Expected: "a valid flow", Got: err.Error()})
			continue
		}
		d.counts.Flows++
		if err := fn(&f); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntax(err)
	}
	d.counts.Lines = lc.lineAt(dec.InputOffset())
	return nil
}

// lineCounter remembers where the newlines were so that a byte offset the
// JSON decoder reports can be turned into a line number. Offsets asked for
// only grow, so newlines before the last query are folded into a count.
type lineCounter struct {
	r        io.Reader
	read     int64   // bytes read so far
	base     int     // newlines before offsets[0]
	newlines []int64 // offsets of newlines not yet folded into base
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.newlines = append(l.newlines, l.read+int64(i))
		}
	}
	l.read += int64(n)
	return n, err
}

// lineAt returns the 1-based line holding byte offset off.
func (l *lineCounter) lineAt(off int64) int {
	i := 0
	for i < len(l.newlines) && l.newlines[i] < off {
		i++
	}
	l.base += i
	l.newlines = l.newlines[i:]
	return l.base + 1
}
