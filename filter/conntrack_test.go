package filter

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// These tests pin conntrack's command-line semantics (conntrack-tools 1.4.7
// and libnetfilter_conntrack as installed by Debian); the kernel test in
// cmd/ctdiag checks the same against the real conntrack on a real table.

func mustParse(t *testing.T, args ...string) *Filter {
	t.Helper()
	f, err := Parse(args)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return f
}

func TestNATOptionalValueAsConntrackSpellsIt(t *testing.T) {
	nat := flow(track.ProtoUDP, "10.0.0.1", "10.0.0.2", 1000, 53, track.StatusSeenReply)
	nat.Reply.Src = netip.MustParseAddr("3.3.3.3")
	other := flow(track.ProtoUDP, "10.0.0.1", "10.0.0.2", 1001, 53, track.StatusSeenReply)
	other.Reply.Src = netip.MustParseAddr("4.4.4.4")
	for _, args := range [][]string{
		{"--dst-nat", "3.3.3.3"}, {"-g", "3.3.3.3"}, {"-g3.3.3.3"}, {"--dst-nat=3.3.3.3"}, {"-g=3.3.3.3"},
		{"--any-nat", "3.3.3.3"}, {"-j3.3.3.3"},
	} {
		f := mustParse(t, args...)
		if !f.Match(&nat) || f.Match(&other) {
			t.Errorf("%q: matches %v/%v, want only the entry translated to 3.3.3.3", args, f.Match(&nat), f.Match(&other))
		}
	}
	// A word that is no address stays where it was: for ctdiag list, a file.
	got := AttachOptionalValues([]string{"--dst-nat", "dump.txt", "-n", "10.0.0.1:80", "-j", "--", "-g", "1.1.1.1"})
	want := []string{"--dst-nat", "dump.txt", "--src-nat=10.0.0.1:80", "-j", "--", "-g", "1.1.1.1"}
	if !slices.Equal(got, want) {
		t.Errorf("AttachOptionalValues = %q, want %q", got, want)
	}
	if _, err := Parse([]string{"--dst-nat", "dump.txt"}); err == nil || !strings.Contains(err.Error(), `unexpected "dump.txt"`) {
		t.Errorf("--dst-nat dump.txt: %v, want the word left as an argument", err)
	}
}

func TestZonesCompareAsConntrack(t *testing.T) {
	plain := flow(track.ProtoTCP, "10.0.0.1", "10.0.0.2", 1, 2, 0)
	plain.Fields |= track.FieldZone
	both := plain
	both.Zone = 5
	orig := plain
	orig.Fields = orig.Fields&^track.FieldZone | track.FieldZoneOrig
	orig.ZoneOrig = 7
	reply := plain
	reply.Fields |= track.FieldZoneReply
	reply.ZoneReply = 3
	flows := []track.Flow{plain, both, orig, reply}
	for _, c := range []struct {
		args []string
		want []int
	}{
		// An entry without a zone of that kind is in zone 0 (libnetfilter_conntrack
		// compares zones non-strictly; ctnetlink sends no zone 0).
		{[]string{"-w", "0"}, []int{0, 2, 3}},
		{[]string{"-w", "5"}, []int{1}},
		{[]string{"--orig-zone", "0"}, []int{0, 1, 3}},
		{[]string{"--orig-zone", "7"}, []int{2}},
		{[]string{"--reply-zone", "0"}, []int{0, 1, 2}},
		{[]string{"--reply-zone", "0x3"}, []int{3}},
	} {
		f := mustParse(t, c.args...)
		var got []int
		for i := range flows {
			if f.Match(&flows[i]) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q matched %v, want %v", c.args, got, c.want)
		}
	}
}

