package ruleset

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// iptablesTables are the x_tables tables and where their built-in chains
// hook (include/uapi/linux/netfilter_ipv4.h priorities): what
// iptables-legacy registers and what iptables-nft creates in nftables.
var iptablesTables = map[string]struct {
	prio     int32
	typ      string
	hooks    []track.Hook
	natInput bool // nat INPUT and POSTROUTING run at srcnat
}{
	"raw":      {track.PriorityRaw, "filter", []track.Hook{track.HookPrerouting, track.HookOutput}, false},
	"mangle":   {track.PriorityMangle, "route", []track.Hook{track.HookPrerouting, track.HookInput, track.HookForward, track.HookOutput, track.HookPostrouting}, false},
	"nat":      {track.PriorityDstNAT, "nat", []track.Hook{track.HookPrerouting, track.HookInput, track.HookOutput, track.HookPostrouting}, true},
	"filter":   {track.PriorityFilter, "filter", []track.Hook{track.HookInput, track.HookForward, track.HookOutput}, false},
	"security": {track.PrioritySecurity, "filter", []track.Hook{track.HookInput, track.HookForward, track.HookOutput}, false},
}

// builtinChain says where an iptables table's built-in chain hooks.
func builtinChain(table, chain string) (hook track.Hook, prio int32, typ string, ok bool) {
	t, known := iptablesTables[table]
	if !known {
		return track.HookNone, 0, "", false
	}
	h, isHook := track.ParseHook(chain)
	if !isHook || strings.ToUpper(chain) != chain {
		return track.HookNone, 0, "", false
	}
	for _, x := range t.hooks {
		if x == h {
			prio = t.prio
			if t.natInput && (h == track.HookInput || h == track.HookPostrouting) {
				prio = track.PrioritySrcNAT
			}
			typ = t.typ
			if table == "mangle" && h != track.HookOutput {
				typ = "filter" // only mangle OUTPUT is a route chain
			}
			return h, prio, typ, true
		}
	}
	return track.HookNone, 0, "", false
}

// looksLikeIptablesNft: a table iptables-nft made has an x_tables name and
// its base chains carry the built-in chains' upper-case names.
func looksLikeIptablesNft(t *track.RuleTable) bool {
	if _, ok := iptablesTables[t.Name]; !ok || t.Family != track.RuleFamilyIP && t.Family != track.RuleFamilyIP6 {
		return false
	}
	base := 0
	for _, c := range t.Chains {
		if c.IsBase() {
			if _, _, _, ok := builtinChain(t.Name, c.Name); !ok {
				return false
			}
			base++
		}
	}
	return base > 0
}

// parsePortRange reads "80", "1000-2000" or iptables' "1000:2000".
func parsePortRange(s string) (track.PortRange, bool) {
	lo, hi, isRange := strings.Cut(s, ":")
	if !isRange {
		lo, hi, isRange = strings.Cut(s, "-")
	}
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return track.PortRange{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return track.PortRange{}, false
		}
	}
	return track.PortRange{Min: uint16(a), Max: uint16(b)}, true
}

// parsePrefix reads an address with an optional /len or /mask (iptables
// prints 10.0.0.0/8 or, for non-prefix masks, 10.0.0.0/255.0.255.0).
func parsePrefix(s string) (netip.Prefix, bool) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	if !hasBits {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	if n, err := strconv.Atoi(bits); err == nil {
		p, err := a.Prefix(n)
		return p, err == nil && n <= a.BitLen()
	}
	m, err := netip.ParseAddr(bits)
	if err != nil || m.BitLen() != a.BitLen() {
		return netip.Prefix{}, false
	}
	n := maskLen(m.AsSlice())
	if n < 0 {
		return netip.Prefix{}, false // not a prefix mask: not representable
	}
	p, err := a.Prefix(n)
	return p, err == nil
}

// maskLen is the prefix length of a contiguous mask, else -1.
func maskLen(m []byte) int {
	n := 0
	for i, b := range m {
		if b == 0xff {
			n += 8
			continue
		}
		for b&0x80 != 0 {
			n++
			b <<= 1
		}
		if b != 0 {
			return -1
		}
		for _, r := range m[i+1:] {
			if r != 0 {
				return -1
			}
		}
		return n
	}
	return n
}

// parseNATTo reads an iptables --to-source/--to-destination value or the
// text after nft's "to": "192.0.2.1", "192.0.2.1-192.0.2.4:1024-2047",
// "[2001:db8::1]:4000-4100", ":30000-30019", "10.0.0.5:8080".
func parseNATTo(s string, a *track.RuleAction) bool {
	var addrs, ports string
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return false
		}
		addrs = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return false
			}
			ports = rest[1:]
		}
	case strings.Count(s, ":") > 1:
		addrs = s // IPv6 without port
	default:
		addrs, ports, _ = strings.Cut(s, ":")
	}
	if addrs != "" {
		lo, hi, isRange := strings.Cut(addrs, "-")
		if strings.HasPrefix(hi, "[") {
			hi = strings.Trim(hi, "[]")
		}
		x, err := netip.ParseAddr(strings.Trim(lo, "[]"))
		if err != nil {
			return false
		}
		a.AddrMin, a.AddrMax = x, x
		if isRange {
			y, err := netip.ParseAddr(hi)
			if err != nil || y.BitLen() != x.BitLen() || y.Less(x) {
				return false
			}
			a.AddrMax = y
		}
	}
	if ports != "" {
		pr, ok := parsePortRange(ports)
		if !ok {
			return false
		}
		a.Ports = pr
	}
	return addrs != "" || ports != ""
}

// parseCtStates reads "RELATED,ESTABLISHED" or "established,related".
func parseCtStates(s string) (track.CtState, bool) {
	var st track.CtState
	for _, p := range strings.Split(s, ",") {
		b, ok := track.ParseCtState(strings.TrimSpace(p))
		if !ok {
			return 0, false
		}
		st |= b
	}
	return st, st != 0
}
