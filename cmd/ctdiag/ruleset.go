package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

type rulesetOptions struct {
	output   string
	netns    string
	netnsPID int
	all      bool
	strict   bool
}

func newRulesetCmd(e env) *cobra.Command {
	opts := &rulesetOptions{}
	cmd := &cobra.Command{
		Use:   "ruleset [FILE...]",
		Short: "Show the firewall rules that concern conntrack, hook by hook, in the order a packet meets them",
		Long: `Show the host's netfilter hooks in the order a packet meets them, each with
its base chains by priority and, in them, the rules that concern connection
tracking: state matches (ct state, -m conntrack --ctstate, -m state), NOTRACK
(notrack, -j CT --notrack, -j NOTRACK), zones and helpers, NAT (masquerade,
snat, dnat, redirect) with their address and port ranges and the flags
random, fully-random (--random-fully) and persistent, and rules that drop
packets conntrack marked INVALID. Every rule shows its counter. Where
conntrack itself sits is shown too: it looks packets up at priority -200 in
prerouting and output (after raw, before mangle and dstnat, so NOTRACK must
come before it) and confirms new entries last in input and postrouting.
Rules that jump or go to a regular chain are followed: that chain's rules are
shown under the rule that reaches them. --all shows every rule.

Without FILE, the live ruleset of this network namespace is read (root:
CAP_NET_ADMIN), or of --netns NAME / --netns-pid PID: the nftables tables over
netlink, which shows what nft and iptables-nft wrote (x_tables matches and
targets decoded), then, when the namespace has legacy x_tables tables,
those with iptables-legacy-save -c run inside it; the output says so.
Nothing is changed: only get and dump requests are sent.

A FILE is the output of iptables-save [-c] or ip6tables-save (legacy or
nft), iptables -L listings (-nvL, -x, --line-numbers; a "### iptables -t
TABLE -nvL" line before each table's listing names it), nft list ruleset
(with or without -a), nft -j list ruleset, this
command's -o json, a directory holding such files, or a ctdiag record
bundle (which captures the ruleset with every sample; the last is shown).
Several files (iptables-save and ip6tables-save) make one ruleset. Lines
that cannot be read are counted and named with file:line; --strict makes
them fatal.

Exit status: 0 success, 2 bad usage or unusable input (or malformed lines
with --strict), 4 the live ruleset could not be read (no privilege, no such
namespace).`,
		Example: `  sudo ctdiag ruleset                     # this namespace, live
  sudo ctdiag ruleset --netns web -o json > web.ruleset.json
  ctdiag ruleset iptables-save.txt ip6tables-save.txt
  nft -j list ruleset | ctdiag ruleset -
  ctdiag ruleset capture.tar.gz           # the ruleset a recording took`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRuleset(e, opts, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "text", "output format: text, json")
	f.StringVar(&opts.netns, "netns", "", "read the network namespace NAME, as ip netns names it (/run/netns/NAME)")
	f.IntVar(&opts.netnsPID, "netns-pid", 0, "read the network namespace of process PID (a container's)")
	f.BoolVar(&opts.all, "all", false, "show every rule, not only those that concern conntrack")
	f.BoolVar(&opts.strict, "strict", false, "exit 2 if any line of a file is malformed")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runRuleset(e env, opts *rulesetOptions, args []string) error {
	if opts.output != "text" && opts.output != "json" {
		return usageError("unknown --output %q: want text or json", opts.output)
	}
	if (opts.netns != "" || opts.netnsPID != 0) && len(args) > 0 {
		return usageError("--netns and --netns-pid read the live ruleset: give them or files, not both")
	}
	if opts.netns != "" && opts.netnsPID != 0 {
		return usageError("give --netns or --netns-pid, not both")
	}
	var rs *track.Ruleset
	var err error
	if len(args) == 0 {
		rs, err = readLiveRuleset(opts)
	} else {
		rs, err = readRulesetFiles(e, opts, args)
	}
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	if opts.output == "json" {
		err = ruleset.WriteJSON(w, rs)
	} else {
		writeRulesetText(w, rs, opts.all)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("writing the ruleset: %w", err)}
	}
	return nil
}

func readLiveRuleset(opts *rulesetOptions) (*track.Ruleset, error) {
	live := ruleset.Live{}
	var path string
	switch {
	case opts.netns != "":
		if strings.ContainsRune(opts.netns, '/') || opts.netns == "." || opts.netns == ".." {
			return nil, usageError("%q is not a namespace name (ip netns list shows them)", opts.netns)
		}
		path, live.NetnsName = filepath.Join("/run/netns", opts.netns), opts.netns
	case opts.netnsPID != 0:
		path, live.NetnsName = fmt.Sprintf("/proc/%d/ns/net", opts.netnsPID), "of pid "+strconv.Itoa(opts.netnsPID)
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, &exitError{code: exitFailure, err: fmt.Errorf("opening the namespace: %w\n  ip netns list shows the names; --netns-pid takes a process in the namespace", err)}
		}
		defer f.Close()
		live.Netns = f
	}
	rs, err := ruleset.Read(context.Background(), live)
	if err != nil {
		if errors.Is(err, ruleset.ErrPermission) {
			err = fmt.Errorf("%w\n  run it with sudo, or pass a saved ruleset: iptables-save -c > rules.txt; nft -j list ruleset > rules.json", err)
		}
		return nil, &exitError{code: exitFailure, err: err}
	}
	return rs, nil
}

