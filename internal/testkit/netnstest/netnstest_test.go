package netnstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKernelPairTraffic(t *testing.T) {
	t.Parallel()
	p := NewPair(t)
	port := p.TCPEcho(t)

	for _, dst := range []netip.Addr{p.B4, p.B6} {
		echo(t, p.A, netip.AddrPortFrom(dst, port).String())
		p.Ping(t, dst)
	}

	// B sees the flows on input, A on output: both namespaces track.
	for _, ns := range []*NS{p.A, p.B} {
		table := conntrackTable(t, ns)
		for _, f := range []struct {
			proto    string
			src, dst netip.Addr
			dport    string
		}{
			{"tcp", p.A4, p.B4, strconv.Itoa(int(port))},
			{"tcp", p.A6, p.B6, strconv.Itoa(int(port))},
			{"icmp", p.A4, p.B4, ""},
			{"icmpv6", p.A6, p.B6, ""},
		} {
			if !hasFlow(table, f.proto, f.src, f.dst, f.dport) {
				t.Errorf("%s: no %s entry %v -> %v dport=%q in:\n%s", ns.Name, f.proto, f.src, f.dst, f.dport, table)
			}
		}
	}
}

func TestKernelPingRefusesForeignAddress(t *testing.T) {
	t.Parallel()
	p := NewPair(t)
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }() // fatalRecorder.Fatalf panics to stop like FailNow
		p.Ping(ft, netip.MustParseAddr("192.0.2.1"))
	}()
	if !strings.Contains(ft.msg, "refusing to ping") {
		t.Fatalf("Ping to a foreign address: got %q, want a refusal", ft.msg)
	}
}

// fatalRecorder records Fatalf instead of failing the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f.msg)
}

func TestKernelNSLoopback(t *testing.T) {
	t.Parallel()
	n := NewNS(t)

	l, err := n.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	echo(t, n, l.Addr().String())

	pc, err := n.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := n.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("datagram")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, _, err := pc.ReadFrom(buf); err != nil || string(buf[:k]) != "datagram" {
		t.Fatalf("ReadFrom = %q, %v; want \"datagram\"", buf[:k], err)
	}

	table := conntrackTable(t, n)
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()
	tcpPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	udpPort := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	if !hasFlow(table, "tcp", lo4, lo4, tcpPort) {
		t.Errorf("no tcp entry for 127.0.0.1 dport=%s in:\n%s", tcpPort, table)
	}
	if !hasFlow(table, "udp", lo6, lo6, udpPort) {
		t.Errorf("no udp entry for ::1 dport=%s in:\n%s", udpPort, table)
	}
}

// TestKernelDo is not parallel: it checks every thread of the process.
func TestKernelDo(t *testing.T) {
	n := NewNS(t)
	want := nsInode(t, "/run/netns/"+n.Name)
	own := nsInode(t, "/proc/self/ns/net")
	for range 20 {
		err := n.Do(func() error {
			if got := nsInode(t, "/proc/thread-self/ns/net"); got != want {
				return fmt.Errorf("fn runs in netns inode %d, want %d", got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	sentinel := errors.New("from fn")
	if err := n.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "boom") {
				t.Errorf("recovered %v, want fn's panic", r)
			}
		}()
		_ = n.Do(func() error { panic("boom") })
	}()

	// The threads Do used end shortly after their goroutines do.
	deadline := time.Now().Add(5 * time.Second)
	for {
		strays := threadsOutside(t, own)
		if len(strays) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v are still in another network namespace", strays)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKernelCleanupRemovesEverything(t *testing.T) {
	t.Parallel()
	Require(t)
	var p *Pair
	t.Run("pair", func(t *testing.T) {
		p = NewPair(t)
		for _, ns := range []*NS{p.A, p.B} {
			if !netnsListed(t, ns.Name) {
				t.Errorf("%s missing from ip netns list", ns.Name)
			}
		}
		assertNoRootLinks(t, p)
	})
	if p == nil {
		t.Fatal("subtest made no pair")
	}
	assertGone(t, p)
}

// TestKernelCleanupAfterFailure runs a test binary whose test fails (or
// panics) after building a pair: the pair is gone all the same.
func TestKernelCleanupAfterFailure(t *testing.T) {
	t.Parallel()
	Require(t)
	for _, mode := range []string{"fatal", "panic"} {
		t.Run(mode, func(t *testing.T) {
			out, err := runChild(t, mode)
			if err == nil {
				t.Fatalf("child test passed, want failure:\n%s", out)
			}
			var p Pair
			var a, b string
			i := bytes.Index(out, []byte("PAIR "))
			if i < 0 {
				t.Fatalf("child printed no PAIR line:\n%s", out)
			}
			if _, err := fmt.Sscan(string(out[i+len("PAIR "):]), &a, &b, &p.ALink, &p.BLink); err != nil {
				t.Fatalf("parse child output: %v\n%s", err, out)
			}
			p.A, p.B = &NS{Name: a}, &NS{Name: b}
			assertGone(t, &p)
		})
	}
}

const childEnv = "NETNSTEST_CHILD"

// TestKernelChild is the body of the child binaries above; it is skipped otherwise.
func TestKernelChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as a child of TestKernelCleanupAfterFailure")
	}
	switch mode {
	case "fatal", "panic":
		p := NewPair(t)
		fmt.Printf("PAIR %s %s %s %s\n", p.A.Name, p.B.Name, p.ALink, p.BLink)
		if mode == "panic" {
			panic("deliberate panic")
		}
		t.Fatal("deliberate failure")
	}
}

func runChild(t *testing.T, mode string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKernelChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	t.Logf("child %s: %v", mode, err)
	return out, err
}

// echo sends a line to an echo server at addr from inside ns and checks the reply.
func echo(t *testing.T, ns *NS, addr string) {
	t.Helper()
	c, err := ns.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := "hello " + addr
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echo via %s = %q, %v; want %q", addr, got, err, msg)
	}
}

