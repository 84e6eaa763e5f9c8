package parser

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// Options tune a Decoder. The zero value is ready to use.
type Options struct {
	// Location is the time zone of times printed without one (conntrack
	// -o ktimestamp, dmesg -T, syslog); nil means time.Local, like the C tools.
	Location *time.Location
	// Now is what yearless syslog stamps ("Nov 21 13:00:29") are dated
	// against: the latest year that puts them at most a day after it. Zero
	// means the time the decoder is made.
	Now time.Time
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
	Continued    int // kernel-log lines wrapped onto the next line, joined back
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
	// lineBase counts the over-long lines skipped before detection: the
	// lines read after them are numbered from there.
	lineBase int
	// hashPrefixed: every record line is behind "# " (kernel selftest
	// output); the prefix is stripped before a line is read.
	hashPrefixed bool
	// unknown says why the input is FormatUnknown.
	unknown string
	// sniffedFlows: detection saw entry lines (in a mixed file, a table).
	sniffedFlows bool

	problems Problems
	counts   Counts
	used     bool
	small    bool // the whole input fit in the detection window
}

const (
	// readBufSize is the bufio buffer: it holds what detection looks at.
	// Longer lines are assembled in a separate buffer (eachLine); big inputs
	// bypass it (parallelFlows), so small inputs stay cheap.
	readBufSize = 64 << 10
	sniffBytes  = readBufSize
	sniffLines  = 200
	// maxLineLen bounds one line; longer ones are reported and skipped so a
	// binary file cannot make the decoder buffer it whole. No conntrack
	// record comes near it (an entry with every label is under 5 KiB).
	maxLineLen = readBufSize
)

// tooLong is what an over-long line is reported as.
var tooLong = "a line shorter than 64 KiB"

var gzipMagic = []byte{0x1f, 0x8b}

