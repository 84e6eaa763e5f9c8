package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// exporterChildEnv carries the command line of an exporter run as a child
// process (by the capability test), one argument per line.
const exporterChildEnv = "CTDIAG_EXPORTER_CHILD_ARGS"

// freePort is a loopback port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// exporterChild runs `ctdiag exporter` in a child process (this test
// binary) under setpriv with only the given capabilities, plus prefix (ip
// netns exec, a uid change).
type exporterChild struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan error
}

func startExporterChild(t *testing.T, caps string, setprivArgs []string, args ...string) *exporterChild {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755)
	os.Chmod(filepath.Dir(bin), 0o755)
	c := &exporterChild{addr: freePort(t), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	full := append([]string{"exporter", "--listen", c.addr, "--read-interval", "200ms", "--eval-interval", "500ms"}, args...)
	sp := append(append([]string{}, setprivArgs...), "--inh-caps=-all,"+caps, "--ambient-caps=-all,"+caps, "--bounding-set=-all,"+caps,
		bin, "-test.run=^TestKernelExporterCapabilities$", "-test.count=1")
	c.cmd = exec.Command("setpriv", sp...)
	c.cmd.Env = append(os.Environ(), exporterChildEnv+"="+strings.Join(full, "\n"))
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(c.stop)
	return c
}

// stop ends the child with SIGTERM (as systemd and the kubelet do) and
// returns its exit code.
func (c *exporterChild) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// waitExit waits for the child to exit on its own and returns its code.
func (c *exporterChild) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatalf("the exporter did not exit; stderr:\n%s", c.stderr)
		return -1
	}
}

// metric polls /metrics until a line is prefix followed by " "+want, and
// returns the last line starting with prefix.
func (c *exporterChild) metric(t *testing.T, prefix, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+c.addr+"/metrics", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, prefix) {
					last = l
					if l == prefix+" "+want {
						cancel()
						return l
					}
				}
			}
		}
		cancel()
		select {
		case <-c.done:
			t.Fatalf("the exporter exited (%v); stderr:\n%s", c.cmd.ProcessState, c.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Errorf("/metrics: %q, want %q; stderr:\n%s", last, prefix+" "+want, c.stderr)
	return last
}

// TestKernelExporterCapabilities checks what the DaemonSet and the systemd
// unit grant: CAP_NET_ADMIN alone reads the exporter's own namespace, also
// as an unprivileged user (the unit's DynamicUser); another namespace also
// needs CAP_SYS_ADMIN (setns), and one given by the pid of a process with
// more capabilities CAP_SYS_PTRACE. It exits 0 on SIGTERM.
func TestKernelExporterCapabilities(t *testing.T) {
	if args := os.Getenv(exporterChildEnv); args != "" {
		os.Exit(run(strings.Split(args, "\n"), env{stdin: strings.NewReader(""), stdout: os.Stdout, stderr: os.Stderr}))
	}
	netnstest.Require(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	ns := netnstest.NewNS(t)
	fill(t, ns, 0, 40)

	// The systemd unit: an unprivileged user with CAP_NET_ADMIN and
	// CAP_SYSLOG reads its own namespace.
	own := startExporterChild(t, "+net_admin,+syslog", []string{"--reuid=65534", "--regid=65534", "--clear-groups"})
	own.metric(t, `ctdiag_exporter_netns_up{netns="host"}`, "1")
	own.stop()
	if code := own.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}

	// Another namespace without CAP_SYS_ADMIN: refused, saying what is
	// missing.
	noSys := startExporterChild(t, "+net_admin", nil, "--netns", ns.Name)
	if code := noSys.waitExit(t); code != exitFailure || !strings.Contains(noSys.stderr.String(), "CAP_SYS_ADMIN") {
		t.Errorf("--netns with CAP_NET_ADMIN only: exit %d, stderr:\n%s", code, noSys.stderr)
	}
	withSys := startExporterChild(t, "+net_admin,+sys_admin", nil, "--netns", ns.Name)
	withSys.metric(t, fmt.Sprintf(`ctdiag_conntrack_entries{netns=%q}`, ns.Name), "40")
	withSys.stop()

	// A namespace by pid: a root process with every capability in it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	holder := ns.Exec(ctx, "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); holder.Wait() }()
	pid := waitChildIn(t, holder.Process.Pid, ns)
	noPtrace := startExporterChild(t, "+net_admin,+sys_admin", nil, "--netns-pid", fmt.Sprint(pid))
	if code := noPtrace.waitExit(t); code != exitFailure || !strings.Contains(noPtrace.stderr.String(), "CAP_SYS_PTRACE") {
		t.Errorf("--netns-pid without CAP_SYS_PTRACE: exit %d, stderr:\n%s", code, noPtrace.stderr)
	}
	withPtrace := startExporterChild(t, "+net_admin,+sys_admin,+sys_ptrace", nil, "--netns-pid", fmt.Sprint(pid))
	withPtrace.metric(t, fmt.Sprintf(`ctdiag_conntrack_entries{netns="pid:%d"}`, pid), "40")
}

// waitChildIn finds the process ip netns exec runs (it execs the command,
// so it is the same pid once the namespace is entered).
func waitChildIn(t *testing.T, pid int, ns *netnstest.NS) int {
	t.Helper()
	var st, nst syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+ns.Name, &nst); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && st.Ino == nst.Ino {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "sleep" {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d did not enter %s", pid, ns.Name)
	return 0
}
