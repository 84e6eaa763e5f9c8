package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// TestKernelPackageInstalls installs the .deb that scripts/package.sh made
// (CTDIAG_DEB names it; CI sets it) with dpkg -i, runs what a new user
// would run from it (ctdiag --demo, man ctdiag, ctdiag version), and removes
// it with dpkg --purge, checking that every file it installed is gone. It
// changes the machine's package set for a moment, so it runs only when
// asked, as root, and never over a ctdiag installed by someone else.
func TestKernelPackageInstalls(t *testing.T) {
	deb := os.Getenv("CTDIAG_DEB")
	if deb == "" {
		t.Skip("CTDIAG_DEB is not set: build a package with scripts/package.sh and set it to the .deb (CI does)")
	}
	netnstest.RequireRoot(t, "dpkg -i")
	netnstest.RequireTools(t, "dpkg", "man")
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "ctdiag").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Skipf("a ctdiag package is already installed (%s): not touching it", out)
	}
	deb, err := filepath.Abs(deb)
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(must(t, exec.Command("dpkg-deb", "-f", deb, "Version"))))
	files := strings.Fields(string(must(t, exec.Command("sh", "-c", "dpkg-deb -c \"$1\" | awk '$1 !~ /^d/ {print substr($6, 2)}'", "sh", deb))))
	if len(files) < 5 {
		t.Fatalf("the package holds %d files: %q", len(files), files)
	}

	must(t, exec.Command("dpkg", "-i", deb))
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "ctdiag").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge ctdiag: %v\n%s", err, out)
		}
		for _, f := range files {
			if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there after dpkg --purge (%v)", f, err)
			}
		}
	})

	// The installed binary, not one on the test's PATH.
	demo := string(must(t, exec.Command("/usr/bin/ctdiag", "--demo")))
	for _, want := range []string{"table-full", "nf_conntrack_max"} {
		if !strings.Contains(demo, want) {
			t.Errorf("ctdiag --demo lacks %q:\n%s", want, demo)
		}
	}
	ver := string(must(t, exec.Command("/usr/bin/ctdiag", "version")))
	// dpkg writes 0.0.0-dev+… as 0.0.0~dev+…; the binary has the tag's spelling.
	if !strings.Contains(strings.ReplaceAll(ver, "-", "~"), strings.TrimPrefix(version, "v")) || strings.Contains(ver, "commit unknown") {
		t.Errorf("ctdiag version of package %s says:\n%s", version, ver)
	}
	man := exec.Command("man", "ctdiag")
	man.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=80")
	page := string(must(t, man))
	for _, want := range []string{"ctdiag - Diagnose Linux conntrack", "ctdiag-report(1)"} {
		if !strings.Contains(page, want) {
			t.Errorf("man ctdiag lacks %q:\n%s", want, page)
		}
	}
	for _, f := range []string{"/usr/share/bash-completion/completions/ctdiag", "/usr/share/zsh/vendor-completions/_ctdiag", "/usr/share/fish/vendor_completions.d/ctdiag.fish", "/usr/share/man/man1/ctdiag-top.1.gz"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed: %v", err)
		}
	}
}

// must runs cmd and returns its standard output, failing the test with its
// standard error.
func must(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, ee.Stderr)
		}
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return out
}
