package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/internal/demo"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui"
)

type topOptions struct {
	demo     bool
	demoKind string // "engine" (the scenario) or "capture"
	live     *liveFlags
	interval time.Duration
	speed    float64
	open     string
	paused   bool
	filter   string
	pane     int
	theme    string
}

func newTopCmd(e env) *cobra.Command {
	o := &topOptions{}
	cmd := &cobra.Command{
		Use:   "top [FILE|DIR...]",
		Short: "Live terminal UI: the table, its pressure, its trends and what is wrong",
		Long: `Open the terminal UI on a conntrack table: how full it is and how fast it moves,
its states over time, the diagnosis (findings with evidence and remedies), who
holds the entries, every entry (filtered like ctdiag list, sorted by any
column), and the firewall ruleset read with the sample (pane 6: the hooks in
packet order, the rules that concern conntrack with their counters and how
they moved, the rules findings point at).

With no file it reads the live table every --interval (1 s): over netlink,
else /proc; --netns, --netns-pid, --proc-root and --source choose as for
ctdiag list. Over netlink it also follows the conntrack events between
reads, so entries created and destroyed per second are counted exactly, and
it reads the firewall ruleset with every sample. The live table needs root
(CAP_NET_ADMIN).

Given files or directories, it steps through them as successive samples of one
table, as ctdiag list and report read them (the same samples, times, and
sysctls read once applying to every sample). It analyses every sample first and
opens paused on the most telling one: the worst finding, then the fullest
table (the status line says which; --open first|last to choose). Then: first
and last sample (g/Home, G/End), previous and next (, .), play and pause (p),
speed (- +). --demo (no root needed) shows a scenario run through ctdiag's
reference conntrack engine: a web frontend whose backend stops answering, SYNs
piling up, the table filling and dropping; --demo=capture replays a real Linux
6.18 capture of a table filling up to nf_conntrack_max.

Keys: ? shows them all; m shows every message in full; q quits.`,
		Example: `  sudo ctdiag top                           # the live table (plain sudo ctdiag does the same)
  sudo ctdiag top --netns blue --interval 2s
  ctdiag top --demo                         # the engine scenario
  ctdiag top --demo=capture                 # a real capture
  ctdiag top captures/                      # a directory of dumps, opened on its worst sample
  ctdiag top --open first captures/         # played from its first sample
  ctdiag top --interval 5s t00.txt t05.txt t10.txt
  ctdiag top --filter '-p tcp --state SYN_SENT' dump.txt`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTop(e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.demoKind, "demo", "", "show a built-in demo, no root needed: engine (a scenario run through the reference engine: a backend stops answering and the table fills) or capture (a real Linux 6.18 table filling up to nf_conntrack_max)")
	f.Lookup("demo").NoOptDefVal = "engine"
	f.DurationVar(&o.interval, "interval", 0, "live: how often to read the table (default 1s); files: the time between samples that carry no times")
	f.Float64Var(&o.speed, "speed", 1, "playback speed of a recording (1 = as captured, or one sample a second)")
	f.StringVar(&o.open, "open", "worst", "where a recording opens: worst (its most telling sample, paused), first (plays from the start unless --paused) or last (paused)")
	f.BoolVar(&o.paused, "paused", false, "start paused (a live table on its first reading; a recording opened on its first sample)")
	f.StringVar(&o.filter, "filter", "", "initial flow filter, with the options of ctdiag list (e.g. '-p tcp --state SYN_SENT')")
	f.IntVar(&o.pane, "pane", 2, "pane to start on: 1 overview, 2 states, 3 findings, 4 talkers, 5 flows, 6 ruleset")
	o.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	f.StringVar(&o.theme, "theme", "auto", "colours for a dark or light terminal background: auto, dark or light (NO_COLOR turns colours off)")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

func runTop(e env, o *topOptions, args []string) error {
	switch o.demoKind {
	case "":
	case "engine", "capture":
		o.demo = true
	default:
		return usageError("--demo=%s: want engine or capture", o.demoKind)
	}
	if o.demo && len(args) > 0 {
		return usageError("--demo replays the built-in capture: give it no files")
	}
	if o.open == "" { // plain ctdiag and ctdiag --demo
		o.open = "worst"
	}
	open, err := tui.ParseOpen(o.open)
	if err != nil {
		return usageError("--open %v", err)
	}
	if o.pane < 1 || o.pane > 6 {
		return usageError("--pane %d: want 1 to 6", o.pane)
	}
	if o.filter != "" {
		if _, err := parseFilterText(o.filter); err != nil {
			return usageError("--filter: %v", err)
		}
	}
	src, err := topSource(o, args)
	if err != nil {
		return err
	}
	if !isTerminal(e.stdout) {
		src.Close()
		return usageError("top draws on a terminal, and standard output is not one: use ctdiag list (or report) to print")
	}
	// termenv takes any CI variable to mean "not a terminal" and drops
	// colours; standard output was just checked to be one, so say so.
	r := lipgloss.NewRenderer(e.stdout, termenv.WithTTY(true))
	switch o.theme {
	case "dark":
		r.SetHasDarkBackground(true)
	case "light":
		r.SetHasDarkBackground(false)
	case "auto":
		// Ask the terminal now: once the UI runs, its answer would arrive
		// as key presses.
		r.SetHasDarkBackground(r.HasDarkBackground())
	default:
		return usageError("--theme %q: want auto, dark or light", o.theme)
	}
	return tui.Run(tui.Options{Source: src, Analyzer: topAnalysis(o, args), Renderer: r, Speed: o.speed, Open: open, Paused: o.paused,
		Filter: o.filter, Pane: o.pane}, e.stdin, e.stdout)
}

// topAnalysis is what top's analyzer is told, as report's is for the same
// input: the namespace a live table belongs to and how the files are named
// on a command line, so that the remedies it shows and copies are report's.
func topAnalysis(o *topOptions, args []string) analyzer.Options {
	var aopts analyzer.Options
	scopeAnalysis(&aopts, !o.demo && len(args) == 0, o.demo, args, o.live)
	return aopts
}

// scopeAnalysis says where the analysed table lives and how a person names
// its inputs, so that remedies are right where they are pasted (ip netns
// exec for a namespace's table, ctdiag whatif on the same files): report
// and top tell their analyzers the same.
func scopeAnalysis(aopts *analyzer.Options, live, demo bool, args []string, l *liveFlags) {
	switch {
	case live && l != nil:
		aopts.Target = analyzer.Target{Netns: l.netns, NetnsPID: l.netnsPID}
	case !live && !demo && !usesStdin(args):
		aopts.Sources = shellWords(args)
	}
}

// topSource is what top shows: a demo, files replayed as a recording, or
// the live table.
func topSource(o *topOptions, args []string) (tui.Source, error) {
	switch {
	case o.demo && o.demoKind == "capture":
		r, err := tui.NewReplay(demo.Inputs(), tui.ReplayOptions{Info: tui.Description{
			Kind: track.SourceFile, Name: "demo: " + demo.Origin, Host: demo.Host, Kernel: demo.Kernel, Netns: demo.Netns}})
		if err != nil {
			return nil, &exitError{code: exitFailure, err: err}
		}
		return r, nil
	case o.demo:
		snaps, err := demo.Scenario()
		if err != nil {
			return nil, &exitError{code: exitFailure, err: err}
		}
		return tui.NewSnapshots(snaps, tui.Description{Kind: track.SourceEngine, Name: demo.ScenarioName,
			Host: "demo-frontend", Kernel: "model of Linux 6.18", Netns: "demo"}), nil
	case len(args) > 0:
		inputs, err := parser.ExpandPaths(args)
		if err != nil {
			return nil, inputError(err)
		}
		r, err := tui.NewReplay(inputs, tui.ReplayOptions{Interval: o.interval, Info: tui.Description{Kind: track.SourceFile, Name: describeArgs(args)}})
		if err != nil {
			return nil, inputError(err)
		}
		return r, nil
	}
	cfg, err := o.live.config()
	if err != nil {
		return nil, usageError("%v", err)
	}
	interval := o.interval
	if interval == 0 {
		interval = time.Second
	}
	live, err := newLiveSource(cfg, interval)
	if err != nil {
		xe := liveError(err).(*exitError)
		xe.err = fmt.Errorf("%w\n  without the live table: ctdiag top --demo, or ctdiag top dump1.txt dump2.txt …", xe.err)
		return nil, xe
	}
	return live, nil
}

func describeArgs(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return fmt.Sprintf("%s (+%d more)", args[0], len(args)-1)
}
