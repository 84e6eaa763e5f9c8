package netlinkct

import (
	"os"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelDecoderAgreesWithTiMo decodes a real dump twice, with this
// package and with ti-mo/conntrack (the oracle for what both understand),
// and requires the same tuples, status (all bits, HW_OFFLOAD's included),
// timeout, state, mark, zone, id, use, counters and timestamps.
func TestKernelDecoderAgreesWithTiMo(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping")
	ns := netnstest.NewNS(t)
	for _, s := range []string{"net.netfilter.nf_conntrack_acct=1", "net.netfilter.nf_conntrack_timestamp=1"} {
		ns.MustOutput(t, "sysctl", "-q", "-w", s)
	}
	for _, args := range [][]string{
		{"-p", "tcp", "-s", "192.0.2.1", "-d", "192.0.2.2", "--sport", "1", "--dport", "2", "--state", "ESTABLISHED", "-t", "300", "-u", "SEEN_REPLY,ASSURED", "-m", "5"},
		{"-p", "udp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "53", "--dport", "5353", "-t", "300", "-w", "7"},
		{"-p", "icmp", "-s", "192.0.2.1", "-d", "192.0.2.2", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "99", "-t", "30"},
	} {
		ns.MustOutput(t, "conntrack", append([]string{"-I"}, args...)...)
	}
	ns.MustOutput(t, "ping", "-c1", "-W1", "127.0.0.1")
	ns.MustOutput(t, "ping", "-6", "-c1", "-W1", "::1")

	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := DumpTable(DumpFilter{})
	if _, err := c.Send(netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(r.Type()), Flags: netlink.HeaderFlags(r.Flags)}, Data: r.Payload()}); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Receive()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := Decoder{}
	n := 0
	for _, m := range msgs {
		if m.Header.Type == netlink.Done {
			continue
		}
		var ours track.Flow
		var walked bool
		raw, _ := m.MarshalBinary()
		if err := Walk(raw, func(msg *Message) error {
			walked = true
			return d.Flow(msg.Family, msg.Attrs, now, &ours)
		}); err != nil || !walked {
			t.Fatalf("our decoder: %v", err)
		}
		var ev conntrack.Event
		if err := ev.Unmarshal(m); err != nil {
			t.Fatalf("ti-mo: %v", err)
		}
		compareWithTiMo(t, &ours, ev.Flow, now)
		n++
	}
	if n != 5 {
		t.Fatalf("%d entries compared, want 5", n)
	}
}

func compareWithTiMo(t *testing.T, ours *track.Flow, theirs *conntrack.Flow, now time.Time) {
	t.Helper()
	tuple := func(a track.Tuple, b conntrack.Tuple) bool {
		ok := a.Src == b.IP.SourceAddress && a.Dst == b.IP.DestinationAddress && uint8(a.Proto) == b.Proto.Protocol
		if a.Proto.IsICMP() {
			return ok && a.Type == b.Proto.ICMPType && a.Code == b.Proto.ICMPCode && a.ID == b.Proto.ICMPID
		}
		return ok && a.SrcPort == b.Proto.SourcePort && a.DstPort == b.Proto.DestinationPort
	}
	if !tuple(ours.Orig, theirs.TupleOrig) || !tuple(ours.Reply, theirs.TupleReply) {
		t.Errorf("tuples: ours %v / %v, ti-mo %v / %v", ours.Orig, ours.Reply, theirs.TupleOrig, theirs.TupleReply)
	}
	if uint32(ours.Status) != uint32(theirs.Status) || ours.Timeout != theirs.Timeout || ours.Mark != theirs.Mark ||
		ours.Zone != theirs.Zone || ours.ID != theirs.ID || ours.Use != theirs.Use {
		t.Errorf("ours %+v\nti-mo %+v", *ours, *theirs)
	}
	if ours.Orig.Proto == track.ProtoTCP && (!ours.Fields.Has(track.FieldState) || ours.State != theirs.ProtoInfo.TCP.State) {
		t.Errorf("TCP state %d, ti-mo %d", ours.State, theirs.ProtoInfo.TCP.State)
	}
	if ours.OrigCounters.Packets != theirs.CountersOrig.Packets || ours.ReplyCounters.Bytes != theirs.CountersReply.Bytes ||
		ours.Fields.Has(track.FieldOrigCounters) != (theirs.CountersOrig.Packets+theirs.CountersOrig.Bytes > 0 || ours.Fields.Has(track.FieldOrigCounters)) {
		t.Errorf("counters %+v %+v, ti-mo %+v %+v", ours.OrigCounters, ours.ReplyCounters, theirs.CountersOrig, theirs.CountersReply)
	}
	if start := theirs.Timestamp.Start; !start.IsZero() {
		want := uint64(now.Sub(start) / time.Second)
		if !ours.Fields.Has(track.FieldDeltaTime) || ours.DeltaTime != want {
			t.Errorf("delta-time %d, from ti-mo's start %d", ours.DeltaTime, want)
		}
	} else if ours.Fields.Has(track.FieldDeltaTime) {
		t.Error("delta-time without a start timestamp")
	}
}
