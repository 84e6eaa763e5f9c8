package collector

import (
	"net/netip"
	"testing"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/filter"
)

// TestDumpFilterTuples: what of a ctdiag list filter goes to the kernel.
// Exact IPv4 hosts, the protocol, and TCP/UDP ports do; prefixes, IPv6
// addresses (the kernel compares them inverted) and ports of other
// protocols stay in ctdiag.
func TestDumpFilterTuples(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		family      uint8
		orig, reply netlinkct.TupleFilter
	}{
		{[]string{"-p", "tcp", "--dport", "443", "--sport", "5"}, 0,
			netlinkct.TupleFilter{Proto: 6, HasProto: true, SrcPort: 5, HasSrcPort: true, DstPort: 443, HasDstPort: true}, netlinkct.TupleFilter{}},
		{[]string{"-s", "10.1.2.3", "-d", "10.0.0.0/8"}, 2,
			netlinkct.TupleFilter{Src: netip.MustParseAddr("10.1.2.3")}, netlinkct.TupleFilter{}},
		{[]string{"-d", "fd00::1", "-p", "udp"}, 10,
			netlinkct.TupleFilter{Proto: 17, HasProto: true}, netlinkct.TupleFilter{}},
		{[]string{"-p", "sctp", "--dport", "9"}, 0,
			netlinkct.TupleFilter{Proto: 132, HasProto: true}, netlinkct.TupleFilter{}},
		{[]string{"-p", "udp", "--reply-port-src", "53", "--reply-dst", "192.0.2.1"}, 2,
			netlinkct.TupleFilter{Proto: 17, HasProto: true},
			netlinkct.TupleFilter{Dst: netip.MustParseAddr("192.0.2.1"), Proto: 17, HasProto: true, SrcPort: 53, HasSrcPort: true}},
		{[]string{"--state", "ESTABLISHED"}, 0, netlinkct.TupleFilter{}, netlinkct.TupleFilter{}},
	} {
		flt, err := filter.Parse(tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		k := KernelFilter(flt)
		if k.Family != tc.family || k.Orig != tc.orig || k.Reply != tc.reply {
			t.Errorf("%v:\n got  family %d orig %+v reply %+v\n want family %d orig %+v reply %+v",
				tc.args, k.Family, k.Orig, k.Reply, tc.family, tc.orig, tc.reply)
		}
	}
}
