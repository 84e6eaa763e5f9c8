package netnstest

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Pair is two namespaces joined by a veth pair: A is the client side, B the
// server side. The veth is their only link, so A and B reach nothing else.
type Pair struct {
	A, B *NS
	// ALink and BLink name the veth ends in A and B (for tcpdump -i, tc, ...).
	ALink, BLink string
	// A4 and B4 are the IPv4 addresses of A's and B's veth ends, in one /24
	// (10.213.N.1 and 10.213.N.2).
	A4, B4 netip.Addr
	// A6 and B6 are the IPv6 addresses of A's and B's veth ends, in one /64
	// (fd00:0:213:N::1 and ::2, N in hex), added with nodad so they are usable
	// at once.
	A6, B6 netip.Addr
}

// NewPair creates two namespaces as NewNS does and joins them with a veth
// pair that is up and addressed. It skips the test when Require does.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	p := &Pair{A: NewNS(t), B: NewNS(t)}
	// The veth ends are created inside the namespaces and die with them; the
	// names still carry pid and sequence so they are traceable and unique.
	base := fmt.Sprintf("ct%d-%d", os.Getpid(), p.A.seq)
	p.ALink, p.BLink = base+"a", base+"b"
	if len(p.ALink) > maxIfName {
		t.Fatalf("netnstest: interface name %q longer than %d bytes", p.ALink, maxIfName)
	}
	n := byte(p.A.seq) // any /24 will do: each pair is alone in its namespaces
	p.A4 = netip.AddrFrom4([4]byte{10, 213, n, 1})
	p.B4 = netip.AddrFrom4([4]byte{10, 213, n, 2})
	p.A6 = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0x02, 0x13, 0, n, 15: 1})
	p.B6 = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0x02, 0x13, 0, n, 15: 2})

	cmds := [][]string{
		{"link", "add", p.ALink, "netns", p.A.Name, "type", "veth", "peer", "name", p.BLink, "netns", p.B.Name},
		{"-n", p.A.Name, "link", "set", p.ALink, "up"},
		{"-n", p.B.Name, "link", "set", p.BLink, "up"},
		{"-n", p.A.Name, "addr", "add", p.A4.String() + "/24", "dev", p.ALink},
		{"-n", p.B.Name, "addr", "add", p.B4.String() + "/24", "dev", p.BLink},
		{"-n", p.A.Name, "addr", "add", p.A6.String() + "/64", "dev", p.ALink, "nodad"},
		{"-n", p.B.Name, "addr", "add", p.B6.String() + "/64", "dev", p.BLink, "nodad"},
	}
	for _, args := range cmds {
		if _, err := run(exec.Command("ip", args...), nil); err != nil {
			t.Fatalf("netnstest: %v", err)
		}
	}
	return p
}

// Ping sends one echo request from A to addr (ping -c1, -6 for IPv6) and
// fails the test unless it is answered within 5 s: on a loaded machine the
// first IPv6 neighbour resolution on a fresh veth can take over a second.
// addr must be one of the pair's addresses or loopback, so no packet can be
// meant for anything else.
func (p *Pair) Ping(t testing.TB, addr netip.Addr) {
	t.Helper()
	switch addr {
	case p.A4, p.B4, p.A6, p.B6:
	default:
		if !addr.IsLoopback() {
			t.Fatalf("netnstest: refusing to ping %v: not an address of this pair", addr)
		}
	}
	args := []string{"-c1", "-W5", addr.String()}
	if addr.Is6() {
		args = append([]string{"-6"}, args...)
	}
	p.A.MustOutput(t, "ping", args...)
}

// TCPEcho starts a TCP echo server in B, listening on B4 and B6 on the same
// port, and returns the port. The listeners and all accepted connections are
// closed in t.Cleanup.
func (p *Pair) TCPEcho(t testing.TB) (port uint16) {
	t.Helper()
	l4, err := p.B.Listen("tcp4", netip.AddrPortFrom(p.B4, 0).String())
	if err != nil {
		t.Fatalf("netnstest: echo server: %v", err)
	}
	port = uint16(l4.Addr().(*net.TCPAddr).Port)
	l6, err := p.B.Listen("tcp6", netip.AddrPortFrom(p.B6, port).String())
	if err != nil {
		l4.Close()
		t.Fatalf("netnstest: echo server: %v", err)
	}
	s := &echoServer{listeners: []net.Listener{l4, l6}, conns: map[net.Conn]struct{}{}}
	for _, l := range s.listeners {
		s.wg.Add(1)
		go s.serve(l)
	}
	t.Cleanup(s.close)
	return port
}

// echoServer writes back whatever its clients send until they close or the
// server is closed.
type echoServer struct {
	listeners []net.Listener
	wg        sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *echoServer) serve(l net.Listener) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return // closed by s.close
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			_, _ = io.Copy(c, c) // until the client closes; untrack closes c
		}()
	}
}

func (s *echoServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *echoServer) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	c.Close()
}

func (s *echoServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	for _, l := range s.listeners {
		l.Close()
	}
	s.wg.Wait()
}
