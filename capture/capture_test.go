package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ctdiag/ctdiag/track"
)

// Frames are built with gopacket's serializers, an encoder independent of
// the decoder under test.

var (
	mac1 = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	mac2 = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	t0   = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if n, ok := l.(gopacket.NetworkLayer); ok {
			for _, x := range ls {
				if tl, ok := x.(interface {
					SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
				}); ok {
					_ = tl.SetNetworkLayerForChecksum(n)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
}

func ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
}

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: typ}
}

func tcpSYN() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 180}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}
}

// sllHeader is a Linux cooked capture header (16 bytes) for an outgoing
// packet of the given ethertype.
func sllHeader(ethertype uint16) []byte {
	return []byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, byte(ethertype >> 8), byte(ethertype)}
}

// sll2Header is a Linux cooked capture v2 header (20 bytes).
func sll2Header(ethertype uint16) []byte {
	return []byte{byte(ethertype >> 8), byte(ethertype), 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0}
}

// writePcap writes frames of one link type to a pcap file in memory.
func writePcap(t *testing.T, link layers.LinkType, frames ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func readAll(t *testing.T, data []byte) ([]track.Packet, *Stats) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), "test.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var out []track.Packet
	for {
		var p track.Packet
		err := r.Next(&p)
		if err == io.EOF {
			return out, r.Stats()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
}

func TestDecodeTCPOverEthernet(t *testing.T) {
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN())
	ps, st := readAll(t, writePcap(t, layers.LinkTypeEthernet, frame))
	if len(ps) != 1 || st.Frames != 1 || st.Bad != 0 {
		t.Fatalf("packets %d, stats %+v", len(ps), st)
	}
	p := ps[0]
	want := track.TCPOptions{Present: true, WScale: 7, HasWScale: true, SACKPerm: true, SACK: 0}
	if p.Family != track.FamilyIPv4 || p.Src != netip.MustParseAddr("10.0.0.1") || p.SrcPort != 40000 || p.DstPort != 80 ||
		p.TCP.Seq != 1000 || p.TCP.Flags != track.TCPSyn || p.TCP.Window != 64240 || p.TCP.DataOffset != 8 ||
		p.TCP.Options != want || p.L4Length != 32 || p.Length != 52 || !p.Time.Equal(t0) {
		t.Errorf("decoded %+v", p)
	}
}

func TestDecodeLinkTypes(t *testing.T) {
	udp := &layers.UDP{SrcPort: 5000, DstPort: 53}
	payload := gopacket.Payload([]byte("query"))
	for _, tc := range []struct {
		name   string
		link   layers.LinkType
		head   []byte // a hand-made link header (gopacket cannot serialize SLL)
		layers []gopacket.SerializableLayer
		family track.Family
	}{
		{"ethernet vlan", layers.LinkTypeEthernet, nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ipv4(layers.IPProtocolUDP), udp, payload}, track.FamilyIPv4},
		{"linux sll", layers.LinkTypeLinuxSLL, sllHeader(0x86dd), []gopacket.SerializableLayer{ipv6(layers.IPProtocolUDP), udp, payload}, track.FamilyIPv6},
		{"linux sll2", layers.LinkTypeLinuxSLL2, sll2Header(0x0800), []gopacket.SerializableLayer{ipv4(layers.IPProtocolUDP), udp, payload}, track.FamilyIPv4},
		{"raw", layers.LinkTypeRaw, nil, []gopacket.SerializableLayer{ipv6(layers.IPProtocolUDP), udp, payload}, track.FamilyIPv6},
	} {
		frame := append(append([]byte(nil), tc.head...), serialize(t, tc.layers...)...)
		ps, st := readAll(t, writePcap(t, tc.link, frame))
		if len(ps) != 1 {
			t.Errorf("%s: %d packets, problems %v", tc.name, len(ps), st.Problems)
			continue
		}
		p := ps[0]
		if p.Family != tc.family || p.Proto != track.ProtoUDP || p.SrcPort != 5000 || p.DstPort != 53 || p.UDP.Length != 13 || p.L4Length != 13 {
			t.Errorf("%s: decoded %+v", tc.name, p)
		}
	}
}

func TestDecodeICMPErrorInner(t *testing.T) {
	inner := serialize(t, ipv4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 5000, DstPort: 53}, gopacket.Payload([]byte("query")))
	outer := ipv4(layers.IPProtocolICMPv4)
	outer.SrcIP, outer.DstIP = outer.DstIP, outer.SrcIP
	frame := serialize(t, outer, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner[:28]))
	ps, _ := readAll(t, writePcap(t, layers.LinkTypeRaw, frame))
	if len(ps) != 1 || ps[0].ICMP.Inner == nil {
		t.Fatalf("no inner header: %+v", ps)
	}
	in := ps[0].ICMP.Inner
	if in.Src != netip.MustParseAddr("10.0.0.1") || in.Proto != track.ProtoUDP || in.SrcPort != 5000 || in.DstPort != 53 {
		t.Errorf("inner %+v", in)
	}
}

