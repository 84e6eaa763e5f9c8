package filter

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

func flow(proto track.Proto, src, dst string, sport, dport uint16, status track.Status) track.Flow {
	o := track.Tuple{Family: track.FamilyIPv4, Proto: proto, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport}
	if o.Src.Is6() {
		o.Family = track.FamilyIPv6
	}
	return track.Flow{Orig: o, Reply: o.Reply(), Status: status | track.StatusConfirmed}
}

func TestMatch(t *testing.T) {
	est := flow(track.ProtoTCP, "10.0.0.1", "10.0.1.1", 40000, 443, track.StatusSeenReply|track.StatusAssured)
	est.State, est.Fields = uint8(track.TCPEstablished), track.FieldState|track.FieldMark
	est.Mark = 0x10
	half := flow(track.ProtoUDP, "10.0.0.2", "10.0.1.1", 5000, 53, track.StatusSeenReply)
	syn := flow(track.ProtoTCP, "10.0.0.3", "10.0.1.2", 40001, 80, 0)
	syn.State, syn.Fields = uint8(track.TCPSynSent), track.FieldState
	v6 := flow(track.ProtoICMPv6, "fd00::1", "fd00::2", 0, 0, track.StatusSeenReply)
	nat := flow(track.ProtoTCP, "192.168.1.5", "10.0.1.1", 5555, 80, track.StatusSeenReply|track.StatusAssured)
	nat.Reply.Dst, nat.Reply.DstPort = netip.MustParseAddr("10.0.0.254"), 20001
	flows := []track.Flow{est, half, syn, v6, nat}

	cases := []struct {
		filter string
		want   []int // indexes into flows
	}{
		{"", []int{0, 1, 2, 3, 4}},
		{"-p tcp", []int{0, 2, 4}},
		{"-p 17", []int{1}},
		{"-f ipv6", []int{3}},
		{"-s 10.0.0.0/24", []int{0, 1, 2}},
		{"-d 10.0.1.2", []int{2}},
		{"-q 10.0.0.254", []int{4}},
		{"--dport 443", []int{0}},
		{"--state SYN_SENT", []int{2}},
		{"--state syn_sent,ESTABLISHED", []int{0, 2}},
		{"-u SEEN_REPLY,!ASSURED", []int{1, 3}},
		{"-u UNREPLIED", []int{2}},
		{"-u ASSURED", []int{0, 4}},
		{"-m 16", []int{0}},
		{"-m 0x10/0x10", []int{0}},
		{"-m 0x11/0xf0", nil}, // conntrack does not mask the value
		{"-m 0", []int{1, 2, 3, 4}},
		{"-w 0", []int{0, 1, 2, 3, 4}},
		{"--src-nat", []int{4}},
		{"--src-nat=10.0.0.254:20001", []int{4}},
		{"--src-nat=10.0.0.253", nil},
		{"--dst-nat", nil},
		{"--any-nat", []int{4}},
		{"-p tcp -s 10.0.0.0/8 -u ASSURED", []int{0}},
		{"-u UNSET", []int{0, 1, 2, 3, 4}},
	}
	for _, c := range cases {
		f, err := ParseString(c.filter)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		var got []int
		for i := range flows {
			if f.Match(&flows[i]) {
				got = append(got, i)
			}
		}
		if !equalInts(got, c.want) {
			t.Errorf("%q matched %v, want %v", c.filter, got, c.want)
		}
		// String gives back options that build the same filter.
		again, err := ParseString(f.String())
		if err != nil || again.String() != f.String() {
			t.Errorf("%q: String %q does not parse back (%v)", c.filter, f.String(), err)
		}
		if (c.filter == "") != f.IsEmpty() {
			t.Errorf("%q: IsEmpty = %v", c.filter, f.IsEmpty())
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBadFilters(t *testing.T) {
	for _, s := range []string{
		"-p bogus", "-s 10.0.0.300", "-s ::1 -f ipv4", "--dport 70000", "--state NOPE",
		"-u ASSURED,!ASSURED", "-u WHAT", "-m x", "-m 1/y", "-w 70000", "--src-nat=1.2.3", "stray", "-p icmp --dport 1",
		"'unterminated",
	} {
		if _, err := ParseString(s); !errors.Is(err, ErrBadFilter) {
			t.Errorf("%q: err = %v, want ErrBadFilter", s, err)
		}
	}
}

func TestStringQuotes(t *testing.T) {
	f, err := Parse([]string{"-u", "SEEN_REPLY,!ASSURED", "-l", "a b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.String(); got != "--label 'a b' --status SEEN_REPLY,!ASSURED" {
		t.Fatalf("String() = %s", got)
	}
}
