package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// ErrNoSamples is returned when the inputs hold no conntrack table at all.
var ErrNoSamples = errors.New("no conntrack samples")

// ReplayOptions tune a Replay.
type ReplayOptions struct {
	// Interval spaces samples this far apart when the inputs carry no time
	// of their own (Input.Time, set from a manifest). Without either, the
	// samples are untimed and rates are shown per sample.
	Interval time.Duration
	Parser   parser.Options
	// Info is what the header shows; Kind defaults to file.
	Info Description
}

// Replay is a Recording of captured files: each flow table starts a sample,
// and what follows it (statistics, sysctls, kernel logs, events) joins it,
// exactly as parser.WalkSamples groups them.
type Replay struct {
	groups [][]parser.Input // the inputs of each sample
	times  []time.Time      // per sample; zero when untimed
	pos    int
	info   Description
	opts   parser.Options
}

// NewReplay groups inputs into samples. Only the start of each file is read
// here (its format); samples are read when shown.
func NewReplay(inputs []parser.Input, o ReplayOptions) (*Replay, error) {
	r := &Replay{info: o.Info, opts: o.Parser}
	if r.info.Kind == track.SourceUnknown {
		r.info.Kind = track.SourceFile
	}
	var starts []int // input index where each sample starts
	for i, in := range inputs {
		if in.Path == "-" && in.Open == nil {
			return nil, fmt.Errorf("standard input cannot be replayed: save it to a file first")
		}
		table, err := startsSample(in, o.Parser)
		if err != nil {
			return nil, err
		}
		if table {
			starts = append(starts, i)
		}
	}
	switch {
	case len(starts) == 0 && len(inputs) > 0:
		starts = []int{0} // statistics or events alone: one sample of their own
	case len(starts) == 0:
		return nil, ErrNoSamples
	}
	starts[0] = 0 // what comes before the first table joins it
	for k, s := range starts {
		end := len(inputs)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		r.groups = append(r.groups, inputs[s:end])
	}
	timed := o.Interval > 0
	r.info.WallClock = true
	r.info.Timing = "capture times"
	for k, s := range starts {
		t := inputs[s].Time
		if t.IsZero() {
			r.info.WallClock = false
			r.info.Timing = "none"
			if timed {
				// Synthetic instants: only their differences mean anything.
				t = time.Unix(0, 0).UTC().Add(time.Duration(k) * o.Interval)
				r.info.Timing = "every " + o.Interval.String()
			}
		}
		r.times = append(r.times, t)
	}
	if !r.info.WallClock && !timed {
		clear(r.times)
	}
	if r.info.Name == "" && len(inputs) > 0 {
		r.info.Name = inputs[0].Path
	}
	return r, nil
}

// startsSample reports whether in is a flow table, which starts a sample.
func startsSample(in parser.Input, opts parser.Options) (bool, error) {
	d, err := parser.OpenInput(in, opts)
	if err != nil {
		return false, err
	}
	f := d.Format()
	d.Close()
	if f.IsFlowTable() {
		return true, nil
	}
	if f != parser.FormatEmpty {
		return false, nil
	}
	// An empty file is an empty table only when named like one; let the
	// parser decide, as WalkSamples will.
	var c countSink
	if _, err := parser.WalkSamples([]parser.Input{in}, opts, &c); err != nil {
		return false, err
	}
	return c.samples > 0, nil
}

type countSink struct{ samples int }

func (c *countSink) BeginSample(track.Snapshot) error { c.samples++; return nil }
func (c *countSink) Flow(*track.Flow) error           { return nil }
func (c *countSink) Extra(*track.Snapshot) error      { return nil }
func (c *countSink) EndSample() error                 { return nil }

// Describe implements Source.
func (r *Replay) Describe() Description { return r.info }

// Len implements Recording.
func (r *Replay) Len() int { return len(r.groups) }

// Seek implements Recording.
func (r *Replay) Seek(i int) { r.pos = max(0, min(i, len(r.groups)-1)) }

// Position implements Recording.
func (r *Replay) Position() int { return r.pos }

// Gap implements Recording.
func (r *Replay) Gap(i int) (time.Duration, bool) {
	if i <= 0 || i >= len(r.times) || r.times[i].IsZero() || r.times[i-1].IsZero() {
		return 0, false
	}
	return r.times[i].Sub(r.times[i-1]), true
}

// Read implements Source: it reads the sample at Position and moves on to
// the next (staying on the last).
func (r *Replay) Read(ctx context.Context, sink parser.SampleSink) (ReadReport, error) {
	i := r.pos
	ts := &timedSink{SampleSink: sink, ctx: ctx, time: r.times[i]}
	w, err := parser.WalkSamples(r.groups[i], r.opts, ts)
	var rep ReadReport
	if w != nil {
		rep.Skipped = w.Skipped
		rep.Malformed = w.Problems()
		for _, d := range w.Decoders {
			for _, p := range d.Problems().Samples {
				if len(rep.Problems) < parser.MaxSamples {
					rep.Problems = append(rep.Problems, p.Error())
				}
			}
		}
	}
	if err != nil {
		return rep, err
	}
	if ts.samples != 1 {
		return rep, fmt.Errorf("%s: read %d samples, want 1", r.groups[i][0].Path, ts.samples)
	}
	if r.pos < len(r.groups)-1 {
		r.pos++
	}
	return rep, nil
}

// Close implements Source.
func (r *Replay) Close() error { return nil }

// timedSink gives each sample the recording's time (zero when untimed, so
// file modification times never pass for sample times) and stops on ctx.
type timedSink struct {
	parser.SampleSink
	ctx     context.Context
	time    time.Time
	samples int
	n       int
}

func (s *timedSink) BeginSample(meta track.Snapshot) error {
	s.samples++
	meta.Time = s.time
	return s.SampleSink.BeginSample(meta)
}

// SysctlHint forwards the parser's early sysctls to the sink that wants
// them.
func (s *timedSink) SysctlHint(x track.Sysctls) {
	if h, ok := s.SampleSink.(interface{ SysctlHint(track.Sysctls) }); ok {
		h.SysctlHint(x)
	}
}

func (s *timedSink) Flow(f *track.Flow) error {
	if s.n++; s.n&0xffff == 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	return s.SampleSink.Flow(f)
}
