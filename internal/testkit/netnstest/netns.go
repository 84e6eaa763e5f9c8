package netnstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// cmdTimeout bounds every helper command so a hung tool fails the test
	// instead of the whole binary timing out, which would skip cleanups.
	cmdTimeout = 30 * time.Second
	// dialTimeout is short: peers are one veth away or on loopback.
	dialTimeout = 3 * time.Second
	// maxIfName is IFNAMSIZ minus the terminating NUL.
	maxIfName = 15
)

// seq numbers the namespaces of this process. It is the package's one
// mutable global, on purpose: names must be unique per process, which is
// exactly a package variable's scope.
var seq atomic.Uint64

// conntrackRuleset makes the kernel track connections in a namespace:
// conntrack hooks are registered only in namespaces whose ruleset uses them.
const conntrackRuleset = `table inet ctdiag_test {
	chain in {
		type filter hook input priority 0; ct state invalid counter
	}
	chain out {
		type filter hook output priority 0; ct state invalid counter
	}
}
`

// NS is a network namespace created for one test and deleted in its cleanup.
// Sockets made in it keep the kernel namespace alive after the deletion
// (out of sight, but with its veth end): close them before the test ends.
type NS struct {
	// Name is the namespace's name for ip netns ("ctdiag-<pid>-<seq>").
	Name string

	seq uint64
}

// NewNS creates a namespace with loopback up and conntrack enabled, for
// loopback-only tests. It skips the test when Require does.
func NewNS(t testing.TB) *NS {
	t.Helper()
	Require(t)
	n := &NS{seq: seq.Add(1)}
	n.Name = fmt.Sprintf("ctdiag-%d-%d", os.Getpid(), n.seq)
	if _, err := run(exec.Command("ip", "netns", "add", n.Name), nil); err != nil {
		t.Fatalf("netnstest: create namespace (a leftover of a killed run? remove it with ip netns del): %v", err)
	}
	t.Cleanup(func() {
		if _, err := run(exec.Command("ip", "netns", "del", n.Name), nil); err != nil {
			t.Errorf("netnstest: remove namespace: %v", err)
		}
	})
	if _, err := run(exec.Command("ip", "-n", n.Name, "link", "set", "lo", "up"), nil); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	n.Nft(t, conntrackRuleset)
	return n
}

// Exec returns a command that runs name inside the namespace (through
// ip netns exec), so it sees the namespace's interfaces and /proc/net.
func (n *NS) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Output runs name inside the namespace and returns its standard output.
// The error includes the command line and its standard error.
func (n *NS) Output(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	return run(n.Exec(ctx, name, args...), nil)
}

// MustOutput is Output that fails the test on error.
func (n *NS) MustOutput(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := n.Output(name, args...)
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	return out
}

// Nft loads ruleset into the namespace with nft -f -, failing the test on error.
func (n *NS) Nft(t testing.TB, ruleset string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := run(n.Exec(ctx, "nft", "-f", "-"), strings.NewReader(ruleset)); err != nil {
		t.Fatalf("netnstest: load ruleset into %s: %v", n.Name, err)
	}
}

// ReadProcFile reads path, such as /proc/net/nf_conntrack, as seen from inside
// the namespace. Reading /proc/net directly would show the test process's own
// namespace instead.
func (n *NS) ReadProcFile(path string) ([]byte, error) {
	return n.Output("cat", path)
}

// Do runs fn on an OS thread switched into the namespace with setns, so
// sockets fn creates belong to it. fn runs on its own goroutine: it must not
// call t.FailNow, and goroutines it starts run outside the namespace. A panic
// in fn is re-raised in the caller.
//
// The thread returns to the scheduler only after switching back. If that
// fails, its goroutine exits still locked and the runtime ends the thread
// (or, for the main thread, parks it for good), so no other goroutine ever
// runs in the wrong namespace.
func (n *NS) Do(fn func() error) error {
	target, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", n.Name, err)
	}
	defer target.Close()

	done := make(chan doResult, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- doResult{err: fmt.Errorf("netns %s: %w", n.Name, err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // setns failed, so the thread never left
			done <- doResult{err: fmt.Errorf("netns %s: setns: %w", n.Name, err)}
			return
		}
		r := call(fn)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = errors.Join(r.err, fmt.Errorf("netns %s: setns back: %w", n.Name, err))
		} else {
			runtime.UnlockOSThread()
		}
		done <- r
	}()
	r := <-done
	if r.panicked {
		panic(fmt.Sprintf("%v [recovered in netns %s]\n%s", r.value, n.Name, r.stack))
	}
	return r.err
}

// doResult is fn's outcome, carried back to Do's caller.
type doResult struct {
	err      error
	panicked bool
	value    any
	stack    []byte
}

// call runs fn and turns a panic into a result, so Do can restore the thread.
func call(fn func() error) (r doResult) {
	defer func() {
		if v := recover(); v != nil {
			r = doResult{panicked: true, value: v, stack: debug.Stack()}
		}
	}()
	return doResult{err: fn()}
}

// Listen is net.Listen inside the namespace.
func (n *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", n.Name, err)
	}
	return l, nil
}

// ListenPacket is net.ListenPacket inside the namespace.
func (n *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", n.Name, err)
	}
	return c, nil
}

// Dial is net.Dial inside the namespace, with a timeout of a few seconds.
func (n *NS) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		d := net.Dialer{Timeout: dialTimeout}
		c, err = d.Dial(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", n.Name, err)
	}
	return c, nil
}

// run runs cmd with stdin and returns its standard output; the error names
// the command and carries its standard error.
func run(cmd *exec.Cmd, stdin io.Reader) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
