package ruleset

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/ctdiag/ctdiag/track"
)

// The x_tables structures iptables-nft leaves in the kernel as "match" and
// "target" expressions (include/uapi/linux/netfilter/xt_*.h and
// nf_nat.h). Host-endian fields are read with binary.NativeEndian, __be16
// ports big-endian. Every decoder checks the length first: a short or odd
// structure is "not decoded", never a panic.

// Offsets within the structures.
const (
	// xt_conntrack_mtinfo1..3: four (addr, mask) pairs of 16 bytes, then
	// expires_min/max, l4proto, four ports, match_flags, invert_flags,
	// state_mask (u8 in rev 1, u16 from rev 2), status_mask.
	ctmtMatchFlags  = 146
	ctmtInvertFlags = 148
	ctmtStateMask   = 150
	ctmtLen1        = 152
	ctmtLen2        = 154

	xtConntrackState = 1 << 0
	xtConntrackOther = 0x1ffe // proto, addresses, status, expires, ports, direction

	// nf_nat_ipv4_multi_range_compat: rangesize, then one nf_nat_ipv4_range.
	compatFlags   = 4
	compatMinIP   = 8
	compatMaxIP   = 12
	compatMinPort = 16
	compatMaxPort = 18
	compatLen     = 20
	// nf_nat_range (rev 1) and nf_nat_range2 (rev 2).
	rangeFlags   = 0
	rangeMinAddr = 4
	rangeMaxAddr = 20
	rangeMinPort = 36
	rangeMaxPort = 38
	rangeLen     = 40

	natMapIPs         = 1 << 0
	natProtoSpecified = 1 << 1
	natProtoRandom    = 1 << 2
	natPersistent     = 1 << 3
	natRandomFully    = 1 << 4

	// xt_ct_target_info(_v1): flags u16, zone u16, ct_events, exp_events,
	// helper[16] (then timeout[32] in v1).
	ctFlags      = 0
	ctZone       = 2
	ctHelper     = 12
	ctHelperLen  = 16
	ctMinLen     = ctHelper + ctHelperLen
	xtCtNotrack  = 1 << 0
	xtCtZoneMark = 1 << 4
)

// decodeXtMatch reads a match's info into r; ok is false when the match
// or its revision is not one this package knows (the rule is then
// Partial).
func decodeXtMatch(name string, rev uint32, fam track.RuleFamily, info []byte, r *track.Rule) bool {
	ne := binary.NativeEndian
	m := &r.Match
	switch name {
	case "conntrack":
		n := ctmtLen2
		if rev == 1 {
			n = ctmtLen1
		}
		if rev < 1 || rev > 3 || len(info) < n {
			return false
		}
		flags := ne.Uint16(info[ctmtMatchFlags:])
		inv := ne.Uint16(info[ctmtInvertFlags:])
		var state uint16
		if rev == 1 {
			state = uint16(info[ctmtStateMask])
		} else {
			state = ne.Uint16(info[ctmtStateMask:])
		}
		if flags&xtConntrackState != 0 {
			m.CtState, m.CtStateNeg = ctStateOfXt(state), inv&xtConntrackState != 0
		}
		if flags&xtConntrackOther != 0 {
			m.CtOther = append(m.CtOther, "conntrack")
			r.Partial = true
			return true
		}
		return true
	case "state":
		if len(info) < 4 {
			return false
		}
		m.CtState = track.CtState(ne.Uint32(info))
		return true
	case "comment":
		if i := bytes.IndexByte(info, 0); i >= 0 {
			info = info[:i]
		}
		r.Comment = string(info)
		return true
	case "tcp", "udp":
		if len(info) < 9 {
			return false
		}
		sp := track.PortRange{Min: ne.Uint16(info[0:]), Max: ne.Uint16(info[2:])}
		dp := track.PortRange{Min: ne.Uint16(info[4:]), Max: ne.Uint16(info[6:])}
		invOff := 8
		if name == "tcp" {
			invOff = 11
			if len(info) < 12 || info[9] != 0 {
				return false // TCP flags: not decoded
			}
		}
		inv := info[invOff]
		if p, _ := track.ParseProto(name); m.Proto == 0 {
			m.Proto = p
		}
		if sp != (track.PortRange{Min: 0, Max: 0xffff}) {
			m.SPorts, m.SPortNeg = []track.PortRange{sp}, inv&1 != 0
		}
		if dp != (track.PortRange{Min: 0, Max: 0xffff}) {
			m.DPorts, m.DPortNeg = []track.PortRange{dp}, inv&2 != 0
		}
		return true
	case "multiport":
		// xt_multiport_v1: flags, count, ports[15], pflags[15], invert.
		if rev != 1 || len(info) < 2+30+15+1 {
			return false
		}
		which, count := info[0], int(info[1])
		if count > 15 || which > 1 {
			return false
		}
		var prs []track.PortRange
		for i := 0; i < count; i++ {
			p := ne.Uint16(info[2+2*i:])
			if info[32+i] != 0 && i+1 < count { // a range: this port and the next
				prs = append(prs, track.PortRange{Min: p, Max: ne.Uint16(info[2+2*(i+1):])})
				i++
				continue
			}
			prs = append(prs, track.PortRange{Min: p, Max: p})
		}
		neg := info[47] != 0
		if which == 0 {
			m.SPorts, m.SPortNeg = prs, neg
		} else {
			m.DPorts, m.DPortNeg = prs, neg
		}
		return true
	case "helper", "connmark", "connlimit", "connbytes", "connlabel":
		m.CtOther = append(m.CtOther, name)
		r.Partial = true
		return true
	}
	_ = fam
	return false
}

