package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/demo"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

type reportOptions struct {
	demo     bool
	live     *liveFlags
	samples  int
	output   string
	failOn   string
	config   string
	sets     []string
	interval time.Duration
	strict   bool
	color    string
	top      int
}

func newReportCmd(e env) *cobra.Command {
	opts := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report [SOURCE...]",
		Short: "Diagnose a conntrack table: findings with evidence and remedies, for CI and runbooks",
		Long: `Run the rule catalog (ctdiag rules) over one or more samples of a conntrack
table and print what is wrong, with the evidence and the exact remedies.

A SOURCE is anything ctdiag list reads (a /proc/net/nf_conntrack or conntrack -L
dump, gzip, "-" for stdin) and also conntrack -S, /proc/net/stat/nf_conntrack,
conntrack -C, sysctl -a, /proc/sys files, kernel logs (dmesg, journalctl -k)
and firewall rulesets (nft list ruleset, iptables-save -c, iptables -nvL),
which the rules that join the ruleset to the table need (snat-port-exhaustion,
nat-port-range-overlap, invalid-dropped, notrack-conflict, notrack-candidate,
conntrack-unneeded); without one they are not judged.
Several table dumps are successive samples of one table: growth, rates and
flows followed by tuple need two or more. A directory is read whole (a capture
folder: dumps, stats, sysctls and dmesg are detected and combined).

Sample times come from, in order: a record bundle's manifest, times in the
file names (ct.1700000000.txt, ct-20261121T125834.txt, nf_conntrack.t05.txt =
5 s after the first), file modification times when they are at least 1 s
apart, or --interval, which overrides them all. The report says which.

One sample already gives findings: ages from remaining timeouts, shares,
utilisation; statistics and kernel-log lines add drops and failures. Three
samples or more show what is getting worse: entries rising at every sample,
connections that stay silent, a table forecast to be full. What makes each
rule info, warning or critical: ctdiag rules explain ID.

Remedies are printed to be pasted as they are: with --netns NAME they run in
that namespace (ip netns exec NAME …); global settings say so. Firewall rules
are written in the host's syntax (nft or iptables, its own tables and chains)
when its ruleset was read.

With no SOURCE it reads the live table (netlink, else /proc; --netns,
--netns-pid, --proc-root, --source as for ctdiag list): --samples readings
--interval apart (default 3, 5 s apart; --samples 1 reads once), each with the
per-CPU statistics, count, max, sysctls, kernel-log lines, slab size and
the firewall ruleset (a note when it cannot be read).
Between readings it follows the conntrack events, so the churn it reports is
the kernel's count of entries created and destroyed (a record bundle's event
log gives the same). Ctrl-C or SIGTERM stops the readings early and reports
on those taken. The table needs root (CAP_NET_ADMIN); without it the report
says so, judges what everyone may read (statistics, count, max, sysctls), and
is incomplete.

Exit status: 0 no finding at or above --fail-on and every rule judged; 1 a
finding at or above it; 3 nothing at or above it fired but some rule could not
be judged from what was read (status "incomplete"); 2 bad usage or no readable
input (or malformed lines with --strict); 4 the live table could not be read
or the report written. --fail-on never always exits 0.`,
		Example: `  sudo ctdiag report                               # the live table, 3 samples 5 s apart
  sudo ctdiag report --samples 6 --interval 10s --netns blue
  ctdiag report /proc/net/nf_conntrack
  ctdiag report captures/                          # a folder of dumps, stats, sysctls, dmesg
  ctdiag report t1.txt t2.txt t3.txt --interval 10s
  ctdiag report -o markdown dump.txt >> "$GITHUB_STEP_SUMMARY"
  ctdiag report -o junit --fail-on critical dumps/ > ctdiag.xml
  ctdiag report --set syn-sent-growth.min_entries=5 --set top-talker.enabled=false dump.txt
  ctdiag report --demo                             # the built-in capture: a table filling up`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(e, opts, cmd.Flags(), args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "text", "output format: text, json, markdown, junit, prometheus")
	f.StringVar(&opts.failOn, "fail-on", "warning", "exit 1 when a finding at or above this severity fires: info, warning, critical, never")
	f.StringVar(&opts.config, "config", "", "rule settings file (YAML, see ctdiag rules explain)")
	f.StringArrayVar(&opts.sets, "set", nil, "override a rule setting: RULE.PARAM=VALUE, RULE.severity=LEVEL, RULE.enabled=false (repeatable)")
	f.DurationVar(&opts.interval, "interval", 0, "time between successive samples: live, how often to read (default 5s); files, their spacing (overrides the times they carry)")
	f.IntVar(&opts.samples, "samples", 3, "live: how many readings of the table")
	f.BoolVar(&opts.strict, "strict", false, "exit 2 if any input line is malformed")
	f.StringVar(&opts.color, "color", "auto", "colour the text report: auto (a terminal, unless NO_COLOR is set), always, never")
	f.IntVar(&opts.top, "top", 5, "entries in each ranking of the evidence")
	f.BoolVar(&opts.demo, "demo", false, "analyse the capture built into ctdiag (a real table filling up to nf_conntrack_max); no root needed")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{"text", "json", "markdown", "junit", "prometheus"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(
		[]string{"info", "warning", "critical", "never"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("color", cobra.FixedCompletions(
		[]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// ruleConfig builds the catalog with the user's file and --set overrides.
func ruleConfig(file string, sets []string) (*rules.Config, error) {
	cfg := rules.DefaultConfig()
	if file != "" {
		if err := cfg.LoadFile(file); err != nil {
			return nil, err
		}
	}
	for _, s := range sets {
		if err := cfg.Set(s); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func runReport(e env, opts *reportOptions, fs *pflag.FlagSet, args []string) error {
	batchGC()
	switch opts.output {
	case "text", "json", "markdown", "md", "junit", "prometheus":
	default:
		return usageError("-o %s: want text, json, markdown, junit or prometheus", opts.output)
	}
	failOn, err := rules.ParseSeverity(opts.failOn)
	if err != nil {
		return usageError("--fail-on: %v", err)
	}
	cfg, err := ruleConfig(opts.config, opts.sets)
	if err != nil {
		return usageError("%v", err)
	}
	if opts.interval < 0 {
		return usageError("--interval must be positive")
	}
	live := !opts.demo && len(args) == 0
	liveFlagsGiven := opts.live.set(fs)
	var inputs []parser.Input
	switch {
	case opts.demo && len(args) > 0:
		return usageError("--demo analyses the built-in capture: give it no SOURCE")
	case !live && liveFlagsGiven:
		return usageError("--proc-root, --netns, --netns-pid and --source select the live table; they do not apply to files or --demo")
	case !live && fs.Changed("samples"):
		return usageError("--samples is for the live table: files are samples already")
	case opts.demo:
		inputs, args = demo.Inputs(), []string{"demo: " + demo.Origin}
	case !live:
		if inputs, err = parser.ExpandPaths(args); err != nil {
			return usageError("%v", err)
		}
	}

	aopts := analyzer.Options{Config: cfg, Top: opts.top}
	scopeAnalysis(&aopts, live, opts.demo, args, opts.live)
	an := analyzer.New(aopts)
	meta := report.Meta{
		Tool:      "ctdiag " + version(),
		Generated: time.Now(),
		Overrides: cfg.Overrides(),
	}
	if live {
		if err := reportLive(e, opts, an, &meta); err != nil {
			return err
		}
		return finishReport(e, opts, failOn, an, &meta, 0)
	}
	walk, err := parser.WalkSamples(inputs, parser.Options{Stdin: e.stdin}, an)
	if err != nil {
		return usageError("%v", err)
	}
	meta.Timing, meta.Relative, meta.Input = walk.Timing.String(), walk.RelativeTimes, reportInput(args, walk)
	if opts.interval > 0 && an.Samples() > 0 {
		times := make([]time.Time, an.Samples())
		base := time.Unix(0, 0).UTC()
		for i := range times {
			times[i] = base.Add(time.Duration(i) * opts.interval)
		}
		meta.Timing, meta.Relative = "--interval "+opts.interval.String(), true
		an.SetTimes(times, meta.Timing)
	}
	for _, d := range walk.Decoders {
		reportProblems(e, d.Name(), d.Problems())
	}
	if an.Samples() == 0 {
		for _, s := range walk.Skipped {
			fmt.Fprintf(e.stderr, "ctdiag: skipped %s\n", s)
		}
		return usageError("nothing to analyse: no input held a conntrack table, statistics, sysctls or kernel log")
	}
	return finishReport(e, opts, failOn, an, &meta, walk.Problems())
}

// finishReport writes the report and turns it into the exit status.
func finishReport(e env, opts *reportOptions, failOn rules.Severity, an *analyzer.Analyzer, meta *report.Meta, malformed int) error {
	an.SetTiming(meta.Timing)
	doc := report.Build(an.Result(), *meta)
	if err := writeReport(e.stdout, doc, opts, failOn); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("writing the report: %w", err)}
	}
	switch {
	case opts.strict && malformed > 0:
		return &exitError{code: exitParameter, err: fmt.Errorf("%d malformed lines (--strict)", malformed)}
	case doc.Fails(failOn):
		return &exitError{code: exitFindings}
	case doc.Incomplete && failOn != rules.SeverityNone:
		// Nothing fired, but not everything could be looked at: not "clean".
		return &exitError{code: exitIncomplete}
	}
	return nil
}

// reportLive reads the live table --samples times, --interval apart, into
// the analyzer. Without the privileges the table needs, it reads what
// everyone may (statistics, count, max, sysctls) and says so.
func reportLive(e env, opts *reportOptions, an *analyzer.Analyzer, meta *report.Meta) error {
	cfg, err := opts.live.config()
	if err != nil {
		return usageError("%v", err)
	}
	cfg.TableOptional = true
	interval := opts.interval
	if interval == 0 {
		interval = 5 * time.Second
	}
	if opts.samples < 1 {
		return usageError("--samples %d: want 1 or more", opts.samples)
	}
	// Ctrl-C or a service manager's SIGTERM ends the readings early; the
	// report is made from the samples taken.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.samples > 1 {
		fmt.Fprintf(e.stderr, "ctdiag: reading the live table %d times, %v apart (Ctrl-C or SIGTERM stops early)\n", opts.samples, interval)
	}
	sopts := collector.SampleOptions{Samples: opts.samples, Interval: interval, Events: true}
	if opts.samples > 1 { // a minute's reading says how far it is
		sopts.Progress = func(i, entries int) {
			fmt.Fprintf(e.stderr, "ctdiag: sample %d of %d read (%d entries)\n", i, opts.samples, entries)
		}
	}
	res, err := collector.Sample(ctx, cfg, sopts, an)
	for _, n := range res.Notes {
		fmt.Fprintf(e.stderr, "ctdiag: note: %s\n", n)
	}
	if err != nil && !(errors.Is(err, context.Canceled) && an.Samples() > 0) {
		return liveError(err)
	}
	where := "this network namespace"
	if res.Source.Netns != "" {
		where = "network namespace " + res.Source.Netns
	}
	meta.Timing = "live, every " + interval.String()
	if opts.samples == 1 {
		meta.Timing = "live"
	}
	meta.Input = report.Input{
		Sources: []string{fmt.Sprintf("live table of %s via %s (%s, kernel %s)", where, res.Source.Kind, res.Source.Host, res.Source.Kernel)},
		Notes:   res.Notes,
	}
	return nil
}

// reportInput says what was read, for the report's input section.
func reportInput(args []string, walk *parser.Walk) report.Input {
	in := report.Input{Sources: args, Skipped: walk.Skipped, MalformedLines: walk.Problems()}
	for _, d := range walk.Decoders {
		in.Read = append(in.Read, report.ReadInput{Name: d.Name(), Format: d.Format().String(), Entries: d.Counts().Flows})
		for _, p := range d.Problems().Samples {
			in.Problems = append(in.Problems, p.Error())
		}
	}
	return in
}

func writeReport(w io.Writer, doc *report.Document, opts *reportOptions, failOn rules.Severity) error {
	switch opts.output {
	case "json":
		return report.WriteJSON(w, doc)
	case "markdown", "md":
		return report.WriteMarkdown(w, doc)
	case "junit":
		return report.WriteJUnit(w, doc, failOn)
	case "prometheus":
		return report.WritePrometheus(w, doc, report.PrometheusOptions{Netns: promNetns(opts, doc)})
	}
	return report.WriteText(w, doc, report.TextOptions{Color: useColor(w, opts.color)})
}

// useColor decides colours: always, never, or on a terminal when NO_COLOR
// is unset and TERM is not dumb (https://no-color.org).
func useColor(w io.Writer, mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// usesStdin: an argument is "-" (standard input cannot be named again).
func usesStdin(args []string) bool {
	for _, a := range args {
		if a == "-" {
			return true
		}
	}
	return false
}

// shellWords writes arguments so a shell reads them back unchanged.
func shellWords(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
