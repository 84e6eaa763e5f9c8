package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
)

// recvBufSize is the receive buffer for one datagram. The kernel builds
// dump datagrams up to 32 KiB once it has seen a reader with a buffer that
// large; events are single small messages.
const recvBufSize = 64 << 10

// nlConn is a ctnetlink socket in one namespace. Every request goes through
// send, which refuses anything but reads (netlinkct.Check); datagrams are
// read straight into one reused buffer, so a dump of any size costs one
// buffer, not a slice of messages.
type nlConn struct {
	c   *netlink.Conn
	raw syscall.RawConn
	buf []byte
	// waitRead reads one datagram into buf for raw.Read, made once: a
	// closure per read is an allocation per datagram. got and rerr are
	// what the last read returned.
	waitRead func(fd uintptr) bool
	got      int
	rerr     error
	// observe, when set (tests), sees every request and subscription
	// before it is checked and sent.
	observe func(observed)
}

// observed is one thing a socket asked of the kernel: a request (Type,
// Flags) or a multicast subscription (Group).
type observed struct {
	Type, Flags uint16
	Group       uint32
}

// dialNetlink opens a ctnetlink socket in the namespace (nil: the caller's).
func dialNetlink(ns *nsHandle, observe func(observed)) (*nlConn, error) {
	cfg := &netlink.Config{}
	if ns != nil {
		cfg.NetNS = ns.fd()
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening a netfilter netlink socket: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	n := &nlConn{c: c, raw: raw, buf: make([]byte, recvBufSize), observe: observe}
	n.waitRead = func(fd uintptr) bool {
		n.got, n.rerr = unix.Read(int(fd), n.buf)
		return n.rerr != unix.EAGAIN && n.rerr != unix.EINTR // else wait for the poller
	}
	return n, nil
}

func (n *nlConn) close() error { return n.c.Close() }

// send sends one request after checking that it only reads.
func (n *nlConn) send(r netlinkct.Request) (uint32, error) {
	payload := r.Payload()
	if n.observe != nil {
		n.observe(observed{Type: r.Type(), Flags: r.Flags})
	}
	if err := netlinkct.Check(r.Type(), r.Flags); err != nil {
		return 0, err
	}
	m, err := n.c.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(r.Type()), Flags: netlink.HeaderFlags(r.Flags)},
		Data:   payload,
	})
	if err != nil {
		return 0, fmt.Errorf("netlink send: %w", unwrapOp(err))
	}
	return m.Header.Sequence, nil
}

// recv reads one datagram into n.buf. The socket is non-blocking (the
// runtime's poller waits); read(2) rather than recvfrom(2), whose sender
// address costs an allocation per datagram.
func (n *nlConn) recv() ([]byte, error) {
	err := n.raw.Read(n.waitRead)
	if err == nil {
		err = n.rerr
	}
	if err != nil {
		return nil, err
	}
	if n.got == 0 {
		return nil, fmt.Errorf("netlink: %w", errShortRead)
	}
	return n.buf[:n.got], nil
}

var errShortRead = errors.New("empty datagram")

// query sends r and passes every answer message to fn until the answer
// ends: NLMSG_DONE after a dump, the acknowledgement of a request that
// asked for one, else the first message without NLM_F_MULTI. A kernel error
// ends it with *netlinkct.Errno.
func (n *nlConn) query(ctx context.Context, r netlinkct.Request, fn func(m *netlinkct.Message) error) error {
	seq, err := n.send(r)
	if err != nil {
		return err
	}
	stop := n.cancelOn(ctx)
	defer stop()
	done := false
	for !done {
		b, err := n.recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("netlink receive: %w", err)
		}
		err = netlinkct.Walk(b, func(m *netlinkct.Message) error {
			if m.Seq != seq {
				return nil // a late answer to an earlier, abandoned request
			}
			if m.Done() || m.Ack() {
				done = true
				return nil
			}
			if m.Flags&netlinkct.FlagMulti == 0 && r.Flags&netlinkct.FlagAck == 0 {
				done = true // a single answer
			}
			return fn(m)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// cancelOn makes a blocked receive return when ctx ends; the returned
// function stops watching and clears the deadline.
func (n *nlConn) cancelOn(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
			_ = n.c.SetReadDeadline(time.Unix(1, 0))
		case <-quit:
		}
	}()
	return func() {
		close(quit)
		<-finished
		_ = n.c.SetReadDeadline(time.Time{})
	}
}

// setReadBuffer sizes the socket's receive buffer (see setReadBuffer).
func (n *nlConn) setReadBuffer(size int) (got int, forced bool, err error) {
	cerr := n.raw.Control(func(fd uintptr) { got, forced, err = setReadBuffer(int(fd), size) })
	return got, forced, firstErr(cerr, err)
}

// setReadBuffer sizes a socket's receive buffer: with SO_RCVBUFFORCE when
// the process may (CAP_NET_ADMIN), else SO_RCVBUF, which the kernel caps at
// net.core.rmem_max. It returns the size in effect (the kernel doubles the
// request for its bookkeeping and reports that) and whether it was forced.
func setReadBuffer(fd, size int) (int, bool, error) {
	forced := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) == nil
	if !forced {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
			return 0, false, fmt.Errorf("setting the netlink receive buffer: %w", err)
		}
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return 0, false, fmt.Errorf("reading the netlink receive buffer: %w", err)
	}
	return got, forced, nil
}

