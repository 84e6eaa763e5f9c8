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
