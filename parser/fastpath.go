package parser

import (
	"net/netip"

	"github.com/ctdiag/ctdiag/track"
)

// fastFlow parses the common shape of an entry line in one pass, each byte
// looked at once, values parsed where they stand:
//
//	[ipv4 2|ipv6 10] NAME NUM [TIMEOUT] [STATE] src= dst= [L4 keys]
//	[packets= bytes=] [[UNREPLIED]] src= dst= [L4 keys] [packets= bytes=]
//	[[ASSURED]] [mark=] [secmark=] [zone=] [delta-time=] [use=] [id=]
//
// It returns false for anything else (other optional fields, generic
// "unknown" entries of named protocols, any error), and parseFlow then runs
// the general parser, which also owns the error messages. FuzzFastPath
// checks that whenever fastFlow accepts a line, the general parser accepts
// it with the same result.
func fastFlow(b []byte, f *track.Flow) bool {
	*f = track.Flow{}
	i := 0
	var fam track.Family
	switch {
	case hasPrefixAt(b, 0, "ipv4 "):
		i = skipSpaces(b, 5)
		if !hasPrefixAt(b, i, "2 ") {
			return false
		}
		fam, i = track.FamilyIPv4, i+2
	case hasPrefixAt(b, 0, "ipv6 "):
		i = skipSpaces(b, 5)
		if !hasPrefixAt(b, i, "10 ") {
			return false
		}
		fam, i = track.FamilyIPv6, i+3
	}
	i = skipSpaces(b, i)
	nameStart := i
	for i < len(b) && b[i] != ' ' {
		i++
	}
	name := b[nameStart:i]
	i = skipSpaces(b, i)
	pn, i, ok := scanUint(b, i, 255)
	if !ok {
		return false
	}
	proto := track.Proto(pn)
	// GRE and generic ("unknown") entries are rare: the general parser.
	if string(name) != proto.Name() || proto == track.ProtoGRE || name[0] == 'u' && proto != track.ProtoUDP && proto != track.ProtoUDPLite {
		return false
	}
	f.Orig.Family, f.Orig.Proto = fam, proto
	f.Reply.Family, f.Reply.Proto = fam, proto

	// Timeout and state.
	i++
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		var v uint64
		if v, i, ok = scanUint(b, i, 1<<32-1); !ok {
			return false
		}
		f.Timeout = uint32(v)
		f.Fields |= track.FieldTimeout
		i++
	}
	if i < len(b) && b[i] >= 'A' && b[i] <= 'Z' {
		start := i
		for i < len(b) && b[i] != ' ' {
			i++
		}
		s, ok := track.ParseStateName(proto, string(b[start:i]))
		if !ok || !track.ProtoHasState(proto) {
			return false
		}
		f.State = s
		f.Fields |= track.FieldState
		i++
	}

	status := track.StatusSeenReply | track.StatusConfirmed
	var origText tupleText
	if i, ok = fastTuple(b, i, &f.Orig, &origText); !ok {
		return false
	}
	if hasPrefixAt(b, i, "packets=") {
		if i, ok = fastCounters(b, i, &f.OrigCounters); !ok {
			return false
		}
		f.Fields |= track.FieldOrigCounters
	}
	if hasPrefixAt(b, i, "[UNREPLIED] ") {
		status &^= track.StatusSeenReply
		i += len("[UNREPLIED] ")
	}
	if j, ok := fastMirror(b, i, &f.Orig, &origText, &f.Reply); ok {
		i = j
	} else if i, ok = fastTuple(b, i, &f.Reply, nil); !ok {
		return false
	}
	if hasPrefixAt(b, i, "packets=") {
		if i, ok = fastCounters(b, i, &f.ReplyCounters); !ok {
			return false
		}
		f.Fields |= track.FieldReplyCounters
	}
	if hasPrefixAt(b, i, "[ASSURED]") {
		status |= track.StatusAssured
		i += len("[ASSURED]")
		if i < len(b) {
			if b[i] != ' ' {
				return false
			}
			i++
		}
	}
	// The trailing numeric fields, each optional, in order.
	for k := range numericTails {
		t := &numericTails[k]
		// The first letter tells the keys apart before any comparison.
		if i >= len(b) || b[i] != t.key[0] || !hasPrefixAt(b, i, t.key) {
			continue
		}
		var v uint64
		if v, i, ok = scanUint(b, i+len(t.key), t.max); !ok {
			return false
		}
		t.set(f, v)
		if i < len(b) {
			i++ // the space
		}
	}
	if i != len(b) || len(b) > 0 && b[len(b)-1] == ' ' || f.Orig.Family != f.Reply.Family {
		return false
	}
	f.Status = status
	return true
}

