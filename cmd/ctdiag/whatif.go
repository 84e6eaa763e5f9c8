package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

type whatifOptions struct {
	engine   engineFlags
	set      []string
	at       time.Duration
	interval time.Duration
}

func newWhatifCmd(e env) *cobra.Command {
	opts := &whatifOptions{}
	cmd := &cobra.Command{
		Use:   "whatif SOURCE... --set NAME=VALUE...",
		Short: "How many entries would the table hold with other timeouts?",
		Long: `Answer "how many entries would this table hold with these settings", per
protocol state, now and at the peak.

SOURCE is either a packet capture (pcap or pcapng): it is replayed twice
through ctdiag's reference engine, with the current settings (--sysctl, or the
kernel's defaults) and with the proposed ones (--set), and the tables are
compared at the end (last packet + --at) and at their peaks (sampled every
--interval of capture time).

Or SOURCE is one or more table dumps (/proc/net/nf_conntrack, conntrack -L,
as ctdiag list reads them; several files are successive samples): each
entry's idle time is worked out from its remaining timeout and the timeout it
was given, and an entry stays only if it has been idle less than its new
timeout. A longer timeout keeps entries the dump cannot show, because they
had already expired; those are estimated from steady arrivals (count × new
timeout / old timeout) and marked with ~.`,
		Example: `  ctdiag whatif /proc/net/nf_conntrack --set nf_conntrack_tcp_timeout_time_wait=30
  ctdiag whatif dumps/ --set nf_conntrack_tcp_timeout_established=3600 --set nf_conntrack_udp_timeout=10
  ctdiag whatif capture.pcap --set nf_conntrack_tcp_timeout_time_wait=30 --at 1m`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWhatif(e, opts, args)
		},
	}
	f := cmd.Flags()
	opts.engine.register(f)
	f.StringArrayVar(&opts.set, "set", nil, "a proposed setting as NAME=VALUE, repeatable (required)")
	f.DurationVar(&opts.at, "at", 0, "for a capture: compare the tables this long after the last packet")
	f.DurationVar(&opts.interval, "interval", time.Second, "for a capture: sample the tables this often (capture time) to find the peaks")
	return cmd
}

// whatifRow is one state's figures.
type whatifRow struct {
	key                    string
	now, next              float64
	unexplained            int
	peakNow, peakNext      float64
	extrapolated, hasPeaks bool
}

func runWhatif(e env, opts *whatifOptions, args []string) error {
	batchGC()
	if len(opts.set) == 0 {
		return usageError("whatif needs at least one --set NAME=VALUE (the setting to try)")
	}
	proposed, err := parseSysctls(opts.set, "set")
	if err != nil {
		return usageError("%v", err)
	}
	if opts.interval <= 0 || opts.at < 0 {
		return usageError("--interval must be positive and --at not negative")
	}
	base, err := opts.engine.config(nil)
	if err != nil {
		return usageError("%v", err)
	}
	if isCapture(args[0]) {
		if len(args) > 1 {
			return usageError("give one capture to replay (got %d sources)", len(args))
		}
		return whatifCapture(e, opts, args[0], base, proposed)
	}
	return whatifDumps(e, args, base.Sysctls, proposed)
}

// isCapture reports whether path starts like a pcap or pcapng file.
func isCapture(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = capture.NewReader(f, path)
	return err == nil
}

// stateCounts counts an engine's live entries per state at a time.
func stateCounts(eng *track.Engine, at time.Time) map[string]int {
	m := map[string]int{}
	eng.Flows(at, func(f *track.Flow) { m[track.StateKey(f)]++ })
	return m
}