func TestNATPortMustBeTranslated(t *testing.T) {
	// DNAT to 9.9.9.9, port kept (20 stays 20).
	addrOnly := flow(track.ProtoUDP, "1.1.1.1", "2.2.2.5", 10, 20, 0)
	addrOnly.Reply.Src = netip.MustParseAddr("9.9.9.9")
	// DNAT to 9.9.9.9:20 written out, port 20 → 99.
	both := flow(track.ProtoUDP, "1.1.1.1", "2.2.2.6", 10, 20, 0)
	both.Reply.Src, both.Reply.SrcPort = netip.MustParseAddr("9.9.9.9"), 99
	// Only the source port translated (10 → 2000), the address kept.
	portOnly := flow(track.ProtoUDP, "1.1.1.1", "2.2.2.7", 10, 20, 0)
	portOnly.Reply.DstPort = 2000
	flows := []track.Flow{addrOnly, both, portOnly}
	for _, c := range []struct {
		args []string
		want []int
	}{
		{[]string{"--dst-nat=9.9.9.9:20"}, nil}, // port 20 was not translated
		{[]string{"--dst-nat=9.9.9.9:99"}, []int{1}},
		{[]string{"--dst-nat=9.9.9.9"}, []int{0, 1}},
		{[]string{"--src-nat=1.1.1.1"}, nil}, // the address was not translated
		{[]string{"--src-nat=1.1.1.1:2000"}, nil},
		{[]string{"--src-nat"}, []int{2}},
		{[]string{"--any-nat"}, []int{0, 1, 2}},
	} {
		f := mustParse(t, c.args...)
		var got []int
		for i := range flows {
			if f.Match(&flows[i]) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q matched %v, want %v", c.args, got, c.want)
		}
	}
	// Unlike conntrack (whose address check is IPv4 only), an IPv6 address
	// is compared.
	v6 := flow(track.ProtoTCP, "fd00::1", "fd00::2", 10, 20, 0)
	v6.Reply.Src, v6.Reply.SrcPort = netip.MustParseAddr("fd00::9"), 99
	if !mustParse(t, "--dst-nat", "[fd00::9]:99").Match(&v6) || mustParse(t, "--dst-nat", "fd00::8").Match(&v6) {
		t.Error("IPv6 --dst-nat does not compare the address")
	}
}

func TestStatusTextCannotShow(t *testing.T) {
	if got := mustParse(t, "-u", "FIXED_TIMEOUT").Never(ViewText); got != track.StatusFixedTimeout {
		t.Errorf("-u FIXED_TIMEOUT: Never(text) = %v", got)
	}
	if got := mustParse(t, "-u", "!EXPECTED,ASSURED").Never(ViewText); got != track.StatusExpected {
		t.Errorf("-u !EXPECTED,ASSURED: Never(text) = %v", got)
	}
	if got := mustParse(t, "-u", "OFFLOAD").Never(ViewXML); got != track.StatusOffload {
		t.Errorf("-u OFFLOAD: Never(xml) = %v", got)
	}
	for _, s := range []string{"ASSURED", "SEEN_REPLY,!ASSURED", "UNREPLIED", "HW_OFFLOAD"} {
		if got := mustParse(t, "-u", s).Never(ViewText); got != 0 {
			t.Errorf("-u %s: Never(text) = %v, want 0", s, got)
		}
	}
	// Text prints [OFFLOAD] instead of [ASSURED]: whether an offloaded entry
	// is assured is unknown, not false.
	off := flow(track.ProtoTCP, "10.0.0.1", "10.0.0.2", 1, 2, track.StatusSeenReply|track.StatusOffload)
	plain := flow(track.ProtoTCP, "10.0.0.1", "10.0.0.3", 1, 2, track.StatusSeenReply)
	for _, c := range []struct {
		status     string
		off, plain Verdict
	}{
		{"ASSURED", Unknown, No},
		{"!ASSURED", Unknown, Yes},
		{"SEEN_REPLY,!ASSURED", Unknown, Yes},
		{"OFFLOAD", Yes, No},
		{"UNREPLIED", No, No},
		{"OFFLOAD,ASSURED", Unknown, No},
	} {
		f := mustParse(t, "-u", c.status)
		if got := f.Judge(&off, ViewText); got != c.off {
			t.Errorf("-u %s on [OFFLOAD]: %v, want %v", c.status, got, c.off)
		}
		if got := f.Judge(&plain, ViewText); got != c.plain {
			t.Errorf("-u %s on a plain entry: %v, want %v", c.status, got, c.plain)
		}
		// From netlink every bit is known.
		if got := f.Judge(&off, ViewAll); got == Unknown {
			t.Errorf("-u %s from netlink: Unknown", c.status)
		}
	}
}

