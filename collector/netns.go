package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Netns names the network namespace to read. The zero value is the
// caller's own namespace. At most one field may be set.
type Netns struct {
	// Name is a name as `ip netns` gives it: a bind mount in Config.NetnsDir
	// (/run/netns).
	Name string
	// PID reads the namespace of a process (its /proc/PID/ns/net), e.g. a
	// container's.
	PID int
	// Path is any file that refers to a namespace (an nsfs bind mount or
	// /proc/PID/ns/net).
	Path string
}

// IsZero reports whether n is the caller's own namespace.
func (n Netns) IsZero() bool { return n.Name == "" && n.PID == 0 && n.Path == "" }

// String names the namespace as a person would ("netns web", "netns of pid
// 1234"), or "" for the caller's own.
func (n Netns) String() string {
	switch {
	case n.Name != "":
		return n.Name
	case n.PID != 0:
		return "pid " + strconv.Itoa(n.PID)
	case n.Path != "":
		return n.Path
	}
	return ""
}

// nsPath is the file that refers to the namespace.
func (n Netns) nsPath(procRoot, netnsDir string) (string, error) {
	set := 0
	for _, b := range []bool{n.Name != "", n.PID != 0, n.Path != ""} {
		if b {
			set++
		}
	}
	if set > 1 {
		return "", fmt.Errorf("%w: give one of a namespace name, a pid or a path", ErrBadConfig)
	}
	switch {
	case n.Name != "":
		if strings.ContainsRune(n.Name, '/') || n.Name == "." || n.Name == ".." {
			return "", fmt.Errorf("%w: %q is not a namespace name (ip netns list shows them)", ErrBadConfig, n.Name)
		}
		return filepath.Join(netnsDir, n.Name), nil
	case n.PID != 0:
		if n.PID < 0 {
			return "", fmt.Errorf("%w: pid %d", ErrBadConfig, n.PID)
		}
		return filepath.Join(procRoot, strconv.Itoa(n.PID), "ns", "net"), nil
	}
	return n.Path, nil
}

// nsHandle is an open namespace: the file and its inode number (the number
// the kernel prints in "table full in netns N").
type nsHandle struct {
	f     *os.File
	inode uint64
}

// openNetns opens the namespace file and checks that it is one.
func openNetns(path string) (*nsHandle, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist (ip netns list, or a live pid)", ErrNoNetns, path)
		}
		return nil, fmt.Errorf("opening namespace: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening namespace %s: %w", path, err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err == nil && fs.Type != unix.NSFS_MAGIC && fs.Type != unix.PROC_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a network namespace file", ErrNoNetns, path)
	}
	return &nsHandle{f: f, inode: st.Ino}, nil
}

func (h *nsHandle) fd() int { return int(h.f.Fd()) }

func (h *nsHandle) close() error {
	if h == nil {
		return nil
	}
	return h.f.Close()
}

// inNetns runs fn on an OS thread switched into the namespace. Files fn
// opens under /proc/thread-self/net and /proc/sys/net belong to that
// namespace and keep it when read later from any thread. If the thread
// cannot switch back it is not unlocked, so the runtime retires it and no
// other goroutine runs in the wrong namespace.
func inNetns(h *nsHandle, fn func() error) error {
	if h == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(h.fd(), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace: setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving namespace: setns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// canEnter reports whether this process may switch a thread into the
// namespace: setns(2) wants CAP_SYS_ADMIN, so without it neither netlink
// sockets nor /proc files of the namespace can be had.
func canEnter(h *nsHandle) error {
	err := inNetns(h, func() error { return nil })
	if errors.Is(err, unix.EPERM) {
		return err
	}
	return nil
}

// checkNetns returns ErrNetnsGone when the name or pid the namespace was
// opened by no longer refers to it: ip netns del removed the name (or
// another namespace took it), or the process exited. ctdiag's open handle
// keeps such a namespace readable, but nothing else uses it any more, so
// reading on would report a table no one has.
func (c *Collector) checkNetns() error {
	if c.ns == nil || c.nsPath == "" {
		return nil
	}
	var st unix.Stat_t
	err := unix.Stat(c.nsPath, &st)
	switch {
	case err == nil && st.Ino == c.ns.inode:
		return nil
	case err == nil && !isNsfs(c.nsPath):
		// ip netns del unmounts the name before it removes the file.
		return fmt.Errorf("%w: %s was deleted (ip netns del); only ctdiag's handle kept it alive", ErrNetnsGone, c.nsPath)
	case err == nil:
		return fmt.Errorf("%w: %s now names another namespace (inode %d, was %d): the one being read was deleted", ErrNetnsGone, c.nsPath, st.Ino, c.ns.inode)
	case errors.Is(err, unix.ENOENT) && c.cfg.Netns.PID != 0:
		return fmt.Errorf("%w: process %d, whose namespace was being read, has exited", ErrNetnsGone, c.cfg.Netns.PID)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %s was deleted (ip netns del); only ctdiag's handle kept it alive", ErrNetnsGone, c.nsPath)
	}
	return nil // cannot tell (a permission change): keep reading
}

// isNsfs reports whether path is a namespace file (nsfs, or /proc/PID/ns).
func isNsfs(path string) bool {
	var fs unix.Statfs_t
	if unix.Statfs(path, &fs) != nil {
		return false
	}
	return fs.Type == unix.NSFS_MAGIC || fs.Type == unix.PROC_SUPER_MAGIC
}
