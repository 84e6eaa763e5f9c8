package collector

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// FuzzKmsgRecords: any /dev/kmsg record is read without panic; a conntrack
// line it gives is one line, in the journalctl form a record bundle stores,
// and reads back from that form as the same kind of line.
func FuzzKmsgRecords(f *testing.F) {
	f.Add([]byte("4,1234,1400936197,-;nf_conntrack: nf_conntrack: table full, dropping packet\n SUBSYSTEM=net\n DEVICE=+net:lo\n"))
	f.Add([]byte("4,1235,1400936198,-;nf_conntrack: table full in netns 4026532246, dropping packet"))
	f.Add([]byte("6,17,12,c;net_ratelimit: 312 callbacks suppressed\n"))
	f.Add([]byte("4,9,1,-;nf_ct_proto_6: invalid rst IN= OUT=lo SRC=127.0.0.1\n"))
	f.Add([]byte("garbage without a header"))
	now := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rec []byte) {
		c := &Collector{cfg: Config{Now: func() time.Time { return now }}}
		lines, err := c.parseKernelLog(appendKmsgRecord(nil, rec), "/dev/kmsg")
		if err != nil {
			return
		}
		for _, l := range lines {
			if strings.ContainsAny(l.Raw, "\n") {
				t.Fatalf("%q: not one line: %q", rec, l.Raw)
			}
			var snap track.Snapshot
			if err := c.parseText(io.NopCloser(strings.NewReader(l.Raw+"\n")), "kernel-log.txt", parser.FormatKernelLog, &snap); err != nil {
				t.Fatal(err)
			}
			if len(snap.KernelLog) != 1 || snap.KernelLog[0].Kind != l.Kind {
				t.Fatalf("%q stored as %q reads back as %+v, was %v", rec, l.Raw, snap.KernelLog, l.Kind)
			}
		}
	})
}

// FuzzConnlabel: any connlabel.conf is read without panic; the names it
// gives are single words, each at a bit the kernel has.
func FuzzConnlabel(f *testing.F) {
	f.Add("# labels\n0\tlab-a\n1 lab-b\n1 again\n\n200 big\nx y\n")
	f.Add("127 last\n-1 neg\n0\n")
	f.Fuzz(func(t *testing.T, conf string) {
		names, _ := parseConnlabel(strings.NewReader(conf))
		if len(names) > maxLabels {
			t.Fatalf("%d names", len(names))
		}
		for bit, n := range names {
			if strings.ContainsAny(n, " \t\r\n") {
				t.Fatalf("bit %d: %q", bit, n)
			}
		}
	})
}

// FuzzDecodeExpectEvent: any netlink message given as an expectation event
// decodes or fails without panic; what decodes is written as conntrack -E
// expect prints it and is read as one expectation line.
func FuzzDecodeExpectEvent(f *testing.F) {
	f.Add(uint16(0), expectEventBody(f)) // IPCTNL_MSG_EXP_NEW
	f.Add(uint16(2), expectEventBody(f)) // IPCTNL_MSG_EXP_DELETE
	f.Add(uint16(2<<8|0), []byte{2, 0, 0, 0})
	f.Add(uint16(2<<8|2), append([]byte{2, 0, 0, 0}, 0x08, 0x00, 0x07, 0x00, 0, 0, 1, 0x2c))
	f.Add(uint16(2<<8|0), bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, typ uint16, body []byte) {
		typ = 2<<8 | typ&0xff // the expectation subsystem
		m := &netlinkct.Message{Type: typ, Body: body}
		et, e, ok, err := decodeExpectEvent(m)
		if err != nil || !ok {
			return
		}
		line := parser.AppendExpectEvent(nil, et, time.Time{}, &e)
		d, err := parser.NewDecoder(bytes.NewReader(line), parser.BundleEventsFile, parser.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var s track.Snapshot
		_ = d.ReadInto(&s)
		if d.Counts().Expectations != 1 || d.Problems().Count != 0 {
			t.Fatalf("%+v written as %q: %+v %v", e, line, d.Counts(), d.Problems().Samples)
		}
	})
}

// expectEventBody is an expectation event's body as the kernel sends it
// (nfgenmsg, then CTA_EXPECT_MASTER, _TUPLE, _MASK, _TIMEOUT, _HELP_NAME):
// an FTP data connection expected from 10.0.0.2 to 10.0.0.1:40000.
func expectEventBody(t testing.TB) []byte {
	const nested = 0x8000 // NLA_F_NESTED
	tuple := func(src, dst [4]byte, sport, dport uint16) func(*netlink.AttributeEncoder) error {
		return func(ae *netlink.AttributeEncoder) error {
			ae.Nested(nested|1, func(ae *netlink.AttributeEncoder) error { // CTA_TUPLE_IP
				ae.Bytes(1, src[:]) // CTA_IP_V4_SRC
				ae.Bytes(2, dst[:])
				return nil
			})
			ae.Nested(nested|2, func(ae *netlink.AttributeEncoder) error { // CTA_TUPLE_PROTO
				ae.Uint8(1, 6) // CTA_PROTO_NUM
				ae.Uint16(2, sport)
				ae.Uint16(3, dport)
				return nil
			})
			return nil
		}
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(nested|1, tuple([4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 5000, 21))
	ae.Nested(nested|2, tuple([4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 1}, 0, 40000))
	ae.Nested(nested|3, tuple([4]byte{255, 255, 255, 255}, [4]byte{255, 255, 255, 255}, 0, 0xffff))
	ae.Uint32(4, 300)
	ae.String(6, "ftp")
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{2, 0, 0, 0}, b...) // nfgenmsg: AF_INET, version 0, res_id 0
}

// TestExpectEventSeedDecodes: the fuzz seed is a real expectation event.
func TestExpectEventSeedDecodes(t *testing.T) {
	typ, e, ok, err := decodeExpectEvent(&netlinkct.Message{Type: 2 << 8, Body: expectEventBody(t)})
	if err != nil || !ok || typ != track.EventNew || e.Timeout != 300 || e.Helper != "ftp" || e.Tuple.DstPort != 40000 {
		t.Fatalf("%v %v %v %+v", typ, ok, err, e)
	}
}
