package collector

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProcessWithSocket: the process holding socket:[inode] among its
// descriptors is found in a proc tree; other processes, unreadable
// descriptor tables and other sockets are passed over.
func TestProcessWithSocket(t *testing.T) {
	root := t.TempDir()
	mk := func(pid, comm string, links map[string]string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "comm"), []byte(comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for fd, target := range links {
			if err := os.Symlink(target, filepath.Join(root, pid, "fd", fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("1", "init", map[string]string{"0": "/dev/null", "3": "socket:[1000]"})
	mk("42", "kube-proxy", map[string]string{"7": "socket:[4242]", "8": "pipe:[5]"})
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	for inode, want := range map[uint64]string{4242: "kube-proxy", 1000: "init", 77: ""} {
		if got := processWithSocket(root, inode); got != want {
			t.Errorf("inode %d: %q, want %q", inode, got, want)
		}
	}
}

// TestPrognameMissesAreRemembered: a port id whose socket is not found is
// not looked for again at every event (a flood of DESTROY events from a
// conntrack -F that has exited), only after missRetry; one found is kept.
func TestPrognameMissesAreRemembered(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	netlink := "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n" +
		"0000000000000000 12  777        00000000 0        0        0     2        0        4242\n"
	if err := os.WriteFile(filepath.Join(root, "net", "netlink"), []byte(netlink), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "42", "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "42", "comm"), []byte("kube-proxy\n"), 0o644)
	os.Symlink("socket:[4242]", filepath.Join(root, "42", "fd", "7"))
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	p := prognames{c: &Collector{cfg: Config{ProcRoot: root, Now: func() time.Time { return now }}}}
	if got := p.lookup(777); got != "kube-proxy" {
		t.Fatalf("port 777: %q", got)
	}
	for range 100 {
		if p.lookup(999) != "" || p.lookup(777) != "kube-proxy" {
			t.Fatal("wrong name")
		}
	}
	if p.scans != 2 {
		t.Errorf("%d scans for one hit and 100 repeated misses, want 2", p.scans)
	}
	now = now.Add(missRetry + time.Second)
	p.lookup(999)
	if p.scans != 1 { // a new one-second window, one retry
		t.Errorf("%d scans in the new window, want 1 (the retry)", p.scans)
	}
}
