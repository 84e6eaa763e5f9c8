package parser

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// SampleSink receives successive samples from WalkSamples. For each sample:
// BeginSample, then its entries one by one through Flow (f is reused: copy
// what you keep), then any number of Extra with what was read beside the
// table, then EndSample.
type SampleSink interface {
	// BeginSample starts a sample. meta carries Source and Time: the table
	// file's modification time (zero for standard input).
	BeginSample(meta track.Snapshot) error
	Flow(f *track.Flow) error
	// Extra adds statistics, counts, sysctls, kernel-log lines and events
	// to the current sample (s has no flows).
	Extra(s *track.Snapshot) error
	EndSample() error
}

// Walk reports what WalkSamples read besides the samples themselves.
type Walk struct {
	// Skipped lists inputs that hold nothing conntrack-related, with why.
	Skipped []string
	// Decoders lists every input read, in order, with its detected format,
	// counts and problems (closed; only their accessors are of use).
	Decoders []*Decoder
}

// Problems counts the malformed lines over all inputs.
func (w *Walk) Problems() int {
	n := 0
	for _, d := range w.Decoders {
		n += d.Problems().Count
	}
	return n
}

// WalkSamples reads inputs in order as successive samples of one table and
// streams them into sink:
//
//   - each flow table (a /proc or conntrack -L dump, JSON, or an empty file
//     named like a table dump) starts a new sample;
//   - statistics, counts, sysctls, kernel logs and events belong to the
//     sample before them, or to the first one when they come first;
//   - inputs with no table at all make one sample of their own.
//
// An input that cannot be opened is an error; an unrecognised one is
// skipped. Entries are never all held in memory.
func WalkSamples(inputs []Input, opts Options, sink SampleSink) (*Walk, error) {
	w := &Walk{}
	open := false // a sample has begun and not ended
	var pending []*track.Snapshot
	flush := func() error {
		for _, p := range pending {
			if err := sink.Extra(p); err != nil {
				return err
			}
		}
		pending = nil
		return nil
	}
	for _, in := range inputs {
		d, err := OpenInput(in, opts)
		if err != nil {
			return w, err
		}
		format := d.Format()
		switch {
		case format == FormatUnknown:
			d.Close()
			w.Skipped = append(w.Skipped, fmt.Sprintf("%s: not a conntrack format", d.Name()))
			continue
		case format == FormatEmpty && !namedLikeTable(in.Path):
			d.Close()
			w.Skipped = append(w.Skipped, fmt.Sprintf("%s: empty", d.Name()))
			continue
		}
		w.Decoders = append(w.Decoders, d)
		if format.IsFlowTable() || format == FormatEmpty {
			if open {
				if err := sink.EndSample(); err != nil {
					d.Close()
					return w, err
				}
			}
			meta := track.Snapshot{Source: track.Source{Kind: track.SourceFile, Name: d.Name(), Format: format.String()}}
			switch {
			case !in.Time.IsZero():
				meta.Time = in.Time
			case in.Path != "-" && in.Open == nil:
				if st, err := os.Stat(in.Path); err == nil {
					meta.Time = st.ModTime()
				}
			}
			if err := sink.BeginSample(meta); err != nil {
				d.Close()
				return w, err
			}
			open = true
			if err := flush(); err != nil {
				d.Close()
				return w, err
			}
			err = d.Flows(sink.Flow)
			d.Close()
			if err != nil {
				return w, err
			}
			continue
		}
		var s track.Snapshot
		err = d.ReadInto(&s)
		d.Close()
		if err != nil && !errors.Is(err, ErrNotFlows) {
			return w, err
		}
		if open {
			if err := sink.Extra(&s); err != nil {
				return w, err
			}
		} else {
			pending = append(pending, &s)
		}
	}
	if !open && len(pending) > 0 {
		if err := sink.BeginSample(track.Snapshot{Source: track.Source{Kind: track.SourceFile, Name: pending[0].Source.Name}}); err != nil {
			return w, err
		}
		open = true
		if err := flush(); err != nil {
			return w, err
		}
	}
	if open {
		return w, sink.EndSample()
	}
	return w, nil
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
	MergeSnapshot(&c.snaps[len(c.snaps)-1], x)
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

// MergeSnapshot adds what src holds (statistics, count, max, sysctls,
// kernel log, events, flows) to dst; values in src win.
func MergeSnapshot(dst, src *track.Snapshot) {
	for _, c := range src.Stats.CPUs {
		mergeCPU(&dst.Stats, c)
	}
	if src.HasCount {
		dst.Count, dst.HasCount = src.Count, true
	}
	if src.HasMax {
		dst.Max, dst.HasMax = src.Max, true
	}
	for k, v := range src.Sysctls {
		if dst.Sysctls == nil {
			dst.Sysctls = track.Sysctls{}
		}
		dst.Sysctls[k] = v
	}
	dst.KernelLog = append(dst.KernelLog, src.KernelLog...)
	if src.HasSlab {
		dst.Slab, dst.HasSlab = src.Slab, true
	}
	dst.EventLosses = append(dst.EventLosses, src.EventLosses...)
	dst.Events = append(dst.Events, src.Events...)
	dst.Flows = append(dst.Flows, src.Flows...)
}
