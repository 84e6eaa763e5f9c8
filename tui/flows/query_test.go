package flows

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

func TestParseQuery(t *testing.T) {
	half := track.Flow{Orig: track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 443},
		Fields: track.FieldState, State: uint8(track.TCPSynRecv), Status: track.StatusSeenReply}
	half.Reply = half.Orig.Reply()
	for _, c := range []struct {
		text  string
		match bool
	}{
		{"", true},
		{"-p tcp --dport 443", true},
		{"-u SEEN_REPLY,'!ASSURED'", true}, // quoted as in a shell, as the README writes it
		{`-u "SEEN_REPLY,!ASSURED" -s 10.0.0.0/8`, true},
		{"--state SYN_SENT", false},
		{"-p udp", false},
	} {
		f, err := ParseQuery(c.text)
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if got := f.Match(&half); got != c.match {
			t.Errorf("%q: match %v, want %v", c.text, got, c.match)
		}
	}
	for _, c := range []struct{ text, err string }{
		{"-p tcp 'unterminated", "unterminated quote"},
		{"tcp", `unexpected "tcp"`},
		{"--dport x", "want a port"},
		{"--nope", "unknown flag"},
	} {
		if _, err := ParseQuery(c.text); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want one saying %q", c.text, err, c.err)
		}
	}
}
