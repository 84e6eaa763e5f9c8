package kerneldiff

import (
	"net/netip"
	"testing"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/track"
)

// Every generated packet survives Encode and the capture decoder with the
// fields conntrack reads intact: the engine sees what the kernel got.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	n := 0
	for _, seq := range NewGenerator(9).Sequences(2000) {
		for _, st := range seq.Steps {
			p := st.Packet
			b, err := capture.Encode(&p)
			if err != nil {
				t.Fatalf("%s: %v", describePacket(&p), err)
			}
			var q track.Packet
			if err := capture.DecodeIP(b, &q); err != nil {
				t.Fatalf("%s: decode: %v", describePacket(&p), err)
			}
			n++
			if q.Src != p.Src || q.Dst != p.Dst || q.Proto != p.Proto || q.Length != p.Length || q.L4Length != p.L4Length {
				t.Fatalf("%s: decoded as %s", describePacket(&p), describePacket(&q))
			}
			switch p.Proto {
			case track.ProtoTCP:
				want, got := p.TCP, q.TCP
				switch {
				case p.L4Length < 20:
					want = track.TCPHeader{} // too short to hold a header: the decoder leaves it empty
				case int(want.DataOffset)*4 < 20 || int(want.DataOffset)*4 > p.L4Length:
					want.Options = track.TCPOptions{} // options beyond the packet are not read
				case !want.Options.HasSACK:
					want.Options.SACK = want.Ack
				}
				want.Options.WScale = min(want.Options.WScale, 14) // capped, as the kernel caps it
				if got != want || q.SrcPort != p.SrcPort || q.DstPort != p.DstPort {
					t.Fatalf("%s: TCP %+v, want %+v", describePacket(&p), got, want)
				}
			case track.ProtoUDP, track.ProtoUDPLite:
				if q.UDP.Length != p.UDP.Length || (q.UDP.Checksum == 0) != (p.UDP.Checksum == 0) || q.DstPort != p.DstPort {
					t.Fatalf("%s: UDP %+v", describePacket(&p), q.UDP)
				}
			case track.ProtoICMP, track.ProtoICMPv6:
				if q.ICMP.Type != p.ICMP.Type || q.ICMP.Code != p.ICMP.Code || q.ICMP.Short != (p.L4Length < 8) ||
					(!q.ICMP.Short && q.ICMP.ID != p.ICMP.ID) || (p.ICMP.Inner == nil) != (q.ICMP.Inner == nil) {
					t.Fatalf("%s: ICMP %+v", describePacket(&p), q.ICMP)
				}
				if in := p.ICMP.Inner; in != nil && *q.ICMP.Inner != *in {
					t.Fatalf("%s: inner %+v, want %+v", describePacket(&p), *q.ICMP.Inner, *in)
				}
			case track.ProtoGRE:
				if q.GRE != p.GRE {
					t.Fatalf("%s: GRE %+v", describePacket(&p), q.GRE)
				}
			}
		}
	}
	t.Logf("%d packets round-tripped", n)
}

// The comparison must see every difference it claims to check.
func TestCompareFindsDifferences(t *testing.T) {
	orig := track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: netip.MustParseAddr("127.0.0.1"), Dst: netip.MustParseAddr("127.0.0.2"), SrcPort: 1, DstPort: 2}
	base := track.Flow{Orig: orig, Reply: orig.Reply(), Fields: track.FieldTimeout | track.FieldState | track.FieldOrigCounters | track.FieldReplyCounters,
		State: uint8(track.TCPEstablished), Timeout: 100, Status: track.StatusSeenReply | track.StatusAssured | track.StatusConfirmed,
		OrigCounters: track.Counters{Packets: 2, Bytes: 80}}
	s := &seqState{seq: &Sequence{}, tuples: []track.Tuple{orig}}
	for _, tc := range []struct {
		name   string
		change func(f *track.Flow)
		differ bool
	}{
		{"same", func(*track.Flow) {}, false},
		{"timeout off by one", func(f *track.Flow) { f.Timeout = 101 }, false},
		{"timeout off by two", func(f *track.Flow) { f.Timeout = 102 }, true},
		{"state", func(f *track.Flow) { f.State = uint8(track.TCPCloseWait) }, true},
		{"not assured", func(f *track.Flow) { f.Status &^= track.StatusAssured }, true},
		{"unreplied", func(f *track.Flow) { f.Status &^= track.StatusSeenReply }, true},
		{"counters", func(f *track.Flow) { f.OrigCounters.Packets = 3 }, true},
		{"reply tuple", func(f *track.Flow) { f.Reply.DstPort = 9 }, true},
		{"mark", func(f *track.Flow) { f.Mark = 1 }, true},
	} {
		e := base
		tc.change(&e)
		diffs := compare(s, indexFlows([]track.Flow{base}), indexFlows([]track.Flow{e}))
		if (len(diffs) > 0) != tc.differ {
			t.Errorf("%s: diffs %v, want a difference: %v", tc.name, diffs, tc.differ)
		}
	}
	if diffs := compare(s, indexFlows([]track.Flow{base}), indexFlows(nil)); len(diffs) != 1 {
		t.Errorf("a missing engine entry: %v", diffs)
	}
	if diffs := compare(s, indexFlows(nil), indexFlows([]track.Flow{base})); len(diffs) != 1 {
		t.Errorf("a missing kernel entry: %v", diffs)
	}
}
