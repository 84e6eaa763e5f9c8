package parser

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// Walk reports what WalkSamples read besides the samples themselves.
type Walk struct {
	// Skipped lists inputs that hold nothing conntrack-related, or that
	// were left out of the samples, with why.
	Skipped []string
	// Decoders lists every input read, in order, with its detected format,
	// counts and problems (closed; only their accessors are of use).
	Decoders []*Decoder
	// Timing says where the samples' times came from.
	Timing Timing
	// RelativeTimes: the times are offsets from the first sample (file
	// names like t05), not wall-clock times.
	RelativeTimes bool
}

// Problems counts the malformed lines over all inputs.
func (w *Walk) Problems() int {
	n := 0
	for _, d := range w.Decoders {
		n += d.Problems().Count
	}
	return n
}

// WalkSamples reads inputs as successive samples of one table and streams
// them into sink:
//
//   - each flow table (a /proc or conntrack -L dump, JSON, or an empty file
//     named like a table dump) starts a new sample;
//   - statistics, counts, sysctls, kernel logs and events belong to the
//     sample before them, or to the first one when they come first;
//   - inputs with no table at all make one sample of their own.
//
// Samples are ordered and timed as planSamples decides: by the times the
// inputs carry or their names hold, else in the order given. What belongs
// to a sample beside its table is read first and given to the sink (Extra)
// before the sample's entries, so the sink knows a sample's sysctls when
// its entries arrive. An input that cannot be opened is an error; an
// unrecognised one is skipped. Entries are never all held in memory.
func WalkSamples(inputs []Input, opts Options, sink track.SampleSink) (*Walk, error) {
	plan := planSamples(inputs, opts)
	w := &Walk{Timing: plan.timing, RelativeTimes: plan.relative}
	decoders := make([]*Decoder, len(plan.items))
	defer func() {
		for _, d := range decoders {
			if d != nil {
				w.Decoders = append(w.Decoders, d)
			}
		}
	}()

	// Pass 1: read what is not a table (small: statistics, sysctls, logs)
	// and note which sample it joins: the table before it, else the first.
	// Event logs, for a sink that takes events one at a time, are read when
	// their sample begins.
	type extra struct {
		snap *track.Snapshot // what was read; nil: read item when the sample begins
		item int
	}
	extras := map[int][]extra{} // by index of the table item, -1 before any
	hint := track.Sysctls{}
	lastTable := -1
	events, streams := sink.(track.EventSink)
	isEventLog := func(f Format) bool { return f == FormatEvents || f == FormatXMLEvents }
	streamed := func(d *Decoder) bool { return streams && isEventLog(d.Format()) }
	for i, it := range plan.items {
		switch {
		case it.skip != "":
			w.Skipped = append(w.Skipped, fmt.Sprintf("%s: %s", it.in.Path, it.skip))
			continue
		case it.table && it.format == FormatMixed:
			// A mixed file's table is read in pass 2; what it holds
			// besides joins its own sample, read here.
			lastTable = i
			d, err := OpenInput(it.in, opts)
			if err != nil {
				return w, err
			}
			snap := &track.Snapshot{}
			err = d.readExtras(snap)
			d.Close()
			if err != nil {
				return w, err
			}
			extras[i] = append(extras[i], extra{snap: snap})
			hint = track.LayerSysctls(hint, snap.Sysctls)
			continue
		case streams && isEventLog(it.format):
			extras[lastTable] = append(extras[lastTable], extra{item: i})
			continue
		case it.table || !it.sniffd:
			if it.table {
				lastTable = i
			}
			continue // tables, and standard input, are read in pass 2
		}
		d, err := OpenInput(it.in, opts)
		if err != nil {
			return w, err
		}
		snap, skip, err := readExtra(d, it.in)
		if err != nil {
			return w, err
		}
		if skip != "" {
			w.Skipped = append(w.Skipped, skip)
			continue
		}
		decoders[i] = d
		extras[lastTable] = append(extras[lastTable], extra{snap: snap})
		hint = track.LayerSysctls(hint, snap.Sysctls)
	}
	if h, ok := sink.(track.SysctlHinter); ok && len(hint) > 0 {
		h.SysctlHint(hint)
	}
	if c, ok := sink.(track.SampleCounter); ok {
		n, unsure := 0, false
		for _, it := range plan.items {
			switch {
			case it.skip != "":
			case !it.sniffd:
				unsure = true // standard input: a table or not, unknown yet
			case it.table:
				n++
			}
		}
		if n == 0 && len(extras[-1]) > 0 {
			n = 1
		}
		switch {
		case !unsure:
			c.ExpectSamples(n)
		case n == 0:
			// Standard input and nothing else that is a table: one sample
			// at most, whatever it holds, so nothing is kept to compare it
			// with a next one (a stream of any length costs what the
			// sample's tallies keep).
			c.ExpectSamples(1)
		}
	}

	// Pass 2: the tables in order, each with its extras first.
	open := false    // a sample has begun and not ended
	leading := false // the extras before any table were given
	begin := func(meta track.Snapshot, table int) error {
		if open {
			if err := sink.EndSample(); err != nil {
				return err
			}
		}
		if err := sink.BeginSample(meta); err != nil {
			return err
		}
		open = true
		own := extras[table]
		if !leading {
			own = append(extras[-1][:len(extras[-1]):len(extras[-1])], own...)
			leading = true
		}
		for _, x := range own {
			snap := x.snap
			if snap == nil {
				d, err := OpenInput(plan.items[x.item].in, opts)
				if err != nil {
					return err
				}
				decoders[x.item] = d
				snap = &track.Snapshot{}
				err = d.streamEvents(snap, events.Event)
				d.Close()
				if err != nil {
					return err
				}
			}
			if err := sink.Extra(snap); err != nil {
				return err
			}
		}
		return nil
	}
	for i, it := range plan.items {
		if it.skip != "" || it.sniffd && !it.table {
			continue
		}
		d, err := OpenInput(it.in, opts)
		if err != nil {
			return w, err
		}
		format := d.Format()
		if !d.HoldsTable() && !(format == FormatEmpty && (it.table || namedLikeTable(it.in.Path))) {
			// Standard input holding no table: it joins the current sample.
			if streamed(d) {
				decoders[i] = d
				if !open {
					if err := begin(track.Snapshot{Source: track.Source{Kind: track.SourceFile, Name: d.Name()}}, noTable); err != nil {
						return w, err
					}
				}
				snap := &track.Snapshot{}
				if err := d.streamEvents(snap, events.Event); err != nil {
					return w, err
				}
				if err := sink.Extra(snap); err != nil {
					return w, err
				}
				continue
			}
			snap, skip, err := readExtra(d, it.in)
			if err != nil {
				return w, err
			}
			if skip != "" {
				w.Skipped = append(w.Skipped, skip)
				continue
			}
			decoders[i] = d
			if !open {
				if err := begin(track.Snapshot{Source: track.Source{Kind: track.SourceFile, Name: d.Name()}}, noTable); err != nil {
					return w, err
				}
			}
			if err := sink.Extra(snap); err != nil {
				return w, err
			}
			continue
		}
		decoders[i] = d
		meta := track.Snapshot{
			Time:     it.time,
			Source:   track.Source{Kind: track.SourceFile, Name: d.Name(), Format: format.String()},
			HasTable: true,
		}
		if err := begin(meta, i); err != nil {
			d.Close()
			return w, err
		}
		if format == FormatMixed && !it.sniffd {
			// Standard input, read once: its other records join the
			// sample after its entries.
			snap := &track.Snapshot{}
			err = d.flowsAndExtras(sink.Flow, snap)
			if err == nil {
				err = sink.Extra(snap)
			}
		} else {
			err = d.Flows(sink.Flow)
		}
		d.Close()
		if err != nil {
			return w, err
		}
	}
	if !open && len(extras[-1]) > 0 {
		// No table at all: the extras make one sample.
		name := plan.items[extras[-1][0].item].in.Path
		if x := extras[-1][0].snap; x != nil {
			name = x.Source.Name
		}
		if err := begin(track.Snapshot{Source: track.Source{Kind: track.SourceFile, Name: name}}, noTable); err != nil {
			return w, err
		}
	}
	if open {
		return w, sink.EndSample()
	}
	return w, nil
}

