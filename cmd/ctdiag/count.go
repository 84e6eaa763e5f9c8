package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

type countOptions struct {
	output string
	quiet  bool
	sampling
	live *liveFlags
}

func newCountCmd(e env) *cobra.Command {
	opts := &countOptions{}
	cmd := &cobra.Command{
		Use:   "count [SOURCE...]",
		Short: "The number of entries, like conntrack -C, with the limit and how full the table is",
		Long: `Print the number of entries in the table, as conntrack -C does: one number
on standard output. What ctdiag adds goes to standard error (so $(ctdiag
count) is the number alone): nf_conntrack_max, how full the table is, and,
with several samples, how the count moved.

Live, the count comes over netlink (conntrack -C; needs CAP_NET_ADMIN), else
from /proc/sys/net/netfilter/nf_conntrack_count, which everyone may read
(the count is the namespace's own, the limit is global). --samples N prints
N counts --interval apart. A SOURCE is conntrack -C output, an
nf_conntrack_count file, /proc/net/stat/nf_conntrack (its entries column),
or a table dump (its entries are counted); each is one line. To count the
entries a filter selects, use ctdiag list -c.`,
		Example: `  ctdiag count
  sudo ctdiag count --netns web --samples 5 --interval 1s
  ctdiag count dumps/
  ctdiag count -o json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCount(e, opts, cmd.Flags(), args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "text", "output: text (the count, as conntrack -C) or json (count, max, source per sample)")
	f.BoolVar(&opts.quiet, "quiet", false, "print the count only (nothing on stderr)")
	opts.sampling.register(f, "the count")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runCount(e env, opts *countOptions, fs *pflag.FlagSet, args []string) error {
	if opts.output != "text" && opts.output != "json" {
		return usageError("unknown -o %q: want text or json", opts.output)
	}
	if err := opts.sampling.check(); err != nil {
		return err
	}
	var samples []statsSample
	var err error
	if len(args) == 0 {
		samples, err = liveCounts(e, opts)
	} else {
		if opts.live.set(fs) || fs.Changed("samples") {
			return usageError("--samples, --proc-root, --netns, --netns-pid and --source read the live table; they do not apply to files")
		}
		samples, err = fileStats(e, opts.quiet, args, func(d *parser.Decoder, snap *track.Snapshot) bool { return snap.HasCount })
	}
	if len(samples) == 0 && err == nil {
		err = usageError("no count in %v (conntrack -C output, nf_conntrack_count, /proc/net/stat/nf_conntrack or a table dump)", args)
	}
	if opts.output == "json" {
		if werr := writeCountJSON(e, samples); werr != nil && err == nil {
			err = &exitError{code: exitFailure, err: werr}
		}
		return err
	}
	for i, s := range samples {
		if _, werr := fmt.Fprintln(e.stdout, s.count); werr != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("writing output: %w", werr)}
		}
		if !opts.quiet {
			fmt.Fprintln(e.stderr, "ctdiag: "+countNote(samples, i))
		}
	}
	return err
}

// countNote says what ctdiag adds to a count: the limit, how full, the
// change since the sample before.
func countNote(samples []statsSample, i int) string {
	s := samples[i]
	note := fmt.Sprintf("%s: %d entries", s.Source, s.count)
	if s.hasMax && s.max > 0 {
		note += fmt.Sprintf(" of nf_conntrack_max %d (%.1f%% full, %d free)", s.max, 100*float64(s.count)/float64(s.max), int64(s.max)-int64(s.count))
	}
	if i > 0 {
		p := samples[i-1]
		d := int64(s.count) - int64(p.count)
		note += fmt.Sprintf(", %+d since sample %d", d, i)
		if secs := s.Time.Sub(p.Time).Seconds(); !p.Time.IsZero() && secs > 0 {
			note += fmt.Sprintf(" (%+.1f/s)", float64(d)/secs)
		}
	}
	return note
}

// liveCounts reads the live count --samples times.
func liveCounts(e env, opts *countOptions) ([]statsSample, error) {
	cfg, err := opts.live.config()
	if err != nil {
		return nil, usageError("%v", err)
	}
	cfg.TableOptional = true // the count needs no privilege through /proc
	c, err := collector.Open(cfg)
	if err != nil {
		return nil, liveError(err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var samples []statsSample
	err = opts.sampling.each(ctx, func(i int, at time.Time) error {
		count, max, hasMax, err := c.Count(ctx)
		if err != nil {
			return err
		}
		samples = append(samples, statsSample{Time: at, Source: sourceLabel(c), count: count, hasCount: true, max: max, hasMax: hasMax})
		return nil
	})
	if !opts.quiet {
		for _, n := range c.Notes() {
			fmt.Fprintf(e.stderr, "ctdiag: note: %s\n", n)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return samples, liveError(err)
	}
	return samples, nil
}

// sourceLabel names a live source in one phrase.
func sourceLabel(c *collector.Collector) string {
	s := c.Source()
	where := "this network namespace"
	if s.Netns != "" {
		where = "network namespace " + s.Netns
	}
	return where + " (" + s.Kind.String() + ")"
}

func writeCountJSON(e env, samples []statsSample) error {
	type row struct {
		Time   *time.Time `json:"time,omitempty"`
		Source string     `json:"source"`
		Count  uint64     `json:"count"`
		Max    *uint64    `json:"max,omitempty"`
	}
	rows := make([]row, 0, len(samples))
	for _, s := range samples {
		r := row{Source: s.Source, Count: s.count}
		if !s.Time.IsZero() {
			t := s.Time
			r.Time = &t
		}
		if s.hasMax {
			m := s.max
			r.Max = &m
		}
		rows = append(rows, r)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}
