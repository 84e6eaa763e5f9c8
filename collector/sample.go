package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Extra reads what goes with a table dump: per-CPU statistics, count and
// max, sysctls, kernel-log lines new since the last call, the slab cache
// and the firewall ruleset (not from a copied /proc). Parts this source or kernel cannot give are left out with a note;
// only a failure of the statistics or the count is an error.
func (c *Collector) Extra(ctx context.Context) (track.Snapshot, error) {
	s := track.Snapshot{Source: c.source}
	st, count, hasCount, err := c.Stats(ctx)
	switch {
	case err == nil:
		s.Stats = st
		if hasCount {
			s.Count, s.HasCount = count, true
		}
	case isAbsent(err):
		c.note("statistics unavailable: %v", err)
	default:
		return s, err
	}
	count, max, hasMax, err := c.Count(ctx)
	if err != nil && !isAbsent(err) {
		return s, err
	}
	if err == nil {
		s.Count, s.HasCount = count, true
		s.Max, s.HasMax = max, hasMax
	}
	if s.Sysctls, err = c.Sysctls(); err != nil {
		if !errors.Is(err, ErrUnavailable) {
			return s, err
		}
		c.note("sysctls unavailable: %v", err)
	}
	if s.KernelLog, err = c.KernelLog(); err != nil {
		c.note("%v", err)
	}
	if s.Slab, s.HasSlab, err = c.Slab(); err != nil {
		c.note("%v", err)
	}
	if !c.cfg.replay() {
		// The rules that read the ruleset beside the table need it; what
		// keeps it from being read is a note, never a failed sample.
		if s.Ruleset, err = c.Ruleset(ctx); err != nil {
			c.note("firewall ruleset not read (the rules that need it are not judged): %v", err)
		}
	}
	return s, nil
}

// Sample reads one sample into sink: BeginSample with the time and source,
// every entry the kernel filter passes, Extra, EndSample.
func (c *Collector) Sample(ctx context.Context, kf DumpFilter, sink track.SampleSink) (DumpInfo, error) {
	meta := track.Snapshot{Time: c.cfg.Now(), Source: c.source, HasTable: c.noTable == nil}
	if err := sink.BeginSample(meta); err != nil {
		return DumpInfo{}, err
	}
	var info DumpInfo
	if c.noTable == nil {
		var err error
		if info, err = c.Flows(ctx, kf, sink.Flow); err != nil {
			return info, err
		}
	}
	extra, err := c.Extra(ctx)
	if err != nil {
		return info, err
	}
	if err := sink.Extra(&extra); err != nil {
		return info, err
	}
	return info, sink.EndSample()
}

// SampleOptions tune Sample.
type SampleOptions struct {
	Samples  int           // how many samples, at least 1
	Interval time.Duration // from the start of one sample to the next
	// Filter narrows each dump in the kernel (see KernelFilter); the sink
	// receives a superset of the filter's entries.
	Filter DumpFilter
	// Progress, when set, is called after each sample with its number
	// (from 1) and entry count.
	Progress func(n, entries int)
	// Events follows the namespace's conntrack events between samples
	// (over netlink, with several samples), so each sample after the
	// first carries the kernel's count of entries created and destroyed
	// since the one before (track.Snapshot.EventTotals). Where events
	// cannot be followed, a note says why and the samples come without.
	Events bool
}

// SampleResult says where the samples came from and what degraded.
type SampleResult struct {
	Source track.Source
	Notes  []string
	// Entries is the number of entries of each sample.
	Entries []int
}

// checkSampling refuses a sampling plan that cannot run.
func checkSampling(samples int, interval time.Duration) error {
	if samples < 1 {
		return fmt.Errorf("%w: %d samples", ErrBadConfig, samples)
	}
	if samples > 1 && interval <= 0 {
		return fmt.Errorf("%w: several samples need an interval", ErrBadConfig)
	}
	return nil
}

// Sample opens the live source cfg names and streams opts.Samples samples,
// opts.Interval apart, into sink (track.SampleSink, as a report consumes
// files): each sample is BeginSample (Time = when the dump started, Source
// = netlink or procfs with host, kernel and namespace), its entries as they
// arrive, one Extra with statistics, count, max, sysctls, new kernel-log
// lines and the slab cache, then EndSample. A million-entry table is never
// held: entries go to the sink as they are decoded. It stops early, with
// ctx's error, when ctx ends.
func Sample(ctx context.Context, cfg Config, opts SampleOptions, sink track.SampleSink) (SampleResult, error) {
	var res SampleResult
	if err := checkSampling(opts.Samples, opts.Interval); err != nil {
		return res, err
	}
	c, err := Open(cfg)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Source = c.Source()
	if sc, ok := sink.(track.SampleCounter); ok {
		sc.ExpectSamples(opts.Samples)
	}
	if opts.Events && opts.Samples > 1 && res.Source.Kind == track.SourceNetlink {
		f, err := Follow(cfg, 0)
		if err != nil {
			c.note("events not followed between samples (churn is judged by comparing them): %v", err)
		} else {
			defer f.Stop()
			sink = f.Into(sink)
		}
	}
	start := c.cfg.Now()
	for i := 0; i < opts.Samples; i++ {
		if i > 0 {
			if err := sleepUntil(ctx, start.Add(time.Duration(i)*opts.Interval), c.cfg.Now); err != nil {
				res.Notes = c.Notes()
				return res, err
			}
		}
		info, err := c.Sample(ctx, opts.Filter, sink)
		if err != nil {
			res.Notes = c.Notes()
			return res, fmt.Errorf("sample %d: %w", i+1, err)
		}
		res.Entries = append(res.Entries, info.Entries)
		if opts.Progress != nil {
			opts.Progress(i+1, info.Entries)
		}
	}
	res.Notes = c.Notes()
	return res, nil
}

// sleepUntil waits for t (by the given clock) or ctx.
func sleepUntil(ctx context.Context, t time.Time, now func() time.Time) error {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
