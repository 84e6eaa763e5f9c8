package netlinkct

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/ctdiag/ctdiag/track"
)

// encodeEntry builds the attributes of a conntrack message the way the
// kernel lays them out (ctnetlink_fill_info), for unit tests and fuzz
// seeds. The kernel tests check the decoder against real messages.
func encodeEntry(t testing.TB, v6 bool, proto uint8, extra func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	srcT, dstT := uint16(1), uint16(2)
	if v6 {
		src, dst, srcT, dstT = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 3, 4
	}
	for i, dir := range [][2]netip.Addr{{src, dst}, {dst, src}} {
		ae.Nested(uint16(1+i)|0x8000, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(1|0x8000, func(ae *netlink.AttributeEncoder) error {
				ae.Bytes(srcT, dir[0].AsSlice())
				ae.Bytes(dstT, dir[1].AsSlice())
				return nil
			})
			ae.Nested(2|0x8000, func(ae *netlink.AttributeEncoder) error {
				ae.Uint8(1, proto)
				switch proto {
				case 6, 17, 47:
					ae.Uint16(2, uint16(40000+i))
					ae.Uint16(3, uint16(80-i))
				case 1:
					ae.Uint16(4, 7)
					ae.Uint8(5, uint8(8-8*i))
					ae.Uint8(6, 0)
				}
				return nil
			})
			return nil
		})
	}
	ae.Uint32(3, uint32(track.StatusSeenReply|track.StatusAssured|track.StatusConfirmed))
	if extra != nil {
		extra(ae)
	}
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFlowDecodesEveryPart(t *testing.T) {
	now := time.Unix(1_800_000_100, 0)
	b := encodeEntry(t, false, 6, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(ctaTimeout, 431999)
		ae.Nested(ctaProtoinfo|0x8000, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(ctaProtoinfoTCP|0x8000, func(ae *netlink.AttributeEncoder) error {
				ae.Uint8(ctaStateInfo, uint8(track.TCPEstablished))
				return nil
			})
			return nil
		})
		ae.Uint32(ctaMark, 16)
		for _, typ := range []uint16{ctaCountersOrig, ctaCountersReply} {
			ae.Nested(typ|0x8000, func(ae *netlink.AttributeEncoder) error {
				ae.Uint64(ctaCountersPackets, 6)
				ae.Uint64(ctaCountersBytes, 447)
				return nil
			})
		}
		ae.Uint32(ctaUse, 1)
		ae.Uint32(ctaID, 3723968034)
		ae.Uint16(ctaZone, 5)
		ae.Nested(ctaTimestamp|0x8000, func(ae *netlink.AttributeEncoder) error {
			ae.Uint64(ctaTimestampStart, uint64(now.Add(-4500*time.Millisecond).UnixNano()))
			return nil
		})
		ae.Nested(ctaHelp|0x8000, func(ae *netlink.AttributeEncoder) error {
			ae.String(ctaHelpName, "ftp")
			return nil
		})
		ae.Bytes(ctaLabels, []byte{0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
		ae.Uint32(99, 1) // an attribute of a future kernel
	})
	d := Decoder{Labels: []string{"", "lab-b"}}
	var f track.Flow
	if err := d.Flow(2, b, now, &f); err != nil {
		t.Fatal(err)
	}
	want := track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 40000, DstPort: 80}
	if f.Orig != want || f.Reply.DstPort != 79 || f.Timeout != 431999 || f.State != uint8(track.TCPEstablished) ||
		f.Mark != 16 || f.Zone != 5 || f.ID != 3723968034 || f.Use != 1 || f.OrigCounters.Bytes != 447 || f.DeltaTime != 4 ||
		!f.Status.Assured() || f.Ext.Helper != "ftp" || len(f.Ext.Labels) != 2 || f.Ext.Labels[0] != "lab-b" || f.Ext.Labels[1] != "3" {
		t.Errorf("%+v %+v", f, f.Ext)
	}
	for _, p := range []track.Fields{track.FieldTimeout, track.FieldState, track.FieldMark, track.FieldOrigCounters, track.FieldReplyCounters,
		track.FieldUse, track.FieldID, track.FieldZone, track.FieldDeltaTime, track.FieldHelper, track.FieldLabels} {
		if !f.Fields.Has(p) {
			t.Errorf("field %#x missing", p)
		}
	}
	if f.Fields.Has(track.FieldGeneric) || f.Fields.Has(track.FieldStart) {
		t.Error("unexpected parts")
	}
}

