package parser

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Fuzz targets, one per line parser plus the whole decoder. Seeds are lines
// of the real captures (testdata/kernel-6.18) and the examples of docs/KERNEL.md §5; the
// corpus the fuzzer found is kept in testdata/fuzz. Run one for minutes with
//
//	go test ./parser -run '^$' -fuzz '^FuzzParseFlow$' -fuzztime 5m
//
// Properties: no input panics; anything that parses is written and read back
// to an equal value. Every target parses with the options the command line
// passes (Options{}: the machine's zone, the current year for syslog stamps),
// as the CLI's decoders do.

// cliParser is the line parser a decoder makes from the options the
// command line passes.
func cliParser() lineParser { return newLineParser(Options{}) }

// seedLines adds up to perFile lines of every capture whose name matches.
func seedLines(f *testing.F, match func(base string) bool, perFile int) {
	files, err := filepath.Glob(captures + "/*/*")
	if err != nil {
		f.Fatal(err)
	}
	more, _ := filepath.Glob(captures + "/*/*/*")
	for _, path := range append(files, more...) {
		if st, err := os.Stat(path); err != nil || st.IsDir() || !match(filepath.Base(path)) {
			continue
		}
		for i, l := range lines(readAll(f, path)) {
			if i >= perFile {
				break
			}
			f.Add(string(l))
		}
	}
}

