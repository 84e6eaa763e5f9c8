package corpus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Finish stops the background traffic, reads every host's end-of-run files
// (conntrack -S, /proc/net/stat/nf_conntrack, the conntrack sysctls, the
// nft ruleset, socket states), the kernel-log lines about the run's
// namespaces, and writes summary.txt and README.md.
func (r *Run) Finish() {
	r.T.Helper()
	r.halt()
	for _, h := range r.hosts {
		if h.bulk != nil {
			if err := h.bulk.flush(); err != nil {
				r.T.Fatalf("corpus: %s: %v", h.Name, err)
			}
		}
	}
	inodes := map[string]string{}
	for _, h := range r.hosts {
		if r.viewOnly && h.Name != r.Scenario.View {
			continue
		}
		r.finishHost(h)
		inodes[fmt.Sprintf("in netns %d,", NSInode(r.T, h.NS))] = h.Name
	}
	dmesg, err := r.kmsg.Dmesg(func(msg []byte) bool {
		for k := range inodes {
			if bytes.Contains(msg, []byte(k)) {
				return true
			}
		}
		return false
	})
	if err != nil {
		r.T.Fatalf("corpus: kernel log: %v", err)
	}
	r.Logf("dmesg lines since start about these namespaces' tables: %d", bytes.Count(dmesg, []byte("\n")))
	r.write("dmesg.txt", dmesg)
	r.Logf("done")
	r.write("summary.txt", r.summary.Bytes())
	r.write("README.md", r.readme())
}

func (r *Run) finishHost(h *Host) {
	r.T.Helper()
	out := func(name string, args ...string) []byte {
		b, err := h.NS.Output(name, args...)
		if err != nil {
			r.T.Fatalf("corpus: %s: %v", h.Name, err)
		}
		return b
	}
	S := out("conntrack", "-S")
	r.write(filepath.Join(h.Name, "conntrack-S.txt"), S)
	stat, err := readProc(h.NS, "/proc/net/stat/nf_conntrack")
	if err != nil {
		r.T.Fatalf("corpus: %s: %v", h.Name, err)
	}
	r.write(filepath.Join(h.Name, "stat-nf_conntrack.txt"), stat)
	var sysctls bytes.Buffer
	for _, l := range bytes.SplitAfter(out("sysctl", "-a"), []byte("\n")) {
		if bytes.Contains(l, []byte("nf_conntrack")) {
			sysctls.Write(l)
		}
	}
	r.write(filepath.Join(h.Name, "sysctl-nf_conntrack.txt"), sysctls.Bytes())
	r.write(filepath.Join(h.Name, "nft-ruleset.txt"), out("nft", "list", "ruleset"))
	ss := socketStates(out("ss", "-Htan"))
	r.write(filepath.Join(h.Name, "ss-tcp-states.txt"), ss)

	count := strings.TrimSpace(string(out("conntrack", "-C")))
	fmt.Fprintf(&r.summary, "final %s: conntrack -C = %s\n  conntrack -S (summed over CPUs):\n", h.Name, count)
	for _, kv := range sumStats(S) {
		fmt.Fprintf(&r.summary, "      %s\n", kv)
	}
	if len(ss) > 0 {
		fmt.Fprintf(&r.summary, "  TCP sockets (ss -tan):\n%s", ss)
	}
}

// socketStates counts ss -Htan lines by state, as "   1300 ESTAB".
func socketStates(b []byte) []byte {
	counts := map[string]int{}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(l); len(f) > 0 {
			counts[string(f[0])]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	var out bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&out, "%7d %s\n", counts[k], k)
	}
	return out.Bytes()
}

// sumStats sums conntrack -S's per-CPU lines by counter name.
func sumStats(b []byte) []string {
	sums := map[string]uint64{}
	for _, l := range strings.Split(string(b), "\n") {
		for _, f := range strings.Fields(l) {
			k, v, ok := strings.Cut(f, "=")
			if n, err := strconv.ParseUint(v, 10, 64); ok && err == nil && k != "cpu" {
				sums[k] += n
			}
		}
	}
	var out []string
	for k, v := range sums {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(out)
	return out
}

func (r *Run) write(name string, b []byte) {
	r.T.Helper()
	if err := os.WriteFile(filepath.Join(r.Dir, name), b, 0o644); err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (r *Run) readme() []byte {
	sc := r.Scenario
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s (%s)\n\n", sc.Name, ScaleLabel(r.Size))
	fmt.Fprintf(&b, "Real-kernel capture: Linux %s, started %s, made with network namespaces and real traffic\n",
		kernelRelease(), r.start.UTC().Format(time.RFC3339))
	gz := ""
	if r.gzip {
		gz = " -gzip"
	}
	fmt.Fprintf(&b, "by internal/cmd/gencorpus (`gencorpus -scenario %s -scale %d -interval %s%s`).\n", sc.Name, r.Size, r.Interval, gz)
	b.WriteString(`Each folder is one host's view (cli = client, srv = server, rtr = router).
nf_conntrack.tNN.txt is /proc/net/nf_conntrack read NN seconds after the start (.gz: gzipped); the other
files were read at the end: conntrack -S, /proc/net/stat/nf_conntrack,
sysctl -a | grep nf_conntrack, nft list ruleset, ss -tan state counts (all in the host's namespace).
dmesg.txt holds the kernel-log lines of the run about these namespaces' tables.
summary.txt counts each sample's entries by state and flags.

`)
	fmt.Fprintf(&b, "What it shows: %s\n\n", sc.Shows)
	if sc.Healthy() {
		fmt.Fprintf(&b, "Expected diagnosis of `%s/`: a healthy workload, no finding at warning or above.\n\n", sc.View)
	} else {
		fmt.Fprintf(&b, "Expected diagnosis of `%s/`: `%s` at warning or above.\n\n", sc.View, sc.Rule)
	}
	fmt.Fprintf(&b, "How it was made: %s\n\n", sc.Method)
	b.WriteString("Sample times (seconds after start):\n")
	for _, s := range r.samples {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	b.WriteString("\nWhat was done (scenario log):\n```\n")
	r.mu.Lock()
	b.Write(r.log.Bytes())
	r.mu.Unlock()
	b.WriteString("```\n")
	return b.Bytes()
}