func whatifCapture(e env, opts *whatifOptions, path string, base track.EngineConfig, proposed track.Sysctls) error {
	next := base
	next.Sysctls = track.LayerSysctls(base.Sysctls, proposed)
	type peaks struct {
		byState map[string]int
		total   int
	}
	replayPeaks := func(cfg track.EngineConfig) (*replayRun, peaks, error) {
		pk := peaks{byState: map[string]int{}}
		run, err := replayCapture(path, cfg, opts.interval, func(eng *track.Engine, at time.Time) error {
			total := 0
			for k, n := range stateCounts(eng, at) {
				pk.byState[k] = max(pk.byState[k], n)
				total += n
			}
			pk.total = max(pk.total, total)
			eng.Collect(at) // keep the replay's memory to live entries
			return nil
		})
		return run, pk, err
	}
	runNow, peakNow, err := replayPeaks(base)
	if err != nil {
		return inputError(explainCaptureError(err))
	}
	runNext, peakNext, err := replayPeaks(next)
	if err != nil {
		return inputError(explainCaptureError(err))
	}
	at := runNow.last.Add(opts.at)
	endNow, endNext := stateCounts(runNow.engine, at), stateCounts(runNext.engine, at)
	// Samples are taken before the packets of their instant; the moment of
	// the last packet and the end count towards the peaks too.
	for _, t := range []time.Time{runNow.last, at} {
		for _, x := range []struct {
			eng *track.Engine
			pk  *peaks
		}{{runNow.engine, &peakNow}, {runNext.engine, &peakNext}} {
			counts := stateCounts(x.eng, t)
			for k, n := range counts {
				x.pk.byState[k] = max(x.pk.byState[k], n)
			}
			x.pk.total = max(x.pk.total, sum(counts))
		}
	}

	rows := map[string]*whatifRow{}
	row := func(k string) *whatifRow {
		if rows[k] == nil {
			rows[k] = &whatifRow{key: k, hasPeaks: true}
		}
		return rows[k]
	}
	for k, n := range endNow {
		row(k).now = float64(n)
	}
	for k, n := range endNext {
		row(k).next = float64(n)
	}
	for k, n := range peakNow.byState {
		row(k).peakNow = float64(n)
	}
	for k, n := range peakNext.byState {
		row(k).peakNext = float64(n)
	}
	st := runNow.reader.Stats()
	fmt.Fprintf(e.stdout, "What if %s?\n", describeChange(base.Sysctls, proposed))
	fmt.Fprintf(e.stdout, "%s: %d packets replayed twice, %s of capture time; tables at the last packet + %s, peaks sampled every %s.\n\n",
		path, st.Packets, runNow.last.Sub(runNow.first).Round(time.Millisecond), opts.at, opts.interval)
	total := &whatifRow{key: "all entries", now: float64(sum(endNow)), next: float64(sum(endNext)),
		peakNow: float64(peakNow.total), peakNext: float64(peakNext.total), hasPeaks: true}
	printWhatif(e.stdout, rows, total)
	if st.Bad > 0 || st.CutShort {
		fmt.Fprintf(e.stderr, "ctdiag: %s: %d bad frames skipped (see ctdiag replay for details)\n", path, st.Bad)
	}
	return captureStopped(path, st)
}

// whatifSink runs the snapshot arithmetic over parsed samples.
type whatifSink struct {
	base, proposed track.Sysctls
	cur            *track.WhatIf
	sampleSysctls  track.Sysctls
	samples        [][]track.WhatIfCount
}

func (s *whatifSink) BeginSample(meta track.Snapshot) error {
	s.sampleSysctls = track.LayerSysctls(meta.Sysctls)
	s.cur = nil
	return nil
}

// start fixes the timeouts once a sample's sysctls (read before its
// entries) are known: the dump's own values, then --sysctl.
func (s *whatifSink) start() {
	cur := track.LayerSysctls(s.sampleSysctls, s.base)
	s.cur = track.NewWhatIf(track.NewTimeouts(cur), track.NewTimeouts(track.LayerSysctls(cur, s.proposed)))
}

func (s *whatifSink) Flow(f *track.Flow) error {
	if s.cur == nil {
		s.start()
	}
	s.cur.Add(f)
	return nil
}

func (s *whatifSink) Extra(x *track.Snapshot) error {
	s.sampleSysctls = track.LayerSysctls(s.sampleSysctls, x.Sysctls)
	return nil
}

func (s *whatifSink) EndSample() error {
	if s.cur == nil {
		s.start()
	}
	s.samples = append(s.samples, s.cur.Counts())
	return nil
}

