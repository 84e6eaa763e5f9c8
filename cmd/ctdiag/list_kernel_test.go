package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// TestKernelListAgreesWithConntrack builds a varied table in a fresh namespace
// (TCP in several states, UDP answered and not, ICMP, IPv6, a mark, a
// zone), captures it once with conntrack -L -o extended, and checks that for
// each filter `ctdiag list FILTER capture` selects exactly the entries that
// `conntrack -L FILTER` selects from the live table.
func TestKernelListAgreesWithConntrack(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping")
	p := netnstest.NewPair(t)
	echo := p.TCPEcho(t)
	// In A: mark TCP to the echo port, put UDP to 7777 in zone 5 (zones are
	// chosen before conntrack runs: raw priority). B drops port 9.
	p.A.Nft(t, fmt.Sprintf(`table inet agree {
		chain raw { type filter hook output priority raw; udp dport 7777 ct zone set 5; }
		chain out { type filter hook output priority 0; tcp dport %d ct mark set 0x10; }
	}`, echo))
	p.B.Nft(t, `table inet drop9 {
		chain in { type filter hook input priority 0; tcp dport 9 drop; udp dport 9 drop; udp dport 7777 drop; }
	}`)

	var keep []net.Conn
	defer func() {
		for _, c := range keep {
			c.Close()
		}
	}()
	dialTo := func(network string, dst netip.Addr, port uint16) net.Conn {
		c, err := p.A.Dial(network, netip.AddrPortFrom(dst, port).String())
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, c)
		return c
	}
	for _, dst := range []netip.Addr{p.B4, p.B6, p.B4} {
		c := dialTo("tcp", dst, echo)
		c.Write([]byte("hi\n"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(make([]byte, 8))
	}
	keep[len(keep)-1].Close() // one goes to TIME_WAIT
	if c, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, 9).String()); err == nil {
		c.Close()
	}
	for _, port := range []uint16{9, 7777} {
		dialTo("udp", p.B4, port).Write([]byte("x"))
	}
	p.Ping(t, p.B4)
	p.Ping(t, p.B6)
	time.Sleep(200 * time.Millisecond) // let the close handshake finish

	capture := p.A.MustOutput(t, "conntrack", "-L", "-o", "extended")
	file := filepath.Join(t.TempDir(), "capture.txt")
	if err := os.WriteFile(file, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	all := tupleSet(capture)
	if len(all) < 8 {
		t.Fatalf("table too small:\n%s", capture)
	}

	a4, b4, a6, b6 := p.A4.String(), p.B4.String(), p.A6.String(), p.B6.String()
	net4 := netip.PrefixFrom(p.A4, 24).Masked().String()
	port := strconv.Itoa(int(echo))
	filters := [][]string{
		{"-p", "tcp"}, {"-p", "udp"}, {"-p", "icmp"}, {"-p", "icmpv6"},
		{"-f", "ipv4"}, {"-f", "ipv6"},
		{"-s", a4}, {"-s", net4}, {"-d", b6}, {"-s", a6}, {"-r", b4}, {"-q", a4}, {"-r", b6},
		{"-p", "tcp", "--dport", port}, {"-p", "tcp", "--dport", "9"}, {"-p", "udp", "--dport", "7777"},
		{"-p", "tcp", "--state", "ESTABLISHED"}, {"-p", "tcp", "--state", "TIME_WAIT"}, {"-p", "tcp", "--state", "SYN_SENT"},
		{"-u", "ASSURED"}, {"-u", "SEEN_REPLY"}, {"-u", "UNREPLIED"},
		{"-m", "16"}, {"-m", "0"}, {"-m", "0x10/0xf0"}, {"-m", "0/0x10"}, {"-m", "0x11/0xf0"},
		{"-w", "5"}, {"-w", "0"},
		{"-p", "tcp", "-s", a4, "--state", "ESTABLISHED", "-m", "16"},
	}
	// Filters whose entries the traffic above certainly made.
	mustMatch := map[string]bool{}
	for _, f := range []string{"-p tcp", "-p udp", "-p icmp", "-p icmpv6", "-f ipv6", "-s " + net4,
		"-p tcp --state ESTABLISHED", "-p tcp --state TIME_WAIT", "-p tcp --state SYN_SENT",
		"-u ASSURED", "-u UNREPLIED", "-m 16", "-m 0x10/0xf0", "-w 5", "-p udp --dport 7777"} {
		mustMatch[f] = true
	}
	for _, f := range filters {
		live := tupleSet(p.A.MustOutput(t, "conntrack", append([]string{"-L", "-o", "extended"}, f...)...))
		ours := listTuples(t, append(append([]string{"list", "-o", "extended"}, f...), file)...)
		if !slices.Equal(live, ours) {
			t.Errorf("filter %v:\n conntrack: %v\n ctdiag:    %v", f, live, ours)
		}
		// The live table of the same namespace, over netlink with the
		// kernel applying what it can of the filter.
		direct := listTuples(t, append([]string{"list", "-o", "extended", "--netns", p.A.Name}, f...)...)
		if !slices.Equal(live, direct) {
			t.Errorf("live filter %v:\n conntrack: %v\n ctdiag:    %v", f, live, direct)
		}
		if mustMatch[strings.Join(f, " ")] && len(ours) == 0 {
			t.Errorf("filter %v selects nothing: the table lacks what it tests", f)
		}
	}

	// conntrack 1.4.7 sends "-u SEEN_REPLY,!ASSURED" to the kernel with a
	// mask that lacks the set bits and so matches nothing; the intended set
	// (replied but not assured, "half-assured") is SEEN_REPLY minus ASSURED.
	seen := tupleSet(p.A.MustOutput(t, "conntrack", "-L", "-o", "extended", "-u", "SEEN_REPLY"))
	assured := tupleSet(p.A.MustOutput(t, "conntrack", "-L", "-o", "extended", "-u", "ASSURED"))
	var half []string
	for _, s := range seen {
		if !slices.Contains(assured, s) {
			half = append(half, s)
		}
	}
	ours := listTuples(t, "list", "-o", "extended", "-u", "SEEN_REPLY,!ASSURED", file)
	if !slices.Equal(half, ours) || len(half) == 0 {
		t.Errorf("half-assured:\n want %v\n got  %v", half, ours)
	}
}