func TestFlowGenericICMPAndGRE(t *testing.T) {
	var f track.Flow
	d := Decoder{}
	// DCCP tracked by the generic tracker: no L4 attributes.
	if err := d.Flow(10, encodeEntry(t, true, 33, nil), time.Now(), &f); err != nil {
		t.Fatal(err)
	}
	if !f.Fields.Has(track.FieldGeneric) || f.Orig.Family != track.FamilyIPv6 || f.Fields.Has(track.FieldTimeout) {
		t.Errorf("generic: %+v", f)
	}
	if err := d.Flow(2, encodeEntry(t, false, 1, nil), time.Now(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Orig.Type != 8 || f.Reply.Type != 0 || f.Orig.ID != 7 || f.Fields.Has(track.FieldGeneric) {
		t.Errorf("icmp: %+v", f)
	}
	if err := d.Flow(2, encodeEntry(t, false, 47, nil), time.Now(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Orig.SrcKey != 40000 || f.Orig.DstKey != 80 || f.Orig.SrcPort != 0 {
		t.Errorf("gre keys: %+v", f.Orig)
	}
}

func TestFlowRejectsMalformed(t *testing.T) {
	good := encodeEntry(t, false, 6, nil)
	var f track.Flow
	d := Decoder{}
	for name, b := range map[string][]byte{
		"truncated":    good[:len(good)-3],
		"no tuple":     {8, 0, 3, 0, 0, 0, 0, 1},
		"bad length":   {200, 0, 1, 0x80, 0, 0, 0, 0},
		"short header": {1, 0},
	} {
		if err := d.Flow(2, b, time.Now(), &f); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckRefusesWrites(t *testing.T) {
	for _, r := range []Request{DumpTable(DumpFilter{}), DumpTable(DumpFilter{Family: 10, HasMark: true, HasStatus: true, HasZone: true}),
		DumpStatsCPU(), DumpExpectStatsCPU(), GetGlobalStats(), DumpExpectations()} {
		if err := Check(r.Type(), r.Flags); err != nil {
			t.Errorf("%+v refused: %v", r, err)
		}
	}
	writes := []struct {
		subsys, msg uint8
		flags       uint16
	}{
		{SubsysConntrack, MsgNew, FlagRequest | FlagCreate | FlagExcl | FlagAck},
		{SubsysConntrack, MsgNew, FlagRequest | FlagAck}, // an update
		{SubsysConntrack, MsgDelete, FlagRequest | FlagAck},
		{SubsysConntrack, MsgGetCtrZero, FlagRequest | FlagDump},
		{SubsysExpect, MsgExpNew, FlagRequest | FlagCreate},
		{SubsysExpect, MsgExpDelete, FlagRequest},
		{SubsysConntrack, MsgGet, FlagRequest | FlagCreate},
		{SubsysConntrack, MsgGet, FlagDump}, // not a request
		{8, 0, FlagRequest},                 // cttimeout
		{10, 6, FlagRequest},                // nftables
	}
	for _, w := range writes {
		if err := Check(uint16(w.subsys)<<8|uint16(w.msg), w.flags); !errors.Is(err, ErrWrite) {
			t.Errorf("subsys %d msg %d flags %#x: %v", w.subsys, w.msg, w.flags, err)
		}
	}
}

func TestWalkSplitsDatagrams(t *testing.T) {
	msg := func(typ, flags uint16, seq uint32, body []byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(16+len(body)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = binary.NativeEndian.AppendUint16(b, flags)
		b = binary.NativeEndian.AppendUint32(b, seq)
		b = binary.NativeEndian.AppendUint32(b, 0)
		b = append(b, body...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	entry := append([]byte{2, 0, 0, 1}, encodeEntry(t, false, 17, nil)...)
	var dg []byte
	dg = append(dg, msg(1<<8, FlagMulti, 7, entry)...)
	dg = append(dg, msg(typeNoop, 0, 7, nil)...)
	dg = append(dg, msg(1<<8, FlagMulti, 7, entry)...)
	dg = append(dg, msg(typeDone, FlagMulti, 7, []byte{0, 0, 0, 0})...)
	var n, done int
	err := Walk(dg, func(m *Message) error {
		if m.Done() {
			done++
			return nil
		}
		n++
		if m.Family != 2 || m.ResID != 1 || m.Seq != 7 || m.Subsys() != SubsysConntrack || m.Msg() != MsgNew {
			t.Errorf("%+v", m)
		}
		return nil
	})
	if err != nil || n != 2 || done != 1 {
		t.Fatalf("%d messages, %d done, %v", n, done, err)
	}
	minusEPERM := int32(-1)
	errMsg := msg(typeError, 0, 7, binary.NativeEndian.AppendUint32(nil, uint32(minusEPERM)))
	var e *Errno
	if err := Walk(errMsg, func(*Message) error { return nil }); !errors.As(err, &e) || e.Err != 1 {
		t.Errorf("error message: %v", err)
	}
	if err := Walk(dg[:20], func(*Message) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut datagram: %v", err)
	}
}

func TestCPUStatsMapsEveryAttribute(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	for a := uint16(1); a <= 16; a++ {
		ae.Uint32(a, uint32(a*10))
	}
	b, _ := ae.Encode()
	st, unknown, err := CPUStats(&Message{ResID: 3, Attrs: b}, false)
	if err != nil || st.CPU != 3 || len(unknown) != 1 || unknown[0] != 16 {
		t.Fatalf("%+v %v %v", st, unknown, err)
	}
	for a, c := range cpuStatsAttr {
		if a == 0 {
			continue
		}
		if v, ok := st.Get(c); !ok || v != uint64(a*10) {
			t.Errorf("%s = %d %v", c, v, ok)
		}
	}
	ex, _, _ := CPUStats(&Message{Attrs: b}, true)
	if v, _ := ex.Get(track.CounterExpectDelete); v != 30 || ex.Present.Has(track.CounterFound) {
		t.Errorf("expect stats %+v", ex)
	}
}

// FuzzFlow: no input makes the decoder panic; what decodes has a valid
// original tuple.
func FuzzFlow(f *testing.F) {
	for _, p := range []uint8{6, 17, 1, 47, 33} {
		f.Add(uint8(2), encodeEntry(f, false, p, nil))
		f.Add(uint8(10), encodeEntry(f, true, p, nil))
	}
	d := Decoder{Labels: []string{"a"}}
	f.Fuzz(func(t *testing.T, family uint8, b []byte) {
		var fl track.Flow
		if err := d.Flow(family, b, time.Unix(1e9, 0), &fl); err == nil && !fl.Orig.IsValid() {
			t.Fatalf("decoded an invalid tuple: %+v", fl.Orig)
		}
		_ = Walk(b, func(m *Message) error {
			var ev track.Event
			_, _ = d.Event(m, time.Unix(1e9, 0), &ev)
			_, _, _ = CPUStats(m, false)
			_, _, _, _ = GlobalStats(m)
			return nil
		})
	})
}

// TestDumpTableTupleFilter: a tuple filter is CTA_FILTER with the flags
// of the fields it names, beside the tuples laid out as the kernel dumps
// them; ports go only with a protocol.
func TestDumpTableTupleFilter(t *testing.T) {
	f := DumpFilter{Family: afINet}
	f.Orig = TupleFilter{Dst: netip.MustParseAddr("192.0.2.1"), Proto: 17, HasProto: true, DstPort: 53, HasDstPort: true}
	f.Reply = TupleFilter{SrcPort: 9, HasSrcPort: true} // no protocol: no port
	if f.Reply.IsEmpty() != true || f.IsEmpty() {
		t.Fatalf("IsEmpty: reply %v, filter %v", f.Reply.IsEmpty(), f.IsEmpty())
	}
	r := DumpTable(f)
	ad, err := netlink.NewAttributeDecoder(r.Attrs)
	if err != nil {
		t.Fatal(err)
	}
	var flags uint32
	var dst []byte
	var proto uint8
	var port uint16
	tuples := 0
	for ad.Next() {
		switch ad.Type() {
		case ctaFilter:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					if nd.Type() == ctaFilterOrigFlags {
						flags = nd.Uint32()
					} else {
						t.Errorf("filter attribute %d", nd.Type())
					}
				}
				return nil
			})
		case ctaTupleOrig:
			tuples++
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					switch nd.Type() {
					case ctaTupleIP:
						nd.Nested(func(id *netlink.AttributeDecoder) error {
							for id.Next() {
								if id.Type() == ctaIPv4Dst {
									dst = id.Bytes()
								} else {
									t.Errorf("address attribute %d", id.Type())
								}
							}
							return nil
						})
					case ctaTupleProto:
						nd.Nested(func(pd *netlink.AttributeDecoder) error {
							for pd.Next() {
								switch pd.Type() {
								case ctaProtoNum:
									proto = pd.Uint8()
								case ctaProtoDstPort:
									port = binary.BigEndian.Uint16(pd.Bytes())
								default:
									t.Errorf("protocol attribute %d", pd.Type())
								}
							}
							return nil
						})
					}
				}
				return nil
			})
		default:
			t.Errorf("unexpected attribute %d", ad.Type())
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	if flags != filterIPDst|filterProto|filterDstPort || tuples != 1 || netip.AddrFrom4([4]byte(dst)) != f.Orig.Dst || proto != 17 || port != 53 {
		t.Errorf("flags %#x, %d tuples, dst %v, proto %d, port %d", flags, tuples, dst, proto, port)
	}
	if r.Family != afINet {
		t.Errorf("family %d", r.Family)
	}
	// Without a family, one dump per family; without a tuple filter, one.
	f.Family = 0
	if parts := f.PerFamily(); len(parts) != 2 || parts[0].Family != afINet || parts[1].Family != afINet6 {
		t.Errorf("PerFamily: %+v", parts)
	}
	if parts := (DumpFilter{HasMark: true}).PerFamily(); len(parts) != 1 || parts[0].Family != 0 {
		t.Errorf("PerFamily without tuples: %+v", parts)
	}
}