// NewDecoder wraps r. name is used in messages and, where content is
// ambiguous, as a hint ("nf_conntrack_max" names a sysctl file).
func NewDecoder(r io.Reader, name string, opts Options) (*Decoder, error) {
	d := &Decoder{name: name, opts: opts, lp: newLineParser(opts)}
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
	// Lines too long for the detection window are no record of any format:
	// report them and let what follows decide.
	skipped := false
	for {
		peek, err := br.Peek(sniffBytes)
		if cutInput(err) != nil {
			// The input ends early: judge what there is. Reading meets the
			// same error again at that point and reports it.
			err = io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err == nil && bytes.IndexByte(peek, '\n') < 0 {
			if err := d.skipLongLine(peek); err != nil {
				return nil, err
			}
			skipped = true
			continue
		}
		d.small = errors.Is(err, io.EOF)
		d.format = d.sniff(peek, d.small)
		if skipped && d.format == FormatEmpty {
			// Nothing but over-long lines (a gzip of zeros, one 100 MB
			// line): not a conntrack format.
			d.format = FormatUnknown
			d.unknown = "nothing but lines longer than 64 KiB"
		}
		return d, nil
	}
}

// skipLongLine reports the over-long line that starts the buffered input
// and discards it, newline included.
func (d *Decoder) skipLongLine(start []byte) error {
	d.lineBase++
	d.bad(d.lineBase, start, syntaxErr(tooLong, nil))
	for {
		_, err := d.br.ReadSlice('\n')
		switch {
		case err == nil, errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case cutInput(err) != nil:
			return nil // reported where reading meets it again
		}
		return fmt.Errorf("%s: %w", d.name, err)
	}
}

// newLineParser is the line parser the options ask for.
func newLineParser(opts Options) lineParser {
	p := lineParser{loc: opts.Location, now: opts.Now}
	if p.loc == nil {
		p.loc = time.Local
	}
	if p.now.IsZero() {
		p.now = time.Now()
	}
	return p
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
func (d *Decoder) sniff(peek []byte, eof bool) Format {
	r := sniff(peek, eof, d.name, &d.lp)
	d.hashPrefixed = r.hashPrefixed
	d.sniffedFlows = r.flows
	if r.format == FormatUnknown {
		d.unknown = r.why
		if r.line > 0 {
			d.unknown = fmt.Sprintf("line %d: %q", d.lineBase+r.line, clip(r.text))
		}
	}
	return r.format
}

// sniffed is what detection decided.
type sniffed struct {
	format       Format
	hashPrefixed bool   // the records were found behind "# " prefixes
	why          string // for FormatUnknown: why
	line         int    // for FormatUnknown: the first unrecognised line, 1-based, and its text
	text         []byte
	flows        bool // entry lines were seen
}

// sniff classifies the first lines of peek.
func sniff(peek []byte, eof bool, name string, p *lineParser) sniffed {
	if looksBinary(peek) {
		return sniffed{format: FormatUnknown, why: "binary data, not text"}
	}
	if f, ok := sniffXML(peek); ok {
		return sniffed{format: f}
	}
	if ruleset.Detect(peek) != ruleset.FormatNone {
		return sniffed{format: FormatRuleset}
	}
	plain := sniffWith(peek, eof, name, p, false)
	if plain.format != FormatEmpty && plain.format != FormatUnknown || !hasHashLines(peek) {
		return plain
	}
	// Nothing but comments and prose: kernel selftests print their records
	// behind "# ".
	if r := sniffWith(peek, eof, name, p, true); r.format != FormatEmpty && r.format != FormatUnknown {
		r.hashPrefixed = true
		return r
	}
	return plain
}

// looksBinary: more than 1 in 64 bytes are neither printable ASCII, common
// whitespace nor valid UTF-8. Text dumps have none (a damaged one a few);
// random or compressed data has about one in eight.
func looksBinary(b []byte) bool {
	bad := 0
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 0x20 && c < 0x7f, c == '\n', c == '\r', c == '\t', c == '\f', c == '\v':
			i++
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				if !utf8.FullRune(b[i:]) {
					i = len(b) // a character cut by the window's end
					continue
				}
				bad++
			}
			i += size
		default:
			bad++
			i++
		}
	}
	return bad*64 > len(b)
}

// hasHashLines: some line starts with "# ".
func hasHashLines(b []byte) bool {
	return bytes.HasPrefix(b, []byte("# ")) || bytes.Contains(b, []byte("\n# "))
}

// stripHashPrefix removes the "# " kernel selftests put before each line
// of their output ("#" alone is a blank line).
func stripHashPrefix(line []byte) []byte {
	if rest, ok := bytes.CutPrefix(line, []byte("# ")); ok {
		return rest
	}
	if len(line) == 1 && line[0] == '#' {
		return nil
	}
	return line
}

// isTAPLine: the lines of the Test Anything Protocol around a selftest's
// "# " output: "TAP version 13", "1..N", "ok N ...", "not ok N ...".
func isTAPLine(line []byte) bool {
	t := bytes.TrimSpace(line)
	if bytes.HasPrefix(t, []byte("TAP version ")) || bytes.HasPrefix(t, []byte("ok ")) || bytes.HasPrefix(t, []byte("not ok ")) {
		return true
	}
	a, b, ok := bytes.Cut(t, []byte(".."))
	return ok && isDigits(a) && isDigits(b)
}

// looksLikeEntry: the first words are an entry's: "ipv4 2", "tcp 6". A line
// that merely starts with a protocol's name is prose (or a lookalike, such
// as NuttX's conntrack imitation without protocol numbers).
func looksLikeEntry(line []byte) bool {
	first, rest := nextField(bytes.TrimLeft(line, " \t"))
	num, _ := nextField(rest)
	if string(first) != "ipv4" && string(first) != "ipv6" && !l4Names[string(first)] {
		return false
	}
	return isDigits(num)
}

