package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// runLiveList lists the live table: netlink, else /proc, in the namespace
// the flags name.
func runLiveList(e env, opts *listOptions, flt *filter.Filter) error {
	cfg, err := opts.live.config()
	if err != nil {
		return usageError("%v", err)
	}
	cfg.LabelFile = opts.connlabel
	c, err := collector.Open(cfg)
	if err != nil {
		return liveError(err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var w flowOutput
	if !opts.count {
		if w, err = newFlowOutput(e.stdout, opts.spec); err != nil {
			return usageError("%v", err)
		}
	}
	// conntrack -L prints ids, start and stop times and labels only when
	// asked (-o id, ktimestamp, labels); JSON keeps everything.
	hide := opts.spec.liveHidden()
	shown := 0
	info, err := c.Flows(ctx, collector.KernelFilter(flt), func(f *track.Flow) error {
		if !flt.Match(f) {
			return nil
		}
		shown++
		if w == nil {
			return nil
		}
		f.Fields &^= hide
		return w.Write(f)
	})
	if w != nil {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("writing output: %w", cerr)
		}
	}
	if !opts.quiet {
		extra := ""
		if info.KernelFiltered {
			extra = ", filtered in the kernel"
		}
		describeSource(e.stderr, c, fmt.Sprintf("%s, %d entries read", extra, info.Entries))
	}
	if info.Problems != nil {
		reportProblems(e, c.Source().Name, info.Problems)
	}
	if err != nil {
		return liveError(err)
	}
	if opts.count {
		fmt.Fprintln(e.stdout, shown)
	} else {
		fmt.Fprintf(e.stderr, "ctdiag: %d flow entries have been shown.\n", shown)
	}
	if opts.strict && info.Problems != nil && info.Problems.Count > 0 {
		return &exitError{code: exitParameter, err: fmt.Errorf("%d malformed lines (--strict)", info.Problems.Count)}
	}
	return nil
}

// runAllNetns prints one line per network namespace: entries, share of
// nf_conntrack_max, top states (with the filter applied to the entries).
func runAllNetns(e env, opts *listOptions, flt *filter.Filter, outFormat parser.Format) error {
	cfg, err := opts.live.config()
	if err != nil {
		return usageError("%v", err)
	}
	if !cfg.Netns.IsZero() {
		return usageError("--all-netns reads every namespace; drop --netns/--netns-pid")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sums, err := collector.SummarizeNamespaces(ctx, cfg, flt)
	if err != nil {
		return liveError(err)
	}
	if outFormat == parser.FormatJSON || outFormat == parser.FormatJSONL {
		return writeNetnsJSON(e, sums, outFormat)
	}
	if opts.count {
		total := 0
		for _, s := range sums {
			total += s.Matched
		}
		fmt.Fprintln(e.stdout, total)
		return nil
	}
	sort.SliceStable(sums, func(i, j int) bool { return sums[i].Count > sums[j].Count })
	fmt.Fprintf(e.stdout, "%-24s %12s %9s %8s  %s\n", "NETNS", "INODE", "ENTRIES", "OF MAX", "TOP STATES")
	failed := 0
	for _, s := range sums {
		if s.Err != nil {
			failed++
			fmt.Fprintf(e.stdout, "%-24s %12d %9s %8s  %v\n", s.Label(), s.Inode, "?", "?", s.Err)
			continue
		}
		share := "?"
		if s.Max > 0 {
			share = fmt.Sprintf("%.1f%%", 100*float64(s.Count)/float64(s.Max))
		}
		var top []string
		for _, st := range s.TopStates(3) {
			top = append(top, fmt.Sprintf("%s %d", st.Name, st.Count))
		}
		fmt.Fprintf(e.stdout, "%-24s %12d %9d %8s  %s\n", s.Label(), s.Inode, s.Count, share, strings.Join(top, ", "))
	}
	if !opts.quiet {
		fmt.Fprintf(e.stderr, "ctdiag: %d network namespaces", len(sums))
		if len(sums) > 0 && sums[0].Max > 0 {
			fmt.Fprintf(e.stderr, "; nf_conntrack_max %d applies to each", sums[0].Max)
		}
		fmt.Fprintln(e.stderr)
	}
	if failed > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d namespaces could not be read", failed)}
	}
	return nil
}

// writeNetnsJSON writes the namespace summaries as a JSON array or lines.
func writeNetnsJSON(e env, sums []collector.NetnsSummary, format parser.Format) error {
	type state struct {
		State string `json:"state"`
		Count int    `json:"count"`
	}
	type row struct {
		Netns   string  `json:"netns"`
		Inode   uint64  `json:"inode"`
		PIDs    []int   `json:"pids,omitempty"`
		Own     bool    `json:"own,omitempty"`
		Entries uint64  `json:"entries"`
		Max     uint64  `json:"max"`
		Matched int     `json:"matched"`
		States  []state `json:"top_states"`
		Source  string  `json:"source,omitempty"`
		Error   string  `json:"error,omitempty"`
	}
	rows := make([]row, 0, len(sums))
	for _, s := range sums {
		r := row{Netns: s.Label(), Inode: s.Inode, PIDs: s.PIDs, Own: s.Own, Entries: s.Count, Max: s.Max, Matched: s.Matched, Source: s.Source.Kind.String()}
		for _, st := range s.TopStates(5) {
			r.States = append(r.States, state{st.Name, st.Count})
		}
		if s.Err != nil {
			r.Error = s.Err.Error()
		}
		rows = append(rows, r)
	}
	enc := json.NewEncoder(e.stdout)
	if format == parser.FormatJSONL {
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}