func TestConntrackSpellings(t *testing.T) {
	icmp := flow(track.ProtoICMP, "10.0.0.1", "10.0.0.2", 0, 0, track.StatusSeenReply)
	icmp.Orig.Type, icmp.Orig.ID = 8, 1226
	icmp.Reply = icmp.Orig.Reply()
	tcp := flow(track.ProtoTCP, "10.1.2.3", "10.9.8.7", 1000, 443, track.StatusSeenReply)
	tcp.Mark, tcp.Fields = 0x12, tcp.Fields|track.FieldMark
	esp := flow(50, "10.0.0.1", "10.0.0.5", 0, 0, 0)
	igmp := flow(2, "10.0.0.1", "224.0.0.1", 0, 0, 0)
	flows := []track.Flow{icmp, tcp, esp, igmp}
	for _, c := range []struct {
		args []string
		want []int
	}{
		{[]string{"--orig-src", "10.1.2.3"}, []int{1}},
		{[]string{"--orig-dst", "10.9.8.7"}, []int{1}},
		{[]string{"--protonum", "tcp"}, []int{1}},
		{[]string{"-p", "TCP", "--orig-port-src", "1000", "--orig-port-dst", "443"}, []int{1}},
		{[]string{"-s", "10.0.2.3", "--mask-src", "255.0.0.255"}, []int{1}}, // not a prefix
		{[]string{"-s", "10.0.0.0", "--mask-src", "255.255.0.0"}, []int{0, 2, 3}},
		{[]string{"-d", "10.9.0.0", "--mask-dst", "255.255.0.0"}, []int{1}},
		{[]string{"-p", "icmp", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "1226"}, []int{0}},
		{[]string{"-p", "icmp", "--icmp-id", "1"}, nil},
		{[]string{"-p", "igmp"}, []int{3}},
		{[]string{"-p", "esp"}, []int{2}},
		{[]string{"-p", "IPSEC-ESP"}, []int{2}},
		{[]string{"-p", "50"}, []int{2}},
		{[]string{"-p", "0x32"}, []int{2}},
		{[]string{"-p", "062"}, []int{2}},
		{[]string{"-m", "+18"}, []int{1}},
		{[]string{"-m", " 0x12"}, []int{1}},
		{[]string{"-m", "022"}, []int{1}}, // octal, as strtoul(…, 0)
		{[]string{"-m", "0x10/0xf0"}, []int{1}},
		{[]string{"-m", "0x12/0x1ffffffff"}, []int{1}}, // conntrack keeps the mask's low 32 bits
		{[]string{"-m", "0/"}, []int{0, 1, 2, 3}},      // an empty mask is 0: every mark
		{[]string{"-m", "4294967295"}, nil},
		{[]string{"-m", "-0"}, []int{0, 2, 3}},
		{[]string{"-u", "seen"}, []int{0, 1}}, // conntrack's abbreviation
		{[]string{"-u", "seen_reply,A"}, nil}, // A = ASSURED
		{[]string{"-u", "UNREPLIED"}, []int{2, 3}},
	} {
		f := mustParse(t, c.args...)
		var got []int
		for i := range flows {
			if f.Match(&flows[i]) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q matched %v, want %v", c.args, got, c.want)
		}
		if again, err := ParseString(f.String()); err != nil || again.String() != f.String() {
			t.Errorf("%q: String %q does not parse back (%v)", c.args, f.String(), err)
		}
	}
	for _, args := range [][]string{
		{"-m", "4294967296"}, {"-m", "-1"}, {"-m", "0x"}, {"-m", "5 "}, {"-m", "1/x"},
		{"-w", "65536"}, {"-w", "-1"}, {"-p", "256"}, {"-p", "nosuch"}, {"-p", "Esp"},
		{"--icmp-type", "8"}, {"-p", "tcp", "--icmp-type", "8"}, {"-p", "icmp", "--icmp-type", "256"},
		{"--mask-src", "255.0.0.0"}, {"-s", "10.0.0.0/8", "--mask-src", "255.0.0.0"}, {"-s", "10.0.0.1", "--mask-src", "ffff::"},
		{"-u", "S"}, {"-u", "D"}, {"-u", ""}, {"-u", "!UNREPLIED"},
		{"--any-nat", "--src-nat"}, {"-f", "ipv6", "--dst-nat", "1.1.1.1"}, {"-s", "1.1.1.1", "-g", "fd00::1"},
	} {
		if _, err := Parse(args); !errors.Is(err, ErrBadFilter) {
			t.Errorf("%q: err = %v, want ErrBadFilter", args, err)
		}
	}
}

