package parser

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// Options tune a Decoder. The zero value is ready to use.
type Options struct {
	// Location is the time zone of times printed without one (conntrack
	// -o ktimestamp, dmesg -T, syslog); nil means time.Local, like the C tools.
	Location *time.Location
	// Workers is how many goroutines parse a large flow dump; 0 means
	// GOMAXPROCS, 1 parses on the calling goroutine.
	Workers int
	// Format skips detection when not FormatUnknown.
	Format Format
	// Stdin is what Open reads for "-"; nil means os.Stdin.
	Stdin io.Reader
}

// Counts says how many records of each kind an input held.
type Counts struct {
	Lines        int // lines read, blank ones included
	Flows        int
	Events       int
	StatsLines   int // conntrack -S lines and /proc stat rows
	Sysctls      int
	KernelLog    int // kernel-log lines about conntrack
	KernelOther  int // kernel-log lines about something else (not kept)
	Expectations int // expectation lines (recognised, not analysed)
	EventLosses  int // event-loss markers of a record bundle
	SlabLines    int // /proc/slabinfo cache lines
	Comments     int // blank, '#' and conntrack summary lines
	Rules        int // firewall rules of a ruleset file
}

// Decoder reads one input: a file, stdin or any reader. It detects gzip and
// the format from the first bytes, then streams records; it never needs the
// whole input in memory.
type Decoder struct {
	name   string
	br     *bufio.Reader
	src    io.Reader // what br reads from (the file, or the gzip stream)
	closer io.Closer
	opts   Options
	format Format
	lp     lineParser

	problems Problems
	counts   Counts
	used     bool
	small    bool   // the whole input fit in the detection window
	long     []byte // eachLine's buffer for lines longer than readBufSize
}

const (
	// readBufSize is the bufio buffer: it holds what detection looks at.
	// Longer lines are assembled in a separate buffer (eachLine); big inputs
	// bypass it (parallelFlows), so small inputs stay cheap.
	readBufSize = 64 << 10
	sniffBytes  = readBufSize
	sniffLines  = 200
	// maxLineLen bounds one line; longer ones are reported and skipped so a
	// binary file cannot make the decoder buffer it whole.
	maxLineLen = 1 << 20
)

var gzipMagic = []byte{0x1f, 0x8b}

// NewDecoder wraps r. name is used in messages and, where content is
// ambiguous, as a hint ("nf_conntrack_max" names a sysctl file).
func NewDecoder(r io.Reader, name string, opts Options) (*Decoder, error) {
	d := &Decoder{name: name, opts: opts, lp: lineParser{loc: opts.Location}}
	if c, ok := r.(io.Closer); ok {
		d.closer = c
	}
	br := bufio.NewReaderSize(r, readBufSize)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		d.src = zr
		br = bufio.NewReaderSize(zr, readBufSize)
	} else {
		d.src = r
	}
	d.br = br
	if opts.Format != FormatUnknown {
		d.format = opts.Format
		return d, nil
	}
	peek, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d.small = errors.Is(err, io.EOF)
	d.format = sniff(peek, d.small, name, d.lp.loc)
	return d, nil
}