func FuzzParseFlow(f *testing.F) {
	seedLines(f, func(b string) bool { return isFlowFile(b) || strings.HasPrefix(b, "conntrack-L") }, 40)
	for _, l := range specProcLines {
		f.Add(l)
	}
	f.Add("tcp      6 431999 ESTABLISHED src=192.168.1.2 dst=192.168.1.1 sport=51000 dport=22 packets=10 bytes=800 src=192.168.1.1 dst=192.168.1.2 sport=22 dport=51000 packets=8 bytes=900 [ASSURED] mark=0 secmark=0 use=1")
	f.Add("ipv4     2 tcp      6 src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000 [OFFLOAD] mark=0 zone=0 use=3")
	cli := cliParser()
	f.Fuzz(func(t *testing.T, line string) {
		var fl track.Flow
		if err := cli.parseFlow([]byte(line), &fl); err != nil {
			return
		}
		for _, style := range []Style{StyleProc, StyleExtended, StyleConntrack} {
			out := AppendFlow(nil, &fl, style)
			var back track.Flow
			if err := cli.parseFlow(bytes.TrimSuffix(out, []byte("\n")), &back); err != nil {
				t.Fatalf("%q parsed, but its %s form %q does not: %v", line, style, out, err)
			}
			want := project(fl, style)
			if !back.Equal(&want) {
				t.Fatalf("%q as %s %q read back differently:\n got  %+v\n want %+v", line, style, out, back, want)
			}
			if again := AppendFlow(nil, &back, style); !bytes.Equal(again, out) {
				t.Fatalf("%s form not stable: %q then %q", style, out, again)
			}
		}
		j := AppendFlowJSON(nil, &fl)
		var fromJSON track.Flow
		if err := parseFlowJSON(bytes.TrimSuffix(j, []byte("\n")), &fromJSON); err != nil {
			t.Fatalf("%q: JSON %s does not read back: %v", line, j, err)
		}
		if !fromJSON.Equal(&fl) {
			t.Fatalf("%q: JSON round trip:\n got  %+v\n want %+v", line, fromJSON, fl)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	seedLines(f, func(b string) bool { return strings.HasPrefix(b, "conntrack-E") }, 40)
	f.Add("[DESTROY] tcp      6 112 TIME_WAIT src=10.99.0.1 dst=10.99.0.2 sport=49610 dport=8080 src=10.99.0.2 dst=10.99.0.1 sport=8080 dport=49610 [ASSURED] delta-time=7 [USERSPACE] portid=2706274656 progname=conntrack")
	cli := cliParser()
	f.Fuzz(func(t *testing.T, line string) {
		var ev track.Event
		if err := cli.parseEvent([]byte(line), &ev); err != nil {
			return
		}
		for _, style := range []Style{StyleExtended, StyleConntrack} {
			out := AppendEvent(nil, &ev, style)
			var back track.Event
			if err := cli.parseEvent(bytes.TrimSuffix(out, []byte("\n")), &back); err != nil {
				t.Fatalf("%q parsed, but %q does not: %v", line, out, err)
			}
			want := ev
			want.Flow = project(ev.Flow, style)
			wf := want.Flow
			bf := back.Flow
			want.Flow, back.Flow = track.Flow{}, track.Flow{}
			if back.Type != want.Type || !back.Time.Equal(want.Time) || back.Userspace != want.Userspace ||
				back.PortID != want.PortID || back.Progname != want.Progname || !bf.Equal(&wf) {
				t.Fatalf("%q as %q read back differently", line, out)
			}
		}
	})
}

func FuzzStatsLines(f *testing.F) {
	seedLines(f, func(b string) bool {
		return strings.Contains(b, "stat-nf_conntrack") || strings.HasPrefix(b, "conntrack-S")
	}, 5)
	f.Add("cpu=0   \tentries=5 searched=1 found=2 icmp_error=1 search_restart=0 \n")
	f.Fuzz(func(t *testing.T, line string) {
		if st, entries, hasEntries, err := parseConntrackStats([]byte(line)); err == nil {
			var s track.Stats
			s.CPUs = []track.CPUStats{st}
			var buf bytes.Buffer
			if err := WriteConntrackStats(&buf, &s); err != nil {
				t.Fatal(err)
			}
			var back track.Stats
			for _, l := range lines(buf.Bytes()) {
				b, _, _, err := parseConntrackStats(l)
				if err != nil {
					t.Fatalf("%q written as %q: %v", line, l, err)
				}
				back.Merge(b)
			}
			if len(back.CPUs) > 0 && (back.CPUs[0].Values != st.Values || back.CPUs[0].Present != st.Present) {
				t.Fatalf("%q: stats round trip %+v vs %+v", line, back.CPUs[0], st)
			}
			_, _ = entries, hasEntries
		}
		if cols, err := parseProcStatHeader([]byte(line)); err == nil {
			_, _, _ = parseProcStatRow([]byte(line), cols, 0)
		}
		cols, _ := parseProcStatHeader([]byte(modernProcStatHeader))
		if st, entries, err := parseProcStatRow([]byte(line), cols, 0); err == nil {
			var buf bytes.Buffer
			s := track.Stats{CPUs: []track.CPUStats{st}}
			if err := WriteProcStat(&buf, &s, entries); err != nil {
				t.Fatal(err)
			}
			row := lines(buf.Bytes())[1]
			back, e2, err := parseProcStatRow(row, cols, 0)
			if err != nil || e2 != entries || back.Values != st.Values {
				t.Fatalf("%q: proc stat round trip %q: %v", line, row, err)
			}
		}
	})
}

func FuzzSysctlAndKernelLog(f *testing.F) {
	seedLines(f, func(b string) bool { return strings.HasPrefix(b, "sysctl") || b == "dmesg.txt" }, 10)
	f.Add("Nov 21 13:00:29 lab-host kernel: [ 1400.936197] nf_conntrack: nf_conntrack: table full, dropping packet")
	f.Add("4,1234,1400936197,-;net_ratelimit: 12 callbacks suppressed")
	f.Add("[Sat Nov 21 13:00:29 2026] lo ate my IP address")
	f.Add("Nov 21 13:00:29 h kernel: nf_conntrack: table full, dropping packet") // no year
	f.Add("obs kernel: [38775494.392631] nf_conntrack: table full,")
	f.Add("      [00] nf_ct_proto_6: 3312 bytes more than expected")
	f.Add("net.ipv4.netfilter.ip_conntrack_max = 65536")
	cli := cliParser()
	f.Fuzz(func(t *testing.T, line string) {
		if name, value, err := parseSysctlLine([]byte(line)); err == nil {
			var buf bytes.Buffer
			if err := WriteSysctls(&buf, track.Sysctls{name: value}); err != nil {
				t.Fatal(err)
			}
			n2, v2, err := parseSysctlLine(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
			if err != nil || n2 != name || v2 != value {
				t.Fatalf("%q: sysctl round trip %q %q %v", line, n2, v2, err)
			}
		}
		kl, _, _ := cli.parseKernelLog([]byte(line))
		if kl.Raw != line {
			t.Fatalf("raw text not kept")
		}
		if !kl.Time.IsZero() && kl.Time.Year() == 0 && !strings.Contains(line, "0000") {
			t.Fatalf("%q: a yearless stamp left in year 0: %v", line, kl.Time)
		}
		cli.classifyLine([]byte(line))
	})
}

// FuzzDecoder feeds whole inputs: whatever the bytes, decoding ends without
// panic and every line is accounted for.
func FuzzDecoder(f *testing.F) {
	for _, name := range []string{"formats/proc-nf_conntrack.txt", "formats/conntrack-E.txt", "formats/stat-nf_conntrack.txt",
		"formats/conntrack-S.txt", "table-full/dmesg.txt", "table-full/srv/while-full.txt", "formats/sysctl-nf_conntrack.txt"} {
		// Short seeds keep each execution and the fuzzer's minimisation fast.
		b := readAll(f, filepath.Join(captures, name))
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("[\n{\"family\":\"ipv4\"}\n]\n"))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	// Record-bundle members: an event log with a loss marker and an
	// expectation event, and slabinfo.
	f.Add([]byte("[1795268770.763330]\t    [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 id=7\n" +
		"# ctdiag: events lost: time=2026-11-21T13:00:02Z total=1 resynced=1585 (the kernel dropped events)\n" +
		"    [NEW] 300 proto=6 src=10.0.0.1 dst=10.0.0.2 sport=0 dport=40000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=5 dport=21 class=0 helper=ftp\n"))
	f.Add([]byte("slabinfo - version: 2.1\n# name <active_objs>\nnf_conntrack        1600   1600    256   16    1 : tunables    0    0    0 : slabdata    100    100      0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A decoder that stops making progress is a bug: crash with every
		// goroutine's stack so the fuzzer keeps the input.
		watchdog := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("decoding %d bytes took over 10 s", len(data)))
		})
		defer watchdog.Stop()
		for _, workers := range []int{1, 2} {
			d, err := NewDecoder(bytes.NewReader(data), "fuzz", Options{Workers: workers})
			if err != nil {
				return // e.g. a broken gzip header
			}
			var s track.Snapshot
			_ = d.ReadInto(&s)
			c := d.Counts()
			if c.Flows != len(s.Flows) {
				t.Fatalf("counted %d flows, kept %d", c.Flows, len(s.Flows))
			}
			d2, _ := NewDecoder(bytes.NewReader(data), "fuzz", Options{Workers: workers})
			n := 0
			_ = d2.Flows(func(*track.Flow) error { n++; return nil })
			if d2.Format().IsFlowTable() && n != len(s.Flows) {
				t.Fatalf("Flows gave %d, ReadInto %d", n, len(s.Flows))
			}
		}
	})
}

// FuzzParseAddr checks the allocation-free address parser against
// net/netip, and the printers against the parser.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "::", "::1", "fd00:231::eb", "fd00:0231:0000:0000:0000:0000:0000:00eb",
		"::ffff:1.2.3.4", "::1.2.3.4", "1::", "1:2:3:4:5:6:7:8", "1::2:3", "01.2.3.4", "1.2.3", "::ffff:1.2.3.4:5", "1:2:3:4:5:6:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if strings.Contains(s, "%") {
			if ok {
				t.Fatalf("%q: zones are not conntrack addresses", s)
			}
			return
		}
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("%q: parseAddr = %v,%v; netip = %v,%v", s, got, ok, want, err)
		}
		if !ok {
			return
		}
		if got.Is4() {
			if back, _ := parseAddr(appendIPv4(nil, got)); back != got {
				t.Fatalf("%q: IPv4 print/parse", s)
			}
			return
		}
		for _, out := range [][]byte{appendIPv6Expanded(nil, got), appendIPv6Compressed(nil, got)} {
			if back, ok := parseAddr(out); !ok || back != got {
				t.Fatalf("%q printed as %q reads back as %v", s, out, back)
			}
		}
		// Where glibc and Go agree (no embedded IPv4), the compressed form is Go's.
		if c := appendIPv6Compressed(nil, got); !bytes.Contains(c, []byte(".")) && string(c) != got.String() {
			t.Fatalf("%v: compressed %q, netip %q", got, c, got.String())
		}
	})
}

