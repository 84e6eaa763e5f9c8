package collector

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchReader reads event datagrams many at a time (recvmmsg(2)) from a
// socket outside the Go runtime's poller, at the pace of its own pauses.
//
// Why not the poller: it registers a socket edge-triggered, so every event
// the kernel queues wakes a thread parked in epoll_wait, whether or not a
// goroutine waits for it, and the scheduler's round that follows costs more
// than decoding the event and applying it to a model together. Why not a
// blocking read: with a goroutine blocked in a system call, the runtime's
// monitor thread (sysmon) kept waking, 13 % of the reader's CPU in a
// profile. So the reader takes what is queued without waiting, then
// sleeps: events gather in the socket meanwhile and the next read takes
// up to 64 of them per system call.
type batchReader struct {
	fd int
	// pause is the sleep after a read that found events; with none, the
	// sleep doubles up to maxPause, so an idle namespace costs a few
	// wake-ups a second.
	pause, idle, maxPause time.Duration
	hdrs                  []mmsghdr
	iovs                  []unix.Iovec
	bufs                  []byte // len(hdrs) datagram buffers of batchSlotSize each
	timer                 *time.Timer
	reads                 *int // counts the reads that brought datagrams
	// The last batch: how many datagrams it holds and which is next.
	n, next int
}

// mmsghdr is struct mmsghdr of <sys/socket.h>, which x/sys/unix does not
// define: a message header and the length received into it.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

const (
	// batchSlots datagrams per recvmmsg(2).
	batchSlots = 64
	// batchSlotSize holds any event datagram: ctnetlink sizes an event
	// message for the attributes it may carry, well under a page; one
	// that does not fit is reported, not cut short silently.
	batchSlotSize = 8 << 10
	// minPause and maxPause bound the sleeps between reads. An event
	// waits in the socket at most maxPause, so the receive buffer holds
	// that much of the event rate: 32 MiB is about 100 ms at 300,000
	// events a second.
	minPause = time.Millisecond
	maxPause = 100 * time.Millisecond
)

// newBatchReader takes the socket of n for itself: it keeps a duplicate
// of the descriptor and closes n, which takes the socket out of the poller.
// Subscriptions and buffer sizes belong to the socket, so they stay. It
// sleeps pause (at least minPause) after each read that found events.
func newBatchReader(n *nlConn, pause time.Duration) (*batchReader, error) {
	fd := -1
	var derr error
	err := n.raw.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) })
	n.close()
	if err = firstErr(err, derr); err != nil {
		return nil, fmt.Errorf("taking the event socket off the poller: %w", err)
	}
	return batchReaderOn(fd, pause), nil
}

// batchReaderOn reads datagrams from fd, a non-blocking datagram socket
// that is its own from now on.
func batchReaderOn(fd int, pause time.Duration) *batchReader {
	pause = max(pause, minPause)
	r := &batchReader{fd: fd, pause: pause, idle: pause, maxPause: max(pause, maxPause),
		hdrs: make([]mmsghdr, batchSlots), iovs: make([]unix.Iovec, batchSlots), bufs: make([]byte, batchSlots*batchSlotSize)}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.bufs[i*batchSlotSize]
		r.iovs[i].SetLen(batchSlotSize)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	return r
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *batchReader) close() error {
	if r.timer != nil {
		r.timer.Stop()
	}
	return unix.Close(r.fd)
}

// recv returns the next datagram, sleeping between reads until one comes
// or ctx ends. It reads again at once only after a read that filled every
// slot: more are likely queued.
func (r *batchReader) recv(ctx context.Context) ([]byte, error) {
	for r.next >= r.n {
		if r.n < len(r.hdrs) {
			if r.timer == nil {
				r.timer = time.NewTimer(r.idle)
			} else {
				r.timer.Reset(r.idle)
			}
			select {
			case <-r.timer.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err := r.read(); err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return nil, err
		}
		if r.n > 0 {
			r.idle = r.pause
		} else {
			r.idle = min(2*r.idle, r.maxPause)
		}
	}
	return r.take()
}

// recvNow returns the next datagram if one is queued; unix.EAGAIN if none.
func (r *batchReader) recvNow() ([]byte, error) {
	if r.next < r.n {
		return r.take()
	}
	if err := r.read(); err != nil {
		return nil, err
	}
	return r.take()
}

// read fills the batch with what is queued, by one recvmmsg(2) that does
// not wait.
func (r *batchReader) read() error {
	r.n, r.next = 0, 0
	for i := range r.hdrs {
		r.hdrs[i].hdr.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
		uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return errno
	}
	r.n = int(n)
	if n > 0 && r.reads != nil {
		*r.reads++
	}
	return nil
}

func (r *batchReader) take() ([]byte, error) {
	i := r.next
	r.next++
	h := &r.hdrs[i]
	if h.hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("netlink: an event datagram over %d bytes was cut short", batchSlotSize)
	}
	if h.len == 0 {
		return nil, fmt.Errorf("netlink: %w", errShortRead)
	}
	return r.bufs[i*batchSlotSize : i*batchSlotSize+int(h.len)], nil
}
