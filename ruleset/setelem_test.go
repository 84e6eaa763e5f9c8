package ruleset

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// Interval sets list each range as its start and, flagged, the first key
// after it; the gap before the first range may be listed as an end too.
func TestElemRanges(t *testing.T) {
	k := func(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
	es := []setElem{{key: k(0), end: true}, {key: k(3001), end: true}, {key: k(3000)}, {key: k(2001), end: true}, {key: k(1000)}, {key: k(65000)}}
	var r track.Rule
	if !applyLookup(&r, setLookup{field: fieldDPort}, es) {
		t.Fatal("not applied")
	}
	if got := fmt.Sprint(r.Match.DPorts); got != "[1000-2000 3000 65000-65535]" {
		t.Errorf("ranges %s", got)
	}
	if applyLookup(&r, setLookup{field: fieldSaddr, l3: track.FamilyIPv4}, es) {
		t.Error("2-byte keys taken for IPv4 addresses")
	}
}

func TestRangePrefixes(t *testing.T) {
	for _, c := range []struct{ lo, hi, want string }{
		{"10.0.0.0", "10.255.255.255", "[10.0.0.0/8]"},
		{"172.16.0.0", "172.16.0.5", "[172.16.0.0/30 172.16.0.4/31]"},
		{"192.168.1.1", "192.168.1.1", "[192.168.1.1/32]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"fd00::", "fd00::ffff:ffff:ffff:ffff", "[fd00::/64]"},
	} {
		if got := fmt.Sprint(rangePrefixes(netip.MustParseAddr(c.lo), netip.MustParseAddr(c.hi))); got != c.want {
			t.Errorf("%s-%s: %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
}