func whatifDumps(e env, args []string, base, proposed track.Sysctls) error {
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		return inputError(err)
	}
	sink := &whatifSink{base: base, proposed: proposed}
	walk, err := parser.WalkSamples(inputs, parser.Options{Stdin: e.stdin}, sink)
	if walk != nil {
		for _, d := range walk.Decoders {
			reportProblems(e, d.Name(), d.Problems())
		}
		for _, s := range walk.Skipped {
			fmt.Fprintf(e.stderr, "ctdiag: skipped %s\n", s)
		}
	}
	if err != nil {
		return inputError(err)
	}
	if len(sink.samples) == 0 {
		return inputError(errors.New("no conntrack table in the sources (want /proc/net/nf_conntrack or conntrack -L output, or a pcap)"))
	}
	rows := map[string]*whatifRow{}
	total := &whatifRow{key: "all entries", hasPeaks: len(sink.samples) > 1}
	for i, sample := range sink.samples {
		var now, next float64
		for _, c := range sample {
			r := rows[c.Key]
			if r == nil {
				r = &whatifRow{key: c.Key, hasPeaks: len(sink.samples) > 1}
				rows[c.Key] = r
			}
			r.peakNow = max(r.peakNow, float64(c.Current))
			r.peakNext = max(r.peakNext, c.Predicted)
			r.extrapolated = r.extrapolated || c.Extrapolated
			if i == len(sink.samples)-1 {
				r.now, r.next, r.unexplained = float64(c.Current), c.Predicted, c.Unexplained
			}
			now += float64(c.Current)
			next += c.Predicted
		}
		total.peakNow, total.peakNext = max(total.peakNow, now), max(total.peakNext, next)
		if i == len(sink.samples)-1 {
			total.now, total.next = now, next
		}
	}
	for _, r := range rows {
		total.extrapolated = total.extrapolated || r.extrapolated
		total.unexplained += r.unexplained
	}
	fmt.Fprintf(e.stdout, "What if %s?\n", describeChange(base, proposed))
	fmt.Fprintf(e.stdout, "%d table sample(s); entries' idle times worked out from their remaining timeouts.\n\n", len(sink.samples))
	printWhatif(e.stdout, rows, total)
	if total.extrapolated {
		fmt.Fprintln(e.stdout, "\n~ extrapolated: a longer timeout keeps entries this dump no longer shows; estimated from steady arrivals (count × new timeout / old timeout).")
	}
	if total.unexplained > 0 {
		fmt.Fprintf(e.stdout, "\n%d entries have more time left than their state's timeout allows (set by conntrack -I/-U, a cttimeout policy, or the sysctls changed since the dump); they are counted as staying.\n", total.unexplained)
	}
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// describeChange lists the proposed settings with their current values.
func describeChange(cur, proposed track.Sysctls) string {
	keys := make([]string, 0, len(proposed))
	for k := range proposed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ts := track.NewTimeouts(cur)
	eng, _ := track.NewEngine(track.EngineConfig{Sysctls: cur})
	var parts []string
	for _, k := range keys {
		now := ""
		if v, ok := cur.Get(k); ok {
			now = v
		} else if v, ok := eng.Sysctls().Get(k); ok {
			now = v
		} else if d := ts.Get(k); d > 0 {
			now = fmt.Sprint(int(d.Seconds()))
		}
		parts = append(parts, fmt.Sprintf("%s=%s (now %s)", k, proposed[k], now))
	}
	return strings.Join(parts, ", ")
}

func printWhatif(w io.Writer, rows map[string]*whatifRow, total *whatifRow) {
	list := make([]*whatifRow, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool {
		if a, b := max(list[i].now, list[i].peakNow), max(list[j].now, list[j].peakNow); a != b {
			return a > b
		}
		return list[i].key < list[j].key
	})
	num := func(v float64, approx bool) string {
		s := fmt.Sprintf("%.0f", v)
		if approx {
			s = "~" + s
		}
		return s
	}
	peaks := total.hasPeaks
	if peaks {
		fmt.Fprintf(w, "%-22s %10s %10s %10s %10s\n", "state", "now", "predicted", "peak now", "peak pred.")
	} else {
		fmt.Fprintf(w, "%-22s %10s %10s\n", "state", "now", "predicted")
	}
	for _, r := range append(list, total) {
		if r == total {
			fmt.Fprintln(w, strings.Repeat("-", 22+11*map[bool]int{true: 4, false: 2}[peaks]))
		}
		if peaks {
			fmt.Fprintf(w, "%-22s %10s %10s %10s %10s\n", r.key, num(r.now, false), num(r.next, r.extrapolated), num(r.peakNow, false), num(r.peakNext, r.extrapolated))
		} else {
			fmt.Fprintf(w, "%-22s %10s %10s\n", r.key, num(r.now, false), num(r.next, r.extrapolated))
		}
	}
}
