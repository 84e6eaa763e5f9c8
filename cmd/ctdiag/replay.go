package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// engineFlags are the options that configure the reference engine, shared
// by replay and whatif.
type engineFlags struct {
	sysctls  []string
	nat      []string
	notrack  []string
	loopback bool
	checksum bool
	seed     uint64
}

func (o *engineFlags) register(f *pflag.FlagSet) {
	f.StringArrayVar(&o.sysctls, "sysctl", nil, "a conntrack sysctl as NAME=VALUE (bare or dotted name), repeatable; defaults are Linux 6.18's")
	f.StringArrayVar(&o.nat, "nat", nil, `a NAT rule, repeatable: "snat to ADDR[-ADDR] [ports N[-M]] [MATCH]", "masquerade to ADDR ...", "dnat to ADDR [ports N[-M]] [MATCH]"; MATCH: proto P, src PREFIX, dst PREFIX, sport N[-M], dport N[-M]`)
	f.StringArrayVar(&o.notrack, "notrack", nil, `a NOTRACK rule (raw table), repeatable: "proto udp dport 53" (MATCH as for --nat)`)
	f.BoolVar(&o.loopback, "loopback", false, "the capture was taken on lo: packets without a conntrack are tracked twice (output, then input)")
	f.BoolVar(&o.checksum, "verify-checksums", false, "treat packets as seen at PRE_ROUTING, where conntrack checks checksums (needs checksums in the capture)")
	f.Uint64Var(&o.seed, "seed", 1, "seed for the engine's random choices (SNAT ports, early-drop buckets)")
}

// parseSysctls reads NAME=VALUE arguments.
func parseSysctls(args []string, flag string) (track.Sysctls, error) {
	known := map[string]bool{}
	for _, n := range track.EngineSysctls() {
		known[n] = true
	}
	s := track.Sysctls{}
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("--%s %q: want NAME=VALUE, e.g. nf_conntrack_tcp_timeout_time_wait=30", flag, a)
		}
		bare := strings.TrimPrefix(strings.TrimPrefix(name, "net.netfilter."), "net.")
		if !known[bare] {
			return nil, fmt.Errorf("--%s %s: not a conntrack setting the engine knows (e.g. nf_conntrack_tcp_timeout_established, nf_conntrack_max)", flag, name)
		}
		s.Set(bare, value)
	}
	return s, nil
}

