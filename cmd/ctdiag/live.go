package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/collector"
)

// liveFlags are the options that choose a live source, shared by list,
// record and report.
type liveFlags struct {
	procRoot string
	netns    string
	netnsPID int
	source   string
}

// registerLiveFlags adds --proc-root, --netns, --netns-pid and --source.
func registerLiveFlags(f *pflag.FlagSet) *liveFlags {
	l := &liveFlags{}
	f.StringVar(&l.procRoot, "proc-root", "/proc", "read /proc files under this root (a copied /proc tree replays: only its files are read)")
	f.StringVar(&l.netns, "netns", "", "read the network namespace NAME, as ip netns names it (/run/netns/NAME)")
	f.IntVar(&l.netnsPID, "netns-pid", 0, "read the network namespace of process PID (a container's)")
	f.StringVar(&l.source, "source", "auto", "live source: auto (netlink, else /proc), netlink, proc")
	return l
}

// completeLiveFlags registers shell completion for the live options.
func completeLiveFlags(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("source", cobra.FixedCompletions(
		[]string{"auto", "netlink", "proc"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("netns", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		entries, _ := os.ReadDir("/run/netns")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.MarkFlagDirname("proc-root")
}

// set reports whether any live option was given (so even with files, the
// caller can complain or switch to the live source).
func (l *liveFlags) set(f *pflag.FlagSet) bool {
	for _, n := range []string{"proc-root", "netns", "netns-pid", "source"} {
		if f.Changed(n) {
			return true
		}
	}
	return false
}

// config turns the flags into a collector configuration.
func (l *liveFlags) config() (collector.Config, error) {
	cfg := collector.Config{ProcRoot: l.procRoot}
	switch strings.ToLower(l.source) {
	case "auto", "":
	case "netlink":
		cfg.Source = collector.SourceNetlink
	case "proc", "procfs":
		cfg.Source = collector.SourceProcfs
	default:
		return cfg, fmt.Errorf("unknown --source %q: want auto, netlink or proc", l.source)
	}
	if l.netns != "" && l.netnsPID != 0 {
		return cfg, errors.New("give --netns or --netns-pid, not both")
	}
	cfg.Netns = collector.Netns{Name: l.netns, PID: l.netnsPID}
	return cfg, nil
}

// describeSource says on stderr where live data comes from, and what
// degraded.
func describeSource(w io.Writer, c *collector.Collector, extra string) {
	s := c.Source()
	where := "this network namespace"
	if s.Netns != "" {
		where = "network namespace " + s.Netns
	}
	how := "netlink (ctnetlink)"
	if s.Kind.String() == "procfs" {
		how = s.Name
	}
	fmt.Fprintf(w, "ctdiag: live table of %s via %s%s\n", where, how, extra)
	for _, n := range c.Notes() {
		fmt.Fprintf(w, "ctdiag: note: %s\n", n)
	}
}

// liveError is the exit for a live source that failed: 2 when the options
// named something wrong, else 4 (no privilege, no conntrack, the namespace
// gone, a read that failed).
func liveError(err error) error {
	code := exitFailure
	if errors.Is(err, collector.ErrBadConfig) || errors.Is(err, collector.ErrNoNetns) {
		code = exitParameter
	}
	return &exitError{code: code, err: explainLiveError(err)}
}

// explainLiveError adds what to do instead to the errors people hit
// reading the live table.
func explainLiveError(err error) error {
	switch {
	case errors.Is(err, collector.ErrPermission):
		return err // the collector's message already says what works instead
	case errors.Is(err, collector.ErrNoConntrack):
		return fmt.Errorf("%w\n  pass a captured file instead, e.g. the output of conntrack -L", err)
	case errors.Is(err, collector.ErrNoNetns):
		return fmt.Errorf("%w\n  ip netns list shows the names; --netns-pid takes a process in the namespace", err)
	case errors.Is(err, collector.ErrNetnsGone):
		return fmt.Errorf("%w; stopped reading it", err)
	}
	return err
}
