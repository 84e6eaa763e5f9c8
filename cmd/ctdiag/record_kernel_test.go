package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

const fullDiskChildEnv = "CTDIAG_FULL_DISK_CHILD"

// TestKernelRecordFullDisk: record onto a full disk announces nothing and
// leaves nothing (it once printed "recorded 2 samples … into r.tar.gz", then
// failed). The disk is a small tmpfs mounted in a private mount namespace
// (unshare -m) of a child process, so the host never sees it and it goes
// with the child. Two sizes: both samples fit but the bundle does not, and
// the second sample does not fit either.
func TestKernelRecordFullDisk(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	if a := os.Getenv(fullDiskChildEnv); a != "" {
		recordOntoFullDisk(t, strings.Split(a, "\x1f"))
		return
	}
	netnstest.RequireRoot(t, "mounts a tmpfs in a private mount namespace")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	if out, err := exec.Command("unshare", "-m", "--propagation", "private", "true").CombinedOutput(); err != nil {
		t.Skipf("mount namespaces are not available here (unshare -m: %v %s)", err, out)
	}
	f, err := os.Open(captures + "/table-100k/proc-nf_conntrack-100k.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	table, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	root := procRootWith(t, table)
	pages := (int64(len(table)) + 4095) / 4096 * 4096
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		size int64
	}{
		{"the samples fit, the bundle does not", 2*pages + 256<<10},
		{"the second sample does not fit", pages + 1<<20},
	} {
		mnt := t.TempDir()
		cmd := exec.Command("unshare", "-m", "--propagation", "private", bin, "-test.run=^TestKernelRecordFullDisk$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), fullDiskChildEnv+"="+strings.Join([]string{mnt, root, strconv.FormatInt(c.size, 10)}, "\x1f"))
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("FULL DISK CHILD OK")) {
			t.Errorf("%s: %v\n%s", c.name, err, out)
		}
		// The tmpfs went with the child's namespace: the host sees the
		// empty directory.
		if left, _ := os.ReadDir(mnt); len(left) != 0 {
			t.Errorf("%s: %s holds %v on the host", c.name, mnt, left)
		}
	}
}

// recordOntoFullDisk runs in the child, in its own mount namespace.
func recordOntoFullDisk(t *testing.T, args []string) {
	mnt, root := args[0], args[1]
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+args[2]); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(mnt, 0)
	out := filepath.Join(mnt, "r.tar.gz")
	_, errOut, code := ctdiag(t, "", "record", "-o", out, "--proc-root", root, "--samples", "2", "--interval", "10ms")
	t.Logf("exit %d\n%s", code, errOut)
	if code != exitFailure || strings.Contains(errOut, "recorded") || !strings.Contains(errOut, "no space left on device") ||
		!strings.Contains(errOut, "nothing was written") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if left, err := os.ReadDir(mnt); err != nil || len(left) != 0 {
		t.Fatalf("left on the full disk: %v %v", left, err)
	}
	os.Stdout.WriteString("FULL DISK CHILD OK\n")
}
