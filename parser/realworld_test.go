package parser

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// realWorld is the corpus of conntrack output other people published
// (issue threads, mails, manuals, other projects' fixtures; SOURCES.md there
// says where each came from). It lives beside the repository, not in it:
// from the module root, ../shared/realworld.
const realWorld = "../../shared/realworld"

// corpusWant is what a corpus file holds, counted from the file by hand
// (wc -l, grep -c, reading it), not from what ctdiag prints.
type corpusWant struct {
	formats   []Format // what detection may say (some text cannot tell /proc from -o extended)
	flows     int
	events    int
	expects   int // expectation lines
	stats     int // conntrack -S lines or /proc/net/stat rows
	klog      int // kernel-log lines about conntrack (a wrapped one counts once)
	klogOther int // kernel-log lines about something else
	sysctls   int
	// malformed lists the lines refused, each reported with the file, its
	// number and what was expected; why is a phrase every one of them
	// says, when they share one.
	malformed []int
	why       string
	// notConntrack: the whole file is refused as no conntrack format, at
	// the line given.
	notConntrack int
}

func fmts(f ...Format) []Format { return f }

var corpus = map[string]corpusWant{
	"s01-cttools-manual-proc-example.txt": {formats: fmts(FormatConntrack), flows: 2},
	"s02-cttools-manual-L.txt":            {formats: fmts(FormatConntrack), flows: 2},
	"s03-cttools-manual-E.txt":            {formats: fmts(FormatEvents), events: 5},
	// conntrackd's cache: no timeout, "[active since Ns]".
	"s04-cttools-manual-conntrackd-i.txt": {formats: fmts(FormatConntrack), malformed: []int{1, 2, 3, 4, 5}, why: "conntrackd -i"},
	"s05-cttools-manual-E-expect.txt":     {formats: fmts(FormatEvents), expects: 3},
	"s06-netlink876-L.txt":                {formats: fmts(FormatConntrack), flows: 3},
	"s07-netlink949-L.txt":                {formats: fmts(FormatConntrack), flows: 1},
	"s08-k8s101607-L.txt":                 {formats: fmts(FormatConntrack), flows: 2},
	"s09-k8s126130-L.txt":                 {formats: fmts(FormatConntrack), flows: 1},
	// kube-proxy's own log lines around tab-indented entries, the third cut.
	"s10-k8s126130-kubeproxy-log.txt":      {formats: fmts(FormatConntrack), flows: 2, malformed: []int{1, 2, 3, 4, 7}},
	"s11-k8s141371-L-collapsed-spaces.txt": {formats: fmts(FormatConntrack), flows: 1},
	"s12-pyroute2-1198-L-offload.txt":      {formats: fmts(FormatConntrack), flows: 6},
	"s13-ubicloud1009-L-offload-tcp.txt":   {formats: fmts(FormatConntrack), flows: 6},
	"s14-luci5909-L-acct-offload.txt":      {formats: fmts(FormatConntrack), flows: 3},
	"s15-telegraf8955-S.txt":               {formats: fmts(FormatStats), stats: 8},
	"s16-nftables138-S.txt":                {formats: fmts(FormatStats), stats: 4},
	// Addresses redacted as ip1/ip2.
	"s17-nftables138-E-redacted.txt": {formats: fmts(FormatEvents), malformed: []int{1}, why: `an IP address after src=, got "ip1"`},
	// VyOS's table around conntrack -S fields: its header and rule are refused.
	"s18-vyos1489-show-conntrack-statistics.txt": {formats: fmts(FormatStats), stats: 4, malformed: []int{1, 2}},
	"s19-vyos3804-logger-events.txt":             {formats: fmts(FormatEvents), events: 4},
	// Five table-full lines, the first cut at the front, four wrapped.
	"s20-starphleet352-dmesg-wrapped.txt":            {formats: fmts(FormatKernelLog), klog: 5},
	"s21-hotsos101-klog-double-prefix.txt":           {formats: fmts(FormatKernelLog), klog: 1},
	"s23-ctlogger5-E.txt":                            {formats: fmts(FormatEvents), events: 5},
	"s24-zfs3748-dmesg-quoted.txt":                   {formats: fmts(FormatKernelLog), klog: 6, klogOther: 4},
	"s25-firehol241-dmesg-helper.txt":                {formats: fmts(FormatKernelLog), klog: 1},
	"s26-blog-cn-proc-secmark.txt":                   {formats: fmts(FormatProc, FormatExtended), flows: 3},
	"s27-blog-cn-sysctl-nf.txt":                      {formats: fmts(FormatSysctl), sysctls: 31},
	"s28-blog-cn-proc-secctx.txt":                    {formats: fmts(FormatProc), flows: 1},
	"s29-asus-fastnat-proc.txt":                      {formats: fmts(FormatProc), flows: 4},
	"s30-asus-fastnat-icmp-udp.txt":                  {formats: fmts(FormatProc, FormatExtended), flows: 2},
	"s32-node-exporter-stat.txt":                     {formats: fmts(FormatProcStat), stats: 4},
	"s33-jc646-E-destroy.txt":                        {formats: fmts(FormatEvents), events: 10},
	"s34-nuttx2356-lookalike-L.txt":                  {notConntrack: 1}, // NuttX's imitation: no protocol numbers
	"s35-openwrt19359-klog-invalid.txt":              {formats: fmts(FormatKernelLog), klog: 1},
	"s36-k8s71261-dmesg-T.txt":                       {formats: fmts(FormatKernelLog), klog: 4},
	"s37-netfilter-devel-selftest-hash-prefixed.txt": {formats: fmts(FormatMixed), flows: 1, stats: 1, malformed: []int{7}}, // the poster's "..."
	"s38-aks-conntrack-S.txt":                        {formats: fmts(FormatStats), stats: 2},
	"s39-pt-post-conntrack-S-tab.txt":                {formats: fmts(FormatStats), stats: 2},
	"s40-netfilter-devel-flowtable-E.txt":            {formats: fmts(FormatEvents), events: 5},
	"s41-netfilter-devel-hwoffload-wrapped.txt":      {formats: fmts(FormatProc, FormatExtended), malformed: []int{1, 2, 3, 4}}, // wrapped by the poster
	"s42-netdev-hwoffload-mangled.txt":               {formats: fmts(FormatProc, FormatExtended), malformed: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	"s43-robric-sctp-L.txt":                          {formats: fmts(FormatConntrack), flows: 1},
	"s44-robric-sctp-E-lifecycle.txt":                {formats: fmts(FormatEvents), events: 7, malformed: []int{8}}, // "...."
	"s45-robric-sctp-E-new.txt":                      {formats: fmts(FormatEvents), events: 9},
	// Wrapped by a mail client, with impossible addresses.
	"s46-linux-sctp-E-wrapped-badaddr.txt":        {formats: fmts(FormatEvents), malformed: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	"s47-pptp-gre-proc-oldkernel.txt":             {formats: fmts(FormatProc), flows: 2},
	"s48-pptp-expect-proc.txt":                    {formats: fmts(FormatExpect), expects: 1},
	"s49-gre-L-docstring.txt":                     {formats: fmts(FormatConntrack), flows: 1},
	"s50-scope-L-o-id.txt":                        {formats: fmts(FormatConntrack), flows: 4},
	"s51-scope-E-o-id.txt":                        {formats: fmts(FormatEvents), events: 4},
	"s52-arch-sysctl-a-netfilter.txt":             {formats: fmts(FormatSysctl), sysctls: 65},
	"s53-old-sysctl-ip_conntrack.txt":             {formats: fmts(FormatSysctl), sysctls: 21},
	"s54-faqs-iptables-tutorial-ip_conntrack.txt": {formats: fmts(FormatConntrack), malformed: []int{1, 2, 3}}, // addresses lost in HTML, wrapped

	"derived/d06-crlf.txt":                    {formats: fmts(FormatConntrack), flows: 3},
	"derived/d13-offload-x40.txt":             {formats: fmts(FormatConntrack), flows: 40},
	"derived/d24-dmesg-unindented.txt":        {formats: fmts(FormatKernelLog), klog: 6, klogOther: 4},
	"derived/d24b-dmesg-noellipsis.txt":       {formats: fmts(FormatKernelLog), klog: 6, klogOther: 3},
	"derived/d29-ipv6-proc-novendor.txt":      {formats: fmts(FormatProc), flows: 1},
	"derived/d42-netdev-hwoffload-joined.txt": {formats: fmts(FormatProc), flows: 2},
	"derived/d46-sctp-E-joined-badaddr.txt":   {formats: fmts(FormatEvents), malformed: []int{1, 2, 3, 4}, why: "an IP address after src="},

	// conntrack -E -o xml: one event on one line, two pretty-printed.
	"s22-ctlogger4-E-xml.txt":    {formats: fmts(FormatXMLEvents), events: 1},
	"s31-pakon-E-xml-pretty.txt": {formats: fmts(FormatXMLEvents), events: 2},
}

// TestRealWorldCorpus reads every file of the corpus as ctdiag report does
// (path expansion, detection, the sample walk, the options the command line
// passes) and, for flow tables, as ctdiag list does: none panics, and each
// is either read with the records its table entry says, or refused with a
// message naming the file, the line and what was expected there.
func TestRealWorldCorpus(t *testing.T) {
	if _, err := os.Stat(filepath.Join(realWorld, "SOURCES.md")); err != nil {
		t.Skipf("the real-world corpus is not beside the repository (../shared/realworld from the module root): %v", err)
	}
	var files []string
	for _, pattern := range []string{"*.txt", "derived/*.txt"} {
		m, err := filepath.Glob(filepath.Join(realWorld, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := map[string]bool{}
	for _, path := range files {
		rel, _ := filepath.Rel(realWorld, path)
		seen[rel] = true
		want, ok := corpus[rel]
		if !ok {
			t.Errorf("%s: not in the test's table: count what it holds and add it", rel)
			continue
		}
		t.Run(rel, func(t *testing.T) { checkCorpusFile(t, path, want) })
	}
	for rel := range corpus {
		if !seen[rel] {
			t.Errorf("%s: in the table, not in the corpus", rel)
		}
	}
}

// countingSink counts what WalkSamples hands on.
type countingSink struct {
	samples, flows int
	extra          track.Snapshot
}

func (s *countingSink) BeginSample(track.Snapshot) error { s.samples++; return nil }
func (s *countingSink) Flow(*track.Flow) error           { s.flows++; return nil }
func (s *countingSink) Extra(x *track.Snapshot) error    { s.extra.Merge(x); return nil }
func (s *countingSink) EndSample() error                 { return nil }

func checkCorpusFile(t *testing.T, path string, want corpusWant) {
	inputs, err := ExpandPaths([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{}
	w, err := WalkSamples(inputs, Options{}, sink)
	if err != nil {
		t.Fatalf("report's walk: %v", err)
	}
	if want.notConntrack > 0 {
		prefix := fmt.Sprintf("%s: not a conntrack format (line %d: ", path, want.notConntrack)
		if len(w.Skipped) != 1 || !strings.HasPrefix(w.Skipped[0], prefix) || sink.samples != 0 {
			t.Errorf("want it refused as %q…; skipped %q, %d samples", prefix, w.Skipped, sink.samples)
		}
		return
	}
	if len(w.Decoders) != 1 || len(w.Skipped) != 0 {
		t.Fatalf("decoders %d, skipped %q", len(w.Decoders), w.Skipped)
	}
	d := w.Decoders[0]
	c := d.Counts()
	if !slices.Contains(want.formats, d.Format()) {
		t.Errorf("detected %s, want one of %v", d.Format(), want.formats)
	}
	const names = "entries, events, expectations, statistics lines, kernel-log lines, other kernel lines, sysctls"
	got := [...]int{sink.flows, c.Events, c.Expectations, c.StatsLines, c.KernelLog, c.KernelOther, c.Sysctls}
	exp := [...]int{want.flows, want.events, want.expects, want.stats, want.klog, want.klogOther, want.sysctls}
	if got != exp {
		t.Errorf("read %v, want %v (%s)", got, exp, names)
	}
	if n := sink.extra.EventTotals.Created + sink.extra.EventTotals.Destroyed; c.Events > 0 && n == 0 {
		t.Errorf("%d events read, none reached the sample", c.Events)
	}
	if len(sink.extra.Sysctls) != want.sysctls && want.sysctls > 0 {
		t.Errorf("%d sysctls reached the sample, want %d", len(sink.extra.Sysctls), want.sysctls)
	}
	if kt := sink.extra.KernelLogCounts(); kt.Lines != want.klog {
		t.Errorf("%d kernel-log lines reached the sample, want %d", kt.Lines, want.klog)
	}
	// Every refused line: counted, and the first ones named with file,
	// line and what was expected.
	p := d.Problems()
	if p.Count != len(want.malformed) {
		t.Errorf("%d malformed lines, want %d (%v): %v", p.Count, len(want.malformed), want.malformed, p.Samples)
	}
	for i, s := range p.Samples {
		msg := s.Error()
		prefix := fmt.Sprintf("%s:%d: ", path, s.Line)
		if i < len(want.malformed) && s.Line != want.malformed[i] || !strings.HasPrefix(msg, prefix) ||
			!strings.Contains(msg, "expected ") || !errors.Is(&s, ErrMalformed) && !errors.Is(&s, ErrTruncated) {
			t.Errorf("problem %d: %q (want line %v)", i, msg, want.malformed)
		}
		if want.why != "" && !strings.Contains(msg, want.why) {
			t.Errorf("problem %d: %q does not say %q", i, msg, want.why)
		}
	}
	// ctdiag list reads a flow table's entries the same way.
	if d.Format().IsFlowTable() || d.Format() == FormatMixed {
		ld, err := OpenInput(inputs[0], Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ld.Close()
		n := 0
		if err := ld.Flows(func(*track.Flow) error { n++; return nil }); err != nil || n != want.flows || ld.Problems().Count != len(want.malformed) {
			t.Errorf("list: %d entries, %d malformed, %v", n, ld.Problems().Count, err)
		}
	}
}
