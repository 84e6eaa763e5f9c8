package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	conntrackMaxPath = "/proc/sys/net/netfilter/nf_conntrack_max"
	// conntrackMaxLock is on /run (tmpfs) because the sysctl, too, resets at
	// boot: a record in it never outlives the value it records.
	conntrackMaxLock = "/run/ctdiag-netnstest-conntrack-max.lock"
)

// SetConntrackMax sets net.netfilter.nf_conntrack_max to n and restores the
// previous value in t.Cleanup, which also runs after t.Fatal and panics.
//
// The limit is global: every namespace counts its own entries against it,
// including those of other tests running at the same time, so prefer values
// that do not starve them. The sysctl is writable only from the initial
// namespace; elsewhere the test is skipped.
//
// Callers are serialised through an flock held until the cleanup, across all
// test processes, so concurrent callers cannot restore each other's values.
// The value to restore is recorded in the lock file while it is held; if a
// test binary is killed before its cleanup, the next caller restores the
// recorded value.
func SetConntrackMax(t testing.TB, n int) {
	t.Helper()
	setConntrackMax(t, func(int) int { return n })
}

// setConntrackMax takes the lock and sets the limit to value(orig), where
// orig is the value the cleanup restores.
func setConntrackMax(t testing.TB, value func(orig int) int) {
	t.Helper()
	Require(t)
	f, err := os.OpenFile(conntrackMaxPath, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
		t.Skipf("netnstest: nf_conntrack_max is read-only here (not the initial network namespace?): %v", err)
	}
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	f.Close()

	l, err := lockConntrackMax()
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	t.Cleanup(func() {
		if err := l.restore(); err != nil {
			t.Errorf("netnstest: restore nf_conntrack_max to %d: %v", l.orig, err)
		}
	})
	n := value(l.orig)
	if err := writeConntrackMax(n); err != nil {
		t.Fatalf("netnstest: set nf_conntrack_max to %d: %v", n, err)
	}
}

// KeepConntrackMax holds the global nf_conntrack_max steady for the rest of
// the test and returns it: it takes the lock SetConntrackMax takes, shared,
// so that no test in any process changes the limit while this one fills a
// table past a few hundred entries, counts drops or compares with a model
// (go test runs packages in parallel); keepers do not wait for each other.
// Tests that only make a handful of entries need not call it. A test must
// not call both.
func KeepConntrackMax(t testing.TB) int {
	t.Helper()
	Require(t)
	f, err := os.OpenFile(conntrackMaxLock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("netnstest: nf_conntrack_max lock: %v", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		t.Fatalf("netnstest: nf_conntrack_max lock: flock: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	// No setter holds the lock now, so a record is a dead setter's.
	if err := restoreRecorded(f); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	v, err := readConntrackMax()
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	return v
}

// healConntrackMax restores the value a test binary killed while it had
// lowered nf_conntrack_max recorded, if nobody holds the lock now. Every
// kernel test runs it (through Require), so one killed run does not leave
// the machine's limit lowered for the tests after it.
func healConntrackMax() error {
	f, err := os.OpenFile(conntrackMaxLock, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil // held: its holder restores
	}
	return restoreRecorded(f)
}

// restoreRecorded writes back a recorded value and clears the record; the
// caller holds the lock (shared or exclusive) so no setter is running.
func restoreRecorded(f *os.File) error {
	rec, err := io.ReadAll(io.NewSectionReader(f, 0, 64))
	if err != nil {
		return fmt.Errorf("nf_conntrack_max lock: %w", err)
	}
	rec = bytes.TrimSpace(rec)
	if len(rec) == 0 {
		return nil
	}
	v, err := strconv.Atoi(string(rec))
	if err != nil {
		return fmt.Errorf("nf_conntrack_max lock %s: bad record: %w", conntrackMaxLock, err)
	}
	if cur, err := readConntrackMax(); err == nil && cur != v {
		if err := writeConntrackMax(v); err != nil {
			return fmt.Errorf("restore nf_conntrack_max to %d left by a killed test: %w", v, err)
		}
	}
	return f.Truncate(0)
}

// maxLock is the held lock on nf_conntrack_max and the value to restore.
type maxLock struct {
	f    *os.File
	orig int
}

// lockConntrackMax blocks until it holds the lock, then records the value to
// restore: the one a dead holder left in the file, or else the current one.
func lockConntrackMax() (*maxLock, error) {
	f, err := os.OpenFile(conntrackMaxLock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("nf_conntrack_max lock: %w", err)
	}
	l := &maxLock{f: f}
	if err := l.init(); err != nil {
		f.Close() // also releases the lock
		return nil, fmt.Errorf("nf_conntrack_max lock %s: %w", conntrackMaxLock, err)
	}
	return l, nil
}

func (l *maxLock) init() error {
	for {
		err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("flock: %w", err)
		}
	}
	rec, err := io.ReadAll(l.f)
	if err != nil {
		return err
	}
	if rec = bytes.TrimSpace(rec); len(rec) > 0 {
		l.orig, err = strconv.Atoi(string(rec))
		if err != nil {
			return fmt.Errorf("bad record: %w", err)
		}
		return nil
	}
	if l.orig, err = readConntrackMax(); err != nil {
		return err
	}
	if _, err := l.f.WriteAt([]byte(strconv.Itoa(l.orig)+"\n"), 0); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return l.f.Sync()
}

// restore writes the recorded value back, then clears the record and
// releases the lock. If the write fails the record stays for the next holder.
func (l *maxLock) restore() error {
	defer l.f.Close()
	if err := writeConntrackMax(l.orig); err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("clear record in %s: %w", conntrackMaxLock, err)
	}
	return nil
}

func readConntrackMax() (int, error) {
	b, err := os.ReadFile(conntrackMaxPath)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", conntrackMaxPath, err)
	}
	return v, nil
}

func writeConntrackMax(n int) error {
	return os.WriteFile(conntrackMaxPath, []byte(strconv.Itoa(n)+"\n"), 0)
}
