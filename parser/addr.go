package parser

import (
	"net/netip"
	"strconv"
)

// Address parsing and printing without allocation. netip.ParseAddr needs a
// string (a copy per field) and netip's IPv6 String differs from glibc's
// inet_ntop for IPv4-compatible addresses, which conntrack -L prints; these
// helpers match the kernel's %pI4/%pI6 and glibc's inet_ntop exactly.

// parseAddr parses a dotted quad or any IPv6 text form (no zone).
func parseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		if c == ':' {
			return parseIPv6(b)
		}
		if c == '.' {
			break
		}
	}
	return parseIPv4(b)
}

func parseIPv4(b []byte) (netip.Addr, bool) {
	var out [4]byte
	part, digits, v := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			// A leading zero would be octal to inet_aton; the kernel never prints one.
			if digits == 1 && v == 0 {
				return netip.Addr{}, false
			}
			v = v*10 + int(c-'0')
			digits++
			if v > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && part < 3:
			out[part] = byte(v)
			part, digits, v = part+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	out[3] = byte(v)
	return netip.AddrFrom4(out), true
}

func hexVal(c byte) (uint16, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint16(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint16(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint16(c-'A') + 10, true
	}
	return 0, false
}

// parseIPv6 parses RFC 4291 text: up to 8 groups of 1-4 hex digits, at most
// one "::", optionally ending in a dotted quad.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var groups [8]uint16
	n := 0         // groups written
	ellipsis := -1 // group index where "::" stands
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		i = 2
		if len(b) == 2 {
			return netip.AddrFrom16([16]byte{}), true
		}
	}
	for i < len(b) {
		if n == 8 {
			return netip.Addr{}, false
		}
		// Trailing embedded IPv4 ("::ffff:1.2.3.4").
		j := i
		for j < len(b) && b[j] != ':' && b[j] != '.' {
			j++
		}
		if j < len(b) && b[j] == '.' {
			if n > 6 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(b[i:])
			if !ok {
				return netip.Addr{}, false
			}
			a4 := v4.As4()
			groups[n] = uint16(a4[0])<<8 | uint16(a4[1])
			groups[n+1] = uint16(a4[2])<<8 | uint16(a4[3])
			n += 2
			break // the dotted quad ends the address
		}
		var v uint16
		digits := 0
		for i < len(b) && b[i] != ':' {
			h, ok := hexVal(b[i])
			if !ok || digits == 4 {
				return netip.Addr{}, false
			}
			v = v<<4 | h
			digits++
			i++
		}
		if digits == 0 {
			return netip.Addr{}, false
		}
		groups[n] = v
		n++
		if i == len(b) {
			break
		}
		i++ // the ':'
		if i < len(b) && b[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = n
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return netip.Addr{}, false // a single trailing ':'
		}
	}
	if ellipsis >= 0 {
		if n == 8 {
			return netip.Addr{}, false
		}
		shift := 8 - n
		copy(groups[ellipsis+shift:], groups[ellipsis:n])
		for k := ellipsis; k < ellipsis+shift; k++ {
			groups[k] = 0
		}
	} else if n != 8 {
		return netip.Addr{}, false
	}
	var out [16]byte
	for k, g := range groups {
		out[2*k] = byte(g >> 8)
		out[2*k+1] = byte(g)
	}
	return netip.AddrFrom16(out), true
}

const hexDigits = "0123456789abcdef"

// appendIPv6Expanded prints like the kernel's %pI6: eight groups of four
// lowercase hex digits, no compression.
func appendIPv6Expanded(dst []byte, a netip.Addr) []byte {
	b := a.As16()
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexDigits[b[i]>>4], hexDigits[b[i]&0xf], hexDigits[b[i+1]>>4], hexDigits[b[i+1]&0xf])
	}
	return dst
}

// appendIPv6Compressed prints like glibc's inet_ntop(AF_INET6): the first
// longest run of two or more zero groups becomes "::", and an address whose
// first 96 bits are zero (but not :: or ::1) or that is IPv4-mapped ends in a
// dotted quad.
func appendIPv6Compressed(dst []byte, a netip.Addr) []byte {
	b := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	bestBase, bestLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > bestLen {
			bestBase, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		bestBase = -1
	}
	for i := 0; i < 8; i++ {
		if bestBase >= 0 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				dst = append(dst, ':')
			}
			continue
		}
		if i > 0 {
			dst = append(dst, ':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			dst = strconv.AppendUint(dst, uint64(b[12]), 10)
			dst = append(dst, '.')
			dst = strconv.AppendUint(dst, uint64(b[13]), 10)
			dst = append(dst, '.')
			dst = strconv.AppendUint(dst, uint64(b[14]), 10)
			dst = append(dst, '.')
			dst = strconv.AppendUint(dst, uint64(b[15]), 10)
			return dst
		}
		dst = strconv.AppendUint(dst, uint64(w[i]), 16)
	}
	if bestBase >= 0 && bestBase+bestLen == 8 {
		dst = append(dst, ':')
	}
	return dst
}

// appendIPv4 prints a dotted quad.
func appendIPv4(dst []byte, a netip.Addr) []byte {
	b := a.As4()
	for i, x := range b {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(x), 10)
	}
	return dst
}