// config builds the engine configuration.
func (o *engineFlags) config(extra track.Sysctls) (track.EngineConfig, error) {
	s, err := parseSysctls(o.sysctls, "sysctl")
	if err != nil {
		return track.EngineConfig{}, err
	}
	for k, v := range extra {
		s[k] = v
	}
	cfg := track.EngineConfig{Sysctls: s, Loopback: o.loopback, VerifyChecksums: o.checksum, Seed: o.seed}
	for _, r := range o.nat {
		rule, err := track.ParseNATRule(r)
		if err != nil {
			return cfg, fmt.Errorf("--nat: %w", err)
		}
		cfg.NAT = append(cfg.NAT, rule)
	}
	for _, r := range o.notrack {
		rule, err := track.ParseNoTrackRule(r)
		if err != nil {
			return cfg, fmt.Errorf("--notrack: %w", err)
		}
		cfg.NoTrack = append(cfg.NoTrack, rule)
	}
	if _, err := track.NewEngine(cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

type replayOptions struct {
	engine   engineFlags
	at       time.Duration
	output   string
	count    bool
	report   bool
	interval time.Duration
	quiet    bool
	filter   *filter.Flags
}

func newReplayCmd(e env) *cobra.Command {
	opts := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay CAPTURE",
		Short: "Predict the conntrack table a packet capture leaves, with ctdiag's reference engine",
		Long: `Replay a packet capture (pcap or pcapng, as tcpdump -w writes it; Ethernet,
Linux cooked SLL/SLL2 or raw IP; IPv4 and IPv6) through ctdiag's reference
conntrack engine, a model of Linux 6.18's connection tracking checked packet
by packet against the real kernel, and print the table it predicts at the last
packet plus --at, in the formats of ctdiag list.

Packets are taken as conntrack sees them: capture where the traffic passes
once (one interface), before NAT for the original direction. Settings come
from --sysctl (the defaults are the kernel's), NAT and NOTRACK rules from
--nat and --notrack. Frames that are not IP, or are cut short or malformed,
are counted and reported, and skipped. A record whose lengths are impossible
(a corrupt file) stops the reading there: the table of the packets before it
is printed, the error says where, and the exit status is 2.

--report runs the diagnosis rules over the simulated table, sampled every
--interval of capture time.

Exit status: 0 success; 2 bad usage, a file that is not a capture, or a
capture corrupt from some record on; 4 the output could not be written.`,
		Example: `  ctdiag replay capture.pcap
  ctdiag replay --at 2m -o proc capture.pcapng        # the table two minutes after the last packet
  ctdiag replay --sysctl nf_conntrack_tcp_timeout_time_wait=30 -c -p tcp --state TIME_WAIT capture.pcap
  ctdiag replay --nat 'masquerade to 192.0.2.1 src 10.0.0.0/8' --report gateway.pcap
  tcpdump -i lo -w lo.pcap ... ; ctdiag replay --loopback lo.pcap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(e, opts, args[0])
		},
	}
	f := cmd.Flags()
	opts.engine.register(f)
	f.DurationVar(&opts.at, "at", 0, "show the table this long after the last packet (e.g. 30s, 2m)")
	f.StringVarP(&opts.output, "output", "o", "conntrack", "output format: "+parser.OutputFormatNames)
	f.BoolVarP(&opts.count, "count", "c", false, "print only the number of matching entries")
	f.BoolVar(&opts.report, "report", false, "diagnose the simulated table with the rule catalog instead of listing it")
	f.DurationVar(&opts.interval, "interval", 10*time.Second, "with --report: sample the simulated table this often (capture time)")
	f.BoolVar(&opts.quiet, "quiet", false, "no summary on stderr")
	opts.filter = filter.Register(f)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{"proc", "extended", "conntrack", "json", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// replayRun is what a replay produced.
type replayRun struct {
	engine   *track.Engine
	reader   *capture.Reader
	first    time.Time
	last     time.Time
	verdicts map[track.CTState]int
	actions  map[track.Action]int
}

// replayCapture runs a capture through an engine. sample, if not nil, is
// called before the first packet at or after each multiple of interval
// from the first packet, and once more at the end time.
func replayCapture(path string, cfg track.EngineConfig, interval time.Duration, sample func(e *track.Engine, at time.Time) error) (*replayRun, error) {
	e, err := track.NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	r, err := capture.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	run := &replayRun{engine: e, reader: r, verdicts: map[track.CTState]int{}, actions: map[track.Action]int{}}
	var next time.Time
	var p track.Packet
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return run, err
		}
		if run.first.IsZero() {
			run.first, next = p.Time, p.Time
		}
		for sample != nil && interval > 0 && !p.Time.Before(next) {
			if err := sample(e, next); err != nil {
				return run, err
			}
			next = next.Add(interval)
		}
		if p.Time.After(run.last) {
			run.last = p.Time
		}
		v := e.Process(&p)
		run.verdicts[v.State]++
		run.actions[v.Action]++
	}
	return run, nil
}

func runReplay(e env, opts *replayOptions, path string) error {
	batchGC()
	flt, err := opts.filter.Filter()
	if err != nil {
		return usageError("%v", err)
	}
	var format parser.Format
	reportOutput := "text"
	switch {
	case opts.report && slices.Contains([]string{"text", "json", "markdown", "md", "junit"}, opts.output):
		reportOutput = opts.output
	case opts.report && opts.output == "conntrack":
		// the default -o: a report is text unless asked otherwise
	default:
		if format, err = parser.ParseOutputFormat(opts.output); err != nil {
			return usageError("%v", err)
		}
		if opts.report {
			return usageError("-o %s lists entries; with --report use text, json, markdown or junit", opts.output)
		}
	}
	cfg, err := opts.engine.config(nil)
	if err != nil {
		return usageError("%v", err)
	}
	if opts.at < 0 || opts.interval <= 0 {
		return usageError("--at must not be negative, --interval must be positive")
	}

	var an *analyzer.Analyzer
	var times []time.Time
	sample := func(eng *track.Engine, at time.Time) error {
		times = append(times, at)
		return analyzeSample(an, eng, at, flt)
	}
	if opts.report {
		an = analyzer.New(analyzer.Options{Sysctls: cfg.Sysctls})
	} else {
		sample = nil
	}
	run, err := replayCapture(path, cfg, opts.interval, sample)
	if err != nil {
		return inputError(explainCaptureError(err))
	}
	// A capture corrupt from some record on is replayed up to it, and the
	// command then fails: the table shown lacks whatever came after.
	stopped := captureStopped(path, run.reader.Stats())
	at := run.last.Add(opts.at)
	if !opts.quiet {
		replaySummary(e.stderr, path, run, at, opts.at)
	}
	if opts.report {
		if err := sample(run.engine, at); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		timing := fmt.Sprintf("replayed capture, every %s of capture time", opts.interval)
		an.SetTimes(times, timing)
		doc := report.Build(an.Result(), report.Meta{Tool: "ctdiag " + version(), Generated: time.Now(), Timing: timing,
			Input: report.Input{Sources: []string{path + " (replayed through the reference engine)"}}})
		ro := &reportOptions{output: reportOutput, color: "auto"}
		if err := writeReport(e.stdout, doc, ro, rules.SeverityWarning); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		return stopped
	}

	use := uint32(1) // conntrack -L shows use=1 for an idle entry
	if format == parser.FormatProc {
		use = 2 // a /proc reader holds a reference
	}
	var w *parser.FlowWriter
	if !opts.count {
		if w, err = parser.NewFlowWriter(e.stdout, format); err != nil {
			return usageError("%v", err)
		}
	}
	shown := 0
	var werr error
	run.engine.Flows(at, func(f *track.Flow) {
		if werr != nil || !flt.Match(f) {
			return
		}
		shown++
		if w != nil {
			f.Use = use
			werr = w.Write(f)
		}
	})
	if w != nil {
		if err := w.Close(); err != nil && werr == nil {
			werr = err
		}
	}
	if werr != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("writing output: %w", werr)}
	}
	if opts.count {
		fmt.Fprintln(e.stdout, shown)
	} else if !opts.quiet {
		fmt.Fprintf(e.stderr, "ctdiag: %d flow entries have been shown.\n", shown)
	}
	return stopped
}

// captureStopped is the error for a capture whose reading stopped at a
// corrupt record (exit 2: the input is not usable whole), nil otherwise.
func captureStopped(path string, st *capture.Stats) error {
	if st.Stopped == nil {
		return nil
	}
	return &exitError{code: exitParameter, err: fmt.Errorf("%s: reading stopped %v: the packets after it were not replayed, so the result covers only the %d frames before", path, st.Stopped, st.Frames-1)}
}

// analyzeSample feeds the engine's table at time at to the analyzer as one
// sample.
func analyzeSample(an *analyzer.Analyzer, eng *track.Engine, at time.Time, flt *filter.Filter) error {
	meta := track.Snapshot{Time: at, Source: track.Source{Kind: track.SourceEngine, Name: "ctdiag replay"}, HasTable: true,
		Stats: eng.Stats(), Max: uint64(eng.Max()), HasMax: true, Sysctls: eng.Sysctls()}
	meta.Count, meta.HasCount = uint64(eng.Len(at)), true
	if err := an.BeginSample(meta); err != nil {
		return err
	}
	var ferr error
	eng.Flows(at, func(f *track.Flow) {
		if ferr == nil && flt.Match(f) {
			ferr = an.Flow(f)
		}
	})
	if ferr != nil {
		return ferr
	}
	return an.EndSample()
}

func replaySummary(w io.Writer, path string, run *replayRun, at time.Time, after time.Duration) {
	st := run.reader.Stats()
	fmt.Fprintf(w, "ctdiag: %s: %d packets replayed from %d frames", path, st.Packets, st.Frames)
	var skipped []string
	if st.NotIP > 0 {
		skipped = append(skipped, fmt.Sprintf("%d not IP", st.NotIP))
	}
	if st.Bad > 0 {
		skipped = append(skipped, fmt.Sprintf("%d bad or truncated", st.Bad))
	}
	if st.Reassembled > 0 {
		skipped = append(skipped, fmt.Sprintf("%d fragments reassembled into %d", st.Fragments, st.Reassembled))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(skipped, ", "))
	}
	if !run.first.IsZero() {
		fmt.Fprintf(w, ", %s to %s (%s)", run.first.UTC().Format("2006-01-02 15:04:05.000"), run.last.UTC().Format("15:04:05.000"), run.last.Sub(run.first).Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	for _, p := range st.Problems {
		fmt.Fprintf(w, "ctdiag: %s: %v\n", path, p)
	}
	if rest := st.Bad - len(st.Problems); rest > 0 {
		fmt.Fprintf(w, "ctdiag: %s: %d more bad frames not shown\n", path, rest)
	}
	if st.CutShort {
		fmt.Fprintf(w, "ctdiag: %s: the file ends inside a packet record (capture cut short); the packets before it were replayed\n", path)
	}
	var states []string
	for _, s := range []track.CTState{track.CTNew, track.CTEstablished, track.CTRelated, track.CTInvalid, track.CTUntracked} {
		states = append(states, fmt.Sprintf("%s %d", s, run.verdicts[s]))
	}
	fmt.Fprintf(w, "ctdiag: ct state of the packets: %s\n", strings.Join(states, ", "))
	if n := run.actions[track.ActionNotModelled]; n > 0 {
		fmt.Fprintf(w, "ctdiag: %d SCTP packets were not modelled (the engine does not track SCTP)\n", n)
	}
	stats := run.engine.Stats()
	fmt.Fprintf(w, "ctdiag: statistics: invalid=%d drop=%d early_drop=%d icmp_error=%d insert_failed=%d\n",
		stats.Total(track.CounterInvalid), stats.Total(track.CounterDrop), stats.Total(track.CounterEarlyDrop),
		stats.Total(track.CounterError), stats.Total(track.CounterInsertFailed))
	fmt.Fprintf(w, "ctdiag: table at the last packet + %s: %d entries\n", after, run.engine.Len(at))
}

// explainCaptureError says what to do with a file that is not a capture.
func explainCaptureError(err error) error {
	if errors.Is(err, capture.ErrNotCapture) {
		return fmt.Errorf("%w\n  replay reads packet captures (tcpdump -w FILE, pcap or pcapng); for conntrack table dumps use ctdiag list or ctdiag whatif", err)
	}
	return err
}
