package parser

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// realworld holds snippets people published (see its SOURCES.md); the
// repository reads them in place and never copies them.
const realworld = "../../shared/realworld"

// conntrackXML is conntrack -L -o xml of a namespace built with conntrack -I
// (conntrack-tools 1.4.7, libnetfilter_conntrack 1.0.9, Linux 6.18): SNAT
// and DNAT, a direction zone, a zone, an IPv6 entry with counters, a
// timestamp and a reply zone, ICMP (whose keys the format leaves out), GRE,
// a protocol without a tracker, and an FTP helper.
const conntrackXML = `<?xml version="1.0" encoding="utf-8"?>
<conntrack>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.7</dst></layer3><layer4 protonum="17" protoname="udp"><sport>10</sport><dport>20</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.7</src><dst>8.8.8.8</dst></layer3><layer4 protonum="17" protoname="udp"><sport>20</sport><dport>10</dport></layer4></meta><meta direction="independent"><timeout>49</timeout><mark>0</mark><use>1</use><id>4033721514</id><unreplied/></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.6</dst></layer3><layer4 protonum="17" protoname="udp"><sport>10</sport><dport>20</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>9.9.9.9</src><dst>1.1.1.1</dst></layer3><layer4 protonum="17" protoname="udp"><sport>99</sport><dport>10</dport></layer4></meta><meta direction="independent"><timeout>49</timeout><mark>0</mark><use>1</use><id>706905443</id><unreplied/></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.2</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>10</sport><dport>20</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.2</src><dst>1.1.1.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>20</sport><dport>10</dport></layer4></meta><meta direction="independent"><state>SYN_SENT2</state><timeout>49</timeout><mark>0</mark><use>1</use><id>2465741947</id></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.3</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>10</sport><dport>20</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.3</src><dst>1.1.1.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>20</sport><dport>10</dport></layer4></meta><meta direction="independent"><state>ESTABLISHED</state><timeout>49</timeout><mark>0</mark><zone>5</zone><use>1</use><id>832129301</id><assured/></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.9</dst></layer3><layer4 protonum="2" protoname="unknown"></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.9</src><dst>1.1.1.1</dst></layer3><layer4 protonum="2" protoname="unknown"></layer4></meta><meta direction="independent"><timeout>49</timeout><mark>0</mark><use>1</use><id>3752867408</id><unreplied/></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.2</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.2</src><dst>1.1.1.1</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4></meta><meta direction="independent"><timeout>28</timeout><mark>0</mark><use>1</use><id>1733722819</id></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.4</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>10</sport><dport>20</dport></layer4><zone>7</zone></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.4</src><dst>1.1.1.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>20</sport><dport>10</dport></layer4></meta><meta direction="independent"><state>ESTABLISHED</state><timeout>49</timeout><mark>0</mark><use>1</use><id>3099315535</id><assured/></meta></flow>
<flow><meta direction="original"><layer3 protonum="10" protoname="ipv6"><src>2001:db8::1</src><dst>2001:db8::2</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>10</sport><dport>20</dport></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="reply"><layer3 protonum="10" protoname="ipv6"><src>2001:db8::2</src><dst>2001:db8::1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>20</sport><dport>10</dport></layer4><zone>3</zone><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="independent"><state>ESTABLISHED</state><timeout>49</timeout><mark>16</mark><use>1</use><id>585195721</id><assured/><timestamp><start>1796290024874106640</start></timestamp><deltatime>0</deltatime></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.21</dst></layer3><layer4 protonum="47" protoname="gre"><srckey>0x1</srckey><dstkey>0x2</dstkey></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.21</src><dst>1.1.1.1</dst></layer3><layer4 protonum="47" protoname="gre"><srckey>0x2</srckey><dstkey>0x1</dstkey></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="independent"><timeout>49</timeout><mark>0</mark><use>1</use><id>1663270188</id><unreplied/><deltatime>0</deltatime></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>1.1.1.1</src><dst>2.2.2.20</dst></layer3><layer4 protonum="132" protoname="sctp"><sport>10</sport><dport>20</dport></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>2.2.2.20</src><dst>1.1.1.1</dst></layer3><layer4 protonum="132" protoname="sctp"><sport>20</sport><dport>10</dport></layer4><counters><packets>0</packets><bytes>0</bytes></counters></meta><meta direction="independent"><state>FIN_WAIT</state><timeout>49</timeout><mark>0</mark><use>1</use><id>428098202</id><deltatime>0</deltatime></meta></flow>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>46564</sport><dport>21</dport></layer4><counters><packets>3</packets><bytes>165</bytes></counters></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>127.0.0.1</src><dst>127.0.0.1</dst></layer3><layer4 protonum="6" protoname="tcp"><sport>21</sport><dport>46564</dport></layer4><counters><packets>2</packets><bytes>112</bytes></counters></meta><meta direction="independent"><state>ESTABLISHED</state><timeout>431999</timeout><mark>0</mark><use>1</use><id>3505212218</id><assured/><deltatime>0</deltatime></meta><helper>ftp</helper></flow>
</conntrack>
`

