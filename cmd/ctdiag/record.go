package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/collector"
)

type recordOptions struct {
	output   string
	samples  int
	interval time.Duration
	noEvents bool
	quiet    bool
	live     *liveFlags
}

func newRecordCmd(e env) *cobra.Command {
	opts := &recordOptions{}
	cmd := &cobra.Command{
		Use:   "record -o FILE [--samples N] [--interval D]",
		Short: "Record the live table, statistics, sysctls, kernel log and events into a bundle",
		Long: `Record samples of the live conntrack state into FILE, a tar.gz bundle of plain
text files that ctdiag list, ctdiag report and people (tar xzf FILE) read:

  manifest.json                     times, host, kernel, source, event losses
  sample-001/nf_conntrack           the table (/proc/net/nf_conntrack format)
  sample-001/stat_nf_conntrack      per-CPU statistics (/proc/net/stat/nf_conntrack)
  sample-001/sysctl.txt             conntrack sysctls (sysctl -a)
  sample-001/kernel-log.txt         new conntrack kernel-log lines (journalctl -k)
  sample-001/events.txt             events since the previous sample (conntrack -E
                                    -o timestamp,extended,id; "# ctdiag: events
                                    lost: ..." where the kernel dropped events)
  sample-001/slabinfo               memory per entry (/proc/slabinfo)

Events need netlink (CAP_NET_ADMIN); with the /proc source they are left out
with a note. Interrupting (Ctrl-C, SIGTERM, SIGHUP) writes the samples taken
so far. Files are staged in a hidden .ctdiag-record-PID-* directory beside
FILE and removed however record ends; one left by a run that was killed
outright is removed by the next run there. Nothing is announced before FILE
is complete: if it cannot be written (a full disk), record says so, leaves
no FILE and exits 4.`,
		Example: `  sudo ctdiag record -o node.tar.gz --samples 6 --interval 10s
  sudo ctdiag record -o pod.tar.gz --netns-pid 4242 --samples 3 --interval 1m
  ctdiag report node.tar.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecord(e, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "", "bundle to write (FILE.tar.gz)")
	f.IntVar(&opts.samples, "samples", 1, "number of samples")
	f.DurationVar(&opts.interval, "interval", 10*time.Second, "time from one sample to the next")
	f.BoolVar(&opts.noEvents, "no-events", false, "do not log events between samples")
	f.BoolVar(&opts.quiet, "quiet", false, "no progress on stderr")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runRecord(e env, opts *recordOptions) error {
	if opts.samples < 1 {
		return usageError("--samples must be at least 1")
	}
	if opts.samples > 1 && opts.interval <= 0 {
		return usageError("--interval must be positive")
	}
	cfg, err := opts.live.config()
	if err != nil {
		return usageError("%v", err)
	}
	// Every signal that ends a session in the ordinary way stops recording
	// cleanly: the samples taken are written, the staging files removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ro := collector.RecordOptions{
		Samples: opts.samples, Interval: opts.interval, Events: !opts.noEvents, Tool: "ctdiag " + version(),
	}
	if !opts.quiet {
		ro.Progress = func(n, entries int) {
			fmt.Fprintf(e.stderr, "ctdiag: sample %d of %d: %d entries\n", n, opts.samples, entries)
		}
	}
	m, err := collector.Record(ctx, cfg, opts.output, ro)
	if m == nil {
		return &exitError{code: exitFailure, err: explainLiveError(err)}
	}
	if !opts.quiet {
		where := "this network namespace"
		if m.Netns != "" {
			where = "network namespace " + m.Netns
		}
		fmt.Fprintf(e.stderr, "ctdiag: recorded %d samples of %s on %s (kernel %s) via %s into %s\n",
			len(m.Samples), where, m.Host, m.Kernel, m.Source, opts.output)
		if m.Events != nil {
			fmt.Fprintf(e.stderr, "ctdiag: events: %d received", m.Events.Received)
			if n := len(m.Events.Losses); n > 0 {
				fmt.Fprintf(e.stderr, ", lost %d times (first at %s; the table was re-read each time)", n, m.Events.Losses[0].Time.Format(time.RFC3339))
			} else {
				fmt.Fprint(e.stderr, ", none lost")
			}
			fmt.Fprintln(e.stderr)
		}
		for _, n := range m.Notes {
			fmt.Fprintf(e.stderr, "ctdiag: note: %s\n", n)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &exitError{code: exitFailure, err: fmt.Errorf("interrupted: %s holds the %d samples taken", opts.output, len(m.Samples))}
		}
		return &exitError{code: exitFailure, err: explainLiveError(err)}
	}
	return nil
}
