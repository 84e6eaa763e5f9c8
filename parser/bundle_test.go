package parser

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// writeBundle makes a bundle from real captures: two samples of the
// table-full server, each with its statistics, sysctls, kernel log, an
// event log with a loss marker and an expectation event, and slabinfo.
func writeBundle(t *testing.T) (string, []time.Time) {
	t.Helper()
	t0 := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	times := []time.Time{t0, t0.Add(5 * time.Second)}
	loss := track.EventLoss{Time: t0.Add(2 * time.Second), Total: 1, Resynced: 1585}
	events := string(readAll(t, captures+"/formats/conntrack-E-timestamp-extended-id.txt")) +
		string(AppendEventLoss(nil, &loss)) +
		string(AppendExpectEvent(nil, track.EventNew, t0, &track.Expectation{Timeout: 300, Helper: "ftp",
			Tuple: track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP}, Mask: track.Tuple{Proto: track.ProtoTCP}, Master: track.Tuple{Proto: track.ProtoTCP}}))
	slab := "slabinfo - version: 2.1\n# name <active_objs> ...\nnf_conntrack_expect      0      0    208   19    1 : tunables    0    0    0 : slabdata      0      0      0\nnf_conntrack        1600   1600    256   16    1 : tunables    0    0    0 : slabdata    100    100      0\n"
	members := [][2]string{}
	m := &Manifest{Host: "srv", Kernel: "6.18.44", Source: "netlink", Started: t0, Finished: times[1], Interval: "5s"}
	for i, table := range []string{"/table-full/srv/nf_conntrack.t05.txt", "/table-full/srv/nf_conntrack.t20.txt"} {
		dir := []string{"sample-001/", "sample-002/"}[i]
		files := [][2]string{
			{dir + "nf_conntrack", string(readAll(t, captures+table))},
			{dir + "stat_nf_conntrack", string(readAll(t, captures+"/formats/stat-nf_conntrack.txt"))},
			{dir + "sysctl.txt", string(readAll(t, captures+"/formats/sysctl-nf_conntrack.txt"))},
			{dir + "kernel-log.txt", "2026-11-21T13:00:01.500000+0000 srv kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n"},
			{dir + "events.txt", events},
			{dir + "slabinfo", slab},
		}
		s := BundleSample{Time: times[i], Entries: strings.Count(files[0][1], "\n")}
		for _, f := range files {
			s.Files = append(s.Files, f[0])
		}
		m.Samples = append(m.Samples, s)
		members = append(members, files...)
	}
	var buf bytes.Buffer
	w, err := NewBundleWriter(&buf, "rec", m)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range members {
		if err := w.Add(f[0], times[i/6], int64(len(f[1])), strings.NewReader(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rec.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, times
}

// TestBundleReadsBackAsSamples: a bundle expands into its members, and
// reading them gives one sample per table with the manifest's time and
// everything that went with it.
func TestBundleReadsBackAsSamples(t *testing.T) {
	p, times := writeBundle(t)
	inputs, err := ExpandPaths([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != 12 || inputs[0].Path != p+":sample-001/nf_conntrack" || !inputs[6].Time.Equal(times[1]) {
		t.Fatalf("inputs: %d, first %+v", len(inputs), inputs[0])
	}
	s, err := ReadSamples(inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Snapshots) != 2 || s.Problems() != 0 || len(s.Skipped) != 0 {
		t.Fatalf("%d samples, %d problems, skipped %v", len(s.Snapshots), s.Problems(), s.Skipped)
	}
	b, err := OpenBundle(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, snap := range s.Snapshots {
		if n := b.Manifest.Samples[i].Entries; len(snap.Flows) != n || n < 1000 {
			t.Errorf("sample %d: %d flows, the manifest says %d", i, len(snap.Flows), n)
		}
		if !snap.Time.Equal(times[i]) {
			t.Errorf("sample %d time %v, want %v", i, snap.Time, times[i])
		}
		if !snap.HasMax || len(snap.Stats.CPUs) != 2 || len(snap.KernelLog) != 1 ||
			len(snap.Events) == 0 || len(snap.EventLosses) != 1 || !snap.HasSlab || snap.Slab.ObjSize != 256 || snap.Slab.ActiveObjs != 1600 {
			t.Errorf("sample %d: %d flows, max %v, %d cpus, %d log lines, %d events, losses %+v, slab %+v",
				i, len(snap.Flows), snap.HasMax, len(snap.Stats.CPUs), len(snap.KernelLog), len(snap.Events), snap.EventLosses, snap.Slab)
		}
		if kl := snap.KernelLog[0]; kl.Kind != track.KernelLogTableFull || !kl.Time.Equal(time.Date(2026, 11, 21, 13, 0, 1, 500000000, time.UTC)) {
			t.Errorf("kernel log line %+v", kl)
		}
		if l := snap.EventLosses[0]; l.Total != 1 || l.Resynced != 1585 || !l.Time.Equal(times[0].Add(2*time.Second)) {
			t.Errorf("loss %+v", l)
		}
	}
	var events *Decoder
	for _, d := range s.Decoders {
		if strings.HasSuffix(d.Name(), "events.txt") {
			events = d
		}
	}
	if events == nil || events.Format() != FormatEvents || events.Counts().Expectations != 1 || events.Counts().EventLosses != 1 {
		t.Errorf("events file: %v %+v", events.Format(), events.Counts())
	}
}

// TestNotABundle: a gzip'd dump is read as itself.
func TestNotABundle(t *testing.T) {
	inputs, err := ExpandPaths([]string{captures + "/table-100k/proc-nf_conntrack-100k.txt.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != 1 || inputs[0].Open != nil {
		t.Errorf("%+v", inputs)
	}
}

func TestEventLossMarkerRoundTrips(t *testing.T) {
	for _, l := range []track.EventLoss{
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Total: 3, Resynced: 42},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Total: 1, Resynced: -1},
	} {
		line := AppendEventLoss(nil, &l)
		got, err := parseEventLoss(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil || got != l {
			t.Errorf("%s: %+v %v", line, got, err)
		}
		if k := utc.classifyLine(line); k != kindEventLoss {
			t.Errorf("classified as %d", k)
		}
	}
	if _, err := parseEventLoss([]byte("# ctdiag: events lost: total=x")); err == nil {
		t.Error("a bad marker must be an error")
	}
}

// TestBundleEventTotals: a sample's event log gives its totals (every NEW
// and DESTROY counted), and an empty log still says events were followed
// and none came, where a bundle without logs says nothing.
func TestBundleEventTotals(t *testing.T) {
	p, _ := writeBundle(t)
	inputs, err := ExpandPaths([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadSamples(inputs, Options{})
	if err != nil || len(got.Snapshots) != 2 {
		t.Fatalf("%v, %d samples", err, len(got.Snapshots))
	}
	want := track.EventTotals{Followed: true, Created: 11, Destroyed: 1}
	for i, s := range got.Snapshots {
		if s.EventTotals != want {
			t.Errorf("sample %d: %+v, want %+v", i+1, s.EventTotals, want)
		}
	}

	table := string(readAll(t, captures+"/formats/proc-nf_conntrack.txt"))
	t0 := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	for _, withLog := range []bool{true, false} {
		m := &Manifest{Host: "srv", Source: "netlink", Started: t0, Finished: t0}
		s := BundleSample{Time: t0, Files: []string{"sample-001/nf_conntrack"}}
		if withLog {
			s.Files = append(s.Files, "sample-001/"+BundleEventsFile)
		}
		m.Samples = []BundleSample{s}
		var buf bytes.Buffer
		w, err := NewBundleWriter(&buf, "rec", m)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add("sample-001/nf_conntrack", t0, int64(len(table)), strings.NewReader(table)); err != nil {
			t.Fatal(err)
		}
		if withLog {
			if err := w.Add("sample-001/"+BundleEventsFile, t0, 0, strings.NewReader("")); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "quiet.tar.gz")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		inputs, err := ExpandPaths([]string{path})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadSamples(inputs, Options{})
		if err != nil || len(got.Snapshots) != 1 {
			t.Fatalf("%v, %d samples", err, len(got.Snapshots))
		}
		if want := (track.EventTotals{Followed: withLog}); got.Snapshots[0].EventTotals != want {
			t.Errorf("event log %v: %+v, want %+v", withLog, got.Snapshots[0].EventTotals, want)
		}
		if withLog && len(got.Skipped) != 0 {
			t.Errorf("the empty event log was skipped: %q", got.Skipped)
		}
	}
}

// TestBundleMissingMembersCostNothing: members the manifest lists and the
// archive lacks are skipped with a note, and cost no extra pass over the
// archive (each once cost two full decompressions: a 20 MB bundle with 8
// missing names took 10 s).
func TestBundleMissingMembersCostNothing(t *testing.T) {
	p, _ := writeBundle(t)
	read := func(b *Bundle) (*Samples, int) {
		s, err := ReadSamples(b.Inputs(), Options{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		return s, b.cur.passes
	}
	b, err := OpenBundle(p)
	if err != nil {
		t.Fatal(err)
	}
	whole, passes := read(b)
	if len(whole.Snapshots) != 2 || len(whole.Skipped) != 0 {
		t.Fatalf("%d samples, skipped %v", len(whole.Snapshots), whole.Skipped)
	}
	// Four names missing from each sample: at its start, in the middle, at
	// its end; and four after the last member of the archive.
	b, err = OpenBundle(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Manifest.Samples {
		s := &b.Manifest.Samples[i]
		dir := []string{"sample-001/", "sample-002/"}[i]
		files := append([]string{dir + "missing-a"}, s.Files[:3]...)
		files = append(files, dir+"missing-b")
		files = append(files, s.Files[3:]...)
		s.Files = append(files, dir+"missing-c", dir+"missing-d")
	}
	b.Manifest.Samples[1].Files = append(b.Manifest.Samples[1].Files, "sample-002/missing-e", "sample-002/missing-f")
	got, gotPasses := read(b)
	if len(got.Snapshots) != 2 || len(got.Snapshots[1].Flows) != len(whole.Snapshots[1].Flows) || got.Snapshots[1].Stats.Total(track.CounterDrop) != whole.Snapshots[1].Stats.Total(track.CounterDrop) {
		t.Fatalf("%d samples, skipped %q", len(got.Snapshots), got.Skipped)
	}
	if len(got.Skipped) != 10 || !strings.Contains(got.Skipped[0], p+":sample-001/missing-a: listed in the bundle's manifest but missing from the archive") {
		t.Fatalf("skipped %q", got.Skipped)
	}
	if gotPasses != passes {
		t.Errorf("%d passes over the archive with missing members, %d without", gotPasses, passes)
	}
}
