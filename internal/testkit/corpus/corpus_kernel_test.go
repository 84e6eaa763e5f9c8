package corpus

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// A played scenario leaves a capture folder in the layout of the captures
// in testdata/kernel-6.18, which ctdiag's parser reads without a
// malformed line, and whose samples show the pattern.
func TestKernelPlayLayout(t *testing.T) {
	netnstest.Require(t)
	sc, _ := Lookup("syn-sent-growth")
	dir := t.TempDir()
	Play(t, sc, 600, dir, Options{Interval: time.Second})

	// Six samples, named by the second they were read at (t00 … t05 on
	// time, later names if the machine was busy).
	samples, _ := filepath.Glob(filepath.Join(dir, "cli/nf_conntrack.t*.txt"))
	srvSamples, _ := filepath.Glob(filepath.Join(dir, "srv/nf_conntrack.t*.txt"))
	if len(samples) != 6 || len(srvSamples) != 6 || filepath.Base(samples[0]) != "nf_conntrack.t00.txt" {
		t.Fatalf("samples %q, %q", samples, srvSamples)
	}
	for _, f := range []string{"README.md", "summary.txt", "dmesg.txt", "cli/conntrack-S.txt", "cli/stat-nf_conntrack.txt", "cli/sysctl-nf_conntrack.txt", "cli/nft-ruleset.txt",
		"cli/ss-tcp-states.txt", "srv/nft-ruleset.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("capture lacks %s: %v", f, err)
		}
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, want := range []string{"# syn-sent-growth (600 entries)", "Real-kernel capture: Linux ", "Expected diagnosis of `cli/`: `syn-sent-growth`",
		"- snapshot t00 cli: ", "wave 3: 166 SYNs to ", "] done\n```"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README lacks %q:\n%s", want, readme)
		}
	}
	sysctls, _ := os.ReadFile(filepath.Join(dir, "cli/sysctl-nf_conntrack.txt"))
	if !strings.Contains(string(sysctls), "net.netfilter.nf_conntrack_tcp_timeout_syn_sent = 120") {
		t.Errorf("sysctls:\n%s", sysctls)
	}
	ruleset, _ := os.ReadFile(filepath.Join(dir, "srv/nft-ruleset.txt"))
	if !strings.Contains(string(ruleset), "tcp dport 8080 drop") {
		t.Errorf("the server's ruleset lacks its drop rule:\n%s", ruleset)
	}

	// The last sample: the waves' 498 SYN_SENT entries among the client's
	// other traffic, all readable.
	f, err := os.Open(samples[len(samples)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := parser.NewDecoder(f, filepath.Base(f.Name()), parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var synSent, total int
	err = d.Flows(func(fl *track.Flow) error {
		total++
		if fl.Orig.Proto == track.ProtoTCP && track.TCPState(fl.State) == track.TCPSynSent && fl.Orig.DstPort == 8080 {
			synSent++
		}
		return nil
	})
	if err != nil || d.Problems().Count != 0 {
		t.Fatalf("read: %v, problems %v", err, d.Problems().Samples)
	}
	if synSent != 3*166 || total < 550 || total > 650 {
		t.Errorf("last sample: %d SYN_SENT to 8080 of %d entries, want 498 of about 600", synSent, total)
	}
}

// Netlink-made background ages as traffic would: a refresh sets an
// established entry's timeout back to the state's, a close moves it to
// TIME_WAIT with 120 s (ctfill.Update), and what Prime made reads back
// with the remaining timeouts it was given.
func TestKernelBulkAges(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	b, err := NewBulk("/run/netns/"+ns.Name, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	host := netip.MustParseAddr("10.213.9.2")
	long := established("pool", 200, Flows{Proto: track.ProtoTCP, Clients: pfx("10.60.0.0/16"), PerClient: 4,
		Servers: []netip.Addr{host}, Port: 5432}, 3600, 0.1, 0.05) // idle about an hour
	tw := timeWait("closed", 100, Flows{Proto: track.ProtoTCP, Clients: pfx("10.61.0.0/16"), PerClient: 1, Servers: []netip.Addr{host}, Port: 443})
	if err := b.Prime(long, tw); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	b.Tick()
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if b.Refreshed == 0 || b.Closed == 0 {
		t.Fatalf("a tick of 1.5 s refreshed %d and closed %d of 200", b.Refreshed, b.Closed)
	}
	table, err := readProc(ns, "/proc/net/nf_conntrack")
	if err != nil {
		t.Fatal(err)
	}
	var fresh, idle, closedTW, tws int
	for _, l := range strings.Split(strings.TrimSpace(string(table)), "\n") {
		f := strings.Fields(l)
		timeout, _ := strconv.Atoi(f[4])
		switch {
		case f[5] == "ESTABLISHED" && timeout >= toEstablished-3:
			fresh++
		case f[5] == "ESTABLISHED":
			idle++
		case f[5] == "TIME_WAIT" && strings.Contains(l, "dport=5432") && timeout >= toTimeWait-3 && timeout <= toTimeWait:
			closedTW++
		case f[5] == "TIME_WAIT":
			tws++
		}
	}
	// The closes replaced theirs with fresh connections, so 200 stay open;
	// the fresh ones are those and the refreshed (some twice).
	if fresh+idle != 200 || fresh < b.Closed+b.Refreshed/2 || fresh > b.Refreshed+b.Closed || idle < 200-b.Refreshed-b.Closed {
		t.Errorf("established: %d fresh, %d idle (refreshed %d, closed %d)", fresh, idle, b.Refreshed, b.Closed)
	}
	// Closes within the tick; the pool's TIME_WAIT of the last two minutes
	// that Prime made (0.05×200×120, spread over 120 s) are older.
	if closedTW < b.Closed {
		t.Errorf("%d fresh TIME_WAIT on 5432, want the %d closed", closedTW, b.Closed)
	}
	if tws < 100+1000 || tws > 100+1200 {
		t.Errorf("%d other TIME_WAIT", tws)
	}
}
