package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestMain removes the ctdiag binary the tests built (about 15 MB) when
// they end, passed or failed.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := builtCtdiag.remove(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// builtCtdiag is the ctdiag binary for the tests that run it as a program
// (in a real terminal, as another user), built once per test binary.
var builtCtdiag = &testBinary{}

// testBinary is a binary built into a directory of its own that other
// users may read (a test runs it as nobody).
type testBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// build builds the binary on first use and returns its path.
func (b *testBinary) build(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "ctdiag-testbin-"); b.err != nil {
			return
		}
		if b.err = os.Chmod(b.dir, 0o755); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "ctdiag")
		if out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// remove deletes the binary's directory, if it was built.
func (b *testBinary) remove() error {
	if b.dir == "" {
		return nil
	}
	return os.RemoveAll(b.dir)
}
