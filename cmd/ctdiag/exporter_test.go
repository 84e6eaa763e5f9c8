package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Options that contradict each other are usage errors (exit 2), before
// anything is read or bound.
func TestExporterUsage(t *testing.T) {
	for _, args := range [][]string{
		{"exporter", "--top-netns", "5"},              // ranks what --all-netns finds
		{"exporter", "--all-netns", "--netns", "web"}, // every namespace, or some
		{"exporter", "--all-netns", "--top-netns", "-1"},
		{"exporter", "--read-interval", "0s"},
		{"exporter", "--eval-interval", "-5s"},
		{"exporter", "--log-level", "loud"},
		{"exporter", "--set", "nope.x=1"},
		{"exporter", "--max-scrapes", "0"},
		{"exporter", "extra-argument"},
	} {
		_, errOut, code := ctdiag(t, "", args...)
		if code != exitParameter {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, code, exitParameter, errOut)
		}
	}
}

// A port that is taken is a failure of the output (exit 4), said plainly.
func TestExporterListenFails(t *testing.T) {
	ln := freePort(t)
	hold, err := net.Listen("tcp", ln)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	_, errOut, code := ctdiag(t, "", "exporter", "--listen", ln)
	if code != exitFailure || !strings.Contains(errOut, "--listen "+ln) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// deployArgs reads the exporter's command lines from the shipped DaemonSet
// and systemd unit.
func deployArgs(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	b, err := os.ReadFile("../../deploy/kubernetes/ctdiag-exporter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	for {
		var doc struct {
			Kind string
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Args []string
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "DaemonSet" {
			out["daemonset"] = doc.Spec.Template.Spec.Containers[0].Args
		}
	}
	f, err := os.Open("../../deploy/systemd/ctdiag-exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			out["systemd"] = strings.Fields(rest)[1:]
		}
	}
	if len(out) != 2 {
		t.Fatalf("command lines found: %v", out)
	}
	return out
}

// The shipped DaemonSet and unit run flags the exporter has and accepts.
func TestDeployCommandLines(t *testing.T) {
	for where, args := range deployArgs(t) {
		if len(args) == 0 || args[0] != "exporter" {
			t.Errorf("%s runs %v, not ctdiag exporter", where, args)
			continue
		}
		cmd := newExporterCmd(env{})
		if err := cmd.ParseFlags(args[1:]); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		top := cmd.Flags().Changed("top-netns")
		all, _ := cmd.Flags().GetBool("all-netns")
		if top && !all {
			t.Errorf("%s: --top-netns without --all-netns", where)
		}
	}
}

// The DaemonSet grants what the exporter needs and nothing else: host
// network and PID namespace, four capabilities, a read-only root
// filesystem, resource limits.
func TestDaemonSetManifest(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/ctdiag-exporter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"hostNetwork: true", "hostPID: true", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false",
		"privileged: false", "drop: [ALL]", "add: [NET_ADMIN, SYS_ADMIN, SYS_PTRACE, SYSLOG]",
		"limits:", "memory: 384Mi", "path: /healthz", "mountPath: /run/netns",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the DaemonSet lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s+- (SYS_MODULE|NET_RAW|DAC_OVERRIDE|ALL)\s*$`).MatchString(text) {
		t.Error("the DaemonSet adds a capability it does not need")
	}
}

// systemd accepts the unit (systemd-analyze verify), with ExecStart
// pointed at a binary that exists here.
func TestSystemdUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("needs systemd-analyze (systemd)")
	}
	b, err := os.ReadFile("../../deploy/systemd/ctdiag-exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.Replace(string(b), "/usr/local/bin/ctdiag ", bin+" ", 1)
	path := filepath.Join(t.TempDir(), "ctdiag-exporter.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// report -o prometheus writes the exporter's metric names for a capture,
// without a netns label (files may come from anywhere), and promtool
// accepts it.
func TestReportPrometheus(t *testing.T) {
	out, errOut, code := ctdiag(t, "", "report", "-o", "prometheus", captures+"/table-full/srv")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{
		"# TYPE ctdiag_conntrack_entries gauge\nctdiag_conntrack_entries ",
		"# TYPE ctdiag_conntrack_max gauge\nctdiag_conntrack_max 1000\n",
		`ctdiag_conntrack_entries_by_state{protocol="tcp",state="ESTABLISHED"} `,
		`ctdiag_conntrack_entries_by_flag{flag="assured"} `,
		"# TYPE ctdiag_conntrack_drop_total counter\nctdiag_conntrack_drop_total ",
		`ctdiag_finding_active{rule="table-full",severity="critical"} 1`,
		`ctdiag_finding_value{rule="table-full"} `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if pt, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(pt, "check", "metrics")
		cmd.Stdin = strings.NewReader(out)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, o)
		}
	}
}
