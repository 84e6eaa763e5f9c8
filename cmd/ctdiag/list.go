package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

type listOptions struct {
	output   string
	count    bool
	strict   bool
	quiet    bool
	allNetns bool
	filter   *filter.Flags
	live     *liveFlags
}

func newListCmd(e env) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list [SOURCE...]",
		Short: "List conntrack entries like conntrack -L, from dumps, stdin or the live table",
		Long: `List conntrack entries with conntrack's filters, from captured dumps, from
standard input ("-"), or from the live table when no SOURCE is given.

The live table is read over netlink (ctnetlink, like conntrack -L; needs
CAP_NET_ADMIN, i.e. sudo), else from /proc/net/nf_conntrack (root); stderr
says which. The kernel applies what it can of the filter (family, mark,
status, zone, protocol, TCP/UDP ports, single IPv4 hosts) while dumping;
ctdiag applies the rest. --netns NAME and --netns-pid PID read another
network namespace; --proc-root DIR reads a copied /proc tree; --all-netns
prints one summary line per namespace (entries, share of nf_conntrack_max,
top states) instead of entries.

A SOURCE is a file (gzip is read transparently), a directory (every file in
it, in natural order; files that are not flow tables are skipped with a
note) or a ctdiag record bundle (its samples, in order). The format of each
file is detected and named on stderr:
  /proc/net/nf_conntrack, /proc/net/ip_conntrack, conntrack -L,
  conntrack -L -o extended[,id,ktimestamp,labels], ctdiag JSON and JSON Lines.

Malformed lines are counted and reported with file:line and what was expected;
the rest of the file is still read. --strict makes any malformed line exit 2.

Exit status: 0 success; 2 bad usage, a source that could not be read or is
not a conntrack format (or malformed input with --strict); 4 the live table
could not be read or the output could not be written.`,
		Example: `  sudo ctdiag list -c                      # entries in the live table
  sudo ctdiag list --netns web -p tcp --state SYN_SENT
  sudo ctdiag list --all-netns             # which namespace fills the table
  ctdiag list -p tcp --state SYN_SENT dump.txt
  ctdiag list -u SEEN_REPLY,'!ASSURED' -o extended dump.txt.gz   # half-assured entries
  ctdiag list -s 10.0.0.0/8 --dport 53 -c captures/
  conntrack -L -o extended | ctdiag list -o json -`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(e, opts, cmd.Flags(), args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "conntrack", "output format: "+parser.OutputFormatNames)
	f.BoolVarP(&opts.count, "count", "c", false, "print only the number of matching entries")
	f.BoolVar(&opts.strict, "strict", false, "exit 2 if any line is malformed")
	f.BoolVar(&opts.quiet, "quiet", false, "do not name detected formats or the live source on stderr")
	f.BoolVar(&opts.allNetns, "all-netns", false, "live: one summary line per network namespace instead of entries")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	opts.filter = filter.Register(f)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{"proc", "extended", "conntrack", "json", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("proto", cobra.FixedCompletions(
		[]string{"tcp", "udp", "icmp", "icmpv6", "udplite", "sctp", "gre", "dccp"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("family", cobra.FixedCompletions(
		[]string{"ipv4", "ipv6"}, cobra.ShellCompDirectiveNoFileComp))
	stateNames := make([]string, 0, 10)
	for _, s := range track.TCPStates() {
		stateNames = append(stateNames, s.String())
	}
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(stateNames, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(
		[]string{"ASSURED", "SEEN_REPLY", "UNREPLIED", "!ASSURED", "!SEEN_REPLY", "FIXED_TIMEOUT", "EXPECTED", "OFFLOAD", "HW_OFFLOAD"},
		cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runList(e env, opts *listOptions, fs *pflag.FlagSet, args []string) error {
	batchGC()
	flt, err := opts.filter.Filter()
	if err != nil {
		return usageError("%v", err)
	}
	outFormat, err := parser.ParseOutputFormat(opts.output)
	if err != nil {
		return usageError("%v", err)
	}
	if opts.allNetns {
		return runAllNetns(e, opts, flt, outFormat)
	}
	if len(args) == 0 {
		return runLiveList(e, opts, flt, outFormat)
	}
	if opts.live.set(fs) {
		return usageError("--proc-root, --netns, --netns-pid and --source select the live table; they do not apply to files")
	}
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		return &exitError{code: exitParameter, err: err}
	}

	var w *parser.FlowWriter
	if !opts.count {
		if w, err = parser.NewFlowWriter(e.stdout, outFormat); err != nil {
			return usageError("%v", err)
		}
	}
	shown, malformed, failed := 0, 0, false
	announced := map[string]bool{}
	for _, in := range inputs {
		if in.Bundle != "" && !announced[in.Bundle] && !opts.quiet {
			announced[in.Bundle] = true
			announceBundle(e, in.Bundle)
		}
		n, bad, err := listOne(e, opts, flt, w, in)
		shown += n
		malformed += bad
		if err != nil {
			fmt.Fprintf(e.stderr, "ctdiag: %v\n", err)
			failed = true
		}
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("writing output: %w", err)}
		}
	}
	switch {
	case opts.count:
		fmt.Fprintln(e.stdout, shown)
	case !failed || shown > 0:
		fmt.Fprintf(e.stderr, "ctdiag: %d flow entries have been shown.\n", shown)
	}
	switch {
	case opts.strict && malformed > 0:
		return &exitError{code: exitParameter, err: fmt.Errorf("%d malformed lines (--strict)", malformed)}
	case failed:
		return &exitError{code: exitParameter} // an input could not be used
	}
	return nil
}

// listOne lists one input; it returns the entries shown and malformed lines.
func listOne(e env, opts *listOptions, flt *filter.Filter, w *parser.FlowWriter, in parser.Input) (shown, malformed int, err error) {
	d, err := parser.OpenInput(in, parser.Options{Stdin: e.stdin})
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	format := d.Format()
	if in.Bundle != "" && !format.IsFlowTable() && (format != parser.FormatEmpty || !strings.HasSuffix(in.Path, "/nf_conntrack")) {
		return 0, 0, nil // a bundle's statistics, sysctls, logs and events: not entries
	}
	switch {
	case format == parser.FormatUnknown:
		if in.FromDir {
			if !opts.quiet {
				fmt.Fprintf(e.stderr, "ctdiag: skipped %v\n", d.ErrNotConntrack())
			}
			return 0, 0, nil
		}
		return 0, 0, d.ErrNotConntrack()
	case format == parser.FormatEmpty:
		// An empty table is a table with no entries.
	case !format.IsFlowTable() && format != parser.FormatMixed:
		if in.FromDir {
			noteSkipped(e, opts, d.Name(), format.Description()+", not a flow table")
			return 0, 0, nil
		}
		return 0, 0, fmt.Errorf("%s holds %s: %w", d.Name(), format.Description(), parser.ErrNotFlows)
	}
	err = d.Flows(func(f *track.Flow) error {
		if !flt.Match(f) {
			return nil
		}
		shown++
		if w != nil {
			return w.Write(f)
		}
		return nil
	})
	c := d.Counts()
	if !opts.quiet {
		fmt.Fprintf(e.stderr, "ctdiag: %s: detected %s (%s), %d entries\n", d.Name(), format, format.Description(), c.Flows)
		if other := c.StatsLines + c.Sysctls + c.KernelLog + c.Events; format == parser.FormatMixed && other > 0 {
			fmt.Fprintf(e.stderr, "ctdiag: %s: %d non-entry lines (statistics, sysctls, log, events) not listed\n", d.Name(), other)
		}
	}
	reportProblems(e, d.Name(), d.Problems())
	return shown, d.Problems().Count, err
}

func noteSkipped(e env, opts *listOptions, name, why string) {
	if !opts.quiet {
		fmt.Fprintf(e.stderr, "ctdiag: skipped %s: %s\n", name, why)
	}
}

// reportProblems prints the first malformed lines and how many more there
// were.
func reportProblems(e env, name string, p *parser.Problems) {
	for _, s := range p.Samples {
		fmt.Fprintf(e.stderr, "ctdiag: %v\n", &s)
	}
	if rest := p.Count - len(p.Samples); rest > 0 {
		fmt.Fprintf(e.stderr, "ctdiag: %s: %d more malformed lines not shown (%d in all)\n", name, rest, p.Count)
	}
}

// version is the module version stamped by the Go toolchain, or "dev".
func version() string {
	if v := moduleVersion(); v != "" && !strings.HasPrefix(v, "(") {
		return v
	}
	return "dev"
}

// announceBundle says what a record bundle holds before its tables are
// listed.
func announceBundle(e env, path string) {
	b, err := parser.OpenBundle(path)
	if err != nil {
		return
	}
	m := b.Manifest
	where := ""
	if m.Netns != "" {
		where = ", network namespace " + m.Netns
	}
	fmt.Fprintf(e.stderr, "ctdiag: %s: record bundle of %d samples from %s (kernel %s) via %s%s, %s to %s\n",
		path, len(m.Samples), m.Host, m.Kernel, m.Source, where,
		m.Started.Format("2006-01-02 15:04:05"), m.Finished.Format("15:04:05 MST"))
}
