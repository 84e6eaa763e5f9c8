package corpus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// Kmsg reads kernel-log records written after it was opened. It reads the
// raw descriptor: an os.File would wait in the poller instead of returning
// EAGAIN at the end of the log.
type Kmsg struct{ fd int }

// OpenKmsg opens /dev/kmsg at its end; it skips the test without it. The
// descriptor is closed in t.Cleanup.
func OpenKmsg(t testing.TB) *Kmsg {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no /dev/kmsg: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		t.Skipf("/dev/kmsg: %v", err)
	}
	return &Kmsg{fd: fd}
}

// TableFull returns the "table full in netns N" records of one namespace,
// as /dev/kmsg gives them.
func (k *Kmsg) TableFull(t testing.TB, inode uint64) []byte {
	t.Helper()
	var out bytes.Buffer
	want := []byte(fmt.Sprintf("table full in netns %d,", inode))
	err := k.read(func(rec []byte) {
		if bytes.Contains(rec, want) {
			out.Write(rec)
		}
	})
	if err != nil {
		t.Fatalf("/dev/kmsg: %v", err)
	}
	return out.Bytes()
}

// read calls fn with every record until the end of the log.
func (k *Kmsg) read(fn func(rec []byte)) error {
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN) || err == nil && n == 0:
			return nil
		case errors.Is(err, unix.EPIPE): // records overwritten meanwhile: go on
			continue
		case err != nil:
			return err
		}
		fn(buf[:n])
	}
}

// Dmesg returns the records that match as dmesg prints them
// ("[ 1400.936197] nf_conntrack: …").
func (k *Kmsg) Dmesg(match func(msg []byte) bool) ([]byte, error) {
	var out bytes.Buffer
	err := k.read(func(rec []byte) {
		head, msg, ok := bytes.Cut(rec, []byte(";"))
		if !ok {
			return
		}
		msg, _, _ = bytes.Cut(msg, []byte("\n")) // continuation lines (" KEY=value") follow
		if !match(msg) {
			return
		}
		f := bytes.Split(head, []byte(","))
		if len(f) < 3 {
			return
		}
		usec, err := strconv.ParseUint(string(f[2]), 10, 64)
		if err != nil {
			return
		}
		fmt.Fprintf(&out, "[%5d.%06d] %s\n", usec/1e6, usec%1e6, msg)
	})
	return out.Bytes(), err
}

// NSInode is the inode of a namespace, the number the kernel log names it by
// ("table full in netns N").
func NSInode(t testing.TB, ns *netnstest.NS) uint64 {
	t.Helper()
	st, err := os.Stat("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
