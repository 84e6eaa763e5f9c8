package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// sampling are the options of the commands that read the live table
// several times (stats, count).
type sampling struct {
	samples  int
	interval time.Duration
}

func (s *sampling) register(f *pflag.FlagSet, what string) {
	f.IntVar(&s.samples, "samples", 1, "live: how many readings of "+what)
	f.DurationVar(&s.interval, "interval", time.Second, "live: time from one reading to the next; files: their spacing when they carry no time")
}

func (s *sampling) check() error {
	switch {
	case s.samples < 1:
		return usageError("--samples must be at least 1")
	case s.samples > 1 && s.interval <= 0:
		return usageError("--interval must be positive with several samples")
	}
	return nil
}

// each calls fn for each of the samples, interval apart, until ctx ends.
func (s *sampling) each(ctx context.Context, fn func(i int, at time.Time) error) error {
	start := time.Now()
	for i := 0; i < s.samples; i++ {
		at := start.Add(time.Duration(i) * s.interval)
		if d := time.Until(at); i > 0 && d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil // interrupted: what was read stands
			case <-t.C:
			}
		}
		if err := fn(i, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

type statsOptions struct {
	output string
	expect bool
	quiet  bool
	sampling
	live *liveFlags
}

func newStatsCmd(e env) *cobra.Command {
	opts := &statsOptions{}
	cmd := &cobra.Command{
		Use:   "stats [SOURCE...]",
		Short: "Per-CPU conntrack statistics like conntrack -S, with totals and changes across samples",
		Long: `Print the per-CPU conntrack statistics as conntrack -S does (cpu=N then
name=value for every counter the kernel reports), from the live table or from
files, then what ctdiag adds: the total over all CPUs and, with several
samples, how much each counter grew between them and per second.

  cpu=0   	found=0 invalid=12 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0
  cpu=1   	found=0 invalid=3 ...
  total   	found=0 invalid=15 ...
  delta   	from=1 to=2 seconds=5 found=+0 invalid=+3 ...
  rate    	from=1 to=2 found=0/s invalid=0.6/s ...

The conntrack -S lines are those of the last sample. A counter that went
down between two samples was reset (a reboot, a namespace made again) and
shows as "reset". --expect prints the expectation counters instead, as
conntrack -S expect does.

Live, statistics come over netlink (conntrack -S; needs CAP_NET_ADMIN),
else from /proc/net/stat/nf_conntrack, which everyone may read. --samples N
reads them N times --interval apart. A SOURCE is a file or directory holding
conntrack -S output or /proc/net/stat/nf_conntrack (a ctdiag record bundle
has one per sample); each is a sample, in the order given (directories in
natural order), timed by a bundle's manifest or --interval.`,
		Example: `  ctdiag stats                                  # the live table (no root needed via /proc)
  sudo ctdiag stats --netns web --samples 3 --interval 5s
  ctdiag stats stat-t0.txt stat-t10.txt --interval 10s
  ctdiag stats -o json node.tar.gz`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(e, opts, cmd.Flags(), args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "text", "output: text (conntrack -S, then ctdiag's lines) or json")
	f.BoolVar(&opts.expect, "expect", false, "the expectation counters (conntrack -S expect)")
	f.BoolVar(&opts.quiet, "quiet", false, "do not name the source on stderr")
	opts.sampling.register(f, "the statistics")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// statsSample is one reading: the statistics, and the count and max where
// the source gave them (ctdiag count).
type statsSample struct {
	Time             time.Time
	Source           string
	Stats            track.Stats
	count, max       uint64
	hasCount, hasMax bool
}

func runStats(e env, opts *statsOptions, fs *pflag.FlagSet, args []string) error {
	if opts.output != "text" && opts.output != "json" {
		return usageError("unknown -o %q: want text or json", opts.output)
	}
	if err := opts.sampling.check(); err != nil {
		return err
	}
	var samples []statsSample
	var err error
	if len(args) == 0 {
		samples, err = liveStats(e, opts)
	} else {
		if opts.live.set(fs) || fs.Changed("samples") {
			return usageError("--samples, --proc-root, --netns, --netns-pid and --source read the live table; they do not apply to files")
		}
		samples, err = fileStats(e, opts.quiet, args, func(d *parser.Decoder, snap *track.Snapshot) bool { return len(snap.Stats.CPUs) > 0 })
		if err == nil && len(samples) > 0 && samples[0].Time.IsZero() && fs.Changed("interval") {
			for i := range samples {
				samples[i].Time = time.Unix(0, 0).Add(time.Duration(i) * opts.interval)
			}
		}
	}
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return usageError("no statistics in %v (conntrack -S output or /proc/net/stat/nf_conntrack)", args)
	}
	order := parser.ConntrackStatsOrder(opts.expect)
	if opts.output == "json" {
		return writeStatsJSON(e.stdout, samples, order)
	}
	return writeStatsText(e.stdout, samples, order, opts.expect)
}

// liveStats reads the live statistics --samples times.
func liveStats(e env, opts *statsOptions) ([]statsSample, error) {
	cfg, err := opts.live.config()
	if err != nil {
		return nil, usageError("%v", err)
	}
	cfg.TableOptional = true // statistics need no privilege through /proc
	c, err := collector.Open(cfg)
	if err != nil {
		return nil, liveError(err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var samples []statsSample
	err = opts.sampling.each(ctx, func(i int, at time.Time) error {
		st, _, _, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		samples = append(samples, statsSample{Time: at, Source: c.Source().Name, Stats: st})
		return nil
	})
	if !opts.quiet {
		describeSource(e.stderr, c, "")
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return samples, liveError(err)
	}
	return samples, nil
}

// fileStats reads each input that keep accepts as one sample, in order.
func fileStats(e env, quiet bool, args []string, keep func(*parser.Decoder, *track.Snapshot) bool) ([]statsSample, error) {
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		return nil, &exitError{code: exitParameter, err: err}
	}
	var samples []statsSample
	failed := false
	for _, in := range inputs {
		d, err := parser.OpenInput(in, parser.Options{Stdin: e.stdin})
		if err != nil {
			fmt.Fprintf(e.stderr, "ctdiag: %v\n", err)
			failed = true
			continue
		}
		snap := track.Snapshot{}
		if d.Format().IsFlowTable() {
			// A table: its entries are counted, not kept.
			n := 0
			err = d.Flows(func(*track.Flow) error { n++; return nil })
			snap.Count, snap.HasCount = uint64(n), true
		} else if d.Format() != parser.FormatUnknown && d.Format() != parser.FormatEmpty {
			err = d.ReadInto(&snap)
		}
		reportProblems(e, d.Name(), d.Problems())
		d.Close()
		if err != nil && !errors.Is(err, parser.ErrNotFlows) {
			fmt.Fprintf(e.stderr, "ctdiag: %v\n", err)
			failed = true
			continue
		}
		if !keep(d, &snap) {
			if !quiet && in.Bundle == "" {
				fmt.Fprintf(e.stderr, "ctdiag: skipped %s: %s\n", d.Name(), d.Format().Description())
			}
			continue
		}
		samples = append(samples, statsSample{Time: in.Time, Source: d.Name(), Stats: snap.Stats, count: snap.Count, hasCount: snap.HasCount, max: snap.Max, hasMax: snap.HasMax})
	}
	if failed {
		return samples, &exitError{code: exitParameter, err: errors.New("some inputs could not be read")}
	}
	return samples, nil
}

// counterDelta is how a counter moved between two samples.
type counterDelta struct {
	value uint64
	reset bool // it went down
}

func delta(a, b *track.Stats, k track.Counter) counterDelta {
	x, y := a.Total(k), b.Total(k)
	if y < x {
		return counterDelta{reset: true}
	}
	return counterDelta{value: y - x}
}

// present lists the counters of order any sample reported.
func present(samples []statsSample, order []track.Counter) []track.Counter {
	var out []track.Counter
	for _, k := range order {
		for i := range samples {
			if samples[i].Stats.Has(k) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// onlyCounters is st with only the counters of order present (conntrack -S
// prints the flow counters, conntrack -S expect the others).
func onlyCounters(st track.Stats, order []track.Counter) track.Stats {
	var keep track.CounterSet
	for _, k := range order {
		keep |= 1 << k
	}
	out := track.Stats{CPUs: append([]track.CPUStats(nil), st.CPUs...)}
	for i := range out.CPUs {
		out.CPUs[i].Present &= keep
	}
	return out
}

func writeStatsText(w io.Writer, samples []statsSample, order []track.Counter, expect bool) error {
	last := samples[len(samples)-1]
	var buf bytes.Buffer
	if err := parser.WriteConntrackStats(&buf, ptr(onlyCounters(last.Stats, order))); err != nil {
		return err
	}
	keys := present(samples, order)
	line := func(label string, fields ...string) {
		buf.WriteString(label)
		for i := len(label); i < 8; i++ {
			buf.WriteByte(' ')
		}
		buf.WriteByte('\t')
		for _, f := range fields {
			buf.WriteString(f)
			buf.WriteByte(' ')
		}
		buf.WriteByte('\n')
	}
	var totals []string
	for _, k := range keys {
		totals = append(totals, k.String()+"="+strconv.FormatUint(last.Stats.Total(k), 10))
	}
	line("total", totals...)
	for i := 1; i < len(samples); i++ {
		a, b := &samples[i-1], &samples[i]
		head := []string{fmt.Sprintf("from=%d", i), fmt.Sprintf("to=%d", i+1)}
		secs := b.Time.Sub(a.Time).Seconds()
		timed := !a.Time.IsZero() && !b.Time.IsZero() && secs > 0
		if timed {
			head = append(head, "seconds="+strconv.FormatFloat(secs, 'f', -1, 64))
		}
		var ds, rs []string
		for _, k := range keys {
			d := delta(&a.Stats, &b.Stats, k)
			if d.reset {
				ds = append(ds, k.String()+"=reset")
				rs = append(rs, k.String()+"=reset")
				continue
			}
			ds = append(ds, k.String()+"=+"+strconv.FormatUint(d.value, 10))
			rs = append(rs, k.String()+"="+strconv.FormatFloat(float64(d.value)/secs, 'g', 4, 64)+"/s")
		}
		line("delta", append(head, ds...)...)
		if timed {
			line("rate", append(head[:2], rs...)...)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func ptr[T any](v T) *T { return &v }

func writeStatsJSON(w io.Writer, samples []statsSample, order []track.Counter) error {
	type cpu struct {
		CPU      int               `json:"cpu"`
		Counters map[string]uint64 `json:"counters"`
	}
	type sample struct {
		Time   *time.Time        `json:"time,omitempty"`
		Source string            `json:"source"`
		CPUs   []cpu             `json:"cpus"`
		Total  map[string]uint64 `json:"total"`
	}
	type change struct {
		FromTo    [2]int              `json:"samples"`
		Seconds   float64             `json:"seconds,omitempty"`
		Delta     map[string]*uint64  `json:"delta"`
		PerSecond map[string]*float64 `json:"per_second,omitempty"`
		Reset     []string            `json:"reset,omitempty"`
	}
	doc := struct {
		Samples []sample `json:"samples"`
		Changes []change `json:"changes,omitempty"`
	}{}
	keys := present(samples, order)
	for _, s := range samples {
		out := sample{Source: s.Source, Total: map[string]uint64{}}
		if !s.Time.IsZero() {
			t := s.Time
			out.Time = &t
		}
		for _, c := range s.Stats.CPUs {
			m := map[string]uint64{}
			for _, k := range keys {
				if v, ok := c.Get(k); ok {
					m[k.String()] = v
				}
			}
			out.CPUs = append(out.CPUs, cpu{CPU: c.CPU, Counters: m})
		}
		for _, k := range keys {
			out.Total[k.String()] = s.Stats.Total(k)
		}
		doc.Samples = append(doc.Samples, out)
	}
	for i := 1; i < len(samples); i++ {
		a, b := &samples[i-1], &samples[i]
		c := change{FromTo: [2]int{i, i + 1}, Delta: map[string]*uint64{}}
		secs := b.Time.Sub(a.Time).Seconds()
		if !a.Time.IsZero() && !b.Time.IsZero() && secs > 0 {
			c.Seconds, c.PerSecond = secs, map[string]*float64{}
		}
		for _, k := range keys {
			d := delta(&a.Stats, &b.Stats, k)
			if d.reset {
				c.Reset = append(c.Reset, k.String())
				c.Delta[k.String()] = nil
				continue
			}
			v := d.value
			c.Delta[k.String()] = &v
			if c.PerSecond != nil {
				r := float64(v) / secs
				c.PerSecond[k.String()] = &r
			}
		}
		doc.Changes = append(doc.Changes, c)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
