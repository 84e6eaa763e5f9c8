package netnstest

import (
	"os"
	"os/exec"
	"testing"
)

// Require skips the test unless it can build namespaces: it needs root, the
// ip and nft tools, and a kernel with conntrack. NewNS, NewPair and
// SetConntrackMax call it themselves.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netnstest: needs root (network namespaces, nftables, sysctls)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("netnstest: needs %s: %v", tool, err)
		}
	}
	if !haveConntrack() {
		t.Skip("netnstest: kernel has no conntrack")
	}
	if err := healConntrackMax(); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
}

func haveConntrack() bool {
	for _, p := range []string{"/proc/net/nf_conntrack", conntrackMaxPath} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	// Without procfs support, the conntrack tool still proves the kernel has it.
	if _, err := exec.LookPath("conntrack"); err != nil {
		return false
	}
	return exec.Command("conntrack", "-C").Run() == nil
}

// RequireTools skips the test unless the named programs are installed (e.g.
// "conntrack" for tests that compare with conntrack-tools, "ping").
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("netnstest: needs %s (apt-get install %s): %v", tool, debianPackage(tool), err)
		}
	}
}

// debianPackage names the package that installs tool.
func debianPackage(tool string) string {
	switch tool {
	case "ping":
		return "iputils-ping"
	case "ip":
		return "iproute2"
	case "nft":
		return "nftables"
	}
	return tool
}