// conntrackTable returns ns's conntrack table, one entry a line.
func conntrackTable(t *testing.T, ns *NS) []byte {
	t.Helper()
	if b, err := ns.ReadProcFile("/proc/net/nf_conntrack"); err == nil {
		return b
	}
	return ns.MustOutput(t, "conntrack", "-L")
}

// hasFlow reports whether table holds an entry for proto whose original
// direction goes from src to dst (and to dport, unless empty). It accepts
// both /proc/net/nf_conntrack lines (IPv6 written out in full) and
// conntrack -L lines.
func hasFlow(table []byte, proto string, src, dst netip.Addr, dport string) bool {
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		var gotProto bool
		var gotSrc, gotDst netip.Addr
		var gotDport string
		for _, f := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(f, "=")
			switch {
			case f == proto:
				gotProto = true
			case k == "src" && !gotSrc.IsValid():
				gotSrc, _ = netip.ParseAddr(v)
			case k == "dst" && !gotDst.IsValid():
				gotDst, _ = netip.ParseAddr(v)
			case k == "dport" && gotDport == "":
				gotDport = v
			}
		}
		if gotProto && gotSrc == src && gotDst == dst && (dport == "" || gotDport == dport) {
			return true
		}
	}
	return false
}

func netnsListed(t *testing.T, name string) bool {
	t.Helper()
	out, err := run(exec.Command("ip", "netns", "list"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func assertNoRootLinks(t *testing.T, p *Pair) {
	t.Helper()
	out, err := run(exec.Command("ip", "-o", "link", "show"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{p.ALink, p.BLink} {
		if bytes.Contains(out, []byte(" "+name+"@")) || bytes.Contains(out, []byte(" "+name+":")) {
			t.Errorf("veth %s is in the root namespace:\n%s", name, out)
		}
	}
}

func assertGone(t *testing.T, p *Pair) {
	t.Helper()
	for _, ns := range []*NS{p.A, p.B} {
		if netnsListed(t, ns.Name) {
			t.Errorf("%s still in ip netns list", ns.Name)
		}
		if _, err := os.Stat(filepath.Join("/run/netns", ns.Name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/run/netns/%s: %v, want it removed", ns.Name, err)
		}
	}
	assertNoRootLinks(t, p)
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// threadsOutside lists the process's threads not in the netns with inode own.
func threadsOutside(t *testing.T, own uint64) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var strays []string
	for _, task := range tasks {
		fi, err := os.Stat(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err != nil {
			continue // the thread exited meanwhile
		}
		if fi.Sys().(*syscall.Stat_t).Ino != own {
			strays = append(strays, task.Name())
		}
	}
	return strays
}

// TestKitRefusesOtherTests is a unit test: the kit fails any test whose
// name does not say it is a kernel test, before it looks at privileges, so
// a misnamed test fails in every run (as root or not) instead of running
// where unit tests run.
func TestKitRefusesOtherTests(t *testing.T) {
	for _, c := range []struct {
		name    string
		refused bool
	}{
		{"TestSomething", true},
		{"TestSomething/TestKernelSub", true},
		{"BenchmarkDump", true},
		{"TestKernelDump", false},
		{"TestKernelDump/sub", false},
		{"BenchmarkKernelDump", false},
	} {
		err := checkKernelTestName(c.name)
		if (err != nil) != c.refused {
			t.Errorf("%s: %v, want refused %v", c.name, err, c.refused)
		}
	}
	for _, gate := range []func(testing.TB){Require, func(tb testing.TB) { RequireRoot(tb, "reading /dev/kmsg") }, func(tb testing.TB) { NewNS(tb) }, func(tb testing.TB) { NewPair(tb) }} {
		ft := &fatalRecorder{TB: namedTB{TB: t, name: "TestParsesDumps"}}
		func() {
			defer func() { _ = recover() }()
			gate(ft)
		}()
		if !strings.Contains(ft.msg, "TestParsesDumps needs root and the real kernel, so its name must start with TestKernel") {
			t.Errorf("a unit test using the kit: got %q, want a refusal naming the rule", ft.msg)
		}
	}
}

// namedTB is a testing.TB with another name.
type namedTB struct {
	testing.TB
	name string
}

func (n namedTB) Name() string { return n.name }
