package corpus

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// linkSeq numbers the veth pairs this process makes, so their names are
// unique per process (they live only inside the namespaces).
var linkSeq atomic.Uint64

// Routed is three namespaces in a line, the way a router sees traffic:
// cli (10.231.1.1/24) — rtr — srv (10.231.2.2/24), rtr forwarding between
// its two legs (10.231.1.254 and 10.231.2.254). Conntrack is on in all
// three.
type Routed struct {
	Cli, Rtr, Srv *netnstest.NS
	// Cli4 and Srv4 are the end hosts' addresses; RtrIn4 and RtrOut4 the
	// router's on the client and the server side.
	Cli4, RtrIn4, RtrOut4, Srv4 netip.Addr
	// RtrOut is the router's server-side interface (for MASQUERADE rules),
	// CliLink the client's interface.
	RtrOut, CliLink string
}

// NewRouted builds the three namespaces and their links. Without
// masquerade, srv routes back to the client network through rtr; with it,
// srv knows only its own network (replies go to the router's address).
func NewRouted(t testing.TB, masquerade bool) *Routed {
	t.Helper()
	r := &Routed{Cli: netnstest.NewNS(t), Rtr: netnstest.NewNS(t), Srv: netnstest.NewNS(t)}
	r.Cli4, r.RtrIn4 = netip.MustParseAddr("10.231.1.1"), netip.MustParseAddr("10.231.1.254")
	r.RtrOut4, r.Srv4 = netip.MustParseAddr("10.231.2.254"), netip.MustParseAddr("10.231.2.2")
	cliLink, rtrIn := veth(t, r.Cli, r.Rtr)
	rtrOut, srvLink := veth(t, r.Rtr, r.Srv)
	r.RtrOut, r.CliLink = rtrOut, cliLink
	cmds := [][]string{
		{"-n", r.Cli.Name, "addr", "add", r.Cli4.String() + "/24", "dev", cliLink},
		{"-n", r.Rtr.Name, "addr", "add", r.RtrIn4.String() + "/24", "dev", rtrIn},
		{"-n", r.Rtr.Name, "addr", "add", r.RtrOut4.String() + "/24", "dev", rtrOut},
		{"-n", r.Srv.Name, "addr", "add", r.Srv4.String() + "/24", "dev", srvLink},
		{"-n", r.Cli.Name, "route", "add", "default", "via", r.RtrIn4.String()},
	}
	if !masquerade {
		cmds = append(cmds, []string{"-n", r.Srv.Name, "route", "add", "10.231.1.0/24", "via", r.RtrOut4.String()})
	}
	for _, c := range cmds {
		ipCmd(t, c...)
	}
	r.Rtr.MustOutput(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return r
}

// veth joins a and b with a veth pair, both ends up, and returns the names
// of a's end and b's end. The pair dies with the namespaces.
func veth(t testing.TB, a, b *netnstest.NS) (aName, bName string) {
	t.Helper()
	n := linkSeq.Add(1)
	base := fmt.Sprintf("cv%d-%d", os.Getpid()%100000, n)
	aName, bName = base+"a", base+"b"
	ipCmd(t, "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
	ipCmd(t, "-n", a.Name, "link", "set", aName, "up")
	ipCmd(t, "-n", b.Name, "link", "set", bName, "up")
	return aName, bName
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("corpus: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