// fastMirror accepts the reply tuple at b[i] when its text is the original
// tuple's with the ends swapped, as in every entry without NAT: comparing
// bytes already parsed once is cheaper than parsing them again. Anything
// else (NAT, ICMP, protocols without ports) is left to fastTuple.
func fastMirror(b []byte, i int, orig *track.Tuple, text *tupleText, r *track.Tuple) (int, bool) {
	if !orig.Proto.HasPorts() {
		return i, false
	}
	ok := false
	if i, ok = textAt(b, i, "src=", text.dst); !ok {
		return i, false
	}
	if i, ok = textAt(b, i, " dst=", text.src); !ok {
		return i, false
	}
	if i, ok = textAt(b, i, " sport=", text.dport); !ok {
		return i, false
	}
	if i, ok = textAt(b, i, " dport=", text.sport); !ok {
		return i, false
	}
	if i >= len(b) || b[i] != ' ' {
		return i, false
	}
	*r = track.Tuple{Family: orig.Family, Proto: orig.Proto, Src: orig.Dst, Dst: orig.Src, SrcPort: orig.DstPort, DstPort: orig.SrcPort}
	return i + 1, true
}

// textAt matches key and then the text b[span[0]:span[1]] at b[i].
func textAt(b []byte, i int, key string, span [2]int) (int, bool) {
	if !hasPrefixAt(b, i, key) {
		return i, false
	}
	i += len(key)
	n := span[1] - span[0]
	if n < 0 || len(b)-i < n {
		return i, false
	}
	if string(b[i:i+n]) != string(b[span[0]:span[1]]) {
		return i, false
	}
	return i + n, true
}

// tupleText is where a tuple's addresses and ports stand in its line.
type tupleText struct{ src, dst, sport, dport [2]int }

// fastTuple parses "src=A dst=A " and the protocol's keys, each followed by
// a space; it returns the index after the last space. When text is not nil
// it records where the values stood.
func fastTuple(b []byte, i int, t *track.Tuple, text *tupleText) (int, bool) {
	var ok bool
	if !hasPrefixAt(b, i, "src=") {
		return i, false
	}
	start := i + 4
	if t.Src, i, ok = scanAddr(b, start, t.Family); !ok {
		return i, false
	}
	if text != nil {
		text.src = [2]int{start, i}
	}
	if t.Family == 0 {
		t.Family = track.FamilyIPv4
		if t.Src.Is6() {
			t.Family = track.FamilyIPv6
		}
	}
	if !hasPrefixAt(b, i, " dst=") {
		return i, false
	}
	start = i + 5
	if t.Dst, i, ok = scanAddr(b, start, t.Family); !ok {
		return i, false
	}
	if text != nil {
		text.dst = [2]int{start, i}
	}
	if i >= len(b) {
		return i, false
	}
	i++
	var v uint64
	switch {
	case t.Proto.HasPorts():
		if !hasPrefixAt(b, i, "sport=") {
			return i, false
		}
		start = i + 6
		if v, i, ok = scanUint(b, start, 65535); !ok || !hasPrefixAt(b, i, " dport=") {
			return i, false
		}
		t.SrcPort = uint16(v)
		if text != nil {
			text.sport = [2]int{start, i}
		}
		start = i + 7
		if v, i, ok = scanUint(b, start, 65535); !ok {
			return i, false
		}
		t.DstPort = uint16(v)
		if text != nil {
			text.dport = [2]int{start, i}
		}
	case t.Proto.IsICMP():
		if !hasPrefixAt(b, i, "type=") {
			return i, false
		}
		if v, i, ok = scanUint(b, i+5, 255); !ok || !hasPrefixAt(b, i, " code=") {
			return i, false
		}
		t.Type = uint8(v)
		if v, i, ok = scanUint(b, i+6, 255); !ok || !hasPrefixAt(b, i, " id=") {
			return i, false
		}
		t.Code = uint8(v)
		if v, i, ok = scanUint(b, i+4, 65535); !ok {
			return i, false
		}
		t.ID = uint16(v)
	default:
		return i - 1, true
	}
	if i >= len(b) || b[i] != ' ' {
		return i, false
	}
	return i + 1, true
}