// noTable keys no extras: a sample begun without a table of its own.
const noTable = -2

// readExtra reads an input that is not a table: skip says why it was left
// out when it holds nothing conntrack-related.
func readExtra(d *Decoder, in Input) (snap *track.Snapshot, skip string, err error) {
	defer d.Close()
	switch format := d.Format(); {
	case format == FormatUnknown:
		return nil, d.ErrNotConntrack().Error(), nil
	case format == FormatEmpty && in.EventLog:
		// An empty event log: events were followed and none came.
		return &track.Snapshot{EventTotals: track.EventTotals{Followed: true}}, "", nil
	case format == FormatEmpty:
		return nil, fmt.Sprintf("%s: empty", d.Name()), nil
	}
	snap = &track.Snapshot{}
	if err := d.ReadInto(snap); err != nil && !errors.Is(err, ErrNotFlows) {
		return nil, "", err
	}
	return snap, "", nil
}

// Samples is what ReadSamples made of its inputs.
type Samples struct {
	Snapshots []track.Snapshot
	Walk
}

// ReadSamples is WalkSamples keeping every sample, entries included, in
// memory: for small inputs and tests; large ones want a streaming sink.
func ReadSamples(inputs []Input, opts Options) (*Samples, error) {
	c := &collectSink{}
	w, err := WalkSamples(inputs, opts, c)
	out := &Samples{Snapshots: c.snaps}
	if w != nil {
		out.Walk = *w
	}
	return out, err
}

// collectSink keeps whole snapshots.
type collectSink struct {
	snaps []track.Snapshot
}

func (c *collectSink) BeginSample(meta track.Snapshot) error {
	c.snaps = append(c.snaps, meta)
	return nil
}

func (c *collectSink) Flow(f *track.Flow) error {
	s := &c.snaps[len(c.snaps)-1]
	s.Flows = append(s.Flows, *f)
	return nil
}

func (c *collectSink) Extra(x *track.Snapshot) error {
	c.snaps[len(c.snaps)-1].Merge(x)
	return nil
}

func (c *collectSink) EndSample() error { return nil }

// namedLikeTable: an empty file is an empty table only if its name says it
// was a table dump (nf_conntrack.t00.txt), not an empty log or stats file.
func namedLikeTable(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	if strings.Contains(base, "stat") {
		return false
	}
	return strings.Contains(base, "nf_conntrack") || strings.Contains(base, "ip_conntrack") ||
		strings.HasPrefix(base, "conntrack-l")
}
