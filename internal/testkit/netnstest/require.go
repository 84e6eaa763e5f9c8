package netnstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Kernel tests are told apart by name: a test that needs root and the real
// kernel is called TestKernel… (a benchmark BenchmarkKernel…). `go test
// -short` skips them, `make integration` runs exactly them (-run
// '^TestKernel'), and the kit refuses every other test, so the boundary
// cannot blur as tests are added.
const (
	kernelTestPrefix  = "TestKernel"
	kernelBenchPrefix = "BenchmarkKernel"
)

// conntrackMaxPath is read, never written: the limit is global to the
// machine, and no test may change what other tests and the host run with.
const conntrackMaxPath = "/proc/sys/net/netfilter/nf_conntrack_max"

// Require skips the test unless it can build namespaces: it needs root, the
// ip and nft tools, and a kernel with conntrack. NewNS and NewPair call it
// themselves. Like RequireRoot, it fails a test whose name does not start
// with TestKernel and skips under -short.
func Require(t testing.TB) {
	t.Helper()
	RequireRoot(t, "network namespaces, nftables")
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("netnstest: needs %s (apt-get install %s): %v", tool, debianPackage(tool), err)
		}
	}
	if !haveConntrack() {
		t.Skip("netnstest: kernel has no conntrack")
	}
}

// RequireRoot is the gate of a kernel test that needs root but no
// namespace (reading /dev/kmsg, say); why names what root is needed for.
// It fails the test unless its name starts with TestKernel (or
// BenchmarkKernel), skips it under -short, and skips it without root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if err := checkKernelTestName(t.Name()); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	// A command that plays kernel scenarios (internal/cmd/gencorpus) is no
	// test binary: testing.Short would panic there.
	if testing.Testing() && testing.Short() {
		t.Skip("netnstest: kernel test, skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Skipf("netnstest: needs root (%s); run as root, or make integration", why)
	}
}

// checkKernelTestName says why a test of that name may not use the kit.
// The top-level name decides, so subtests of a kernel test may use it.
func checkKernelTestName(name string) error {
	top, _, _ := strings.Cut(name, "/")
	if strings.HasPrefix(top, kernelTestPrefix) || strings.HasPrefix(top, kernelBenchPrefix) {
		return nil
	}
	return fmt.Errorf("%s needs root and the real kernel, so its name must start with %s (%s for a benchmark): "+
		"the name is how go test -short skips kernel tests and make integration selects them", name, kernelTestPrefix, kernelBenchPrefix)
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

// ConntrackMax returns net.netfilter.nf_conntrack_max, the limit every
// namespace's own count is held to. It is only read: a test that needs a
// full table fills its namespace up to it (ctfill.FillToLimit).
func ConntrackMax(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(conntrackMaxPath)
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		t.Fatalf("netnstest: parse %s: %v", conntrackMaxPath, err)
	}
	return v
}

// maxFillable is the largest limit a test fills a namespace to: about four
// times this machine's default (262,144), a few seconds' work. Someone who
// raised the limit for a benchmark and left it would make a full-table
// test take minutes.
const maxFillable = 1 << 20

// FillableConntrackMax is ConntrackMax for a test that fills a namespace to
// the limit: it skips the test, saying why, when there is no limit (0) or
// the limit is above 1,048,576.
func FillableConntrackMax(t testing.TB) int {
	t.Helper()
	max := ConntrackMax(t)
	switch {
	case max == 0:
		t.Skip("netnstest: nf_conntrack_max is 0 (no limit): no table can be filled")
	case max > maxFillable:
		t.Skipf("netnstest: nf_conntrack_max is %d, far above the default 262144 (raised for a benchmark and left so?): filling a namespace to it would take minutes; restore it to run this test", max)
	}
	return max
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
