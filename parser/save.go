package parser

import (
	"strconv"

	"github.com/ctdiag/ctdiag/track"
)

// conntrack -o save prints each entry as the conntrack options that would
// make it again (conntrack.c ct_save_snprintf), for conntrack -R:
//
//	-A -t 49 -u SEEN_REPLY,ASSURED -w 5 -s 1.1.1.1 -d 2.2.2.3 -r 2.2.2.3 -q 1.1.1.1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED
//
// -A for a table entry and a NEW event, -U for UPDATE, -D for DESTROY. The
// status lists only EXPECTED, SEEN_REPLY, ASSURED and FIXED_TIMEOUT (UNSET
// when none); a translated reply address is written as -g (DNAT) or -n
// (SNAT). The mark is not written (conntrack does not).

// saveStatus are the bits conntrack writes, in its (bit) order.
var saveStatus = []struct {
	bit  track.Status
	name string
}{
	{track.StatusExpected, "EXPECTED"}, {track.StatusSeenReply, "SEEN_REPLY"},
	{track.StatusAssured, "ASSURED"}, {track.StatusFixedTimeout, "FIXED_TIMEOUT"},
}

// saveProtoNames are the protocols conntrack has an extension for; others
// are written by number.
var saveProtoNames = map[track.Proto]string{
	track.ProtoTCP: "tcp", track.ProtoUDP: "udp", track.ProtoUDPLite: "udplite",
	track.ProtoSCTP: "sctp", track.ProtoDCCP: "dccp", track.ProtoICMP: "icmp",
	track.ProtoICMPv6: "icmpv6", track.ProtoGRE: "gre",
}

// AppendSave appends f as a conntrack -o save line, with its newline. typ
// is the event kind (track.EventNew for a table entry).
func AppendSave(dst []byte, f *track.Flow, typ track.EventType) []byte {
	switch typ {
	case track.EventUpdate:
		dst = append(dst, "-U "...)
	case track.EventDestroy:
		dst = append(dst, "-D "...)
	default:
		dst = append(dst, "-A "...)
	}
	if f.Fields.Has(track.FieldTimeout) {
		dst = saveUint(dst, "-t", uint64(f.Timeout))
	}
	dst = append(dst, "-u "...)
	n := 0
	for _, s := range saveStatus {
		if f.Status&s.bit != 0 {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, s.name...)
			n++
		}
	}
	if n == 0 {
		dst = append(dst, "UNSET"...)
	}
	dst = append(dst, ' ')
	if f.Fields.Has(track.FieldSecmark) && f.Ext != nil {
		dst = saveUint(dst, "-c", uint64(f.Ext.Secmark))
	}
	if f.Zone != 0 {
		dst = saveUint(dst, "-w", uint64(f.Zone))
	}
	if f.Fields.Has(track.FieldZoneOrig) {
		dst = saveUint(dst, "--orig-zone", uint64(f.ZoneOrig))
	}
	if f.Fields.Has(track.FieldZoneReply) {
		dst = saveUint(dst, "--reply-zone", uint64(f.ZoneReply))
	}
	dst = saveAddr(dst, "-s", &f.Orig, true)
	dst = saveAddr(dst, "-d", &f.Orig, false)
	if f.Reply.Src != f.Orig.Dst {
		dst = saveAddr(dst, "-g", &f.Reply, true)
	} else {
		dst = saveAddr(dst, "-r", &f.Reply, true)
	}
	if f.Reply.Dst != f.Orig.Src {
		dst = saveAddr(dst, "-n", &f.Reply, false)
	} else {
		dst = saveAddr(dst, "-q", &f.Reply, false)
	}
	p := f.Orig.Proto
	name, known := saveProtoNames[p]
	if !known {
		dst = saveUint(dst, "-p", uint64(p))
		return saveEnd(dst)
	}
	dst = append(dst, "-p "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	if f.Fields.Has(track.FieldGeneric) {
		return saveEnd(dst)
	}
	switch {
	case p.HasPorts():
		dst = saveUint(dst, "--sport", uint64(f.Orig.SrcPort))
		dst = saveUint(dst, "--dport", uint64(f.Orig.DstPort))
		dst = saveUint(dst, "--reply-port-src", uint64(f.Reply.SrcPort))
		dst = saveUint(dst, "--reply-port-dst", uint64(f.Reply.DstPort))
		if f.HasState() {
			dst = append(dst, "--state "...)
			dst = append(dst, track.StateName(p, f.State)...)
			dst = append(dst, ' ')
		}
	case p.IsICMP():
		opt := "--icmp-"
		if p == track.ProtoICMPv6 {
			opt = "--icmpv6-"
		}
		dst = saveUint(dst, opt+"type", uint64(f.Orig.Type))
		dst = saveUint(dst, opt+"code", uint64(f.Orig.Code))
		dst = saveUint(dst, opt+"id", uint64(f.Orig.ID))
	case p == track.ProtoGRE:
		dst = saveUint(dst, "--srckey", uint64(f.Orig.SrcKey))
		dst = saveUint(dst, "--dstkey", uint64(f.Orig.DstKey))
		dst = saveUint(dst, "--reply-key-src", uint64(f.Reply.SrcKey))
		dst = saveUint(dst, "--reply-key-dst", uint64(f.Reply.DstKey))
	}
	return saveEnd(dst)
}

func saveUint(dst []byte, opt string, v uint64) []byte {
	dst = append(dst, opt...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, ' ')
}

func saveAddr(dst []byte, opt string, t *track.Tuple, src bool) []byte {
	dst = append(dst, opt...)
	dst = append(dst, ' ')
	a := t.Dst
	if src {
		a = t.Src
	}
	switch {
	case a.Is4():
		dst = appendIPv4(dst, a)
	case a.IsValid():
		dst = appendIPv6Compressed(dst, a)
	}
	return append(dst, ' ')
}

// saveEnd drops the last space, as conntrack trims trailing spaces.
func saveEnd(dst []byte) []byte {
	if n := len(dst); n > 0 && dst[n-1] == ' ' {
		dst = dst[:n-1]
	}
	return append(dst, '\n')
}
