package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/internal/testkit/kerneldiff"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelReplayMatchesKernel records, with tcpdump, the packets of a few
// hundred random sequences played in a namespace, dumps the kernel's table
// at the end, and checks that `ctdiag replay` of the recording predicts that
// table: the same entries, states and flags, timeouts within 2 s, counters.
func TestKernelReplayMatchesKernel(t *testing.T) {
	t.Parallel() // its own namespace; 26 s of the sequences' delays
	netnstest.Require(t)
	netnstest.RequireTools(t, "tcpdump")
	// Default timeouts, so that the table at the end holds most of what the
	// sequences made; accounting on, so counters are compared too.
	sysctls := track.Sysctls{"nf_conntrack_acct": "1"}
	ns := kerneldiff.NewNamespace(t, sysctls)
	pcap := filepath.Join(t.TempDir(), "lo.pcap")
	if dir := os.Getenv("CTDIAG_KEEP_PCAP"); dir != "" {
		pcap = filepath.Join(dir, "lo.pcap")
	}

	// tcpdump inside the namespace, writing each packet as it comes (-U,
	// and --immediate-mode so the last packets are not left in a ring block).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dump := ns.Exec(ctx, "tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-B", "16384", "-s", "256", "-w", pcap)
	stderr, err := dump.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	defer dump.Process.Kill()
	lines := bufio.NewScanner(stderr)
	listening := false
	for !listening && lines.Scan() {
		listening = strings.Contains(lines.Text(), "listening on lo")
	}
	if !listening {
		t.Fatalf("tcpdump did not start: %v", lines.Err())
	}
	tail := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(stderr)
		tail <- string(b)
	}()

	sender, err := kerneldiff.NewSender(ns.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	e, err := track.NewEngine(ns.EngineConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	seqs := kerneldiff.NewGenerator(3).Sequences(400)
	r := kerneldiff.NewRunner(ns, sender, e, kerneldiff.Options{Concurrency: 400})
	res, err := r.Run(seqs)
	if err != nil {
		t.Fatal(err)
	}
	kflows, err := kerneldiff.ReadTable(ns.NS)
	if err != nil {
		t.Fatal(err)
	}
	readAt := time.Now()
	time.Sleep(200 * time.Millisecond) // let tcpdump write the last packets
	dump.Process.Signal(syscall.SIGTERM)
	dump.Wait()
	summary := <-tail
	if !regexp.MustCompile(`(?m)^0 packets dropped by kernel`).MatchString(summary) {
		t.Fatalf("tcpdump lost packets, the recording is incomplete:\n%s", summary)
	}

	last := lastPacketTime(t, pcap)
	at := readAt.Sub(last)
	args := []string{"replay", "--loopback", "-o", "proc", "--at", at.String()}
	for k, v := range sysctls {
		args = append(args, "--sysctl", k+"="+v)
	}
	var out, errOut bytes.Buffer
	if code := run(append(args, pcap), env{stdout: &out, stderr: &errOut}); code != 0 {
		t.Fatalf("ctdiag replay exited %d:\n%s", code, errOut.String())
	}
	t.Logf("%d packets of %d sequences sent; tcpdump: %s; ctdiag replay says:\n%s", res.Packets, len(seqs), strings.Join(strings.Fields(summary), " "), errOut.String())
	d, err := parser.NewDecoder(&out, "replay", parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	predicted := map[track.Tuple]track.Flow{}
	d.Flows(func(f *track.Flow) error {
		predicted[f.Orig] = f.Clone()
		return nil
	})

	agree, differ := 0, 0
	for _, k := range kflows {
		p, ok := predicted[k.Orig]
		delete(predicted, k.Orig)
		var why []string
		switch {
		case !ok:
			why = append(why, "not predicted")
		default:
			if k.StateName() != p.StateName() || k.Unreplied() != p.Unreplied() || k.Status.Assured() != p.Status.Assured() {
				why = append(why, "state or flags")
			}
			if dt := int(k.Timeout) - int(p.Timeout); dt > 2 || dt < -2 {
				why = append(why, fmt.Sprintf("timeout %d vs %d", k.Timeout, p.Timeout))
			}
			if k.Reply != p.Reply || k.OrigCounters != p.OrigCounters || k.ReplyCounters != p.ReplyCounters {
				why = append(why, "reply tuple or counters")
			}
		}
		if len(why) == 0 {
			agree++
			continue
		}
		differ++
		if differ <= 10 {
			t.Errorf("%s: kernel %s %d %v; replay %s %d %v (%s)", k.Orig, k.StateName(), k.Timeout, k.Status, p.StateName(), p.Timeout, p.Status, strings.Join(why, ", "))
		}
	}
	for o, p := range predicted {
		differ++
		if differ <= 10 {
			t.Errorf("%s: predicted (%s %d) but not in the kernel's table", o, p.StateName(), p.Timeout)
		}
	}
	t.Logf("kernel table %d entries, %d predicted exactly by replaying the recording, %d differ", len(kflows), agree, differ)
	if len(kflows) < 50 {
		t.Errorf("only %d entries in the kernel's table: the test proves little", len(kflows))
	}
}

func lastPacketTime(t *testing.T, path string) time.Time {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var last time.Time
	var p track.Packet
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return last
		}
		if err != nil {
			t.Fatal(err)
		}
		last = p.Time
	}
}
