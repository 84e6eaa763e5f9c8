package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// TestKlogFallsBackToAFile: with /dev/kmsg unavailable (a path that does
// not exist stands in for it), the log comes from the next source, a file,
// with a note naming it, and only new lines are returned later. A unit
// test: no root needed (which namespace is the initial one is given, as
// only root could read it from /proc/2).
func TestKlogFallsBackToAFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "kern.log")
	first := "Nov 21 13:00:29 srv kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n" +
		"Nov 21 13:00:30 srv kernel: eth0: link up\n"
	if err := os.WriteFile(log, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Collector{cfg: Config{KernelLog: []string{filepath.Join(dir, "kmsg-missing"), log}}}
	c.cfg.defaults()
	c.initNetns = c.NetnsInode() // this process is in the initial namespace
	lines, err := c.KernelLog()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Kind != track.KernelLogTableFull || lines[0].Time.IsZero() {
		t.Fatalf("%+v", lines)
	}
	if len(c.Notes()) != 1 || !strings.Contains(c.Notes()[0], "read from "+log) {
		t.Errorf("notes %v", c.Notes())
	}
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	// The collector reads this process's namespace (the initial one): its
	// lines name no namespace, another namespace's line is left out.
	f.WriteString("Nov 21 13:00:31 srv kernel: nf_conntrack: nf_conntrack: table full in netns 4026532246, dropping packet\n" +
		"Nov 21 13:00:32 srv kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n")
	f.Close()
	lines, err = c.KernelLog()
	if err != nil || len(lines) != 1 || lines[0].Netns != 0 || lines[0].Time.Second() != 32 {
		t.Fatalf("second read: %+v %v", lines, err)
	}
}
