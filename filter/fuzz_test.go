package filter

import (
	"net/netip"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// FuzzFilter types anything at the filter prompt: the one tokenizer and the
// registered options must never panic, and a filter that parses must print
// (String) as options that parse back to a filter selecting the same
// entries.
//
//	go test ./filter -run '^$' -fuzz '^FuzzFilter$' -fuzztime 1m
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"", "-p tcp --dport 443", "-u SEEN_REPLY,'!ASSURED'", "-s 10.0.0.0/8 -d 10.1.0.1 --mask-dst 255.0.255.0",
		"--dst-nat 3.3.3.3", "-g3.3.3.3:80", "--any-nat=[fd00::1]:53", "-n", "-m 0x10/0xf0", "-m 0/", "-w 0 --orig-zone 5",
		"-p icmp --icmp-type 8 --icmp-id 1", "-p icmpv6 --icmpv6-type 128", "-p esp", "--protonum 0x32", "--state LISTEN,time_wait",
		"-l a,b -u seen", `-l "a b" -s\ 1`, "-u UNSET", "-f ipv6 -r fd00::/64", "--orig-port-src 1 --orig-port-dst 2 -p udp",
	} {
		f.Add(s)
	}
	tcp := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.1.0.1"), SrcPort: 1, DstPort: 443},
		Fields: track.FieldState | track.FieldMark, State: uint8(track.TCPEstablished), Mark: 0x12,
		Status: track.StatusSeenReply | track.StatusAssured | track.StatusConfirmed}
	tcp.Reply = tcp.Orig.Reply()
	tcp.Reply.Src = netip.MustParseAddr("3.3.3.3")
	ping := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv6, Proto: track.ProtoICMPv6,
		Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Type: 128, ID: 7},
		Status: track.StatusConfirmed, ZoneOrig: 5, Fields: track.FieldZoneOrig}
	ping.Reply = ping.Orig.Reply()
	off := tcp
	off.Status |= track.StatusOffload
	flows := []track.Flow{tcp, ping, off}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseString(s)
		if err != nil {
			return
		}
		again, err := ParseString(flt.String())
		if err != nil {
			t.Fatalf("%q: String %q does not parse: %v", s, flt.String(), err)
		}
		if again.String() != flt.String() {
			t.Fatalf("%q: String %q reads back as %q", s, flt.String(), again.String())
		}
		for i := range flows {
			for _, v := range []StatusView{ViewAll, ViewText, ViewXML} {
				if a, b := flt.Judge(&flows[i], v), again.Judge(&flows[i], v); a != b {
					t.Fatalf("%q and its String %q judge entry %d differently (%v, %v)", s, flt.String(), i, a, b)
				}
			}
		}
	})
}
