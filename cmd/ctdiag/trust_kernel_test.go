package main

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/corpus"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

// TestKernelRemediesRunInTheNamespace: a live report of a named namespace
// prints commands that look at that namespace when pasted: conntrack and
// tcpdump under ip netns exec, ctdiag with --netns, and the global limit
// said to be global. Unanswered SYNs at default settings make the finding.
func TestKernelRemediesRunInTheNamespace(t *testing.T) {
	t.Parallel() // its own namespace; mostly waiting between samples
	p := netnstest.NewPair(t)
	p.B.Nft(t, "table inet dropsyn {\n chain in { type filter hook input priority 0; tcp dport 8080 drop\n }\n}")
	corpus.ConnectNonBlocking(t, p.A, netip.AddrPortFrom(p.B4, 8080), 30)
	bin := builtCtdiag(t)
	// The first reading comes at once; the second 4 s later, when the SYNs
	// have waited longer than min_age (3 s).
	out, err := exec.Command(bin, "report", "-o", "json", "--netns", p.A.Name, "--samples", "2", "--interval", "4s").Output()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != exitFindings {
		t.Fatalf("exit: %v (want %d, a finding)", err, exitFindings)
	}
	var d report.Document
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f := docFinding(&d, rules.SynSentGrowth)
	if f == nil {
		t.Fatalf("syn-sent-growth did not fire: %q", docFired(&d))
	}
	var cmds []string
	for _, r := range f.Remedies {
		cmds = append(cmds, r.Commands...)
	}
	for _, c := range cmds {
		switch {
		case strings.HasPrefix(c, "ctdiag "):
			if !strings.Contains(c, "--netns "+p.A.Name) {
				t.Errorf("ctdiag without --netns: %q", c)
			}
		case strings.Contains(c, "nf_conntrack_max"):
		default:
			if !strings.HasPrefix(c, "ip netns exec "+p.A.Name+" ") {
				t.Errorf("not run in the namespace: %q", c)
			}
		}
	}
	joined := strings.Join(cmds, "\n")
	for _, want := range []string{"ip netns exec " + p.A.Name + " conntrack -L -p tcp --state SYN_SENT -d " + p.B4.String(),
		"ip netns exec " + p.A.Name + " tcpdump -ni any 'host " + p.B4.String()} {
		if !strings.Contains(joined, want) {
			t.Errorf("remedies lack %q:\n%s", want, joined)
		}
	}
	// Pasted as printed, the first command lists the namespace's entries.
	show := strings.Fields(cmds[0])
	got, err := exec.Command(show[0], show[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(got), "SYN_SENT") {
		t.Errorf("%q: %v\n%s", cmds[0], err, got)
	}
}