// listTuples runs ctdiag list and returns the original tuples it printed.
func listTuples(t *testing.T, args ...string) []string {
	t.Helper()
	out, errOut, code := ctdiag(t, "", args...)
	if code != 0 {
		t.Fatalf("ctdiag %v: exit %d: %s", args, code, errOut)
	}
	return tupleSet([]byte(out))
}

// tupleSet reduces entry lines to their original tuples (protocol, src,
// dst and L4 keys), sorted: timeouts and counters move between readings,
// tuples do not.
func tupleSet(text []byte) []string {
	var out []string
	for _, line := range bytes.Split(text, []byte("\n")) {
		fields := strings.Fields(string(line))
		if len(fields) < 4 {
			continue
		}
		key := []string{fields[2]}
		seen := map[string]bool{}
		for _, f := range fields {
			k, _, ok := strings.Cut(f, "=")
			if !ok || seen[k] {
				continue
			}
			switch k {
			case "src", "dst", "sport", "dport", "type", "code", "id":
				seen[k] = true
				key = append(key, f)
			}
		}
		out = append(out, strings.Join(key, " "))
	}
	slices.Sort(out)
	return out
}

// TestKernelListLiveTable runs the built binary with no SOURCE inside a
// namespace: it reads that namespace's live table.
func TestKernelListLiveTable(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.Require(t)
	netnstest.RequireTools(t, "ping")
	bin := filepath.Join(t.TempDir(), "ctdiag")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := netnstest.NewPair(t)
	echo := p.TCPEcho(t)
	c, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, echo).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.Ping(t, p.B6)

	out, err := p.A.Output(bin, "list", "-o", "proc")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := p.A.ReadProcFile("/proc/net/nf_conntrack")
	if err != nil {
		t.Fatal(err)
	}
	got, want := tupleSet(out), tupleSet(proc)
	if !slices.Equal(got, want) || len(got) < 2 {
		t.Fatalf("live list:\n got  %v\n want %v", got, want)
	}
	count, err := p.A.Output(bin, "list", "-c", "-p", "tcp", "--dport", strconv.Itoa(int(echo)))
	if err != nil || strings.TrimSpace(string(count)) != "1" {
		t.Fatalf("live count: %q %v", count, err)
	}
}
