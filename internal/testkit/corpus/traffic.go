package corpus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// dialTimeout bounds a connection attempt: peers are one veth away.
const dialTimeout = 3 * time.Second

// ConnectNonBlocking starts n TCP connections from ns to dst without
// waiting for them (the handshakes go on in the kernel); the sockets are
// closed in t.Cleanup.
func ConnectNonBlocking(t testing.TB, ns *netnstest.NS, dst netip.AddrPort, n int) {
	t.Helper()
	fds, err := connectNonBlocking(ns, dst, n)
	t.Cleanup(func() { closeAll(fds) })
	if err != nil {
		t.Fatal(err)
	}
}

func connectNonBlocking(ns *netnstest.NS, dst netip.AddrPort, n int) ([]int, error) {
	var fds []int
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			fd, err := tcpSocket(netip.Addr{}, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()})
			if !errors.Is(err, unix.EINPROGRESS) {
				return fmt.Errorf("connect: %v", err)
			}
		}
		return nil
	})
	return fds, err
}

// tcpSocket opens a non-blocking IPv4 TCP socket in the calling thread's
// namespace; given a source address it binds it to src:port first, with
// SO_REUSEADDR so that a port a test just used can be bound again.
func tcpSocket(src netip.Addr, port int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil || !src.IsValid() {
		return fd, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: src.As4()}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// DialMany opens n TCP connections from ns to dst, each sending a line
// and reading its echo, and returns them open (closed in t.Cleanup).
func DialMany(t testing.TB, ns *netnstest.NS, dst netip.AddrPort, n int) []net.Conn {
	t.Helper()
	conns, err := dialMany(ns, dst, n, true)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// dialMany opens n connections; with echo each sends "hi\n" and reads it
// back.
func dialMany(ns *netnstest.NS, dst netip.AddrPort, n int, echo bool) ([]net.Conn, error) {
	var conns []net.Conn
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			c, err := net.DialTimeout("tcp", dst.String(), dialTimeout)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil || !echo {
		return conns, err
	}
	buf := make([]byte, 3)
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("hi\n")); err != nil {
			return conns, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return conns, err
		}
		c.SetDeadline(time.Time{})
	}
	return conns, nil
}

// DialFrom connects from ns to dst from a fixed local address and port
// (SO_REUSEADDR, as clients that pin their source port do).
func DialFrom(ns *netnstest.NS, src, dst netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		d := net.Dialer{Timeout: dialTimeout, LocalAddr: net.TCPAddrFromAddrPort(src),
			Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			}}
		c, err = d.Dial("tcp4", dst.String())
		return err
	})
	return c, err
}

// Abort closes a TCP connection with a reset (SO_LINGER 0), as clients that
// time out and give up do.
func Abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// RawSender sends IP packets, header included, from a namespace: the
// packets go through the namespace's conntrack on their way out like any
// other, whatever their source address.
type RawSender struct{ fd int }

