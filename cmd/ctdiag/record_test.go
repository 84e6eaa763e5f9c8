package main

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/parser"
)

// recordChildEnv makes the test binary run ctdiag with the arguments it
// holds (separated by "\x1f") and exit with its status.
const recordChildEnv = "CTDIAG_RECORD_CHILD_ARGS"

// procRootWith makes a copied /proc tree holding table as its
// net/nf_conntrack: record reads it like a live /proc, without root.
func procRootWith(t *testing.T, table []byte) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net", "nf_conntrack"), table, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// startRecordChild runs ctdiag record as a child process and returns once
// it has taken its first sample.
func startRecordChild(t *testing.T, args ...string) (*exec.Cmd, *strings.Builder, chan struct{}) {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestRecordStagingOnEveryExit$", "-test.count=1")
	cmd.Env = append(os.Environ(), recordChildEnv+"="+strings.Join(append([]string{"record"}, args...), "\x1f"))
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var all strings.Builder
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		seen := false
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "sample 1 of") {
				seen = true
				close(first)
			}
		}
		if !seen {
			close(first)
		}
	}()
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("the child took no sample in 60 s")
	}
	return cmd, &all, done
}

func stagingDirs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".ctdiag-record-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRecordStagingOnEveryExit: record stops cleanly on SIGINT, SIGTERM
// and SIGHUP (the bundle holds the samples taken, the staging directory is
// gone); a run killed outright leaves its staging directory, which the
// next run in that directory removes and names.
func TestRecordStagingOnEveryExit(t *testing.T) {
	if a := os.Getenv(recordChildEnv); a != "" {
		os.Exit(run(strings.Split(a, "\x1f"), env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
	}
	table, err := os.ReadFile(captures + "/formats/proc-nf_conntrack.txt")
	if err != nil {
		t.Fatal(err)
	}
	root := procRootWith(t, table)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		dir := t.TempDir()
		out := filepath.Join(dir, "r.tar.gz")
		cmd, stderr, done := startRecordChild(t, "-o", out, "--proc-root", root, "--samples", "3", "--interval", "1h")
		if len(stagingDirs(t, dir)) != 1 {
			t.Fatalf("%v: no staging directory while recording", sig)
		}
		cmd.Process.Signal(sig)
		<-done // all of stderr read: Wait closes the pipe
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(stderr.String(), "interrupted: "+out+" holds the 1 samples taken") {
			t.Errorf("%v: exit %d (%v)\n%s", sig, code, err, stderr)
		}
		if b, err := parser.OpenBundle(out); err != nil || len(b.Manifest.Samples) != 1 {
			t.Errorf("%v: bundle: %v", sig, err)
		}
		if left := stagingDirs(t, dir); len(left) != 0 {
			t.Errorf("%v: staging left behind: %v", sig, left)
		}
	}

	// SIGKILL: nothing can clean up, the next run does.
	dir := t.TempDir()
	cmd, _, done := startRecordChild(t, "-o", filepath.Join(dir, "r.tar.gz"), "--proc-root", root, "--samples", "3", "--interval", "1h")
	cmd.Process.Kill()
	<-done
	cmd.Wait()
	stale := stagingDirs(t, dir)
	if len(stale) != 1 || !strings.Contains(stale[0], ".ctdiag-record-"+strconv.Itoa(cmd.Process.Pid)+"-") {
		t.Fatalf("after SIGKILL: %v", stale)
	}
	// A staging directory of a run that is still going is left alone.
	running := filepath.Join(dir, ".ctdiag-record-"+strconv.Itoa(os.Getpid())+"-123")
	if err := os.Mkdir(running, 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := ctdiag(t, "", "record", "-o", filepath.Join(dir, "r2.tar.gz"), "--proc-root", root)
	if code != 0 || !strings.Contains(errOut, "removed "+stale[0]+", the staging directory of a ctdiag record that was killed (process "+strconv.Itoa(cmd.Process.Pid)+")") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if left := stagingDirs(t, dir); len(left) != 1 || left[0] != running {
		t.Errorf("left: %v", left)
	}
}

// TestRecordAnnouncesOnlyWhatIsWritten: when the bundle cannot be written,
// record says so and announces nothing (it once printed "recorded 2
// samples … into FILE", then failed). A directory that cannot be created
// into stands in for a full disk here; TestKernelRecordFullDisk has the
// real one.
func TestRecordAnnouncesOnlyWhatIsWritten(t *testing.T) {
	table, err := os.ReadFile(captures + "/formats/proc-nf_conntrack.txt")
	if err != nil {
		t.Fatal(err)
	}
	root := procRootWith(t, table)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.tar.gz")
	// The bundle's temporary name is taken by a directory: packing fails
	// after every sample was taken.
	if err := os.Mkdir(out+".part", 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := ctdiag(t, "", "record", "-o", out, "--proc-root", root, "--samples", "2", "--interval", "10ms")
	if code != exitFailure || strings.Contains(errOut, "recorded") || !strings.Contains(errOut, "nothing was written: the 2 samples taken are lost") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s: %v", out, err)
	}
	if left := stagingDirs(t, dir); len(left) != 0 {
		t.Errorf("staging left: %v", left)
	}
}

// gunzipSize is the uncompressed size of a gzip file.
func gunzipSize(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
