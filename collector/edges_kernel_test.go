package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

var goneSeq atomic.Int64

// deletableNetns makes a namespace the test itself deletes (netnstest's
// own are removed by its cleanup, which would then fail); the cleanup here
// removes it only if the test did not.
func deletableNetns(t *testing.T) string {
	t.Helper()
	netnstest.Require(t)
	name := fmt.Sprintf("ctdiag-gone-%d-%d", os.Getpid(), goneSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() {
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			exec.Command("ip", "netns", "del", name).Run()
		}
	})
	return name
}

func deleteNetns(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v %s", err, out)
	}
}

// TestKernelNetnsDeletedWhileRead: once ip netns del removed the namespace
// being read, the collector's own handle still keeps it (and its table)
// alive; every read must say it is gone instead of reading on, and an
// event reader must stop with the reason.
func TestKernelNetnsDeletedWhileRead(t *testing.T) {
	name := deletableNetns(t)
	if err := ctfill.FillIn("/run/netns/"+name, 0, 50); err != nil {
		t.Fatal(err)
	}
	for _, src := range []SourceChoice{SourceNetlink, SourceProcfs} {
		c, err := Open(Config{Netns: Netns{Name: name}, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		info, err := c.Flows(context.Background(), DumpFilter{}, func(*track.Flow) error { return nil })
		if err != nil || info.Entries != 50 {
			t.Fatalf("%v before: %d entries, %v", src, info.Entries, err)
		}
	}
	c, err := Open(Config{Netns: Netns{Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evErr := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		_, err := c.Events(ctx, EventOptions{Ready: func() { close(ready) }}, &countingSink{})
		evErr <- err
	}()
	<-ready

	deleteNetns(t, name)
	if _, err := c.Flows(context.Background(), DumpFilter{}, func(*track.Flow) error { return nil }); !errors.Is(err, ErrNetnsGone) ||
		!strings.Contains(err.Error(), "ip netns del") {
		t.Errorf("Flows after ip netns del: %v", err)
	}
	if _, _, _, err := c.Stats(context.Background()); !errors.Is(err, ErrNetnsGone) {
		t.Errorf("Stats: %v", err)
	}
	if _, err := c.Extra(context.Background()); !errors.Is(err, ErrNetnsGone) {
		t.Errorf("Extra: %v", err)
	}
	select {
	case err := <-evErr:
		if !errors.Is(err, ErrNetnsGone) {
			t.Errorf("Events ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Events did not notice the namespace went")
	}

	// A name given to a new namespace is not the one being read.
	name2 := deletableNetns(t)
	c2, err := Open(Config{Netns: Netns{Name: name2}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	deleteNetns(t, name2)
	if out, err := exec.Command("ip", "netns", "add", name2).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if _, _, _, err := c2.Count(context.Background()); !errors.Is(err, ErrNetnsGone) || !strings.Contains(err.Error(), "names another namespace") {
		t.Errorf("Count after the name was reused: %v", err)
	}
}

// TestKernelDumpNotesFlush: a table flushed while it is dumped gives fewer
// entries than it had and the kernel says nothing; the collector notes the
// dump may be partial. The dump is held after its first entry while
// conntrack -F empties the table.
func TestKernelDumpNotesFlush(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack")
	ns := netnstest.NewNS(t)
	const n = 30000
	fill(t, ns, 0, n)
	for _, src := range []SourceChoice{SourceNetlink, SourceProcfs} {
		c, err := Open(Config{Netns: Netns{Name: ns.Name}, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		read := 0
		info, err := c.Flows(context.Background(), DumpFilter{}, func(*track.Flow) error {
			if read++; read == 1 {
				ns.MustOutput(t, "conntrack", "-F")
			}
			return nil
		})
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Entries >= n || info.Partial == "" || !strings.Contains(strings.Join(c.Notes(), "\n"), "shrank from") {
			t.Errorf("%v: %d entries read, partial %q, notes %q", src, info.Entries, info.Partial, c.Notes())
		}
		// A whole table read undisturbed is not partial.
		fill(t, ns, 0, 100)
		c, err = Open(Config{Netns: Netns{Name: ns.Name}, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		info, err = c.Flows(context.Background(), DumpFilter{}, func(*track.Flow) error { return nil })
		c.Close()
		if err != nil || info.Entries != 100 || info.Partial != "" {
			t.Errorf("%v undisturbed: %d entries, partial %q, %v", src, info.Entries, info.Partial, err)
		}
		ns.MustOutput(t, "conntrack", "-F")
		fill(t, ns, 0, n)
	}
}

func TestShrankWhileRead(t *testing.T) {
	for _, c := range []struct {
		before, after, read uint64
		partial             bool
	}{
		{1000, 0, 120, true},    // flushed
		{1000, 990, 995, false}, // churn
		{1000, 1200, 1100, false},
		{20, 0, 3, true},
		{5, 0, 1, false}, // too small to tell
		{100000, 95000, 96000, false},
		{100000, 50000, 60000, true},
	} {
		if got := shrankWhileRead(c.before, c.after, c.read) != ""; got != c.partial {
			t.Errorf("%+v: partial %v", c, got)
		}
	}
}
