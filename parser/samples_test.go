package parser

import (
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// TestReadSamplesInOrder: the syn-sent-growth client's table samples, read
// as a directory, become successive snapshots whose counts follow the
// capture's log (300 SYNs every 5 s, then flat); the stats and sysctls read
// at the end attach to the last sample.
func TestReadSamplesInOrder(t *testing.T) {
	var inputs []Input
	for _, name := range []string{"nf_conntrack.t00.txt", "nf_conntrack.t05.txt", "nf_conntrack.t10.txt",
		"nf_conntrack.t15.txt", "nf_conntrack.t20.txt", "nf_conntrack.t30.txt", "conntrack-S.txt",
		"stat-nf_conntrack.txt", "sysctl-nf_conntrack.txt", "iptables.txt", "ss-tcp-states.txt"} {
		inputs = append(inputs, Input{Path: captures + "/syn-sent-growth/cli/" + name})
	}
	s, err := ReadSamples(inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 300, 600, 900, 900, 900}
	if len(s.Snapshots) != len(want) {
		t.Fatalf("%d snapshots, %d inputs read", len(s.Snapshots), len(s.Decoders))
	}
	for i, n := range want {
		if len(s.Snapshots[i].Flows) != n {
			t.Errorf("sample %d: %d flows, want %d", i, len(s.Snapshots[i].Flows), n)
		}
	}
	last := s.Snapshots[5]
	if !last.HasCount || last.Count != 900 || !last.HasMax || last.Max != 262144 || len(last.Stats.CPUs) != 2 {
		t.Errorf("last sample: count %d/%v max %d/%v cpus %d", last.Count, last.HasCount, last.Max, last.HasMax, len(last.Stats.CPUs))
	}
	if s.Snapshots[0].HasMax {
		t.Error("earlier samples get nothing read after them")
	}
	for _, f := range s.Snapshots[3].Flows {
		if st, _ := f.TCPState(); st != track.TCPSynSent || !f.Unreplied() {
			t.Fatalf("syn-sent-growth holds only SYN_SENT [UNREPLIED]: %+v", f)
		}
	}
	if len(s.Skipped) != 2 || !strings.Contains(s.Skipped[0], "iptables.txt: not a conntrack format") || !strings.Contains(s.Skipped[1], "ss-tcp-states.txt") {
		t.Errorf("skipped %v", s.Skipped)
	}
	if len(s.Decoders) != 9 || s.Decoders[0].Format() != FormatEmpty || s.Decoders[1].Format() != FormatProc || s.Problems() != 0 {
		t.Errorf("decoders: %d, first %s", len(s.Decoders), s.Decoders[0].Format())
	}
	if s.Snapshots[1].Time.IsZero() || s.Snapshots[1].Source.Format != "proc" {
		t.Errorf("sample meta: %+v", s.Snapshots[1].Source)
	}
}

func TestReadSamplesWithoutTable(t *testing.T) {
	s, err := ReadSamples([]Input{
		{Path: captures + "/table-full/srv/conntrack-S.txt"},
		{Path: captures + "/table-full/dmesg.txt"},
		{Path: captures + "/table-full/srv/sysctl-nf_conntrack.while-full.txt"},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Snapshots) != 1 {
		t.Fatalf("%d snapshots", len(s.Snapshots))
	}
	one := s.Snapshots[0]
	if one.Stats.Total(track.CounterDrop) != 4095 || len(one.KernelLog) != 20 || one.Max != 1000 || one.Count != 1000 {
		t.Errorf("drop=%d klog=%d max=%d count=%d", one.Stats.Total(track.CounterDrop), len(one.KernelLog), one.Max, one.Count)
	}
}