// Open opens a file ("-" is standard input) and detects its format.
func Open(path string, opts Options) (*Decoder, error) {
	if path == "-" {
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		return NewDecoder(io.NopCloser(in), "<stdin>", opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	d, err := NewDecoder(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// OpenInput opens an input: through its Open function when it has one,
// else as Open does with its Path.
func OpenInput(in Input, opts Options) (*Decoder, error) {
	if in.Open == nil {
		return Open(in.Path, opts)
	}
	rc, err := in.Open()
	if err != nil {
		return nil, err
	}
	d, err := NewDecoder(rc, in.Path, opts)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return d, nil
}

// sniff classifies the first lines of peek.
func sniff(peek []byte, eof bool, name string, loc *time.Location) Format {
	if f, ok := sniffXML(peek); ok {
		return f
	}
	if ruleset.Detect(peek) != ruleset.FormatNone {
		return FormatRuleset
	}
	s := sniffResult{kinds: map[lineKind]int{}}
	trimmed := bytes.TrimLeft(peek, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] == '{' || rest[0] == ']' {
			s.jsonArr = true
			return s.decide(name, true)
		}
	}
	lines := 0
	for len(peek) > 0 && lines < sniffLines {
		nl := bytes.IndexByte(peek, '\n')
		var line []byte
		if nl < 0 {
			if !eof {
				break // a partial line: judge only whole ones
			}
			line, peek = peek, nil
		} else {
			line, peek = peek[:nl], peek[nl+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		k := classifyLine(line, loc)
		s.kinds[k]++
		if k == kindExpect && isEventLine(line) {
			s.expectEvents = true
		}
		if k == kindFlow {
			s.addFlowLine(line)
		}
		lines++
	}
	return s.decide(name, lines > 0)
}

// Name is the input's name as given.
func (d *Decoder) Name() string { return d.name }

// Format is the detected (or forced) format.
func (d *Decoder) Format() Format { return d.format }

// Problems lists the malformed lines found so far.
func (d *Decoder) Problems() *Problems { return &d.problems }

// Counts says what the input held, once read.
func (d *Decoder) Counts() Counts { return d.counts }

// Close closes the underlying file.
func (d *Decoder) Close() error {
	if d.closer != nil {
		return d.closer.Close()
	}
	return nil
}

func (d *Decoder) bad(line int, text []byte, err error) {
	d.problems.add(LineError{File: d.name, Line: line, Text: clip(text), Err: err})
}

// Flows streams the entries of a flow table in input order. f is reused:
// fn must copy what it keeps (a track.Flow value copy is enough). Lines that
// are not entries are counted in Problems. A mixed file yields its entries
// and counts its other records. Reading a file that holds no entries (stats,
// sysctls, a log) returns ErrNotFlows.
func (d *Decoder) Flows(fn func(f *track.Flow) error) error {
	if d.used {
		return fmt.Errorf("%s: decoder already read", d.name)
	}
	d.used = true
	switch d.format {
	case FormatEmpty:
		return d.eachLine(func(int, []byte, bool) error { return nil })
	case FormatProc, FormatConntrack, FormatExtended:
		workers := d.opts.Workers
		if workers == 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		if workers > 1 && !d.small {
			return d.parallelFlows(workers, fn)
		}
		return d.sequentialFlows(fn)
	case FormatJSON:
		return d.jsonArrayFlows(fn)
	case FormatXML:
		return d.xmlFlows(fn)
	case FormatJSONL:
		return d.records(&recordSink{flow: fn})
	case FormatMixed:
		return d.records(&recordSink{flow: fn, other: true})
	}
	return fmt.Errorf("%s holds %s: %w", d.name, d.format.Description(), ErrNotFlows)
}

func (d *Decoder) sequentialFlows(fn func(*track.Flow) error) error {
	return d.records(&recordSink{flow: fn})
}

// ReadInto reads every record into s: entries, events, statistics, counts,
// sysctls and kernel-log lines. s.Source is filled in if empty.
func (d *Decoder) ReadInto(s *track.Snapshot) error {
	if d.used {
		return fmt.Errorf("%s: decoder already read", d.name)
	}
	d.used = true
	if s.Source.Kind == track.SourceUnknown {
		s.Source = track.Source{Kind: track.SourceFile, Name: d.name, Format: d.format.String()}
	}
	if d.format == FormatUnknown {
		return fmt.Errorf("%s: %w", d.name, ErrUnknownFormat)
	}
	if d.format == FormatXML || d.format == FormatXMLEvents {
		return d.xmlRecords(func(f *track.Flow) error { s.Flows = append(s.Flows, *f); return nil },
			func(e *track.Event) error { s.Events = append(s.Events, *e); s.EventTotals.Count(e.Type); return nil })
	}
	if d.format == FormatRuleset {
		return d.readRuleset(s)
	}
	if d.format == FormatJSON {
		return d.jsonArrayFlows(func(f *track.Flow) error {
			s.Flows = append(s.Flows, *f)
			return nil
		})
	}
	sink := &recordSink{
		flow: func(f *track.Flow) error { s.Flows = append(s.Flows, *f); return nil },
		event: func(e *track.Event) {
			s.Events = append(s.Events, *e)
			s.EventTotals.Count(e.Type)
		},
		snap:  s,
		other: true,
	}
	return d.records(sink)
}

// recordSink receives what records() finds. A nil func means the record
// kind is not wanted; with other set, such records are still counted and
// parsed (so malformed ones are reported) instead of being called malformed.
type recordSink struct {
	flow  func(*track.Flow) error
	event func(*track.Event)
	snap  *track.Snapshot // receives stats, counts, sysctls, kernel log
	other bool
}

// eachLine calls fn for every line with its 1-based number. last is true for
// a final line that had no newline.
func (d *Decoder) eachLine(fn func(n int, line []byte, last bool) error) error {
	n := 0
	for {
		line, err := d.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: assemble it, up to maxLineLen.
			d.long = append(d.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = d.br.ReadSlice('\n')
				if len(d.long) <= maxLineLen {
					d.long = append(d.long, line...)
				}
			}
			if len(d.long) > maxLineLen {
				n++
				d.bad(n, d.long, syntaxErr("a line shorter than 1 MiB", nil))
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("%s: %w", d.name, err)
				}
				if err != nil {
					break
				}
				continue
			}
			line = d.long
		}
		if len(line) > 0 {
			n++
			last := line[len(line)-1] != '\n'
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if ferr := fn(n, line, last); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s: %w", d.name, err)
		}
	}
	d.counts.Lines = n
	return nil
}

// records is the sequential decoder for every format: each line is
// classified and parsed on its own, with the state a stats header needs.
func (d *Decoder) records(sink *recordSink) error {
	var (
		statCols []procStatColumn
		statCPU  int
		flow     track.Flow
		ev       track.Event
		loc      = d.lp.loc
	)
	if loc == nil {
		loc = time.Local
	}
	return d.eachLine(func(n int, line []byte, last bool) error {
		kind := classifyLine(line, loc)
		if kind == kindStatRow && statCols == nil {
			kind = kindOther
		}
		// A flow-only format reads every line as an entry so that a broken
		// one is reported as a broken entry.
		if d.format.IsFlowTable() && kind != kindNone {
			if d.format == FormatJSONL {
				kind = kindJSON
			} else {
				kind = kindFlow
			}
		}
		fail := func(err error) {
			if last {
				err = &truncatedError{cause: err}
			}
			d.bad(n, line, err)
		}
		switch kind {
		case kindNone:
			d.counts.Comments++
		case kindFlow, kindJSON:
			var err error
			if kind == kindJSON {
				err = parseFlowJSON(line, &flow)
			} else {
				err = d.lp.parseFlow(line, &flow)
				if err == nil && last && !flow.Fields.Has(track.FieldUse) && d.format != FormatMixed {
					err = syntaxErr("use=N at the end of an entry", nil)
				}
			}
			if err != nil {
				fail(err)
				return nil
			}
			d.counts.Flows++
			if sink.flow != nil {
				return sink.flow(&flow)
			}
		case kindEvent:
			if err := d.lp.parseEvent(line, &ev); err != nil {
				fail(err)
				return nil
			}
			d.counts.Events++
			if sink.event != nil {
				sink.event(&ev)
			} else if !sink.other {
				fail(syntaxErr("a table entry, not an event", line))
			}
		case kindStatHead:
			cols, err := parseProcStatHeader(line)
			if err != nil {
				fail(err)
				return nil
			}
			statCols, statCPU = cols, 0
		case kindStatRow:
			st, entries, err := parseProcStatRow(line, statCols, statCPU)
			if err != nil {
				fail(err)
				return nil
			}
			statCPU++
			d.counts.StatsLines++
			if s := sink.snap; s != nil {
				s.Stats.Merge(st)
				s.Count, s.HasCount = entries, true
			}
		case kindStats:
			st, entries, hasEntries, err := parseConntrackStats(line)
			if err != nil {
				fail(err)
				return nil
			}
			d.counts.StatsLines++
			if s := sink.snap; s != nil {
				s.Stats.Merge(st)
				if hasEntries {
					s.Count, s.HasCount = entries, true
				}
			}
		case kindCount:
			v, _ := parseUint(bytes.TrimSpace(line), 1<<63)
			if d.format == FormatSysctlFile {
				name, _ := sysctlNameFromPath(d.name)
				d.counts.Sysctls++
				if s := sink.snap; s != nil {
					setSysctl(s, name, string(bytes.TrimSpace(line)))
				}
				return nil
			}
			if s := sink.snap; s != nil {
				s.Count, s.HasCount = v, true
			}
		case kindSysctl:
			name, value, err := parseSysctlLine(line)
			if err != nil {
				fail(err)
				return nil
			}
			d.counts.Sysctls++
			if s := sink.snap; s != nil {
				setSysctl(s, name, value)
			}
		case kindKernelLog:
			kl, relevant, _ := parseKernelLog(line, loc)
			if !relevant {
				d.counts.KernelOther++
				return nil
			}
			d.counts.KernelLog++
			if s := sink.snap; s != nil {
				s.KernelLog = append(s.KernelLog, kl)
			}
		case kindExpect:
			d.counts.Expectations++
		case kindEventLoss:
			l, err := parseEventLoss(line)
			if err != nil {
				fail(err)
				return nil
			}
			d.counts.EventLosses++
			if s := sink.snap; s != nil {
				s.EventLosses = append(s.EventLosses, l)
			}
		case kindSlab:
			sl, err := parseSlabLine(line)
			if err != nil {
				fail(err)
				return nil
			}
			d.counts.SlabLines++
			if s := sink.snap; s != nil && sl.Name == conntrackSlab {
				s.Slab, s.HasSlab = sl, true
			}
		default:
			if d.format == FormatKernelLog {
				d.counts.KernelOther++ // unstamped, unrelated kernel text
				return nil
			}
			fail(syntaxErr(d.expectation(), line))
		}
		return nil
	})
}

// expectation says what a line of this input should have been.
func (d *Decoder) expectation() string {
	switch d.format {
	case FormatProcStat:
		return "the header or a row of hex numbers"
	case FormatStats:
		return "cpu=N name=value ..."
	case FormatSysctl:
		return "name = value"
	case FormatEvents:
		return "an event line"
	case FormatSlabinfo:
		return "name active_objs num_objs objsize objperslab pagesperslab : tunables ... : slabdata ..."
	}
	return "a conntrack entry, event, statistics, sysctl or kernel-log line"
}

func setSysctl(s *track.Snapshot, name, value string) {
	if s.Sysctls == nil {
		s.Sysctls = track.Sysctls{}
	}
	s.Sysctls[name] = value
	switch name {
	case "net.netfilter.nf_conntrack_max", "net.nf_conntrack_max":
		if v, ok := parseUint([]byte(value), 1<<63); ok {
			s.Max, s.HasMax = v, true
		}
	case "net.netfilter.nf_conntrack_count":
		if v, ok := parseUint([]byte(value), 1<<63); ok && !s.HasCount {
			s.Count, s.HasCount = v, true
		}
	}
}

// readRuleset hands a ruleset file to package ruleset and keeps its
// malformed lines with the others.
func (d *Decoder) readRuleset(s *track.Snapshot) error {
	res, err := ruleset.Parse(d.br, d.name, ruleset.FormatNone)
	if err != nil {
		return err
	}
	for _, p := range res.Problems.First {
		d.bad(p.Line, []byte(p.Text), &SyntaxError{Expected: p.Err.Expected, Got: p.Err.Got})
	}
	d.problems.Count += res.Problems.Count - len(res.Problems.First)
	d.counts.Lines, d.counts.Comments = res.Lines, res.Ruleset.Comments
	d.counts.Rules = res.Ruleset.RuleCount()
	s.Ruleset = res.Ruleset
	return nil
}
