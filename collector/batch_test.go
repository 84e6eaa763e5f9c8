package collector

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// datagramPair is a non-blocking datagram socket pair: what is sent on
// the first is read from the second, one datagram at a time, as from a
// netlink socket.
func datagramPair(t *testing.T) (send, recv int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]) })
	return fds[0], fds[1]
}

// TestBatchReaderTakesWhatIsQueued: datagrams queued while the reader
// sleeps come back whole and in order, 64 a read; a read that fills
// every slot is followed at once, an empty queue waits, and the end of
// the context ends the wait.
func TestBatchReaderTakesWhatIsQueued(t *testing.T) {
	send, fd := datagramPair(t)
	r := batchReaderOn(fd, time.Millisecond)
	reads := 0
	r.reads = &reads
	defer r.close()
	const n = 100
	for i := range n {
		if _, err := unix.Write(send, fmt.Appendf(nil, "datagram %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for i := range n {
		b, err := r.recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("datagram %d", i); string(b) != want {
			t.Fatalf("datagram %d reads %q", i, b)
		}
	}
	if reads != 2 {
		t.Errorf("%d datagrams in %d reads, want 2 (64 and 36)", n, reads)
	}
	if _, err := r.recvNow(); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("recvNow on an empty queue: %v, want EAGAIN", err)
	}

	// Nothing queued: recv waits, with pauses growing to maxPause, until
	// the context ends.
	ctx, cancel := context.WithTimeout(ctx, 5*maxPause)
	defer cancel()
	if _, err := r.recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("recv with nothing queued: %v, want the context's end", err)
	}
	if r.idle != r.maxPause {
		t.Errorf("pause after idle reads %v, want %v", r.idle, r.maxPause)
	}

	// A datagram after a quiet spell still arrives, and resets the pause.
	go unix.Write(send, []byte("late"))
	b, err := r.recv(context.Background())
	if err != nil || string(b) != "late" {
		t.Fatalf("after idle: %q, %v", b, err)
	}
	if r.idle != r.pause {
		t.Errorf("pause after a read that found a datagram: %v, want %v", r.idle, r.pause)
	}
}

// TestBatchReaderTooLarge: a datagram longer than a slot is an error that
// says so, not a datagram cut short.
func TestBatchReaderTooLarge(t *testing.T) {
	send, fd := datagramPair(t)
	r := batchReaderOn(fd, time.Millisecond)
	defer r.close()
	if _, err := unix.Write(send, make([]byte, batchSlotSize+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.recv(context.Background()); err == nil {
		t.Fatal("a datagram over a slot was read without error")
	}
}