func TestDecodeBadFramesAreCounted(t *testing.T) {
	good := serialize(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN())
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: mac1, SourceProtAddress: []byte{10, 0, 0, 1},
		DstHwAddress: mac2, DstProtAddress: []byte{10, 0, 0, 2}})
	cut := good[:14+20+10] // snapped inside the TCP header
	badIHL := append([]byte(nil), good...)
	badIHL[14] = 0x43
	ps, st := readAll(t, writePcap(t, layers.LinkTypeEthernet, good, arp, cut, badIHL, good))
	if len(ps) != 2 || st.Frames != 5 || st.NotIP != 1 || st.Bad != 2 || len(st.Problems) != 2 {
		t.Fatalf("packets %d, stats %+v", len(ps), st)
	}
	if st.Problems[0].Frame != 3 || !errors.Is(st.Problems[0].Err, ErrTruncated) || !errors.Is(st.Problems[1].Err, ErrMalformed) {
		t.Errorf("problems %v", st.Problems)
	}
}

func TestReaderCutShort(t *testing.T) {
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN())
	data := writePcap(t, layers.LinkTypeEthernet, frame, frame)
	for _, cut := range []int{10, len(frame), len(frame) + 6} { // inside the data, right after the header, inside the header
		ps, st := readAll(t, data[:len(data)-cut])
		if len(ps) != 1 || !st.CutShort {
			t.Errorf("cut %d bytes: packets %d, cut short %v", cut, len(ps), st.CutShort)
		}
	}
	if ps, st := readAll(t, data); len(ps) != 2 || st.CutShort {
		t.Errorf("whole file: packets %d, cut short %v", len(ps), st.CutShort)
	}
}

func TestReaderGzip(t *testing.T) {
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN())
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(writePcap(t, layers.LinkTypeEthernet, frame, frame))
	zw.Close()
	if ps, st := readAll(t, z.Bytes()); len(ps) != 2 || st.Bad != 0 {
		t.Errorf("gzipped pcap: %d packets, %+v", len(ps), st)
	}
}

func TestReaderRejectsOtherFiles(t *testing.T) {
	for _, in := range []string{"", "ipv4     2 tcp      6 119 SYN_SENT src=1.2.3.4\n"} {
		if _, err := NewReader(bytes.NewReader([]byte(in)), "x"); !errors.Is(err, ErrNotCapture) {
			t.Errorf("%q: %v, want ErrNotCapture", in, err)
		}
	}
}

func TestReaderPcapng(t *testing.T) {
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN())
	raw := serialize(t, ipv6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range [][]byte{frame, raw} {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(1234567 * time.Nanosecond), CaptureLength: len(f), Length: len(f), InterfaceIndex: i * id}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ps, st := readAll(t, b.Bytes())
	if len(ps) != 2 || ps[0].Proto != track.ProtoTCP || ps[1].Family != track.FamilyIPv6 || !ps[0].Time.Equal(t0.Add(1234567*time.Nanosecond)) { // nanosecond if_tsresol
		t.Errorf("packets %+v, problems %v", ps, st.Problems)
	}
}

func TestReassembly(t *testing.T) {
	// A 3000-byte UDP datagram in three IPv4 fragments, and the same over
	// IPv6, arrive as one packet of the full length.
	payload := bytes.Repeat([]byte{'x'}, 3000)
	whole := serialize(t, ipv4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 5000, DstPort: 53}, gopacket.Payload(payload))
	l4 := whole[20:]
	var frames [][]byte
	for off := 0; off < len(l4); off += 1480 {
		end := min(off+1480, len(l4))
		h := ipv4(layers.IPProtocolUDP)
		h.Id = 77
		h.FragOffset = uint16(off / 8)
		if end < len(l4) {
			h.Flags = layers.IPv4MoreFragments
		}
		frames = append(frames, serialize(t, h, gopacket.Payload(l4[off:end])))
	}
	frames[0], frames[2] = frames[2], frames[0] // out of order
	ps, st := readAll(t, writePcap(t, layers.LinkTypeRaw, frames...))
	if len(ps) != 1 || st.Fragments != 3 || st.Reassembled != 1 {
		t.Fatalf("packets %d, stats %+v", len(ps), st)
	}
	if p := ps[0]; p.Length != 20+8+3000 || p.L4Length != 3008 || p.UDP.Length != 3008 || p.DstPort != 53 {
		t.Errorf("reassembled %+v", p)
	}

	w6 := serialize(t, ipv6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 5000, DstPort: 53}, gopacket.Payload(payload))[40:]
	frames = nil
	for off := 0; off < len(w6); off += 1448 {
		end := min(off+1448, len(w6))
		fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: uint16(off / 8), MoreFragments: end < len(w6), Identification: 9}
		frames = append(frames, serialize(t, ipv6(layers.IPProtocolIPv6Fragment), fh, gopacket.Payload(w6[off:end])))
	}
	ps, st = readAll(t, writePcap(t, layers.LinkTypeRaw, frames...))
	if len(ps) != 1 || ps[0].L4Length != 3008 || ps[0].Proto != track.ProtoUDP {
		t.Errorf("IPv6: packets %+v, stats %+v", ps, st)
	}
}