// readRulesetFiles reads ruleset files (directories and record bundles
// expanded) into one ruleset: the tables of every file, in order; of a
// bundle's samples, the last.
func readRulesetFiles(e env, opts *rulesetOptions, args []string) (*track.Ruleset, error) {
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		return nil, usageError("%v", err)
	}
	out := &track.Ruleset{}
	var sources []string
	malformed := 0
	bundleRuleset := map[string]*track.Ruleset{} // the last ruleset of each bundle
	for _, in := range inputs {
		rc, err := openInput(e, in)
		if err != nil {
			return nil, usageError("%v", err)
		}
		br := bufio.NewReaderSize(rc, 64<<10)
		head, _ := br.Peek(4096)
		var r io.Reader = br
		if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
			zr, err := gzip.NewReader(br)
			if err != nil {
				rc.Close()
				return nil, usageError("%s: %v", in.Path, err)
			}
			br = bufio.NewReaderSize(zr, 64<<10)
			head, _ = br.Peek(4096)
			r = br
		}
		format := ruleset.Detect(head)
		if format == ruleset.FormatNone {
			rc.Close()
			if !in.FromDir {
				return nil, usageError("%s: not a ruleset (want iptables-save, nft list ruleset, nft -j list ruleset or ctdiag ruleset JSON output)", in.Path)
			}
			continue
		}
		res, err := ruleset.Parse(r, in.Path, format)
		rc.Close()
		if err != nil {
			return nil, usageError("%v", err)
		}
		for _, p := range res.Problems.First {
			fmt.Fprintf(e.stderr, "ctdiag: %s:%d: %v\n", in.Path, p.Line, p.Err)
		}
		if n := res.Problems.Count - len(res.Problems.First); n > 0 {
			fmt.Fprintf(e.stderr, "ctdiag: %s: %d more malformed lines\n", in.Path, n)
		}
		malformed += res.Problems.Count
		if in.Bundle != "" {
			bundleRuleset[in.Bundle] = res.Ruleset
			continue
		}
		mergeRuleset(out, res.Ruleset)
		sources = append(sources, in.Path)
	}
	for b, rs := range bundleRuleset {
		mergeRuleset(out, rs)
		sources = append(sources, b+" (the last sample's ruleset)")
	}
	if opts.strict && malformed > 0 {
		return nil, &exitError{code: exitParameter, err: fmt.Errorf("%d malformed lines (--strict)", malformed)}
	}
	if len(sources) == 0 {
		return nil, usageError("no ruleset found in %s", strings.Join(args, ", "))
	}
	out.Source = strings.Join(sources, ", ")
	return out, nil
}

func openInput(e env, in parser.Input) (io.ReadCloser, error) {
	switch {
	case in.Open != nil:
		return in.Open()
	case in.Path == "-":
		return io.NopCloser(e.stdin), nil
	}
	return os.Open(in.Path)
}

