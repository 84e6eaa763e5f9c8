package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
)

// fill creates n entries in ns.
func fill(t *testing.T, ns *netnstest.NS, from, n int) {
	t.Helper()
	if err := ctfill.FillIn("/run/netns/"+ns.Name, from, n); err != nil {
		t.Fatal(err)
	}
}

// TestKernelListWithoutPrivileges runs ctdiag as nobody: the live table is
// refused with what to do instead, and a copied /proc tree still lists.
func TestKernelListWithoutPrivileges(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.Require(t)
	bin := builtCtdiag(t)
	ns := netnstest.NewNS(t)
	fill(t, ns, 0, 20)
	asNobody := func(args ...string) (string, string, int) {
		// ip netns exec needs root; drop to nobody inside with setpriv.
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Skipf("cannot run as nobody: %v", err)
		}
		return out.String(), errb.String(), code
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	_, errOut, code := asNobody("list", "-c")
	for _, want := range []string{"CAP_NET_ADMIN", "sudo", "captured files", "--proc-root"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("message lacks %q:\n%s", want, errOut)
		}
	}
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	root := t.TempDir()
	os.Chmod(filepath.Dir(root), 0o755)
	os.Chmod(root, 0o755)
	os.MkdirAll(filepath.Join(root, "net"), 0o755)
	table := ns.MustOutput(t, "cat", "/proc/net/nf_conntrack")
	os.WriteFile(filepath.Join(root, "net/nf_conntrack"), table, 0o644)
	out, errOut, code := asNobody("list", "-c", "--proc-root", root)
	if code != 0 || strings.TrimSpace(out) != "20" {
		t.Errorf("--proc-root as nobody: %q exit %d: %s", out, code, errOut)
	}
}

// TestKernelRecordThenList records a namespace while its table grows and
// reads the bundle back: as samples (times, entries, statistics,
// sysctls, events), with ctdiag list, and with tar.
func TestKernelRecordThenList(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	fill(t, ns, 0, 100)
	out := filepath.Join(t.TempDir(), "rec.tar.gz")
	// More entries once the first sample is read, in three fills: events
	// for the log, and entries the later samples hold.
	_, errOut, code := ctdiagWhen(t, "sample 1 of 3:", func() {
		f, err := ctfill.NewIn("/run/netns/" + ns.Name)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 1; i <= 3; i++ {
			if err := f.Fill(i*1000, 50); err != nil {
				t.Error(err)
			}
		}
	}, "record", "-o", out, "--netns", ns.Name, "--samples", "3", "--interval", "300ms")
	if code != 0 {
		t.Fatalf("record: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "recorded 3 samples of network namespace "+ns.Name) || !strings.Contains(errOut, "events: ") {
		t.Errorf("record said: %s", errOut)
	}
	inputs, err := parser.ExpandPaths([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	s, err := parser.ReadSamples(inputs, parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Snapshots) != 3 || s.Problems() != 0 {
		t.Fatalf("%d samples, %d problems", len(s.Snapshots), s.Problems())
	}
	events := 0
	for i, snap := range s.Snapshots {
		if snap.Time.IsZero() || (i > 0 && !snap.Time.After(s.Snapshots[i-1].Time)) {
			t.Errorf("sample %d time %v", i, snap.Time)
		}
		if len(snap.Flows) < 100 || !snap.HasCount || !snap.HasMax || len(snap.Stats.CPUs) == 0 || len(snap.Sysctls) < 20 || !snap.HasSlab {
			t.Errorf("sample %d: %d flows, count %v, max %v, %d cpus, %d sysctls, slab %v", i, len(snap.Flows), snap.HasCount, snap.HasMax, len(snap.Stats.CPUs), len(snap.Sysctls), snap.HasSlab)
		}
		events += len(snap.Events)
	}
	last := len(s.Snapshots[2].Flows)
	if last != 250 || events < 150-50 {
		t.Errorf("last sample %d entries (want 250), %d events logged", last, events)
	}
	listOut, listErr, code := ctdiag(t, "", "list", "-c", out)
	total := 0
	for _, snap := range s.Snapshots {
		total += len(snap.Flows)
	}
	if code != 0 || strings.TrimSpace(listOut) != strconv.Itoa(total) || !strings.Contains(listErr, "record bundle of 3 samples") {
		t.Errorf("list -c bundle: %q exit %d: %s", listOut, code, listErr)
	}
	tarOut, err := exec.Command("tar", "tzf", out).Output()
	if err != nil || !strings.Contains(string(tarOut), "rec/manifest.json") || !strings.Contains(string(tarOut), "rec/sample-003/nf_conntrack") {
		t.Errorf("tar tzf: %v\n%s", err, tarOut)
	}
}

// TestKernelListAllNetns: the summary names each namespace with its count.
func TestKernelListAllNetns(t *testing.T) {
	netnstest.Require(t)
	a, b := netnstest.NewNS(t), netnstest.NewNS(t)
	fill(t, a, 0, 40)
	fill(t, b, 0, 12)
	out, errOut, code := ctdiag(t, "", "list", "--all-netns")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, x := range []struct {
		ns *netnstest.NS
		n  string
	}{{a, "40"}, {b, "12"}} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) > 2 && f[0] == x.ns.Name && f[2] == x.n && strings.Contains(l, "tcp ESTABLISHED") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s with %s entries not in:\n%s", x.ns.Name, x.n, out)
		}
	}
	js, _, _ := ctdiag(t, "", "list", "--all-netns", "-o", "json", "-p", "udp")
	if !strings.Contains(js, `"netns": "`+a.Name+`"`) || !strings.Contains(js, `"matched": 4`) {
		t.Errorf("json summary:\n%s", js)
	}
}

// TestKernelSampleWithoutPrivileges: a sample taken as nobody with
// TableOptional has the world-readable parts (statistics, count, max,
// sysctls) and no entries, and says why. Run as a child process that
// drops to nobody before reading.
func TestKernelSampleWithoutPrivileges(t *testing.T) {
	if os.Getenv("CTDIAG_NOBODY_CHILD") == "1" {
		sampleAsChild(t)
		return
	}
	netnstest.Require(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	ns := netnstest.NewNS(t)
	fill(t, ns, 0, 25)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755)
	os.Chmod(filepath.Dir(bin), 0o755)
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "-test.run=^TestKernelSampleWithoutPrivileges$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CTDIAG_NOBODY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CHILD OK count=25") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