func sniffWith(peek []byte, eof bool, name string, p *lineParser, stripHash bool) sniffed {
	s := sniffResult{kinds: map[lineKind]int{}}
	trimmed := bytes.TrimLeft(peek, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] == '{' || rest[0] == ']' {
			s.jsonArr = true
			return sniffed{format: s.decide(name, true)}
		}
	}
	var r sniffed
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
		if stripHash {
			line = stripHashPrefix(line)
		}
		k := p.classifyLine(line)
		if k == kindFlow && !looksLikeEntry(line) {
			k = kindOther
		}
		if k == kindJSON && parseFlowJSON(line, &s.scratch) != nil {
			k = kindOther // a JSON object, but not ctdiag's
		}
		s.kinds[k]++
		if k == kindOther && r.line == 0 {
			r.line, r.text = lines+1, line
		}
		if k == kindExpect && p.isEventLine(line) {
			s.expectEvents = true
		}
		if k == kindFlow {
			s.addFlowLine(line)
		}
		lines++
	}
	r.format = s.decide(name, lines > 0)
	r.flows = s.flows > 0
	return r
}

// ErrNotConntrack is what an input of FormatUnknown gives: it names the
// input and says why it is none of the formats ctdiag reads (binary data, or
// the first line that is no conntrack record of any kind).
func (d *Decoder) ErrNotConntrack() error {
	if d.format != FormatUnknown {
		return nil
	}
	why := d.unknown
	if why == "" {
		why = "no conntrack record"
	}
	return &notConntrackError{name: d.name, why: why}
}

// notConntrackError names an input that is none of the formats, and why.
type notConntrackError struct{ name, why string }

func (e *notConntrackError) Error() string {
	return e.name + ": not a conntrack format (" + e.why + ")"
}

func (e *notConntrackError) Unwrap() error { return ErrUnknownFormat }

// HoldsTable reports whether the input is a table of entries: a flow
// table, or a mixed file whose first lines hold entries (conntrack -L and
// -S output saved together).
func (d *Decoder) HoldsTable() bool {
	return d.format.IsFlowTable() || d.format == FormatMixed && d.sniffedFlows
}

// streamEvents reads an event log: each event goes to fn as it is read
// (and is counted in s.EventTotals, not kept); losses and what else the log
// holds go into s.
func (d *Decoder) streamEvents(s *track.Snapshot, fn func(*track.Event) error) error {
	if d.used {
		return fmt.Errorf("%s: decoder already read", d.name)
	}
	d.used = true
	if s.Source.Kind == track.SourceUnknown {
		s.Source = track.Source{Kind: track.SourceFile, Name: d.name, Format: d.format.String()}
	}
	if d.format == FormatXMLEvents {
		return d.xmlRecords(func(*track.Flow) error { return nil }, func(e *track.Event) error {
			s.EventTotals.Count(e.Type)
			return fn(e)
		})
	}
	var ferr error
	err := d.records(&recordSink{event: func(e *track.Event) {
		s.EventTotals.Count(e.Type)
		if ferr == nil {
			ferr = fn(e)
		}
	}, snap: s, other: true})
	if ferr != nil {
		return ferr
	}
	return err
}

// readExtras reads every record but the entries into s (entries are
// counted, not kept): what a mixed file holds beside its table.
func (d *Decoder) readExtras(s *track.Snapshot) error {
	return d.flowsAndExtras(nil, s)
}

