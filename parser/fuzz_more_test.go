package parser

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Fuzz targets for what the line parsers do not cover: record bundles (the
// manifest, the tar reader) and expectation events.

// bundleBytes packs members (name, content) into a gzip'd tar.
func bundleBytes(t testing.TB, members ...[2]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range members {
		if err := tw.WriteHeader(&tar.Header{Name: m[0], Mode: 0o644, Size: int64(len(m[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m[1]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// readBundleFile reads a bundle file as the commands do: expanded into its
// members, walked as samples with the command line's options.
func readBundleFile(t *testing.T, data []byte) {
	p := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(20*time.Second, func() { panic("reading a bundle took over 20 s") })
	defer watchdog.Stop()
	inputs, err := ExpandPaths([]string{p})
	if err != nil {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error does not name the bundle: %v", err)
		}
		return
	}
	s, err := ReadSamples(inputs, Options{})
	if err != nil {
		return
	}
	for _, x := range s.Snapshots {
		if len(x.Events) > 2*track.MaxEvents || len(x.KernelLog) > track.MaxKernelLogLines {
			t.Fatalf("unbounded: %d events, %d log lines", len(x.Events), len(x.KernelLog))
		}
	}
}

// FuzzBundleManifest: whatever the manifest says (samples, member names,
// times, versions), opening and reading the bundle ends without panic, and
// a bad manifest is an error naming the bundle.
func FuzzBundleManifest(f *testing.F) {
	table := specProcLines[0] + "\n"
	f.Add(`{"format":"ctdiag-record","version":1,"source":"netlink","started":"2026-11-21T13:00:00Z","finished":"2026-11-21T13:00:05Z","samples":[{"time":"2026-11-21T13:00:00Z","entries":1,"files":["sample-001/nf_conntrack","sample-001/events.txt"]}]}`)
	f.Add(`{"format":"ctdiag-record","version":1,"samples":[{"files":["sample-001/missing","../../etc/passwd","sample-001/nf_conntrack","sample-001/nf_conntrack"]},{"files":[]}]}`)
	f.Add(`{"format":"ctdiag-record","version":99}`)
	f.Add(`{"format":"other"}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, manifest string) {
		data := bundleBytes(t, [2]string{"rec/manifest.json", manifest}, [2]string{"rec/sample-001/nf_conntrack", table},
			[2]string{"rec/sample-001/events.txt", "    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1\n"})
		readBundleFile(t, data)
	})
}

// FuzzBundleArchive: any bytes given as a file (a damaged bundle, a tar
// that is not one, gzip of anything) are read or refused without panic.
func FuzzBundleArchive(f *testing.F) {
	good := bundleBytes(f, [2]string{"rec/manifest.json", `{"format":"ctdiag-record","version":1,"samples":[{"files":["sample-001/nf_conntrack"]}]}`},
		[2]string{"rec/sample-001/nf_conntrack", specProcLines[0] + "\n"})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(bundleBytes(f, [2]string{"manifest.json", "{}"}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		readBundleFile(t, data)
	})
}

// FuzzExpectEvent: an expectation event as record writes it is read back as
// one expectation of an event log, with no malformed line; any line that
// looks like one is read without panic.
func FuzzExpectEvent(f *testing.F) {
	f.Add(uint32(300), uint8(6), uint16(0), uint16(2049), "rpc", uint8(0), int64(1795268770))
	f.Add(uint32(0), uint8(17), uint16(65535), uint16(0), "", uint8(3), int64(0))
	f.Add(uint32(1), uint8(47), uint16(1), uint16(2), "pptp", uint8(1), int64(-1))
	f.Fuzz(func(t *testing.T, timeout uint32, proto uint8, sport, dport uint16, helper string, class uint8, unix int64) {
		if !isWord([]byte(helper)) {
			helper = ""
		}
		tup := track.Tuple{Family: track.FamilyIPv4, Proto: track.Proto(proto), SrcPort: sport, DstPort: dport}
		e := track.Expectation{Timeout: timeout, Helper: helper, Class: uint32(class), Tuple: tup, Mask: tup, Master: tup}
		var at time.Time
		if unix > 0 && unix < 1<<40 {
			at = time.Unix(unix, 0)
		}
		line := AppendExpectEvent(nil, track.EventNew, at, &e)
		in := string(line) + string(AppendExpectEvent(nil, track.EventDestroy, time.Time{}, &e))
		d, err := NewDecoder(strings.NewReader(in), BundleEventsFile, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var s track.Snapshot
		if err := d.ReadInto(&s); err != nil && !errors.Is(err, ErrNotFlows) {
			t.Fatal(err)
		}
		if d.Format() != FormatEvents || d.Counts().Expectations != 2 || d.Problems().Count != 0 {
			t.Fatalf("%q: %s, %+v, %v", in, d.Format(), d.Counts(), d.Problems().Samples)
		}
	})
}
