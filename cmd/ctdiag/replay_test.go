package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/track"
)

var replayEpoch = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// writeCapture writes raw-IP packets (crafted as the kernel tests craft
// them) to a pcap file, 100 ms apart, plus the extra frames given.
func writeCapture(t *testing.T, packets []track.Packet, extra ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	at := replayEpoch
	write := func(b []byte) {
		ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
		at = at.Add(100 * time.Millisecond)
	}
	for i := range packets {
		b, err := capture.Encode(&packets[i])
		if err != nil {
			t.Fatal(err)
		}
		write(b)
	}
	for _, b := range extra {
		write(b)
	}
	return path
}

func tcpPacket(src, dst string, sport, dport uint16, flags track.TCPFlags, seq, ack uint32) track.Packet {
	return track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		SrcPort: sport, DstPort: dport, L4Length: 20, Length: 40,
		TCP: track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: 64240, DataOffset: 5}}
}

// handshakeCapture: one connection to TIME_WAIT, one left in SYN_SENT, one
// established, a DNS exchange, and two bad frames.
func handshakeCapture(t *testing.T) string {
	c, s := "10.0.0.1", "10.0.0.2"
	var ps []track.Packet
	add := func(p track.Packet) { ps = append(ps, p) }
	add(tcpPacket(c, s, 40000, 80, track.TCPSyn, 1000, 0))
	add(tcpPacket(s, c, 80, 40000, track.TCPSyn|track.TCPAck, 5000, 1001))
	add(tcpPacket(c, s, 40000, 80, track.TCPAck, 1001, 5001))
	add(tcpPacket(c, s, 40000, 80, track.TCPFin|track.TCPAck, 1001, 5001))
	add(tcpPacket(s, c, 80, 40000, track.TCPFin|track.TCPAck, 5001, 1002))
	add(tcpPacket(c, s, 40000, 80, track.TCPAck, 1002, 5002))
	add(tcpPacket(c, s, 40001, 443, track.TCPSyn, 7000, 0))
	add(tcpPacket(c, s, 40002, 22, track.TCPSyn, 9000, 0))
	add(tcpPacket(s, c, 22, 40002, track.TCPSyn|track.TCPAck, 3000, 9001))
	add(tcpPacket(c, s, 40002, 22, track.TCPAck, 9001, 3001))
	q := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: netip.MustParseAddr(c), Dst: netip.MustParseAddr(s),
		SrcPort: 5353, DstPort: 53, L4Length: 20, Length: 40, UDP: track.UDPHeader{Length: 20, Checksum: 1}}
	add(q)
	q.Src, q.Dst, q.SrcPort, q.DstPort = q.Dst, q.Src, q.DstPort, q.SrcPort
	add(q)
	cut, _ := capture.Encode(&ps[0])
	return writeCapture(t, ps, cut[:30], []byte{0x60, 0, 0}) // a TCP header cut short; a stub IPv6 header
}

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
	return out.String(), errOut.String(), code
}

func TestReplayPrintsPredictedTable(t *testing.T) {
	path := handshakeCapture(t)
	out, errOut, code := runCmd(t, "replay", "-o", "proc", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"ipv4     2 tcp      6 119 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2",
		"ipv4     2 tcp      6 119 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=40001 dport=443 [UNREPLIED]",
		"ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40002 dport=22",
		// At the very instant of the last packet its entry has all 30 s left.
		"ipv4     2 udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 src=10.0.0.2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"12 packets replayed from 14 frames (2 bad or truncated)", "frame 13: ", "frame 14: ", "NEW 4, ESTABLISHED 8", "4 flow entries have been shown"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestReplayAtAndFilters(t *testing.T) {
	path := handshakeCapture(t)
	// 100 s later the SYN (119 s) and TIME_WAIT (120 s) entries remain; 40 s
	// later UDP (30 s) is gone as well.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c"}, "4"},
		{[]string{"-c", "--at", "40s"}, "3"},
		{[]string{"-c", "--at", "121s"}, "1"},
		{[]string{"-c", "-p", "tcp", "--state", "TIME_WAIT"}, "1"},
		{[]string{"-c", "--sysctl", "nf_conntrack_tcp_timeout_time_wait=30", "--at", "40s"}, "2"},
	} {
		out, errOut, code := runCmd(t, append(append([]string{"replay"}, tc.args...), path)...)
		if code != 0 || strings.TrimSpace(out) != tc.want {
			t.Errorf("replay %v: %q (exit %d, %s), want %s", tc.args, out, code, errOut, tc.want)
		}
	}
}