func TestStrtoul(t *testing.T) {
	for _, c := range []struct {
		in string
		v  uint64
		ok bool
	}{
		{"0", 0, true}, {"10", 10, true}, {"010", 8, true}, {"0x1F", 31, true}, {"0X1f", 31, true},
		{" \t7", 7, true}, {"+7", 7, true}, {"-1", 1<<64 - 1, true}, {"-0", 0, true},
		{"", 0, false}, {" ", 0, false}, {"0x", 0, false}, {"08", 0, false}, {"7 ", 0, false},
		{"18446744073709551615", 1<<64 - 1, true}, {"18446744073709551616", 0, false}, {"1_0", 0, false}, {"0b1", 0, false},
	} {
		v, ok := strtoul(c.in)
		if ok != c.ok || ok && v != c.v {
			t.Errorf("strtoul(%q) = %d, %v; want %d, %v", c.in, v, ok, c.v, c.ok)
		}
	}
}

func TestEventMask(t *testing.T) {
	for _, c := range []struct {
		in   string
		want EventMask
	}{
		{"ALL", AllEvents}, {"NEW", 1 << track.EventNew}, {"UPDATE", 1 << track.EventUpdate},
		{"updates,destroy", 1<<track.EventUpdate | 1<<track.EventDestroy}, {"N,U", 1<<track.EventNew | 1<<track.EventUpdate},
	} {
		got, err := ParseEventMask(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseEventMask(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "NEW,", "D", "S", "CREATE"} {
		if _, err := ParseEventMask(in); !errors.Is(err, ErrBadFilter) {
			t.Errorf("ParseEventMask(%q): %v, want ErrBadFilter", in, err)
		}
	}
}

func TestSplitWordsAndQuote(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`-u SEEN_REPLY,'!ASSURED'`, []string{"-u", "SEEN_REPLY,!ASSURED"}},
		{`-l "a b"  -s\ x`, []string{"-l", "a b", "-s x"}},
		{`'it'\''s' "q\"d"`, []string{"it's", `q"d`}},
		{"", nil},
	} {
		got, err := SplitWords(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, w := range []string{"plain", "", "a b", "it's", `back\slash`, `"`, "tab\there"} {
		got, err := SplitWords(quoteWord(w))
		if err != nil || len(got) != 1 || got[0] != w {
			t.Errorf("quoteWord(%q) = %s reads back as %q, %v", w, quoteWord(w), got, err)
		}
	}
	for _, in := range []string{"'open", `"open`, `trailing\`} {
		if _, err := SplitWords(in); err == nil {
			t.Errorf("SplitWords(%q): no error", in)
		}
	}
}
