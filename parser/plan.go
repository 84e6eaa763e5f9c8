package parser

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// Timing says where the times of successive samples came from.
type Timing uint8

// Sources of sample times, most trusted first.
const (
	TimingNone     Timing = iota // no usable times: growth per sample, not per second
	TimingGiven                  // the inputs carried times (a record bundle's manifest)
	TimingNames                  // times or offsets in the file names (ct.1700000000.txt, nf_conntrack.t05.txt)
	TimingModTimes               // file modification times, strictly increasing at least 1 s apart
)

func (t Timing) String() string {
	switch t {
	case TimingGiven:
		return "manifest"
	case TimingNames:
		return "file names"
	case TimingModTimes:
		return "file modification times"
	}
	return "none"
}

// nameTimePatterns find a sample time in a file name. An offset ("t05":
// seconds after the first sample, as the captures in testdata/ are named),
// a Unix time in seconds (date +%s), or a date and time (date
// +%Y%m%dT%H%M%S, or with dashes and colons).
const (
	offsetPattern = `(?:^|[^A-Za-z0-9])t(\d{1,7})(?:[^A-Za-z0-9]|$)`
	epochPattern  = `(?:^|\D)(1\d{9})(?:\D|$)`
	datePattern   = `(?:^|\D)(\d{4})-?(\d{2})-?(\d{2})[T_-](\d{2})[:-]?(\d{2})[:-]?(\d{2})(?:\D|$)`
)

// nameTime is a time read from a file name.
type nameTime struct {
	t        time.Time
	relative bool // an offset from the first sample, not a wall-clock time
	ok       bool
}

// timeFromName reads a sample time from a file's base name.
func timeFromName(path string, loc *time.Location) nameTime {
	base := filepath.Base(path)
	if loc == nil {
		loc = time.Local
	}
	if m := regexp.MustCompile(datePattern).FindStringSubmatch(base); m != nil {
		var n [6]int
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+1])
		}
		t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, loc)
		if t.Month() == time.Month(n[1]) && t.Day() == n[2] && n[3] < 24 && n[4] < 60 && n[5] < 60 {
			return nameTime{t: t, ok: true}
		}
	}
	if m := regexp.MustCompile(epochPattern).FindStringSubmatch(base); m != nil {
		s, _ := strconv.ParseInt(m[1], 10, 64)
		return nameTime{t: time.Unix(s, 0), ok: true}
	}
	if m := regexp.MustCompile(offsetPattern).FindStringSubmatch(base); m != nil {
		s, _ := strconv.ParseInt(m[1], 10, 64)
		return nameTime{t: time.Unix(s, 0).UTC(), relative: true, ok: true}
	}
	return nameTime{}
}

// planItem is one input with what the pre-pass learnt of it.
type planItem struct {
	in     Input
	format Format // FormatUnknown for standard input, which cannot be read twice
	sniffd bool
	// unknown says why an input of FormatUnknown is none of the formats.
	unknown error
	// holdsTable: a flow table, or a mixed file with entries.
	holdsTable bool
	name       nameTime
	mtime      time.Time
	table      bool
	time       time.Time // the sample time to use, if it starts a sample
	skip       string    // why it is left out, if it is
}

// samplePlan is the order inputs are read in and their sample times.
type samplePlan struct {
	items    []planItem
	timing   Timing
	relative bool // times are offsets from the first sample
}

// planSamples looks at every input once (format and name, not content) to
// decide the samples' order and times:
//
//   - inputs that carry times (a bundle's manifest) keep them;
//   - else, when table dumps have times in their names, those order them:
//     other tables without one are left out (in a capture folder they are
//     the final `conntrack -L` beside the timed samples), extras with a
//     time join the sample at or before it, and extras without one join
//     the last sample (captures read statistics and sysctls at the end);
//   - else, modification times are used when they rise at least 1 s from
//     one table to the next (a git checkout leaves them meaningless);
//   - otherwise the samples have no times and keep the order given.
func planSamples(inputs []Input, opts Options) samplePlan {
	p := samplePlan{}
	for _, in := range inputs {
		it := planItem{in: in}
		if in.Path != "-" || in.Open != nil {
			if d, err := OpenInput(in, opts); err == nil {
				it.format, it.sniffd, it.unknown = d.Format(), true, d.ErrNotConntrack()
				it.holdsTable = d.HoldsTable()
				d.Close()
			} else if errors.Is(err, ErrMissingMember) {
				it.sniffd, it.skip = true, ErrMissingMember.Error()
			}
			if in.Open == nil {
				it.name = timeFromName(in.Path, opts.Location)
				if st, err := os.Stat(in.Path); err == nil {
					it.mtime = st.ModTime()
				}
			}
		}
		it.table = it.holdsTable || it.format == FormatEmpty && namedLikeTable(in.Path)
		p.items = append(p.items, it)
	}
	var tables []*planItem
	for i := range p.items {
		if p.items[i].table {
			tables = append(tables, &p.items[i])
		}
	}
	if len(tables) == 0 {
		return p
	}
	all := func(pred func(*planItem) bool) (n int) {
		for _, t := range tables {
			if pred(t) {
				n++
			}
		}
		return n
	}
	given := all(func(t *planItem) bool { return !t.in.Time.IsZero() })
	absolute := all(func(t *planItem) bool { return t.name.ok && !t.name.relative })
	relative := all(func(t *planItem) bool { return t.name.ok && t.name.relative })
	switch {
	case given == len(tables):
		p.timing = TimingGiven
		for _, t := range tables {
			t.time = t.in.Time
		}
	case absolute >= 2 || relative >= 2:
		p.timing, p.relative = TimingNames, relative > absolute
		p.orderByNames()
	default:
		if modTimesUsable(tables) {
			p.timing = TimingModTimes
			for _, t := range tables {
				t.time = t.mtime
			}
		}
	}
	return p
}

