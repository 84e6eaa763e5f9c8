package collector

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// allowedRequests are the only netlink messages ctdiag may send: table
// and expectation dumps, statistics, the global count.
var allowedRequests = map[uint16]string{
	uint16(netlinkct.SubsysConntrack)<<8 | uint16(netlinkct.MsgGet):         "IPCTNL_MSG_CT_GET",
	uint16(netlinkct.SubsysConntrack)<<8 | uint16(netlinkct.MsgGetStatsCPU): "IPCTNL_MSG_CT_GET_STATS_CPU",
	uint16(netlinkct.SubsysConntrack)<<8 | uint16(netlinkct.MsgGetStats):    "IPCTNL_MSG_CT_GET_STATS",
	uint16(netlinkct.SubsysExpect)<<8 | uint16(netlinkct.MsgExpGet):         "IPCTNL_MSG_EXP_GET",
	uint16(netlinkct.SubsysExpect)<<8 | uint16(netlinkct.MsgExpGetStatsCPU): "IPCTNL_MSG_EXP_GET_STATS_CPU",
}

// TestKernelReadOnly runs every collector operation — open, dumps with and
// without kernel filters, statistics, count, sysctls, kernel log, slab,
// events with a forced overrun and resync, a recording, the namespace
// summary — against a real namespace while recording every netlink request
// and subscription. Each must be a get, dump or statistics request or a
// subscription to conntrack's event groups; a write cannot even be sent;
// and the namespace's table and sysctls are unchanged afterwards.
func TestKernelReadOnly(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "sysctl")
	ns := netnstest.NewNS(t)
	for i := range 50 {
		ns.MustOutput(t, "conntrack", "-I", "-p", "udp", "-s", "192.0.2.1", "-d", "192.0.2.2", "--sport", strconv.Itoa(1000+i), "--dport", "53", "-t", "600", "-u", "SEEN_REPLY", "-m", strconv.Itoa(i%3))
	}
	sysctlBefore := conntrackSysctls(t, ns)
	// A ruleset three ways, so that recording reads nftables (nft and
	// iptables-nft rules) and runs iptables-legacy-save.
	// The anonymous set makes the reader ask for its elements (GETSETELEM).
	ns.Nft(t, "table ip ro {\n chain post {\n type nat hook postrouting priority srcnat;\n ip protocol tcp counter masquerade to :30000-30019 fully-random\n }\n"+
		" chain raw {\n type filter hook prerouting priority raw;\n udp dport { 8125, 8126 } notrack\n }\n}\n")
	for _, cmd := range [][]string{
		{"iptables-nft", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "--dport", "53", "-j", "CT", "--notrack"},
		{"iptables-legacy", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"},
	} {
		if _, err := ns.Output(cmd[0], cmd[1:]...); err != nil {
			t.Logf("ruleset not fully written (%v): the nftables part is still checked", err)
		}
	}
	rulesBefore := rulesetText(t, ns)

	var mu sync.Mutex
	var seen []observed
	cfg := Config{Netns: Netns{Name: ns.Name}, observe: func(o observed) {
		mu.Lock()
		seen = append(seen, o)
		mu.Unlock()
	}}
	ctx := context.Background()
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tuples := DumpFilter{Orig: netlinkct.TupleFilter{Proto: 6, HasProto: true, DstPort: 443, HasDstPort: true}}
	for _, kf := range []DumpFilter{{}, {Family: 2, HasMark: true, Mark: 1, MarkMask: 3, HasStatus: true, Status: 2, StatusMask: 6, HasZone: true}, tuples} {
		if _, err := c.Flows(ctx, kf, func(*track.Flow) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Extra(ctx); err != nil {
		t.Fatal(err)
	}
	// A write cannot be sent, even by mistake.
	for _, w := range []netlinkct.Request{
		{Subsys: netlinkct.SubsysConntrack, Msg: netlinkct.MsgDelete, Flags: netlinkct.FlagRequest | netlinkct.FlagAck},
		{Subsys: netlinkct.SubsysConntrack, Msg: netlinkct.MsgGetCtrZero, Flags: netlinkct.FlagRequest | netlinkct.FlagDump},
	} {
		if _, err := c.nl.send(w); !errors.Is(err, netlinkct.ErrWrite) {
			t.Errorf("a write request was not refused: %v", err)
		}
	}
	// Events, with an overrun: a tiny buffer and a burst of new entries
	// (the test's own writes, not ctdiag's), which the table check below
	// accounts for.
	evc, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer evc.Close()
	rec := newRecorder()
	rec.gated()
	stop := listen(t, evc, EventOptions{ReadBuffer: 4096, MaxReadBuffer: 4096, Expectations: true}, rec)
	rec.openAtEnd(t)
	fill(t, ns, 0, 2000)
	tableBefore := tupleLines(string(ns.MustOutput(t, "conntrack", "-L", "-o", "id")))
	rec.open()
	waitFor(t, "an overrun", func() bool { _, l, _ := rec.snapshot(); return len(l) > 0 })
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := Record(ctx, Config{Netns: cfg.Netns, observe: cfg.observe}, filepath.Join(t.TempDir(), "r.tar.gz"),
		RecordOptions{Samples: 2, Interval: 100 * time.Millisecond, Events: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := SummarizeNamespaces(ctx, Config{observe: cfg.observe}, nil); err != nil {
		t.Fatal(err)
	}

	kinds := map[string]int{}
	for _, o := range seen {
		switch {
		case o.Group != 0:
			if o.Group < netlinkct.GroupNew || o.Group > netlinkct.GroupExpDestroy {
				t.Errorf("subscription to group %d", o.Group)
			}
			kinds["subscribe"]++
		case allowedRequests[o.Type] != "" && netlinkct.Check(o.Type, o.Flags) == nil:
			kinds[allowedRequests[o.Type]]++
		case ruleset.RequestName(o.Type) != "" && ruleset.Check(o.Type, o.Flags) == nil &&
			o.Type&0xff != 0 && o.Type&0xff != 2 && o.Type&0xff != 6 && o.Type&0xff != 8:
			// nftables gets and dumps (never NEWTABLE 0, DELTABLE 2, NEWRULE 6, DELRULE 8 …)
			kinds[ruleset.RequestName(o.Type)]++
		case netlinkct.Check(o.Type, o.Flags) != nil && (o.Type&0xff == uint16(netlinkct.MsgDelete) || o.Type&0xff == uint16(netlinkct.MsgGetCtrZero)):
			kinds["refused write"]++ // the two deliberate attempts above
		default:
			t.Errorf("request type %#04x flags %#04x is not a read", o.Type, o.Flags)
		}
	}
	t.Logf("requests seen: %v", kinds)
	for _, k := range []string{"IPCTNL_MSG_CT_GET", "IPCTNL_MSG_CT_GET_STATS_CPU", "IPCTNL_MSG_CT_GET_STATS", "IPCTNL_MSG_EXP_GET_STATS_CPU", "subscribe",
		"NFT_MSG_GETTABLE", "NFT_MSG_GETCHAIN", "NFT_MSG_GETRULE", "NFT_MSG_GETGEN", "NFT_MSG_GETSETELEM"} {
		if kinds[k] == 0 {
			t.Errorf("no %s seen: the test did not exercise it", k)
		}
	}
	if kinds["refused write"] != 2 {
		t.Errorf("refused writes: %d", kinds["refused write"])
	}
	if got := tupleLines(string(ns.MustOutput(t, "conntrack", "-L", "-o", "id"))); !slices.Equal(got, tableBefore) {
		t.Errorf("the table changed:\n%v\n%v", tableBefore, got)
	}
	if got := conntrackSysctls(t, ns); !slices.Equal(got, sysctlBefore) {
		t.Errorf("sysctls changed:\n%v\n%v", sysctlBefore, got)
	}
	if got := rulesetText(t, ns); got != rulesBefore {
		t.Errorf("the ruleset changed:\n%s\n%s", rulesBefore, got)
	}
}

// rulesetText is the namespace's ruleset as nft and iptables-legacy-save
// list it, handles included, counters left out (traffic may move them).
func rulesetText(t *testing.T, ns *netnstest.NS) string {
	out := string(ns.MustOutput(t, "nft", "-a", "list", "ruleset"))
	if legacy, err := ns.Output("iptables-legacy-save"); err == nil {
		out += string(legacy)
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "# Generated") || strings.HasPrefix(l, "# Completed") {
			continue
		}
		if i := strings.Index(l, "counter packets"); i >= 0 {
			l = l[:i]
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// tupleLines keeps what identifies entries (id and tuples), dropping the
// ticking timeout.
func tupleLines(text string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(l)
		var keep []string
		for _, x := range f {
			if strings.Contains(x, "=") {
				keep = append(keep, x)
			}
		}
		out = append(out, strings.Join(keep, " "))
	}
	slices.Sort(out)
	return out
}

func conntrackSysctls(t *testing.T, ns *netnstest.NS) []string {
	var out []string
	for _, l := range strings.Split(string(ns.MustOutput(t, "sysctl", "-a")), "\n") {
		if strings.HasPrefix(l, "net.netfilter.") && !strings.HasPrefix(l, "net.netfilter.nf_conntrack_count") {
			out = append(out, l)
		}
	}
	return out
}

// TestNoWritePathInProduction reads the source of every package ctdiag is
// built from and fails on any way to change kernel state: importing the
// table filler or the test harness, building a ctnetlink request outside
// netlinkct's read-only constructors, a constructor that is not a read,
// sending on a netlink socket anywhere but the checked send, using
// ti-mo/conntrack's connection (whose methods include Create, Update,
// Delete and Flush), or opening files for writing outside the bundle
// writer.
func TestNoWritePathInProduction(t *testing.T) {
	root := "../"
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case "internal", ".git", "testdata", "bench", "scripts", "docs":
				return filepath.SkipDir // test harnesses and tools, not ctdiag
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		checkFile(t, rel, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 30 {
		t.Fatalf("only %d files checked", checked)
	}
}

func checkFile(t *testing.T, rel string, f *ast.File) {
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if strings.Contains(p, "internal/testkit/ctfill") || strings.Contains(p, "internal/testkit/netnstest") {
			t.Errorf("%s imports %s", rel, p)
		}
		// google/nftables' Conn adds and deletes rules; ruleset reads over
		// its own checked socket and takes only the expression types.
		if p == "github.com/google/nftables" {
			t.Errorf("%s imports %s (its Conn can change rules; use package ruleset)", rel, p)
		}
	}
	writeFlags := map[string]bool{"O_WRONLY": true, "O_RDWR": true, "O_CREATE": true, "O_APPEND": true, "O_TRUNC": true}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Request" && isIdent(sel.X, "netlinkct") {
				t.Errorf("%s builds a netlinkct.Request itself; use netlinkct's read-only constructors", rel)
			}
			if id, ok := n.Type.(*ast.Ident); ok && id.Name == "Request" && rel == filepath.Join("collector", "netlinkct", "request.go") {
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok || !isIdent(kv.Key, "Msg") {
						continue
					}
					if id, ok := kv.Value.(*ast.Ident); !ok || !slices.Contains([]string{"MsgGet", "MsgGetStatsCPU", "MsgGetStats", "MsgExpGet", "MsgExpGetStatsCPU"}, id.Name) {
						t.Errorf("%s: a request constructor uses message %s", rel, render(kv.Value))
					}
				}
			}
		case *ast.SelectorExpr:
			name := n.Sel.Name
			if isIdent(n.X, "conntrack") && (name == "Dial" || name == "Conn") {
				t.Errorf("%s uses ti-mo/conntrack's connection (conntrack.%s)", rel, name)
			}
			if (name == "Send" || name == "SendMessages" || name == "Execute") && rel != filepath.Join("collector", "nl.go") && rel != filepath.Join("ruleset", "live.go") {
				if x, ok := n.X.(*ast.SelectorExpr); ok && (x.Sel.Name == "c" || x.Sel.Name == "conn") {
					t.Errorf("%s sends on a netlink socket (%s)", rel, render(n))
				}
			}
			if isIdent(n.X, "os") && (name == "Create" || name == "WriteFile") && rel != filepath.Join("collector", "record.go") {
				t.Errorf("%s writes a file (os.%s)", rel, name)
			}
			if (isIdent(n.X, "os") || isIdent(n.X, "unix") || isIdent(n.X, "syscall")) && writeFlags[name] &&
				rel != filepath.Join("collector", "record.go") {
				t.Errorf("%s opens something for writing (%s)", rel, render(n))
			}
		}
		return true
	})
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func render(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return render(e.X) + "." + e.Sel.Name
	}
	return "expression"
}
