package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ctdiag/ctdiag/track"
)

// The parallel path for big flow dumps. One goroutine cuts the input into
// chunks of whole lines, workers parse chunks into batches of flows, and the
// caller's goroutine hands the batches to fn in input order. At most
// 2×workers chunks are in flight, so memory stays bounded whatever the file
// size.

const chunkSize = 1 << 20

type chunk struct {
	data      []byte
	firstLine int  // number of the chunk's first line
	final     bool // the last chunk of the input
	done      chan struct{}

	flows    []track.Flow
	problems Problems
	lines    int
	comments int
	err      error // a read error, reported after the chunk's flows
}

func (d *Decoder) parallelFlows(workers int, fn func(*track.Flow) error) error {
	stop := make(chan struct{})
	defer close(stop)
	jobs := make(chan *chunk, workers)
	order := make(chan *chunk, 2*workers)
	// A fixed set of chunks circulates: once all are in flight the reader
	// waits for the caller to hand one back, so memory is bounded and the
	// buffers and flow batches are reused instead of collected.
	maxChunks := 2*workers + 2
	free := make(chan *chunk, maxChunks)

	d.counts.Lines = d.lineBase
	go d.cutChunks(d.direct(), jobs, order, free, stop, maxChunks)
	for i := 0; i < workers; i++ {
		go func() {
			p := lineParser{loc: d.lp.loc}
			for c := range jobs {
				parseChunk(&p, c, d.name)
				close(c.done)
			}
		}()
	}

	for c := range order {
		<-c.done
		d.counts.Lines += c.lines
		d.counts.Comments += c.comments
		d.counts.Flows += len(c.flows)
		d.problems.mergeKeepTruncated(&c.problems)
		for i := range c.flows {
			if err := fn(&c.flows[i]); err != nil {
				return err
			}
		}
		if c.err != nil {
			return c.err
		}
		free <- c // never blocks: free holds every chunk there is
	}
	return nil
}

// cutChunks reads the input into chunks that end on a line boundary. A
// chunk always starts at the start of a line, so a full chunk without a
// newline is one over-long line: it is reported and skipped.
// direct returns a reader of the rest of the input that hands chunks the
// bytes without a second copy through the bufio buffer: what detection
// already buffered, then the source itself.
func (d *Decoder) direct() io.Reader {
	buffered, _ := d.br.Peek(d.br.Buffered())
	head := append([]byte(nil), buffered...)
	d.br.Discard(len(head))
	return io.MultiReader(bytes.NewReader(head), d.src)
}

func (d *Decoder) cutChunks(in io.Reader, jobs, order, free chan *chunk, stop chan struct{}, maxChunks int) {
	defer close(jobs)
	defer close(order)
	var carry []byte
	line := d.lineBase + 1
	send := func(c *chunk) bool {
		c.firstLine = line
		line += c.lines + bytes.Count(c.data, []byte{'\n'})
		select {
		case order <- c:
		case <-stop:
			return false
		}
		select {
		case jobs <- c:
		case <-stop:
			return false
		}
		return true
	}
	made := 0
	for {
		var c *chunk
		if made < maxChunks {
			// Real lines average 180 bytes: size the batch for that.
			c = &chunk{data: make([]byte, 0, chunkSize), flows: make([]track.Flow, 0, chunkSize/170)}
			made++
		} else {
			select {
			case c = <-free:
			case <-stop:
				return
			}
			c.flows = c.flows[:0]
			c.problems = Problems{}
			c.lines, c.comments, c.err = 0, 0, nil
		}
		c.done = make(chan struct{})
		c.data = append(c.data[:0], carry...)
		carry = carry[:0]

		var rerr error
		for len(c.data) < chunkSize && rerr == nil {
			var n int
			n, rerr = in.Read(c.data[len(c.data):cap(c.data)])
			c.data = c.data[:len(c.data)+n]
		}
		c.final = rerr != nil
		if cut := cutInput(rerr); cut != nil {
			// The input ends early: the partial line before the cut is not
			// used, the cut is reported where it happened.
			nl := bytes.LastIndexByte(c.data, '\n')
			partial := c.data[nl+1:]
			at := line + bytes.Count(c.data, []byte{'\n'})
			c.problems.add(LineError{File: d.name, Line: at, Text: clip(partial), Err: &cutError{cause: cut}})
			c.data = c.data[:nl+1]
		} else if rerr != nil && !errors.Is(rerr, io.EOF) {
			c.err = fmt.Errorf("%s: %w", d.name, rerr)
		}
		if !c.final {
			nl := bytes.LastIndexByte(c.data, '\n')
			if nl < 0 {
				c.problems.add(LineError{File: d.name, Line: line, Text: clip(c.data), Err: syntaxErr("a line shorter than 1 MiB", nil)})
				c.data = c.data[:0]
				c.lines = 1 // the over-long line, skipped below
				// Skip to the newline, keeping what follows it.
				scratch := c.data[:cap(c.data)]
				for {
					n, err := in.Read(scratch)
					if i := bytes.IndexByte(scratch[:n], '\n'); i >= 0 {
						carry = append(carry, scratch[i+1:n]...)
						break
					}
					if err != nil {
						c.final = true
						if !errors.Is(err, io.EOF) {
							c.err = fmt.Errorf("%s: %w", d.name, err)
						}
						break
					}
				}
			} else {
				carry = append(carry, c.data[nl+1:]...)
				c.data = c.data[:nl+1]
			}
		}
		if !send(c) || c.final {
			return
		}
	}
}

// parseChunk parses every line of c.
func parseChunk(p *lineParser, c *chunk, name string) {
	data := c.data
	n := c.firstLine
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		var line []byte
		last := false
		if nl < 0 {
			line, data = data, nil
			last = c.final
		} else {
			line, data = data[:nl], data[nl+1:]
		}
		c.lines++
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) > maxLineLen {
			c.problems.add(LineError{File: name, Line: n, Text: clip(line), Err: syntaxErr("a line shorter than 1 MiB", nil)})
			n++
			continue
		}
		if cap(c.flows) > len(c.flows) {
			c.flows = c.flows[:len(c.flows)+1]
		} else {
			c.flows = append(c.flows, track.Flow{})
		}
		f := &c.flows[len(c.flows)-1]
		if fastFlow(line, f) && !last {
			n++
			continue
		}
		if isCommentLine(line) {
			c.flows = c.flows[:len(c.flows)-1]
			c.comments++
			n++
			continue
		}
		err := p.parseFlow(line, f)
		if err == nil && last && !f.Fields.Has(track.FieldUse) {
			err = syntaxErr("use=N at the end of an entry", nil)
		}
		if err != nil {
			if last {
				err = &truncatedError{cause: err}
			}
			c.problems.add(LineError{File: name, Line: n, Text: clip(line), Err: err})
			c.flows = c.flows[:len(c.flows)-1]
		}
		n++
	}
}

// isCommentLine: blank, '#' comments and conntrack's summary line are not
// entries and not errors.
func isCommentLine(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#' || isSummaryLine(t)
}