func mergeRuleset(dst, src *track.Ruleset) {
	dst.Tables = append(dst.Tables, src.Tables...)
	dst.Notes = append(dst.Notes, src.Notes...)
	dst.Unknown += src.Unknown
	dst.Comments += src.Comments
}

// writeRulesetText prints the hooks in packet order with their
// conntrack-relevant rules.
func writeRulesetText(w io.Writer, rs *track.Ruleset, all bool) {
	fmt.Fprintf(w, "Ruleset: %s\n", rs.Source)
	var backends []string
	for _, b := range rs.Backends() {
		backends = append(backends, b.String())
	}
	needs := rs.NeedsConntrack()
	fmt.Fprintf(w, "  %d tables (%s), %d rules; conntrack is needed by %d state, %d NAT and %d helper/zone rules\n",
		len(rs.Tables), strings.Join(backends, ", "), rs.RuleCount(), len(needs.State), len(needs.NAT), len(needs.Helper))
	if !needs.Any() {
		fmt.Fprintln(w, "  no rule matches conntrack state, translates addresses or sets a helper: nothing here needs connection tracking")
	}
	if n := len(rs.NotrackRules()); n > 0 {
		fmt.Fprintf(w, "  %d NOTRACK rules keep packets out of the table\n", n)
	}
	for _, x := range rs.InvalidDrops() {
		fmt.Fprintf(w, "  INVALID packets dropped by %s %s %s #%d: %s\n", x.Family, x.Table, x.Chain, x.Rule.Position, strings.TrimSpace(counterText(&x.Rule)))
	}
	for _, x := range rs.SourceNATPortRanges(0, 0) {
		a := x.Rule.Action
		fmt.Fprintf(w, "  %s source ports %s (%d ports) in %s %s %s #%d%s\n", strings.ToUpper(a.Kind.String()), a.Ports, a.PortCount(),
			x.Family, x.Table, x.Chain, x.Rule.Position, flagText(a.Flags))
	}
	for _, n := range rs.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if rs.Unknown > 0 {
		fmt.Fprintf(w, "  %d matches or statements were not decoded (shown in <…> or kept in the rule's text); rules with them may select less than shown\n", rs.Unknown)
	}
	for _, l := range rs.Outline(all) {
		indent := "      " + strings.Repeat("    ", l.Depth)
		switch l.Kind {
		case track.OutlineHook:
			fmt.Fprintf(w, "\n%s\n", strings.ToUpper(l.Hook.String()))
		case track.OutlineConntrack:
			fmt.Fprintf(w, "  %-11s ── %s\n", prioText(l.Priority), l.Conntrack)
		case track.OutlineChain:
			policy := ""
			if l.Policy != "" {
				policy = ", policy " + l.Policy
			}
			fmt.Fprintf(w, "  %-11s %s %s %s [%s%s]\n", prioText(l.Priority)+" "+track.PriorityName(l.Hook, l.Priority),
				l.Chain.Family, l.Chain.Table, l.Chain.Chain, l.Chain.Backend, policy)
		case track.OutlineOthers:
			fmt.Fprintf(w, "%s… %d other rules\n", indent, l.Others)
		case track.OutlineRule:
			r := &l.Chain.Rule
			tag := r.Tag()
			if tag != "" {
				tag += " "
			}
			fmt.Fprintf(w, "%s#%-3d %s  %s%s\n", indent, r.Position, counterText(r), tag, r.Plain())
		}
	}
}

func prioText(p int32) string {
	if p == track.PriorityConntrackConfirm {
		return "last"
	}
	return strconv.Itoa(int(p))
}

func flagText(f track.NATFlags) string {
	if f == 0 {
		return ""
	}
	return " " + f.String()
}

func counterText(r *track.Rule) string {
	if !r.HasCounter {
		return fmt.Sprintf("%25s", "(no counter)")
	}
	return fmt.Sprintf("%9s pkts %10s", humanCount(r.Counter.Packets), humanBytes(r.Counter.Bytes))
}

func humanCount(n uint64) string {
	switch {
	case n >= 10_000_000_000:
		return fmt.Sprintf("%dG", n/1_000_000_000)
	case n >= 10_000_000:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 100_000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.FormatUint(n, 10)
}

func humanBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
