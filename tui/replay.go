package tui

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	groups  [][]parser.Input // the inputs of each sample
	times   []time.Time      // per sample; zero when untimed
	skipped []string         // inputs the plan left out, with why
	hint    track.Sysctls    // every sysctl of the inputs, later ones winning
	pos     int
	info    Description
	opts    parser.Options
}

// NewReplay groups inputs into samples. Only the start of each file is read
// here (its format); samples are read when shown.
func NewReplay(inputs []parser.Input, o ReplayOptions) (*Replay, error) {
	r := &Replay{info: o.Info, opts: o.Parser}
	if r.info.Kind == track.SourceUnknown {
		r.info.Kind = track.SourceFile
	}
	for _, in := range inputs {
		if in.Path == "-" && in.Open == nil {
			return nil, fmt.Errorf("standard input cannot be replayed: save it to a file first")
		}
	}
	// The parser's plan: the same samples, order and times ctdiag report
	// reads from these inputs.
	plan, err := parser.PlanSamples(inputs, o.Parser)
	if err != nil {
		return nil, err
	}
	if len(plan.Samples) == 0 {
		return nil, ErrNoSamples
	}
	r.skipped = plan.Skipped
	r.info.WallClock = plan.Timing != parser.TimingNone && !plan.RelativeTimes
	r.info.Timing = plan.Timing.String()
	for k, s := range plan.Samples {
		r.groups = append(r.groups, s.Inputs)
		t := s.Time
		switch {
		case o.Interval > 0:
			// Synthetic instants: only their differences mean anything.
			t = time.Unix(0, 0).UTC().Add(time.Duration(k) * o.Interval)
		case plan.Timing == parser.TimingNone:
			t = time.Time{}
		}
		r.times = append(r.times, t)
	}
	if o.Interval > 0 {
		r.info.WallClock, r.info.Timing = false, "every "+o.Interval.String()
	}
	if r.hint, err = sysctlHint(plan, o.Parser); err != nil {
		return nil, err
	}
	if r.info.Name == "" && len(inputs) > 0 {
		r.info.Name = inputs[0].Path
	}
	return r, nil
}

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

// sysctlHint reads every sysctl of the planned inputs, in the order
// parser.WalkSamples reads them, so that each sample is given what ctdiag
// report gives its analyzer (track.SysctlHinter): sysctls read once (at
// the end of a capture, typically) apply to the samples that read none.
// Only the small inputs that can hold sysctls are read.
func sysctlHint(plan parser.Plan, opts parser.Options) (track.Sysctls, error) {
	hint := track.Sysctls{}
	for _, s := range plan.Samples {
		for _, in := range s.Inputs {
			d, err := parser.OpenInput(in, opts)
			if err != nil {
				return nil, err
			}
			switch d.Format() {
			case parser.FormatSysctl, parser.FormatSysctlFile, parser.FormatMixed:
				var snap track.Snapshot
				if err := d.ReadInto(&snap); err != nil && !errors.Is(err, parser.ErrNotFlows) {
					d.Close()
					return nil, err
				}
				maps.Copy(hint, snap.Sysctls)
			}
			d.Close()
		}
	}
	if len(hint) == 0 {
		return nil, nil
	}
	return hint, nil
}

// Read implements Source: it reads the sample at Position and moves on to
// the next (staying on the last). Before the sample, a sink that takes
// them (track.SysctlHinter) is given every sysctl of the recording.
func (r *Replay) Read(ctx context.Context, sink track.SampleSink) (ReadReport, error) {
	i := r.pos
	if h, ok := sink.(track.SysctlHinter); ok && r.hint != nil {
		h.SysctlHint(r.hint)
	}
	ts := &timedSink{SampleSink: sink, ctx: ctx, time: r.times[i], hinted: r.hint != nil}
	w, err := parser.WalkSamples(r.groups[i], r.opts, ts)
	var rep ReadReport
	if w != nil {
		rep.Skipped = append(append([]string(nil), r.skipped...), w.Skipped...)
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
	track.SampleSink
	ctx     context.Context
	time    time.Time
	hinted  bool // the recording's sysctls were given: the sample's alone are not
	samples int
	n       int
}

func (s *timedSink) BeginSample(meta track.Snapshot) error {
	s.samples++
	meta.Time = s.time
	return s.SampleSink.BeginSample(meta)
}

// SysctlHint forwards the parser's early sysctls (this sample's) to the
// sink that wants them, unless the recording's were given.
func (s *timedSink) SysctlHint(x track.Sysctls) {
	if h, ok := s.SampleSink.(track.SysctlHinter); ok && !s.hinted {
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