func decodeXML(t testing.TB, text string) (*Decoder, []track.Flow, []track.Event) {
	t.Helper()
	d, err := NewDecoder(strings.NewReader(text), "dump.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var snap track.Snapshot
	if err := d.ReadInto(&snap); err != nil {
		t.Fatal(err)
	}
	return d, snap.Flows, snap.Events
}

func TestXMLTableRoundTrip(t *testing.T) {
	d, flows, _ := decodeXML(t, conntrackXML)
	if d.Format() != FormatXML || d.Problems().Count != 0 || len(flows) != 11 {
		t.Fatalf("format %v, %d entries, problems %+v", d.Format(), len(flows), d.Problems())
	}
	// Written back, byte for byte what conntrack printed.
	w := &bytes.Buffer{}
	xw := NewXMLWriter(w)
	for i := range flows {
		if err := xw.Write(&flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	xw.Close()
	if w.String() != conntrackXML {
		t.Errorf("written back differently:\n%s", firstDiff(w.Bytes(), []byte(conntrackXML)))
	}
	// What each element became.
	snat, dnat, listen, zoned, igmp, icmp, origZone, v6, gre, sctp, ftp := flows[0], flows[1], flows[2], flows[3], flows[4], flows[5], flows[6], flows[7], flows[8], flows[9], flows[10]
	switch {
	case snat.Reply.Dst != netip.MustParseAddr("8.8.8.8") || snat.Status.SeenReply() || snat.Timeout != 49 || snat.ID != 4033721514:
		t.Errorf("snat: %+v", snat)
	case dnat.Reply.Src != netip.MustParseAddr("9.9.9.9") || dnat.Reply.SrcPort != 99:
		t.Errorf("dnat: %+v", dnat)
	case listen.StateName() != "SYN_SENT2" || !listen.Status.SeenReply() || listen.Status.Assured():
		t.Errorf("listen: %+v", listen)
	case zoned.Zone != 5 || !zoned.Status.Assured():
		t.Errorf("zone: %+v", zoned)
	case igmp.Orig.Proto != 2 || igmp.Orig.Dst != netip.MustParseAddr("2.2.2.9"):
		t.Errorf("igmp: %+v", igmp)
	case icmp.Orig.Proto != track.ProtoICMP || icmp.Orig.Type != 0 || icmp.Orig.ID != 0:
		t.Errorf("icmp: %+v", icmp)
	case !origZone.Fields.Has(track.FieldZoneOrig) || origZone.ZoneOrig != 7 || origZone.Zone != 0:
		t.Errorf("orig zone: %+v", origZone)
	case v6.Orig.Family != track.FamilyIPv6 || v6.ZoneReply != 3 || v6.Mark != 16 || !v6.Fields.Has(track.FieldOrigCounters) ||
		v6.Ext == nil || v6.Ext.Start.UnixNano() != 1796290024874106640 || !v6.Fields.Has(track.FieldDeltaTime):
		t.Errorf("v6: %+v %+v", v6, v6.Ext)
	case gre.Orig.SrcKey != 1 || gre.Reply.SrcKey != 2:
		t.Errorf("gre: %+v", gre)
	case sctp.Orig.Proto != track.ProtoSCTP || track.SCTPState(sctp.State) != track.SCTPState(4) || sctp.StateName() != "ESTABLISHED":
		// libnetfilter_conntrack printed the SCTP state 4 (ESTABLISHED) with TCP's name for 4.
		t.Errorf("sctp: state %d %s", sctp.State, sctp.StateName())
	case ftp.Ext == nil || ftp.Ext.Helper != "ftp" || ftp.OrigCounters.Packets != 3 || ftp.ReplyCounters.Bytes != 112:
		t.Errorf("ftp: %+v", ftp)
	}
	// The same table in conntrack -L -o extended text.
	var ext []byte
	for i := range flows {
		ext = AppendFlow(ext, &flows[i], StyleExtended)
	}
	if !bytes.Contains(ext, []byte("ipv4     2 udp      17 49 src=1.1.1.1 dst=2.2.2.6 sport=10 dport=20 [UNREPLIED] src=9.9.9.9 dst=1.1.1.1 sport=99 dport=10 mark=0 use=1 id=706905443\n")) {
		t.Errorf("as extended text:\n%s", ext)
	}
}

func TestXMLRealWorld(t *testing.T) {
	for _, c := range []struct {
		file   string
		events int
		types  []track.EventType
	}{
		// A conntrack -E -o xml,timestamp line from a Python logger's issue.
		{"s22-ctlogger4-E-xml.txt", 1, []track.EventType{track.EventNew}},
		// Events pretty-printed by another project's fixture, no root.
		{"s31-pakon-E-xml-pretty.txt", 2, []track.EventType{track.EventNew, track.EventDestroy}},
	} {
		b, err := os.ReadFile(realworld + "/" + c.file)
		if err != nil {
			t.Skipf("the real-world corpus is not here: %v", err)
		}
		d, _, events := decodeXML(t, string(b))
		if d.Format() != FormatXMLEvents || d.Problems().Count != 0 || len(events) != c.events {
			t.Fatalf("%s: format %v, %d events, problems %+v", c.file, d.Format(), len(events), d.Problems().Samples)
		}
		for i, ev := range events {
			if ev.Type != c.types[i] {
				t.Errorf("%s: event %d is %v", c.file, i, ev.Type)
			}
			// Written compactly and read again: the same event.
			var out bytes.Buffer
			xw := NewXMLWriter(&out)
			xw.WriteEvent(&ev, ev.Time)
			xw.Close()
			_, _, back := decodeXML(t, out.String())
			if len(back) != 1 || !back[0].Flow.Equal(&ev.Flow) || back[0].Type != ev.Type || !back[0].Time.Equal(ev.Time) {
				t.Errorf("%s: event %d round trip:\n%s", c.file, i, out.String())
			}
		}
	}
	// s22 is conntrack's own one-line form: it is written back byte for byte.
	b, err := os.ReadFile(realworld + "/s22-ctlogger4-E-xml.txt")
	if err != nil {
		t.Skip(err)
	}
	d, err := NewDecoder(bytes.NewReader(b), "s22", Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var snap track.Snapshot
	d.ReadInto(&snap)
	ev := snap.Events[0]
	if got := string(AppendFlowXML(nil, &ev.Flow, ev.Type, ev.Time)); got != string(b) {
		t.Errorf("s22 written back:\n got  %s want %s", got, b)
	}
	if ev.Time != time.Date(2017, 7, 11, 21, 39, 50, 0, time.UTC) || ev.Flow.StateName() != "SYN_SENT" || ev.Flow.Status.SeenReply() {
		t.Errorf("s22: %+v", ev)
	}
}

func TestXMLDetection(t *testing.T) {
	for _, c := range []struct {
		text string
		want Format
	}{
		{conntrackXML, FormatXML},
		{"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n<flow type=\"destroy\">", FormatXMLEvents},
		{"\xef\xbb\xbf  <flow>\n<meta", FormatXML},
		{"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n", FormatXML},
		{"<?xml version=\"1.0\"?>\n<expect>\n<flow>", FormatUnknown},
		{"<html><body>", FormatUnknown},
	} {
		d, err := NewDecoder(strings.NewReader(c.text), "x", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Format() != c.want {
			t.Errorf("%.40q: %v, want %v", c.text, d.Format(), c.want)
		}
	}
}

func TestXMLMalformed(t *testing.T) {
	good := strings.Split(conntrackXML, "\n")[2] // the first <flow> line
	for _, c := range []struct {
		name, text string
		flows      int
		line       int
		want       string
	}{
		{"bad address", strings.Replace(good, "<src>1.1.1.1</src>", "<src>1.1.1.300</src>", 1) + "\n" + good + "\n", 1, 1, "expected an ipv4 address in <src>"},
		{"missing reply", "<flow>" + good[len("<flow>"):strings.Index(good, `<meta direction="reply">`)] + "</flow>\n" + good + "\n", 1, 1, `expected <meta direction="original"> and <meta direction="reply">`},
		{"unknown element", "\n" + strings.Replace(good, "<use>1</use>", "<use>1</use><bogus/>", 1) + "\n" + good, 1, 2, "expected an element of the independent <meta>"},
		{"event in a table", good + "\n" + strings.Replace(good, "<flow>", `<flow type="new">`, 1) + "\n", 1, 2, "expected a table entry"},
		{"text between flows", good + "\nhello\n" + good + "\n", 2, 2, `expected an XML element, got "hello"`},
		{"cut inside a flow", good + "\n" + good[:200], 1, 2, "truncated"},
		{"too deep", good + "\n<flow><a><b><c><d><e><f><g></g></f></e></d></c></b></a></flow>\n" + good + "\n", 2, 2, "deep"},
		{"syntax", good + "\n<flow><meta></flow>\n", 1, 2, "well-formed XML"},
		{"huge text", good + "\n<flow><helper>" + strings.Repeat("a", 2<<20) + "</helper></flow>\n", 1, 2, "shorter than 1 MiB"},
	} {
		d, err := NewDecoder(strings.NewReader(c.text), "bad.xml", Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := d.Flows(func(*track.Flow) error { n++; return nil }); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		p := d.Problems()
		if n != c.flows || p.Count != 1 || p.Samples[0].Line != c.line || !strings.Contains(p.Samples[0].Error(), c.want) {
			t.Errorf("%s: %d flows, problems %+v; want %d flows, one problem at line %d saying %q", c.name, n, p.Samples, c.flows, c.line, c.want)
		}
		if c.name == "cut inside a flow" && !p.Truncated() {
			t.Errorf("%s: not reported as truncated", c.name)
		}
	}
	// conntrack -E killed before it closed the root: complete, no problem.
	d, _, _ := decodeXML(t, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n"+strings.Replace(good, "<flow>", `<flow type="new">`, 1)+"\n")
	if d.Problems().Count != 0 || d.Counts().Events != 1 {
		t.Errorf("unclosed event stream: %+v, %d events", d.Problems().Samples, d.Counts().Events)
	}
	// Events are not entries.
	d, err := NewDecoder(strings.NewReader(`<flow type="new">`+good[len("<flow>"):]), "e.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Flows(func(*track.Flow) error { return nil }); !errors.Is(err, ErrNotFlows) {
		t.Errorf("Flows of an event stream: %v", err)
	}
}

func TestSaveOutput(t *testing.T) {
	_, flows, _ := decodeXML(t, conntrackXML)
	// conntrack -L -o save of the same table (mark is never written).
	want := []string{
		"-A -t 49 -u UNSET -s 1.1.1.1 -d 2.2.2.7 -r 2.2.2.7 -n 8.8.8.8 -p udp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10",
		"-A -t 49 -u UNSET -s 1.1.1.1 -d 2.2.2.6 -g 9.9.9.9 -q 1.1.1.1 -p udp --sport 10 --dport 20 --reply-port-src 99 --reply-port-dst 10",
		"-A -t 49 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state SYN_SENT2",
		"-A -t 49 -u SEEN_REPLY,ASSURED -w 5 -s 1.1.1.1 -d 2.2.2.3 -r 2.2.2.3 -q 1.1.1.1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED",
		"-A -t 49 -u UNSET -s 1.1.1.1 -d 2.2.2.9 -r 2.2.2.9 -q 1.1.1.1 -p 2",
		"-A -t 28 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 0 --icmp-code 0 --icmp-id 0",
		"-A -t 49 -u SEEN_REPLY,ASSURED --orig-zone 7 -s 1.1.1.1 -d 2.2.2.4 -r 2.2.2.4 -q 1.1.1.1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED",
		"-A -t 49 -u SEEN_REPLY,ASSURED --reply-zone 3 -s 2001:db8::1 -d 2001:db8::2 -r 2001:db8::2 -q 2001:db8::1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED",
		"-A -t 49 -u UNSET -s 1.1.1.1 -d 2.2.2.21 -r 2.2.2.21 -q 1.1.1.1 -p gre --srckey 1 --dstkey 2 --reply-key-src 2 --reply-key-dst 1",
		"-A -t 49 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.20 -r 2.2.2.20 -q 1.1.1.1 -p sctp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED",
	}
	for i, w := range want {
		if got := strings.TrimSuffix(string(AppendSave(nil, &flows[i], track.EventNew)), "\n"); got != w {
			t.Errorf("entry %d:\n got  %s\n want %s", i, got, w)
		}
	}
	ev := flows[0]
	if got := string(AppendSave(nil, &ev, track.EventDestroy)); !strings.HasPrefix(got, "-D -t 49 ") {
		t.Errorf("destroy event: %s", got)
	}
}

// TestXMLEventsUserspace: conntrack 1.4.7 writes "[USERSPACE] portid=N
// progname=NAME" after the </flow> of an event a process caused; it belongs
// to that event.
func TestXMLEventsUserspace(t *testing.T) {
	good := strings.Split(conntrackXML, "\n")[2]
	ev := strings.Replace(good, "<flow>", `<flow type="destroy">`, 1)
	text := "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n" +
		ev + " [USERSPACE] portid=2194682705 progname=conntrack\n" +
		ev + " [USERSPACE] portid=13914\n" + ev + "\n" + ev + " [USERSPACE] pid=1\n</conntrack>\n"
	d, _, events := decodeXML(t, text)
	if len(events) != 4 || d.Problems().Count != 1 || d.Problems().Samples[0].Line != 6 {
		t.Fatalf("%d events, problems %+v", len(events), d.Problems().Samples)
	}
	if e := events[0]; !e.Userspace || e.PortID != 2194682705 || e.Progname != "conntrack" {
		t.Errorf("first: %+v", e)
	}
	if e := events[1]; !e.Userspace || e.PortID != 13914 || e.Progname != "" {
		t.Errorf("second: %+v", e)
	}
	if events[2].Userspace {
		t.Errorf("third: %+v", events[2])
	}
}