// FuzzFastPath: whenever the one-pass fast path accepts a line, the general
// parser accepts it too, with the same result.
func FuzzFastPath(f *testing.F) {
	seedLines(f, func(b string) bool { return isFlowFile(b) || strings.HasPrefix(b, "conntrack-L") }, 40)
	for _, l := range specProcLines {
		f.Add(l)
	}
	cli := cliParser()
	f.Fuzz(func(t *testing.T, line string) {
		var fast, general track.Flow
		if !fastFlow([]byte(line), &fast) {
			return
		}
		if err := cli.parseFlowGeneral([]byte(line), &general); err != nil {
			t.Fatalf("%q: fast path accepted, general parser says %v", line, err)
		}
		if !fast.Equal(&general) {
			t.Fatalf("%q:\n fast    %+v\n general %+v", line, fast, general)
		}
	})
}

// TestFastPathCoversRealDumps: the fast path is not dead code: it takes
// nearly every line of the real dumps, and agrees with the general parser.
func TestFastPathCoversRealDumps(t *testing.T) {
	total, fastN := 0, 0
	for _, path := range captureFiles(t, captures) {
		if !isFlowFile(path) {
			continue
		}
		for _, l := range lines(readAll(t, path)) {
			total++
			var fast, general track.Flow
			if !fastFlow(l, &fast) {
				continue
			}
			fastN++
			if err := utc.parseFlowGeneral(l, &general); err != nil || !fast.Equal(&general) {
				t.Fatalf("%s: %q: general %v", path, l, err)
			}
		}
	}
	if fastN < total*9/10 {
		t.Fatalf("fast path took %d of %d lines", fastN, total)
	}
	t.Logf("fast path took %d of %d real lines", fastN, total)
}
