package ctfill

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// TestKernelFillToLimit fills a namespace to the global limit without
// touching it: the count reaches nf_conntrack_max, one more creation is
// refused as table full, and a new flow's first packet is dropped (sendto
// fails with EPERM), since ASSURED entries leave early drop nothing.
func TestKernelFillToLimit(t *testing.T) {
	ns := netnstest.NewNS(t)
	max := netnstest.FillableConntrackMax(t)
	fl, err := NewIn("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	made, err := fl.FillToLimit(0, Assured)
	if err != nil {
		t.Fatal(err)
	}
	count, gotMax, err := fl.Count()
	if err != nil || count != max || gotMax != max || made != max {
		t.Fatalf("made %d; count %d, max %d (%d read from /proc), %v", made, count, gotMax, max, err)
	}
	extra := Assured(max)
	if err := fl.Add(&extra); err != nil {
		t.Fatal(err)
	}
	if err := fl.Sync(); !errors.Is(err, ErrTableFull) {
		t.Errorf("a creation past the limit: %v, want ErrTableFull", err)
	}
	err = ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}})
	})
	if !errors.Is(err, unix.EPERM) {
		t.Errorf("a new flow in a full table: %v, want EPERM (dropped)", err)
	}
	if v := netnstest.ConntrackMax(t); v != max {
		t.Errorf("nf_conntrack_max changed from %d to %d", max, v)
	}
}
