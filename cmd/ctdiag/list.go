package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

type listOptions struct {
	output   string
	spec     outputSpec
	count    bool
	strict   bool
	quiet    bool
	allNetns bool
	filter   *filter.Flags
	live     *liveFlags
	// connlabel names the label bits, as for conntrack.
	connlabel string
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
  conntrack -L -o extended[,id,ktimestamp,labels], conntrack -L -o xml,
  ctdiag JSON and JSON Lines.

Filters are conntrack's, with its spellings (--orig-src, --protonum,
--orig-port-src, --mask-src, --icmp-type, -g ADDR or -gADDR ...) and
semantics (an entry without a zone is in zone 0; a NAT port must have been
translated). A filter on what a source cannot show (-u FIXED_TIMEOUT on a
text dump, which prints only [UNREPLIED], [ASSURED], [OFFLOAD] and
[HW_OFFLOAD]) is refused for that input with the reason; offloaded entries of
a text dump, whose ASSURED bit is not printed, are left out of -u ASSURED and
-u '!ASSURED' with a count. README.md lists where ctdiag and conntrack 1.4.7
differ.

-o takes conntrack's words: extended, xml, save, id, ktimestamp, labels,
timestamp, combined as in conntrack (extended,id), and ctdiag's proc, json,
jsonl.

Malformed lines are counted and reported with file:line and what was expected;
the rest of the file is still read. --strict makes any malformed line exit 2.`,
		Example: `  sudo ctdiag list -c                      # entries in the live table
  sudo ctdiag list --netns web -p tcp --state SYN_SENT
  sudo ctdiag list --all-netns             # which namespace fills the table
  ctdiag list -p tcp --state SYN_SENT dump.txt
  ctdiag list -u SEEN_REPLY,'!ASSURED' -o extended dump.txt.gz   # half-assured entries
  ctdiag list -s 10.0.0.0/8 --dport 53 -c captures/
  conntrack -L -o extended | ctdiag list -o json -
  sudo ctdiag list --dst-nat 192.0.2.10 -o extended,id
  sudo ctdiag list -o save -p udp > udp.save      # for conntrack -R`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(e, opts, cmd.Flags(), args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "conntrack", outputHelp)
	f.BoolVarP(&opts.count, "count", "c", false, "print only the number of matching entries")
	f.BoolVar(&opts.strict, "strict", false, "exit 2 if any line is malformed")
	f.BoolVar(&opts.quiet, "quiet", false, "do not name detected formats or the live source on stderr")
	f.BoolVar(&opts.allNetns, "all-netns", false, "live: one summary line per network namespace instead of entries")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	opts.filter = filter.Register(f)
	f.StringVar(&opts.connlabel, "connlabel", defaultConnlabel, "the file naming connection-label bits (-l NAME must be in it, as for conntrack)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{"proc", "extended", "conntrack", "json", "jsonl", "xml", "save", "extended,id", "id", "ktimestamp", "labels"}, cobra.ShellCompDirectiveNoFileComp))
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
	if opts.spec, err = parseOutputSpec(opts.output); err != nil {
		return usageError("%v", err)
	}
	if err := checkLabels(flt, opts.connlabel); err != nil {
		return err
	}
	outFormat := opts.spec.format
	if opts.allNetns {
		return runAllNetns(e, opts, flt, outFormat)
	}
	if len(args) == 0 {
		return runLiveList(e, opts, flt)
	}
	if opts.live.set(fs) {
		return usageError("--proc-root, --netns, --netns-pid and --source select the live table; they do not apply to files")
	}
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		return &exitError{code: exitParameter, err: err}
	}

	var w flowOutput
	if !opts.count {
		if w, err = newFlowOutput(e.stdout, opts.spec); err != nil {
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
func listOne(e env, opts *listOptions, flt *filter.Filter, w flowOutput, in parser.Input) (shown, malformed int, err error) {
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
	view := statusView(format)
	if never := flt.Never(view); never != 0 && format != parser.FormatEmpty {
		return 0, 0, unjudgeable(d.Name(), format, never)
	}
	if view == filter.ViewXML && flt.UsesICMPKeys() {
		return 0, 0, &exitError{code: exitParameter, err: fmt.Errorf("%s: --icmp-type, --icmp-code and --icmp-id cannot be judged from %s, which leaves them out", d.Name(), format.Description())}
	}
	undecided := 0
	err = d.Flows(func(f *track.Flow) error {
		switch flt.Judge(f, view) {
		case filter.No:
			return nil
		case filter.Unknown:
			undecided++
			return nil
		}
		shown++
		if w != nil {
			return w.Write(f)
		}
		return nil
	})
	noteUndecided(e, d.Name(), undecided)
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

// defaultConnlabel is where conntrack and nft read label names.
const defaultConnlabel = "/etc/xtables/connlabel.conf"

// statusView says which status bits a source format shows.
func statusView(f parser.Format) filter.StatusView {
	switch f {
	case parser.FormatJSON, parser.FormatJSONL:
		return filter.ViewAll
	case parser.FormatXML, parser.FormatXMLEvents:
		return filter.ViewXML
	}
	return filter.ViewText
}

// unjudgeable is the error for a status filter a source cannot answer.
func unjudgeable(name string, f parser.Format, bits track.Status) error {
	shows := "SEEN_REPLY (as [UNREPLIED] when clear), ASSURED, OFFLOAD and HW_OFFLOAD"
	if statusView(f) == filter.ViewXML {
		shows = "ASSURED and SEEN_REPLY (<assured/>, <unreplied/>)"
	}
	return &exitError{code: exitParameter, err: fmt.Errorf("%s: -u %s cannot be judged from %s, which shows only %s; "+
		"read the live table (or a ctdiag JSON dump of it) instead", name, strings.Join(bits.Names(), ","), f.Description(), shows)}
}

// noteUndecided says how many offloaded entries a status filter could not
// judge from text.
func noteUndecided(e env, name string, n int) {
	if n > 0 {
		fmt.Fprintf(e.stderr, "ctdiag: %s: %d [OFFLOAD]/[HW_OFFLOAD] entries not listed: the dump prints [OFFLOAD] in place of [ASSURED], so whether they are ASSURED is unknown\n", name, n)
	}
}

// checkLabels refuses -l names conntrack would refuse: a label must be
// named in connlabel.conf (or be a bit number, as ctdiag prints labels the
// file does not name).
func checkLabels(flt *filter.Filter, path string) error {
	if len(flt.Labels) == 0 {
		return nil
	}
	names, err := collector.ReadLabelNames(path)
	for _, l := range flt.Labels {
		if n, nerr := strconv.Atoi(l); nerr == nil && n >= 0 && n < 128 {
			continue
		}
		if slices.Contains(names, l) {
			continue
		}
		if err != nil {
			return usageError("unknown label %q: %v (conntrack finds label names there too; --connlabel FILE reads another, e.g. a copy from the machine a dump came from)", l, err)
		}
		return usageError("unknown label %q: %s does not name it (--connlabel FILE reads another)", l, path)
	}
	return nil
}
