package collector

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelLogMatchesDmesg reads the kernel log through /dev/kmsg (the
// buffer is shared: other tests' "table full" lines are in it) and checks
// it against dmesg's view of the same buffer: the same conntrack lines,
// with wall-clock times within a second of dmesg's, and nothing twice on
// a second read.
func TestKernelLogMatchesDmesg(t *testing.T) {
	netnstest.RequireRoot(t, "reading /dev/kmsg, kernel.dmesg_restrict")
	if _, err := exec.LookPath("dmesg"); err != nil {
		t.Skip("needs dmesg (util-linux)")
	}
	c, err := Open(Config{Source: SourceProcfs, KernelLog: []string{"/dev/kmsg"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines, err := c.KernelLog()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dmesg", "--time-format", "iso").Output()
	if err != nil {
		t.Skipf("dmesg: %v", err)
	}
	dmesgTimes := map[string][]time.Time{}
	for _, l := range strings.Split(string(out), "\n") {
		stamp, msg, ok := strings.Cut(l, " ")
		if !ok || !strings.Contains(msg, "conntrack") && !strings.Contains(msg, "net_ratelimit") {
			continue
		}
		if ts, err := time.Parse("2006-01-02T15:04:05,000000-07:00", stamp); err == nil {
			dmesgTimes[msg] = append(dmesgTimes[msg], ts)
		}
	}
	matched := 0
	for _, l := range lines {
		if l.Time.IsZero() || !strings.Contains(l.Raw, " kernel: "+l.Text) {
			t.Errorf("line without wall time or self-contained form: %+v", l)
			continue
		}
		ts := dmesgTimes[l.Text]
		if len(ts) == 0 {
			continue // rotated out between the two reads
		}
		if !slices.ContainsFunc(ts, func(d time.Time) bool { return absDur(d.Sub(l.Time)) < time.Second }) {
			t.Errorf("%q at %v; dmesg has it at %v", l.Text, l.Time, ts)
		}
		matched++
	}
	t.Logf("%d conntrack lines read, %d checked against dmesg", len(lines), matched)
	if len(lines) > 0 && matched == 0 {
		t.Error("no line matched dmesg")
	}
	again, err := c.KernelLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range again {
		if slices.ContainsFunc(lines, func(m track.KernelLogLine) bool { return m.Raw == l.Raw && m.Since == l.Since }) {
			t.Errorf("line returned twice: %s", l.Raw)
		}
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestKernelLogSyslogFallback: with /dev/kmsg unavailable the kernel log
// is read through syslog(2), as dmesg does, and says so; a line written to
// the ring buffer just before comes back with its wall-clock time.
func TestKernelLogSyslogFallback(t *testing.T) {
	netnstest.RequireRoot(t, "syslog(2) and writing /dev/kmsg")
	marker := fmt.Sprintf("nf_conntrack: ctdiag test marker %d", time.Now().UnixNano())
	if err := os.WriteFile("/dev/kmsg", []byte(marker+"\n"), 0); err != nil {
		t.Skipf("cannot write a marker line to the kernel log: %v", err)
	}
	written := time.Now()
	c, err := Open(Config{Source: SourceProcfs, KernelLog: []string{"/nonexistent/kmsg", kernelLogSyslog}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines, err := c.KernelLog()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(lines, func(l track.KernelLogLine) bool { return l.Text == marker })
	if i < 0 {
		t.Fatalf("the marker is not among the %d lines read through syslog(2)", len(lines))
	}
	if d := absDur(lines[i].Time.Sub(written)); d > 2*time.Second {
		t.Errorf("marker at %v, written at %v", lines[i].Time, written)
	}
	if !slices.ContainsFunc(c.Notes(), func(n string) bool {
		return strings.Contains(n, "syslog(2)") && strings.Contains(n, "/nonexistent/kmsg")
	}) {
		t.Errorf("no note says the kernel log came from syslog(2) and why: %q", c.Notes())
	}
}