// orderByNames sorts the samples by the times in their names.
func (p *samplePlan) orderByNames() {
	usable := func(it *planItem) bool { return it.name.ok && it.name.relative == p.relative }
	var timed, untimedExtras []planItem
	for _, it := range p.items {
		switch {
		case usable(&it):
			if it.table {
				it.time = it.name.t
			}
			timed = append(timed, it)
		case it.table:
			it.skip = "a table dump with no time in its name, among samples timed by their names: not used as a sample (give it alone to read it)"
			untimedExtras = append(untimedExtras, it)
		default:
			untimedExtras = append(untimedExtras, it)
		}
	}
	// Stable: at equal times a table comes first, so that an extra stamped
	// like its table joins it.
	sort.SliceStable(timed, func(i, j int) bool {
		if !timed[i].name.t.Equal(timed[j].name.t) {
			return timed[i].name.t.Before(timed[j].name.t)
		}
		return timed[i].table && !timed[j].table
	})
	p.items = append(timed, untimedExtras...)
}

// modTimesUsable: every table at least a second after the one before.
func modTimesUsable(tables []*planItem) bool {
	if len(tables) < 2 {
		return false
	}
	for i, t := range tables {
		if t.mtime.IsZero() {
			return false
		}
		if i > 0 && t.mtime.Sub(tables[i-1].mtime) < time.Second {
			return false
		}
	}
	return true
}

// ErrUnplannable is returned by PlanSamples for standard input, which can
// be read only once: it cannot be looked at before it is read.
var ErrUnplannable = errors.New("standard input cannot be planned: save it to a file first")

// Plan is how inputs become samples, decided before any is read: the same
// order, grouping and times WalkSamples uses.
type Plan struct {
	Samples []PlannedSample
	// Skipped lists inputs left out, with why.
	Skipped       []string
	Timing        Timing
	RelativeTimes bool
}

// PlannedSample is one sample: its table first (when the inputs hold any
// table), then what joins it (statistics, sysctls, logs, events).
type PlannedSample struct {
	Time   time.Time // zero when untimed
	Inputs []Input
}

// PlanSamples plans inputs as WalkSamples would read them, for callers that
// read samples one at a time (a replay that steps back and forth). Reading
// a PlannedSample's inputs with WalkSamples yields that one sample.
func PlanSamples(inputs []Input, opts Options) (Plan, error) {
	p := planSamples(inputs, opts)
	out := Plan{Timing: p.timing, RelativeTimes: p.relative}
	var leading []Input // extras before the first table join it
	for _, it := range p.items {
		switch {
		case !it.sniffd:
			return out, ErrUnplannable
		case it.skip != "":
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: %s", it.in.Path, it.skip))
		case it.format == FormatUnknown:
			out.Skipped = append(out.Skipped, it.unknown.Error())
		case it.format == FormatEmpty && !it.table && !it.in.EventLog:
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: empty", it.in.Path))
		case it.table:
			s := PlannedSample{Time: it.time, Inputs: []Input{it.in}}
			if len(out.Samples) == 0 {
				s.Inputs = append(s.Inputs, leading...)
			}
			out.Samples = append(out.Samples, s)
		case len(out.Samples) == 0:
			leading = append(leading, it.in)
		default:
			last := &out.Samples[len(out.Samples)-1]
			last.Inputs = append(last.Inputs, it.in)
		}
	}
	if len(out.Samples) == 0 && len(leading) > 0 {
		out.Samples = []PlannedSample{{Inputs: leading}}
	}
	return out, nil
}