func TestReplayReport(t *testing.T) {
	out, errOut, code := runCmd(t, "replay", "--report", handshakeCapture(t))
	if code != 0 || !strings.Contains(out, "ctdiag report") || !strings.Contains(out, "Table   4 entries") ||
		!strings.Contains(out, "replayed through the reference engine") {
		t.Errorf("exit %d, output:\n%s\n%s", code, out, errOut)
	}
	out, _, code = runCmd(t, "replay", "--report", "-o", "json", handshakeCapture(t))
	if code != 0 || !strings.Contains(out, `"schema": "ctdiag.report/v1"`) {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
	if _, _, code := runCmd(t, "replay", "--report", "-o", "extended", handshakeCapture(t)); code != exitParameter {
		t.Errorf("-o extended with --report: exit %d", code)
	}
}

func TestReplayBadInput(t *testing.T) {
	notPcap := filepath.Join(t.TempDir(), "table.txt")
	os.WriteFile(notPcap, []byte("ipv4     2 udp      17 29 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 zone=0 use=2\n"), 0o644)
	path := handshakeCapture(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replay", notPcap}, exitParameter, "not a pcap or pcapng capture"},
		{[]string{"replay", "/nonexistent.pcap"}, exitParameter, "no such file"},
		{[]string{"replay", "--sysctl", "nf_conntrack_bogus=1", path}, exitParameter, "not a conntrack setting"},
		{[]string{"replay", "--sysctl", "nf_conntrack_udp_timeout=soon", path}, exitParameter, "want a whole number"},
		{[]string{"replay", "--nat", "snat proto udp", path}, exitParameter, "needs an address"},
		{[]string{"replay", "-o", "xml", path}, exitParameter, "unknown output format"},
		{[]string{"whatif", path}, exitParameter, "at least one --set"},
		{[]string{"whatif", "--set", "nf_conntrack_tcp_timeout_time_wait", path}, exitParameter, "want NAME=VALUE"},
	} {
		_, errOut, code := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestWhatifCapture(t *testing.T) {
	out, errOut, code := runCmd(t, "whatif", handshakeCapture(t), "--set", "nf_conntrack_tcp_timeout_time_wait=30", "--at", "40s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// At +40 s: TIME_WAIT gone with 30 s, kept with 120 s; peaks see it in both.
	for _, want := range []string{
		"nf_conntrack_tcp_timeout_time_wait=30 (now 120)",
		"tcp TIME_WAIT                   1          0          1          1",
		"all entries                     3          2          4          4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestWhatifDump(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "nf_conntrack")
	os.WriteFile(dump, []byte(
		"ipv4     2 tcp      6 119 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1 [ASSURED] mark=0 zone=0 use=2\n"+
			"ipv4     2 tcp      6 60 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=2 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=2 [ASSURED] mark=0 zone=0 use=2\n"+
			"ipv4     2 tcp      6 431000 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=3 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=3 [ASSURED] mark=0 zone=0 use=2\n"), 0o644)
	out, errOut, code := runCmd(t, "whatif", dump, "--set", "nf_conntrack_tcp_timeout_time_wait=30", "--set", "nf_conntrack_tcp_timeout_established=600")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"tcp TIME_WAIT                   2          1", // idle 0.5 s stays, idle 59.5 s goes
		"tcp ESTABLISHED                 1          0", // idle 1000 s > 600
		"all entries                     3          1", // no peaks with one sample
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestReplayCorruptRecordFails: a record whose length is impossible stops
// the reading; replay once printed the partial table and exited 0. It
// still prints what the packets before gave, and fails saying where.
func TestReplayCorruptRecordFails(t *testing.T) {
	path := handshakeCapture(t)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Frame 3's record header (after the 24-byte file header and two
	// 16+40-byte records) claims 2 GB of data.
	var hdr [16]byte
	if _, err := f.ReadAt(hdr[:], 24+2*(16+40)); err != nil {
		t.Fatal(err)
	}
	hdr[8], hdr[9], hdr[10], hdr[11] = 0xff, 0xff, 0xff, 0x7f
	if _, err := f.WriteAt(hdr[:], 24+2*(16+40)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, args := range [][]string{
		{"replay", path},
		{"replay", "--quiet", "-c", path},
		{"replay", "--report", path},
		{"whatif", "--set", "nf_conntrack_tcp_timeout_time_wait=30", path},
	} {
		out, errOut, code := runCmd(t, args...)
		if code != exitParameter || !strings.Contains(errOut, path+": reading stopped at frame 3: ") ||
			!strings.Contains(errOut, "the result covers only the 2 frames before") || out == "" {
			t.Errorf("%v: exit %d\nstdout %s\nstderr %s", args, code, out, errOut)
		}
	}
}
