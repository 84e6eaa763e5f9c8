package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/exporter"
)

type exporterOptions struct {
	listen           string
	netns            []string
	netnsPID         []int
	allNetns         bool
	topNetns         int
	readInterval     time.Duration
	evalInterval     time.Duration
	resyncInterval   time.Duration
	discoverInterval time.Duration
	config           string
	sets             []string
	maxScrapes       int
	logLevel         string
}

func newExporterCmd(e env) *cobra.Command {
	opts := &exporterOptions{}
	cmd := &cobra.Command{
		Use:   "exporter [--listen ADDR:PORT] [--netns NAME...] [--all-netns [--top-netns N]]",
		Short: "Serve conntrack metrics and findings to Prometheus (/metrics, /findings, /healthz)",
		Long: `Run as a Prometheus exporter: per network namespace, the table's entries, limit,
states and flags, the kernel's statistics, events, headroom and time to full,
and the findings of the rule catalog, at /metrics; the current report of a
namespace at /findings (the JSON document of ctdiag report -o json; with
several namespaces, /findings?netns=NAME); and /healthz.

It keeps a model of each table, fed by the conntrack events and a full dump
every --resync-interval (and after the kernel drops events), reads the count,
max and statistics every --read-interval, and evaluates the rules every
--eval-interval. A scrape only reads what the last of those left: it never
dumps the table. Labels carry the namespace (netns="host" for the machine's
own, an ip netns name, or "pid:N"), protocol, state, flag, rule and severity,
never addresses or ports.

Namespaces: by default the one ctdiag runs in; --netns NAME and --netns-pid
PID (repeatable) name others; --all-netns watches every namespace with a name
or a process, found again every --discover-interval, and gives its own series
to the --top-netns busiest (default 10), summing the rest as netns="other".

It needs CAP_NET_ADMIN (ctnetlink: dumps, statistics, events) and, for other
namespaces, CAP_SYS_ADMIN (setns) and CAP_SYS_PTRACE (other users' processes'
namespaces). The metrics, the shipped alerts (deploy/prometheus), the Grafana
dashboard, the DaemonSet and the systemd unit are described in docs/EXPORTER.md.

Memory: Go's collector runs with GOGC=25 under a 200 MiB soft limit (about
230 MB peak RSS for a million entries); GOGC and GOMEMLIMIT override them.
Events are read in batches every 50 ms, not one wake-up each: about 5 % of
a core at 10,000 events a second.

Exit status: 0 after SIGINT or SIGTERM, 2 bad usage, 4 the live source or the
listener failed (no privilege, no conntrack, no such namespace, port in use).`,
		Example: `  sudo ctdiag exporter                                 # this namespace, on :9466
  sudo ctdiag exporter --listen 127.0.0.1:9466 --netns web --netns db
  sudo ctdiag exporter --all-netns --top-netns 20      # a Kubernetes node
  curl -s localhost:9466/metrics | grep ctdiag_conntrack_entries
  curl -s localhost:9466/findings?netns=web | jq .findings`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExporter(e, opts, cmd.Flags().Changed("top-netns"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.listen, "listen", ":9466", "address and port to serve on")
	f.StringArrayVar(&opts.netns, "netns", nil, "watch the network namespace NAME (/run/netns/NAME); repeatable")
	f.IntSliceVar(&opts.netnsPID, "netns-pid", nil, "watch the network namespace of process PID; repeatable")
	f.BoolVar(&opts.allNetns, "all-netns", false, "watch every network namespace with a name or a process")
	f.IntVar(&opts.topNetns, "top-netns", 10, "with --all-netns: the busiest N namespaces get their own series, the rest are summed as netns=\"other\" (0: no limit)")
	f.DurationVar(&opts.readInterval, "read-interval", 5*time.Second, "how often to read count, max and statistics")
	f.DurationVar(&opts.evalInterval, "eval-interval", 30*time.Second, "how often to evaluate the rule catalog")
	f.DurationVar(&opts.resyncInterval, "resync-interval", 5*time.Minute, "how often to re-read the whole table into the model")
	f.DurationVar(&opts.discoverInterval, "discover-interval", 30*time.Second, "with --all-netns: how often to look for new and deleted namespaces")
	f.StringVar(&opts.config, "config", "", "rule settings file (YAML, see ctdiag rules explain)")
	f.StringArrayVar(&opts.sets, "set", nil, "override a rule setting: RULE.PARAM=VALUE (repeatable)")
	f.IntVar(&opts.maxScrapes, "max-scrapes", 4, "concurrent requests served per endpoint; more get 503")
	f.StringVar(&opts.logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	_ = cmd.RegisterFlagCompletionFunc("netns", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		entries, _ := os.ReadDir("/run/netns")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions(
		[]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// exporterConfig checks the options and builds the exporter's configuration.
func exporterConfig(e env, opts *exporterOptions, topGiven bool) (exporter.Config, error) {
	var cfg exporter.Config
	var level slog.Level
	if err := level.UnmarshalText([]byte(opts.logLevel)); err != nil {
		return cfg, usageError("--log-level %q: want debug, info, warn or error", opts.logLevel)
	}
	rc, err := ruleConfig(opts.config, opts.sets)
	if err != nil {
		return cfg, usageError("%v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-interval", opts.readInterval}, {"eval-interval", opts.evalInterval},
		{"resync-interval", opts.resyncInterval}, {"discover-interval", opts.discoverInterval}} {
		if d.v <= 0 {
			return cfg, usageError("--%s must be positive", d.name)
		}
	}
	if opts.allNetns && (len(opts.netns) > 0 || len(opts.netnsPID) > 0) {
		return cfg, usageError("--all-netns watches every namespace; drop --netns and --netns-pid")
	}
	if topGiven && !opts.allNetns {
		return cfg, usageError("--top-netns ranks the namespaces --all-netns finds; give --all-netns")
	}
	if opts.topNetns < 0 {
		return cfg, usageError("--top-netns %d: want 0 (no limit) or more", opts.topNetns)
	}
	if opts.maxScrapes < 1 {
		return cfg, usageError("--max-scrapes must be at least 1")
	}
	cfg = exporter.Config{
		AllNetns:         opts.allNetns,
		ReadInterval:     opts.readInterval,
		EvalInterval:     opts.evalInterval,
		ResyncInterval:   opts.resyncInterval,
		DiscoverInterval: opts.discoverInterval,
		Rules:            rc,
		Tool:             "ctdiag " + version(),
		MaxScrapes:       opts.maxScrapes,
		Logger:           slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	}
	if opts.allNetns {
		cfg.TopNetns = opts.topNetns
	}
	for _, n := range opts.netns {
		cfg.Netns = append(cfg.Netns, collector.Netns{Name: n})
	}
	for _, p := range opts.netnsPID {
		cfg.Netns = append(cfg.Netns, collector.Netns{PID: p})
	}
	return cfg, nil
}

func runExporter(e env, opts *exporterOptions, topGiven bool) error {
	cfg, err := exporterConfig(e, opts, topGiven)
	if err != nil {
		return err
	}
	serviceGC()
	x, err := exporter.New(cfg)
	if err != nil {
		return usageError("%v", err)
	}
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("--listen %s: %w", opts.listen, err)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() {
		runErr <- x.Run(ctx)
		cancel()
	}()
	cfg.Logger.Info("serving", "address", ln.Addr().String(), "version", version())
	serveErr := x.Serve(ctx, ln, version())
	cancel()
	if err := <-runErr; err != nil {
		return &exitError{code: exitFailure, err: explainLiveError(err)}
	}
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		return &exitError{code: exitFailure, err: fmt.Errorf("serving %s: %w", opts.listen, serveErr)}
	}
	return nil
}

// serviceGC tunes the collector for a long-running exporter: its live heap
// is the model (about 60 MB at a million entries) and, while the rules are
// evaluated, what the analyzer tallies (up to about 110 MB more, every
// sixth evaluation, when its next analyzer starts). With the default
// GOGC=100 the heap grew to twice that; GOGC=25 keeps it within a quarter,
// and a 200 MiB soft limit brought peak RSS at a million entries from 272
// to 212-270 MB over runs, 223-228 MB since (docs/PERFORMANCE.md): the collector works
// harder only while the heap is near it. GOGC and GOMEMLIMIT in the
// environment win.
func serviceGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serviceMemoryLimit)
	}
}

// serviceMemoryLimit is the exporter's soft memory limit when GOMEMLIMIT
// is not set.
const serviceMemoryLimit = 200 << 20
