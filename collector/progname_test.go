package collector

import (
	"os"
	"path/filepath"
	"testing"
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
