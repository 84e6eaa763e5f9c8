package parser_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelSpine proves the model and the parsers against the running
// kernel: real connections between two fresh namespaces, the client's table
// read through /proc and through conntrack -L -o extended, every connection
// found with the state and flags the kernel gives it (docs/KERNEL.md §1.10, §2.3,
// §2.4), and both captures written back byte for byte.
func TestKernelSpine(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping")
	p := netnstest.NewPair(t)
	// B silently drops TCP and UDP to port 9, so A's SYN and datagram there
	// stay unanswered.
	p.B.Nft(t, `table inet spine {
		chain in { type filter hook input priority 0; tcp dport 9 drop; udp dport 9 drop; }
	}`)
	echo := p.TCPEcho(t)
	udpEcho := udpEchoServer(t, p)

	type want struct {
		proto     track.Proto
		src, dst  netip.Addr
		dport     uint16
		sport     uint16 // 0: any
		state     string
		unreplied bool
		assured   bool
	}
	var wants []want

	// 1. An established TCP connection, held open, over IPv4 and IPv6.
	for _, ends := range [][2]netip.Addr{{p.A4, p.B4}, {p.A6, p.B6}} {
		c := dial(t, p.A, "tcp", ends[1], echo)
		roundTrip(t, c)
		wants = append(wants, want{track.ProtoTCP, ends[0], ends[1], echo, localPort(c), "ESTABLISHED", false, true})
	}
	// 2. A finished TCP connection: TIME_WAIT, still ASSURED.
	c := dial(t, p.A, "tcp", p.B4, echo)
	roundTrip(t, c)
	closed := localPort(c)
	c.Close()
	wants = append(wants, want{track.ProtoTCP, p.A4, p.B4, echo, closed, "TIME_WAIT", false, true})
	// 3. A SYN that is never answered: SYN_SENT [UNREPLIED].
	if c, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, 9).String()); err == nil {
		c.Close()
		t.Fatal("connect to a dropped port succeeded")
	}
	wants = append(wants, want{proto: track.ProtoTCP, src: p.A4, dst: p.B4, dport: 9, state: "SYN_SENT", unreplied: true})
	// 4. UDP answered within 2 s: neither [UNREPLIED] nor [ASSURED] (§2.3).
	u := dial(t, p.A, "udp", p.B4, udpEcho)
	roundTrip(t, u)
	wants = append(wants, want{track.ProtoUDP, p.A4, p.B4, udpEcho, localPort(u), "", false, false})
	// 5. UDP never answered.
	u9 := dial(t, p.A, "udp", p.B4, 9)
	if _, err := u9.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{track.ProtoUDP, p.A4, p.B4, 9, localPort(u9), "", true, false})
	// 6. Ping, IPv4 and IPv6: answered, never ASSURED (§2.4).
	p.Ping(t, p.B4)
	p.Ping(t, p.B6)
	wants = append(wants, want{proto: track.ProtoICMP, src: p.A4, dst: p.B4},
		want{proto: track.ProtoICMPv6, src: p.A6, dst: p.B6})

	waitForState(t, p.A, p.B4, closed, "TIME_WAIT")

	procText, err := p.A.ReadProcFile("/proc/net/nf_conntrack")
	if err != nil {
		t.Fatal(err)
	}
	extText := p.A.MustOutput(t, "conntrack", "-L", "-o", "extended")

	for _, capture := range []struct {
		name   string
		text   []byte
		format parser.Format
	}{{"/proc/net/nf_conntrack", procText, parser.FormatProc}, {"conntrack -L -o extended", extText, parser.FormatExtended}} {
		d, err := parser.NewDecoder(bytes.NewReader(capture.text), capture.name, parser.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != capture.format {
			t.Fatalf("%s detected as %s\n%s", capture.name, d.Format(), capture.text)
		}
		var flows []track.Flow
		if err := d.Flows(func(f *track.Flow) error { flows = append(flows, *f); return nil }); err != nil {
			t.Fatal(err)
		}
		if d.Problems().Count != 0 {
			t.Fatalf("%s: %v", capture.name, d.Problems().Samples)
		}
		for _, w := range wants {
			var found *track.Flow
			for i := range flows {
				f := &flows[i]
				o := f.Orig
				if o.Proto == w.proto && o.Src == w.src && o.Dst == w.dst &&
					(!w.proto.HasPorts() || o.DstPort == w.dport && (w.sport == 0 || o.SrcPort == w.sport)) {
					found = f
					break
				}
			}
			if found == nil {
				t.Errorf("%s: no %v entry %v -> %v:%d\n%s", capture.name, w.proto, w.src, w.dst, w.dport, capture.text)
				continue
			}
			if found.StateName() != w.state || found.Unreplied() != w.unreplied || found.Status.Assured() != w.assured {
				t.Errorf("%s: %v -> %v:%d is %q unreplied=%v assured=%v, want %q unreplied=%v assured=%v",
					capture.name, w.src, w.dst, w.dport, found.StateName(), found.Unreplied(), found.Status.Assured(),
					w.state, w.unreplied, w.assured)
			}
			if found.Reply != found.Orig.Reply() {
				t.Errorf("%s: no NAT here, yet reply %v is not the inverse of %v", capture.name, found.Reply, found.Orig)
			}
		}
		// Written back in its own format, the capture is reproduced exactly.
		var out bytes.Buffer
		w, err := parser.NewFlowWriter(&out, capture.format)
		if err != nil {
			t.Fatal(err)
		}
		for i := range flows {
			if err := w.Write(&flows[i]); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		if !bytes.Equal(out.Bytes(), capture.text) {
			t.Errorf("%s: written back differs:\n got:\n%s\nwant:\n%s", capture.name, out.Bytes(), capture.text)
		}
	}
}

// localPort is the source port of a client socket.
func localPort(c net.Conn) uint16 {
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		panic(err)
	}
	return ap.Port()
}

func dial(t *testing.T, ns *netnstest.NS, network string, dst netip.Addr, port uint16) net.Conn {
	t.Helper()
	c, err := ns.Dial(network, netip.AddrPortFrom(dst, port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 16)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
}

// udpEchoServer answers datagrams on B's IPv4 address.
func udpEchoServer(t *testing.T, p *netnstest.Pair) uint16 {
	t.Helper()
	pc, err := p.B.ListenPacket("udp", netip.AddrPortFrom(p.B4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], addr)
		}
	}()
	ap, _ := netip.ParseAddrPort(pc.LocalAddr().String())
	return ap.Port()
}

// waitForState waits until the entry from A's port sport to dst has the
// given TCP state (the close handshake takes a few milliseconds).
func waitForState(t *testing.T, ns *netnstest.NS, dst netip.Addr, sport uint16, state string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	needle := []byte(fmt.Sprintf("%s src=", state))
	port := []byte("sport=" + strconv.Itoa(int(sport)) + " ")
	for time.Now().Before(deadline) {
		table, err := ns.ReadProcFile("/proc/net/nf_conntrack")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(table, []byte("\n")) {
			if bytes.Contains(l, needle) && bytes.Contains(l, port) && bytes.Contains(l, []byte("dst="+dst.String())) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s entry from port %d", state, sport)
}
