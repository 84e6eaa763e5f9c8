package filter

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// strtoul reads s as C's strtoul(s, &end, 0) with nothing left after the
// number, the way conntrack reads marks and zones: leading white space, an
// optional sign (a minus negates modulo 2^64, as C does), then 0x hex,
// 0 octal or decimal. ok is false without digits, with anything after them,
// or when the value does not fit 64 bits (strtoul's ERANGE).
func strtoul(s string) (v uint64, ok bool) {
	v, rest, overflow, digits := strtoulPrefix(s)
	return v, digits && rest == "" && !overflow
}

// strtoulPrefix is strtoul without the end check: it returns the value, what
// follows the number, whether it overflowed (the value is then MaxUint64)
// and whether any digit was read (if not, rest is s).
func strtoulPrefix(s string) (v uint64, rest string, overflow, digits bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && hexDigit(s[i+2]) >= 0:
		base, i = 16, i+2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	for ; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			overflow = true
		}
		v = v*base + uint64(d)
	}
	if i == start {
		return 0, s, false, false
	}
	if overflow {
		return math.MaxUint64, s[i:], true, true
	}
	if neg {
		v = -v
	}
	return v, s[i:], false, true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseMark parses VALUE[/MASK] as conntrack's parse_u32_mask does: the
// value with strtoul and at most 32 bits; the mask with strtoul as well,
// but conntrack checks the value's range there again, so an empty mask is 0
// and a wider one keeps its low 32 bits.
func parseMark(s string) (value, mask uint32, err error) {
	errWant := errors.New("want VALUE[/MASK]: numbers up to 0xffffffff (decimal, 0x hex or 0 octal)")
	v, m, hasMask := strings.Cut(s, "/")
	vv, ok := strtoul(v)
	if !ok || vv > math.MaxUint32 {
		return 0, 0, errWant
	}
	mask = math.MaxUint32
	if hasMask {
		mm, rest, _, _ := strtoulPrefix(m)
		if rest != "" && m != "" {
			return 0, 0, errWant
		}
		mask = uint32(mm)
	}
	return uint32(vv), mask, nil
}

// conntrackStatusWords are the status names conntrack's -u knows, in the
// order it tries them (conntrack.c parse_array).
var conntrackStatusWords = []struct {
	name string
	bit  track.Status
}{
	{"ASSURED", track.StatusAssured},
	{"SEEN_REPLY", track.StatusSeenReply},
	{"UNSET", 0},
	{"FIXED_TIMEOUT", track.StatusFixedTimeout},
	{"EXPECTED", track.StatusExpected},
	{"OFFLOAD", track.StatusOffload},
	{"HW_OFFLOAD", track.StatusHWOffload},
}

// ParseStatusWord reads one status word of -u (without "!"): any kernel
// status bit by its full name (ASSURED, SEEN_REPLY, FIXED_TIMEOUT,
// EXPECTED, OFFLOAD, HW_OFFLOAD, SRC_NAT, DYING, ..., with or without
// IPS_), UNSET for no bit, or an abbreviation as conntrack takes it: the
// first of its names the word starts (case-insensitively). conntrack
// silently ignores words that abbreviate SRC_NAT or DST_NAT (it warns "use
// --src-nat"); ctdiag refuses those abbreviations and filters on the
// spelled-out SRC_NAT and DST_NAT bits.
func ParseStatusWord(word string) (track.Status, error) {
	if word == "" {
		return 0, errors.New("an empty status word")
	}
	upper := strings.ToUpper(word)
	if upper == "UNSET" {
		return 0, nil
	}
	if bit, ok := track.ParseStatusBit(upper); ok {
		return bit, nil
	}
	for _, ignored := range []string{"SRC_NAT", "DST_NAT"} {
		if strings.HasPrefix(ignored, upper) {
			return 0, fmt.Errorf("conntrack ignores %q (an abbreviation of %s); spell the bit out, or use --%s", word, ignored, strings.ToLower(strings.ReplaceAll(ignored, "_", "-")))
		}
	}
	for _, w := range conntrackStatusWords {
		if strings.HasPrefix(w.name, upper) {
			return w.bit, nil
		}
	}
	return 0, errors.New("not a status bit (ASSURED, SEEN_REPLY, UNREPLIED, FIXED_TIMEOUT, EXPECTED, OFFLOAD, HW_OFFLOAD, UNSET, or any kernel IPS_ name)")
}

// EventMask is a set of event kinds (conntrack -E -e).
type EventMask uint8

// AllEvents is every kind.
const AllEvents = EventMask(1<<track.EventNew | 1<<track.EventUpdate | 1<<track.EventDestroy)

// Has reports whether events of kind t are in the mask.
func (m EventMask) Has(t track.EventType) bool { return m&(1<<t) != 0 }

// String lists the kinds as conntrack names them.
func (m EventMask) String() string {
	var out []string
	for _, t := range []track.EventType{track.EventNew, track.EventUpdate, track.EventDestroy} {
		if m.Has(t) {
			out = append(out, t.String())
		}
	}
	return strings.Join(out, ",")
}

// ParseEventMask reads -e's comma list as conntrack does: ALL, NEW,
// UPDATES (UPDATE) and DESTROY, each word a case-insensitive abbreviation
// of the first name it starts.
func ParseEventMask(s string) (EventMask, error) {
	names := []struct {
		name string
		mask EventMask
	}{
		{"ALL", AllEvents}, {"NEW", 1 << track.EventNew},
		{"UPDATES", 1 << track.EventUpdate}, {"DESTROY", 1 << track.EventDestroy},
	}
	var m EventMask
	for _, word := range strings.Split(s, ",") {
		upper := strings.ToUpper(word)
		if upper == "" {
			return 0, fmt.Errorf("%w: -e %q: an empty event name", ErrBadFilter, s)
		}
		if strings.HasPrefix("SRC_NAT", upper) || strings.HasPrefix("DST_NAT", upper) {
			return 0, fmt.Errorf("%w: -e %q: conntrack ignores %q; spell the event kind out (NEW, UPDATE, DESTROY, ALL)", ErrBadFilter, s, word)
		}
		found := false
		for _, n := range names {
			if strings.HasPrefix(n.name, upper) {
				m |= n.mask
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%w: -e %q: %q is not an event kind (NEW, UPDATE, DESTROY, ALL)", ErrBadFilter, s, word)
		}
	}
	return m, nil
}