func TestParseTCPOptionsLikeTheKernel(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []byte
		ack  uint32
		want track.TCPOptions
	}{
		{"none", nil, 5, track.TCPOptions{SACK: 5}},
		{"wscale capped at 14", []byte{3, 3, 20, 0}, 0, track.TCPOptions{Present: true, WScale: 14, HasWScale: true}},
		{"EOL stops", []byte{0, 4, 2, 0}, 0, track.TCPOptions{Present: true}},
		{"silly length stops", []byte{8, 1, 4, 2}, 0, track.TCPOptions{Present: true}},
		{"SACK right edge", []byte{1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 50}, 20, track.TCPOptions{Present: true, SACK: 50, HasSACK: true}},
		{"SACK edge before the ack", []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 5}, 20, track.TCPOptions{Present: true, SACK: 20, HasSACK: true}},
		{"timestamp only", []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, 7, track.TCPOptions{Present: true, SACK: 7}},
	} {
		if got := track.ParseTCPOptions(tc.opts, tc.ack); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// FuzzDecode feeds arbitrary frames of every link type through the decoder:
// it must never panic, and a decoded packet must be self-consistent.
func FuzzDecode(f *testing.F) {
	f.Add(uint16(layers.LinkTypeEthernet), serialize(f, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN()))
	f.Add(uint16(layers.LinkTypeRaw), serialize(f, ipv6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}))
	inner := serialize(f, ipv4(layers.IPProtocolTCP), tcpSYN())
	f.Add(uint16(layers.LinkTypeRaw), serialize(f, ipv4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(inner[:28])))
	f.Add(uint16(layers.LinkTypeLinuxSLL2), append(sll2Header(0x86dd), serialize(f, ipv6(layers.IPProtocolIPv6HopByHop), gopacket.Payload([]byte{17, 0, 1, 4, 0, 0, 0, 0, 0, 1, 0, 2, 0, 8, 0, 0}))...))
	f.Add(uint16(layers.LinkTypeLinuxSLL), append(sllHeader(0x0800), 0x45, 0, 0, 28, 0, 0, 0x20, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 8, 0, 0))
	f.Add(uint16(layers.LinkTypeRaw), []byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, link uint16, frame []byte) {
		r := &Reader{frags: reassembler{pending: map[fragKey]*datagram{}}}
		var p track.Packet
		done, err := r.decodeFrame(layers.LinkType(link), frame, &p)
		if err != nil || !done {
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || p.L4Length < 0 || p.Length < p.L4Length {
			t.Fatalf("inconsistent packet %+v", p)
		}
		// The engine must take whatever the decoder produces.
		e, _ := track.NewEngine(track.EngineConfig{})
		p.Time = t0
		e.Process(&p)
	})
}

// FuzzReader feeds arbitrary files (seeded with pcap and pcapng ones) to the
// reader: it must never panic or loop, and every frame must be accounted for.
func FuzzReader(f *testing.F) {
	frame := serialize(f, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpSYN())
	var pc bytes.Buffer
	w := pcapgo.NewWriter(&pc)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for range 3 {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(frame), Length: len(frame)}, frame)
	}
	f.Add(pc.Bytes())
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeRaw)
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 20, Length: 20}, frame[14:34])
	nw.Flush()
	f.Add(ng.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		var p track.Packet
		for range 100000 {
			if err := r.Next(&p); err != nil {
				break
			}
		}
		st := r.Stats()
		if st.Packets+st.NotIP+st.Bad > st.Frames+st.Reassembled {
			t.Fatalf("more outcomes than frames: %+v", st)
		}
	})
}