// NewRawSender opens an IPPROTO_RAW socket in ns, closed in t.Cleanup.
func NewRawSender(t testing.TB, ns *netnstest.NS) *RawSender {
	t.Helper()
	s := &RawSender{fd: -1}
	err := ns.Do(func() (err error) {
		s.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		t.Fatalf("corpus: raw socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// Send encodes p (capture.Encode) and sends it. A packet netfilter drops on
// the way out fails with EPERM.
func (s *RawSender) Send(p *track.Packet) error {
	b, err := capture.Encode(p)
	if err != nil {
		return err
	}
	return unix.Sendto(s.fd, b, 0, &unix.SockaddrInet4{Addr: p.Dst.As4()})
}

// TCPPacket is an IPv4 TCP segment with payload bytes of data (zeros).
func TCPPacket(src, dst netip.AddrPort, flags track.TCPFlags, seq, ack uint32, payload int) track.Packet {
	return track.Packet{
		Family: track.FamilyIPv4, Proto: track.ProtoTCP,
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
		Length: 20 + 20 + payload, L4Length: 20 + payload,
		TCP: track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: 64240, DataOffset: 5},
	}
}

// UDPPacket is an IPv4 UDP datagram with payload bytes of data (zeros).
func UDPPacket(src, dst netip.AddrPort, payload int) track.Packet {
	return track.Packet{
		Family: track.FamilyIPv4, Proto: track.ProtoUDP,
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
		Length: 20 + 8 + payload, L4Length: 8 + payload,
		UDP: track.UDPHeader{Length: uint16(8 + payload), Checksum: 1},
	}
}

// SendStaleTCP sends n pairs of ACK segments with data from src to dst
// through a raw socket in ns, their sequence numbers far from anything the
// connection used, as late segments of an earlier connection on the same
// tuple would be. The connection's initial sequence number is random: of
// two numbers 2^31 apart, one is "after" the sender's data and beyond the
// receiver's window (INVALID, "SEQ is over upper bound"), the other
// "before" it (IGNORE, "SEQ is under lower bound").
func SendStaleTCP(t testing.TB, ns *netnstest.NS, src, dst netip.AddrPort, n int) {
	t.Helper()
	if err := sendStaleTCP(ns, src, dst, n); err != nil {
		t.Fatal(err)
	}
}

func sendStaleTCP(ns *netnstest.NS, src, dst netip.AddrPort, n int) error {
	return ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
		for i := 0; i < n; i++ {
			for _, seq := range []uint32{uint32(i) * 1000, uint32(i)*1000 + 1<<31} {
				p := TCPPacket(src, dst, track.TCPAck|track.TCPPsh, seq, 1, 5)
				b, err := capture.Encode(&p)
				if err != nil {
					return err
				}
				if err := unix.Sendto(fd, b, 0, to); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// UDPInsertRace plays the DNS race n times: two sockets on one source port
// send the first packet of the same UDP flow at the same moment from two
// CPUs; the second insert clashes and the kernel resolves it
// (clash_resolve) or fails it (insert_failed). Needs two CPUs.
func UDPInsertRace(ns *netnstest.NS, src netip.Addr, firstPort int, dst netip.AddrPort, n int) error {
	if runtime.NumCPU() < 2 {
		return errors.New("the insert race needs two CPUs")
	}
	to := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	return ns.Do(func() error {
		for i := 0; i < n; i++ {
			var fds [2]int
			for j := range fds {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				fds[j] = fd
				unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				if err := unix.Bind(fd, &unix.SockaddrInet4{Port: firstPort + i, Addr: src.As4()}); err != nil {
					unix.Close(fds[0])
					if j == 1 {
						unix.Close(fd)
					}
					return err
				}
			}
			atOnce(fds, to, func(fd int, to *unix.SockaddrInet4) { unix.Sendto(fd, []byte("query"), 0, to) })
			unix.Close(fds[0])
			unix.Close(fds[1])
		}
		return nil
	})
}

// Server is a TCP server in a namespace whose behaviour a scenario picks.
type Server struct {
	l    net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
	done bool
}

// Server behaviours.
const (
	// Echo writes back what it reads until the client closes, then closes.
	Echo = iota
	// Hold reads until the client closes its side and then never closes
	// its own (a leak: the socket stays in CLOSE_WAIT).
	Hold
	// Bye writes a line and closes first (its socket keeps TIME_WAIT).
	Bye
	// Respond answers each request line and closes when the client
	// closes (HTTP keep-alive).
	Respond
)

// Listen starts a TCP server on addr in ns; it and its connections are
// closed in t.Cleanup.
func Listen(t testing.TB, ns *netnstest.NS, addr netip.AddrPort, mode int) *Server {
	t.Helper()
	l, err := ns.Listen("tcp4", addr.String())
	// A service started again on its port can find the old one's closing
	// connections still holding it (FIN_WAIT): it tries again for a while,
	// as a restarted daemon's supervisor would.
	for deadline := time.Now().Add(5 * time.Second); errors.Is(err, syscall.EADDRINUSE) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		l, err = ns.Listen("tcp4", addr.String())
	}
	if err != nil {
		t.Fatalf("corpus: listen: %v", err)
	}
	s := &Server{l: l, conn: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve(mode)
	t.Cleanup(s.Close)
	return s
}

// Port is the port the server listens on.
func (s *Server) Port() uint16 { return uint16(s.l.Addr().(*net.TCPAddr).Port) }

func (s *Server) serve(mode int) {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conn[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			switch mode {
			case Echo, Respond:
				io.Copy(c, c)
			case Hold:
				io.Copy(io.Discard, c)
				return // leaked: closed only by Close
			case Bye:
				c.Write([]byte("bye\n"))
			}
			s.mu.Lock()
			delete(s.conn, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Close stops the server and closes every connection it holds.
func (s *Server) Close() {
	s.mu.Lock()
	s.done = true
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.l.Close()
	s.wg.Wait()
}

// UDPEcho answers every datagram on addr in ns until t's cleanup.
func UDPEcho(t testing.TB, ns *netnstest.NS, addr netip.AddrPort) net.PacketConn {
	t.Helper()
	pc, err := ns.ListenPacket("udp4", addr.String())
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc
}

// TCPPortRace plays the NAT port race n times: two clients (addresses a
// and b of ns) connect from the same source port to dst at the same
// moment from two CPUs. A router masquerading them keeps the port for
// both (nothing holds it yet); the second insert finds the first's reply
// tuple and, TCP clashes not being resolvable, the kernel drops that SYN
// (insert_failed, drop). The client retransmits a second later and gets
// another port. Ports are firstPort … firstPort+n-1; connections that
// complete are closed at once. Needs two CPUs.
func TCPPortRace(ns *netnstest.NS, a, b netip.Addr, firstPort int, dst netip.AddrPort, n int) error {
	if runtime.NumCPU() < 2 {
		return errors.New("the NAT port race needs two CPUs")
	}
	to := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	var fds []int
	defer func() { closeAll(fds) }()
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			var pair [2]int
			for j, src := range []netip.Addr{a, b} {
				fd, err := tcpSocket(src, firstPort+i)
				if err != nil {
					return err
				}
				fds = append(fds, fd)
				pair[j] = fd
			}
			atOnce(pair, to, func(fd int, to *unix.SockaddrInet4) { unix.Connect(fd, to) })
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Let the handshakes finish (a lost SYN is retransmitted after 1 s).
	deadline := time.Now().Add(3 * time.Second)
	for _, fd := range fds {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if ms := time.Until(deadline).Milliseconds(); ms > 0 {
			unix.Poll(pfd, int(ms))
		}
	}
	return nil
}

// atOnce has the two sockets call send at the same instant, pinned to CPU
// 0 and CPU 1, each with its own copy of to (Sendto and Connect write into
// their sockaddr).
func atOnce(fds [2]int, to *unix.SockaddrInet4, send func(fd int, to *unix.SockaddrInet4)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for cpu, fd := range fds {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			unix.SchedSetaffinity(0, &set)
			dst := *to
			ready.Done()
			<-gate
			send(fd, &dst)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}