// decodeXtTarget reads a target's info into r.
func decodeXtTarget(name string, rev uint32, fam track.RuleFamily, info []byte, r *track.Rule) bool {
	ne := binary.NativeEndian
	a := &r.Action
	switch name {
	case "MASQUERADE", "SNAT", "DNAT", "REDIRECT":
		switch name {
		case "MASQUERADE":
			a.Kind = track.ActionMasquerade
		case "SNAT":
			a.Kind = track.ActionSNAT
		case "DNAT":
			a.Kind = track.ActionDNAT
		case "REDIRECT":
			a.Kind = track.ActionRedirect
		}
		var flags uint32
		if fam == track.RuleFamilyIP && rev == 0 {
			if len(info) < compatLen || ne.Uint32(info) != 1 {
				return false
			}
			flags = ne.Uint32(info[compatFlags:])
			if flags&natMapIPs != 0 {
				a.AddrMin = netip.AddrFrom4([4]byte(info[compatMinIP : compatMinIP+4]))
				a.AddrMax = netip.AddrFrom4([4]byte(info[compatMaxIP : compatMaxIP+4]))
			}
			if flags&natProtoSpecified != 0 {
				a.Ports = track.PortRange{Min: binary.BigEndian.Uint16(info[compatMinPort:]), Max: binary.BigEndian.Uint16(info[compatMaxPort:])}
			}
		} else {
			if len(info) < rangeLen || rev > 2 {
				return false
			}
			flags = ne.Uint32(info[rangeFlags:])
			if flags&natMapIPs != 0 {
				if fam == track.RuleFamilyIP6 {
					a.AddrMin = netip.AddrFrom16([16]byte(info[rangeMinAddr : rangeMinAddr+16]))
					a.AddrMax = netip.AddrFrom16([16]byte(info[rangeMaxAddr : rangeMaxAddr+16]))
				} else {
					a.AddrMin = netip.AddrFrom4([4]byte(info[rangeMinAddr : rangeMinAddr+4]))
					a.AddrMax = netip.AddrFrom4([4]byte(info[rangeMaxAddr : rangeMaxAddr+4]))
				}
			}
			if flags&natProtoSpecified != 0 {
				a.Ports = track.PortRange{Min: binary.BigEndian.Uint16(info[rangeMinPort:]), Max: binary.BigEndian.Uint16(info[rangeMaxPort:])}
			}
		}
		a.Flags = natFlagsOf(flags)
		return true
	case "CT", "NOTRACK":
		if name == "NOTRACK" && len(info) == 0 {
			a.Kind = track.ActionNotrack // the old NOTRACK target has no data
			return true
		}
		if len(info) < ctMinLen || rev > 2 {
			return false
		}
		flags := ne.Uint16(info[ctFlags:])
		helper := info[ctHelper : ctHelper+ctHelperLen]
		if i := bytes.IndexByte(helper, 0); i >= 0 {
			helper = helper[:i]
		}
		switch {
		case flags&xtCtNotrack != 0:
			a.Kind = track.ActionNotrack
		case len(helper) > 0:
			a.Kind, a.Helper = track.ActionCtHelper, string(helper)
		case flags&xtCtZoneMark == 0 && ne.Uint16(info[ctZone:]) != 0:
			a.Kind, a.Zone = track.ActionCtZone, ne.Uint16(info[ctZone:])
		default:
			a.Kind = track.ActionCtOther
		}
		return true
	case "CONNMARK", "CONNSECMARK":
		a.Kind = track.ActionCtOther
		return true
	}
	return false
}

// ctStateOfXt converts xt_conntrack's state bits: invalid, established,
// related and new are the model's; SNAT is bit 6, DNAT bit 7 and
// UNTRACKED bit 8 (XT_CONNTRACK_STATE_*, 1 << (IP_CT_NUMBER + 1..3)).
func ctStateOfXt(x uint16) track.CtState {
	s := track.CtState(x & 0x0f)
	if x&(1<<6) != 0 {
		s |= track.CtStateSNAT
	}
	if x&(1<<7) != 0 {
		s |= track.CtStateDNAT
	}
	if x&(1<<8) != 0 {
		s |= track.CtStateUntracked
	}
	return s
}

func natFlagsOf(kflags uint32) track.NATFlags {
	var f track.NATFlags
	if kflags&natProtoRandom != 0 {
		f |= track.NATRandom
	}
	if kflags&natRandomFully != 0 {
		f |= track.NATRandomFully
	}
	if kflags&natPersistent != 0 {
		f |= track.NATPersistent
	}
	return f
}