// flowsAndExtras streams a mixed input's entries to fn (when not nil) and
// reads its other records into s.
func (d *Decoder) flowsAndExtras(fn func(*track.Flow) error, s *track.Snapshot) error {
	if d.used {
		return fmt.Errorf("%s: decoder already read", d.name)
	}
	d.used = true
	return d.records(&recordSink{flow: fn, event: s.AddEvent, snap: s, other: true})
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
		return d.ErrNotConntrack()
	}
	if d.format == FormatXML || d.format == FormatXMLEvents {
		return d.xmlRecords(func(f *track.Flow) error { s.Flows = append(s.Flows, *f); return nil },
			func(e *track.Event) error { s.AddEvent(e); return nil })
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
		flow:  func(f *track.Flow) error { s.Flows = append(s.Flows, *f); return nil },
		event: s.AddEvent,
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
// a final line that had no newline. Input that ends early (a gzip stream cut
// short or corrupt) ends the lines there: the cut is reported as a problem,
// not an error, so that what came before is still used.
func (d *Decoder) eachLine(fn func(n int, line []byte, last bool) error) error {
	n := d.lineBase
	defer func() { d.counts.Lines = n }()
	for {
		line, err := d.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: report it and skip to its end.
			n++
			d.bad(n, line, syntaxErr(tooLong, nil))
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = d.br.ReadSlice('\n')
			}
			if err == nil {
				continue
			}
			line = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if cut := cutInput(err); cut != nil {
				d.cut(n+1, line, cut)
				return nil
			}
			return fmt.Errorf("%s: %w", d.name, err)
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
			return nil // io.EOF
		}
	}
}

// cutInput returns err if it says the input ends early or is damaged from
// some point on (a gzip stream cut short, a bad checksum, corrupt deflate
// data), nil otherwise.
func cutInput(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader),
		errors.As(err, &corrupt):
		return err
	}
	return nil
}

// cutError says an input ended early.
type cutError struct{ cause error }

func (e *cutError) Error() string {
	return "the input ends early (" + e.cause.Error() + "): what came before was read, the rest is lost"
}

func (e *cutError) Unwrap() []error { return []error{ErrTruncated, e.cause} }

// cut reports that the input ended early at line n (text is a partial line
// read before the end, not used).
func (d *Decoder) cut(n int, text []byte, cause error) {
	d.problems.add(LineError{File: d.name, Line: n, Text: clip(text), Err: &cutError{cause: cause}})
}

// records is the sequential decoder for every format: each line is
// classified and parsed on its own, with the state a stats header needs.
func (d *Decoder) records(sink *recordSink) error {
	var (
		statCols []procStatColumn
		statCPU  int
		flow     track.Flow
		ev       track.Event
		// wrapOpen: the last line was a kernel-log message cut at a known
		// place ("table full,"), which the next line may finish; wrapped is
		// that line where it was kept.
		wrapOpen bool
		wrapped  *track.KernelLogLine
	)
	return d.eachLine(func(n int, line []byte, last bool) error {
		prose := false // a selftest's own "# " line: a comment, whatever it says
		if d.hashPrefixed {
			var ok bool
			if line, ok = bytes.CutPrefix(line, []byte("# ")); ok || string(line) == "#" {
				prose = true
			}
		}
		kind := d.lp.classifyLine(line)
		if kind == kindStatRow && statCols == nil {
			kind = kindOther
		}
		if prose && kind == kindOther || d.hashPrefixed && isTAPLine(line) {
			kind = kindNone
		}
		if wrapOpen {
			w := wrapped
			wrapOpen, wrapped = false, nil
			if kind == kindOther && isWrapTail(line) {
				if w != nil {
					w.Raw += "\n" + string(line)
					w.Text += " " + string(bytes.TrimSpace(line))
				}
				d.counts.Continued++
				return nil
			}
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
			kl, relevant, _ := d.lp.parseKernelLog(line)
			if !relevant {
				d.counts.KernelOther++
				return nil
			}
			d.counts.KernelLog++
			wrapOpen = isWrapHead(kl.Text)
			if s := sink.snap; s != nil {
				kept := len(s.KernelLog)
				s.AddKernelLog(kl)
				if wrapOpen && len(s.KernelLog) > kept {
					wrapped = &s.KernelLog[kept] // the next line is read before anything else is kept
				}
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
	if modern, ok := modernSysctlName(name); ok {
		// A 2.6 kernel's compatibility name: the modern one, read before or
		// after it, wins.
		if _, seen := s.Sysctls[modern]; seen {
			return
		}
		name = modern
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