// fastCounters parses "packets=N bytes=N ".
func fastCounters(b []byte, i int, c *track.Counters) (int, bool) {
	v, i, ok := scanUint(b, i+len("packets="), 1<<64-1)
	if !ok || !hasPrefixAt(b, i, " bytes=") {
		return i, false
	}
	c.Packets = v
	if v, i, ok = scanUint(b, i+len(" bytes="), 1<<64-1); !ok || i >= len(b) || b[i] != ' ' {
		return i, false
	}
	c.Bytes = v
	return i + 1, true
}

// scanAddr parses the address starting at b[i], up to a space or the end;
// it must be of family fam when fam is set.
func scanAddr(b []byte, i int, fam track.Family) (netip.Addr, int, bool) {
	if fam != track.FamilyIPv6 {
		if a, j, ok := scanIPv4(b, i); ok || fam == track.FamilyIPv4 {
			return a, j, ok
		}
		return scanAddr(b, i, track.FamilyIPv6) // an unknown family: maybe IPv6
	}
	j := i
	for j < len(b) && b[j] != ' ' {
		j++
	}
	a, ok := parseIPv6(b[i:j])
	if !ok || a.Is4() {
		return netip.Addr{}, j, false
	}
	return a, j, true
}

// scanIPv4 parses a dotted quad in place, octet by octet: up to three
// digits each, no leading zero, then a dot, or a space or the end after the
// fourth.
func scanIPv4(b []byte, i int) (netip.Addr, int, bool) {
	var out [4]byte
	j := i
	for part := range 4 {
		if part > 0 {
			if j >= len(b) || b[j] != '.' {
				return netip.Addr{}, j, false
			}
			j++
		}
		if j >= len(b) || b[j]-'0' > 9 {
			return netip.Addr{}, j, false
		}
		v := uint(b[j] - '0')
		j++
		if v != 0 { // a leading zero stands alone
			for k := 0; k < 2 && j < len(b) && b[j]-'0' <= 9; k++ {
				v = v*10 + uint(b[j]-'0')
				j++
			}
			if v > 255 {
				return netip.Addr{}, j, false
			}
		}
		out[part] = byte(v)
	}
	if j < len(b) && b[j] != ' ' {
		return netip.Addr{}, j, false
	}
	return netip.AddrFrom4(out), j, true
}

// scanUint parses digits at b[i] up to a space or the end of b. Nineteen
// digits never overflow a uint64; only a twentieth needs the careful check.
func scanUint(b []byte, i int, max uint64) (uint64, int, bool) {
	start := i
	var v uint64
	for ; i < len(b) && b[i] != ' '; i++ {
		d := b[i] - '0'
		if d > 9 {
			return 0, i, false
		}
		if i-start == 19 && v > (1<<64-1-uint64(d))/10 {
			return 0, i, false
		}
		v = v*10 + uint64(d)
	}
	n := i - start
	return v, i, n > 0 && n <= 20 && v <= max
}

func hasPrefixAt(b []byte, i int, p string) bool {
	return i >= 0 && len(b)-i >= len(p) && string(b[i:i+len(p)]) == p
}

func skipSpaces(b []byte, i int) int {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}