// join subscribes to multicast groups (events).
func (n *nlConn) join(groups ...uint32) error {
	for _, g := range groups {
		if n.observe != nil {
			n.observe(observed{Group: g})
		}
		if err := n.c.JoinGroup(g); err != nil {
			return fmt.Errorf("subscribing to conntrack events (group %d): %w", g, unwrapOp(err))
		}
	}
	return nil
}

// unwrapOp strips netlink.OpError so errno checks read naturally in
// messages; errors.Is works either way.
func unwrapOp(err error) error {
	var op *netlink.OpError
	if errors.As(err, &op) && op.Err != nil {
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			return se.Err
		}
		return op.Err
	}
	return err
}

// dumpBuffers is how many datagram buffers circulate in a dump: enough
// for the kernel to build the next datagrams while the last is decoded.
const dumpBuffers = 4

// datagram is one received dump datagram (or the error that ended it).
type datagram struct {
	b   []byte
	err error
}

// dump sends a dump request and passes every answer message to fn, like
// query, but receives on its own goroutine: the kernel fills the next
// datagram (inside recvmsg) while this one decodes the last, on another
// core. A fixed set of buffers circulates, so memory stays at
// dumpBuffers × 64 KiB however large the table. If fn fails, the rest of
// the dump is read and dropped, so the socket is ready for the next
// request (the kernel runs one dump per socket at a time).
func (n *nlConn) dump(ctx context.Context, r netlinkct.Request, fn func(m *netlinkct.Message) error) error {
	seq, err := n.send(r)
	if err != nil {
		return err
	}
	stop := n.cancelOn(ctx)
	defer stop()
	free := make(chan []byte, dumpBuffers)
	full := make(chan datagram, dumpBuffers)
	for range dumpBuffers {
		free <- make([]byte, recvBufSize)
	}
	go n.receiveDump(seq, free, full)
	var ferr error
	for d := range full {
		if d.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ferr == nil {
				ferr = d.err
			}
			continue
		}
		if ferr == nil {
			ferr = netlinkct.Walk(d.b, func(m *netlinkct.Message) error {
				if m.Seq != seq || m.Done() || m.Ack() {
					return nil
				}
				return fn(m)
			})
		}
		free <- d.b[:cap(d.b)]
	}
	return ferr
}

// receiveDump reads the datagrams of dump seq until its NLMSG_DONE, a
// kernel error or a receive error, and closes full.
func (n *nlConn) receiveDump(seq uint32, free chan []byte, full chan<- datagram) {
	defer close(full)
	for {
		b := <-free
		var got int
		var rerr error
		err := n.raw.Read(func(fd uintptr) bool {
			got, _, rerr = unix.Recvfrom(int(fd), b, 0)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			full <- datagram{err: fmt.Errorf("netlink receive: %w", err)}
			return
		}
		b = b[:got]
		end, kerr := dumpEnds(b, seq)
		if kerr != nil {
			full <- datagram{err: kerr}
			return
		}
		full <- datagram{b: b}
		if end {
			return
		}
	}
}

// dumpEnds looks at the message headers of a datagram only: whether it
// holds the NLMSG_DONE of dump seq, or a kernel error for it.
func dumpEnds(b []byte, seq uint32) (bool, error) {
	end := false
	err := netlinkct.Walk(b, func(m *netlinkct.Message) error {
		if m.Seq == seq && m.Done() {
			end = true
		}
		return nil
	})
	return end, err
}
