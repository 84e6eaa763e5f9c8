package main

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

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

var goneSeq atomic.Int64

// deletableNetns makes a namespace with a few entries that the test itself
// deletes; the cleanup removes it only if the test did not.
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
	if err := ctfill.FillIn("/run/netns/"+name, 0, 30); err != nil {
		t.Fatal(err)
	}
	return name
}

// deleteAfter deletes the namespace once stderr shows the first sample.
func deleteAfter(t *testing.T, name string, stderr *lockedBuffer, mark string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderr.String(), mark) {
		if time.Now().After(deadline) {
			t.Errorf("no %q on stderr: %s", mark, stderr.String())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Errorf("ip netns del: %v %s", err, out)
	}
}

// TestKernelNamespaceDeletedWhileWatched: ip netns del while report and
// record read a namespace over several samples: they stop with exit 4 and
// say the namespace is gone (ctdiag's handle would otherwise keep it, and
// its table, alive and report on it); top's live source says so in its
// status line, lets the namespace go, and says it again on every refresh.
func TestKernelNamespaceDeletedWhileWatched(t *testing.T) {
	netnstest.Require(t) // before the subtests, so that the test itself skips too
	for _, c := range []struct {
		name string
		args func(ns, dir string) []string
		mark string
	}{
		{"report", func(ns, _ string) []string {
			return []string{"report", "--netns", ns, "--samples", "20", "--interval", "200ms", "-o", "json"}
		}, "reading the live table"},
		{"record", func(ns, dir string) []string {
			return []string{"record", "--netns", ns, "--samples", "20", "--interval", "200ms", "-o", dir + "/r.tar.gz"}
		}, "sample 1 of 20"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := deletableNetns(t)
			var out, errb lockedBuffer
			done := make(chan int, 1)
			start := time.Now()
			go func() { done <- runCtdiag(c.args(ns, t.TempDir()), &out, &errb) }()
			deleteAfter(t, ns, &errb, c.mark)
			select {
			case code := <-done:
				if code != exitFailure || !strings.Contains(errb.String(), "was deleted (ip netns del)") || !strings.Contains(errb.String(), "stopped reading it") {
					t.Errorf("exit %d after %v, stderr:\n%s", code, time.Since(start), errb.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still running after the namespace was deleted: %s", errb.String())
			}
		})
	}
	t.Run("top", func(t *testing.T) {
		ns := deletableNetns(t)
		cfg := collector.Config{Netns: collector.Netns{Name: ns}}
		s, err := newLiveSource(cfg, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sink := &funcSink{begin: func(track.Snapshot) {}, flow: func() {}, extra: func(*track.Snapshot) {}}
		if _, err := s.Read(context.Background(), sink); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		for i := range 2 {
			_, err := s.Read(context.Background(), sink)
			if !errors.Is(err, collector.ErrNetnsGone) || !strings.Contains(err.Error(), "was deleted") {
				t.Errorf("read %d after ip netns del: %v", i+1, err)
			}
		}
		if s.follow != nil {
			t.Error("events are still followed in a namespace that is gone")
		}
	})
}

// TestKernelReportNetnsWithoutPrivileges: as nobody, report --netns cannot
// enter the namespace at all (setns needs root): it fails at once with exit
// 4 and what to do instead, not with a raw setns error after promising a
// reduced read.
func TestKernelReportNetnsWithoutPrivileges(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.Require(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	bin := builtCtdiag(t)
	ns := netnstest.NewNS(t)
	for _, args := range [][]string{
		{"report", "--netns", ns.Name, "--samples", "1"},
		{"stats", "--netns", ns.Name},
		{"list", "--netns", ns.Name, "-c"},
	} {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Skipf("cannot run as nobody: %v", err)
		}
		msg := errb.String()
		if ee.ExitCode() != exitFailure || !strings.Contains(msg, "needs root") || !strings.Contains(msg, "sudo") ||
			strings.Contains(msg, "setns: operation not permitted") || strings.Contains(msg, "reading statistics, count, max and sysctls only") {
			t.Errorf("%v as nobody: exit %d\n%s", args, ee.ExitCode(), msg)
		}
	}
}
