package track

import "strconv"

// Family is an L3 address family as the kernel numbers it (AF_INET = 2,
// AF_INET6 = 10); /proc/net/nf_conntrack prints this number, not 4 or 6.
type Family uint8

// Address families conntrack tracks.
const (
	FamilyIPv4 Family = 2
	FamilyIPv6 Family = 10
)

// String returns the kernel's name: "ipv4", "ipv6", else "unknown".
func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return "unknown"
}

// ParseFamily accepts "ipv4"/"ipv6" (and "inet"/"inet6", "4"/"6").
func ParseFamily(s string) (Family, bool) {
	switch s {
	case "ipv4", "inet", "4", "IPv4", "IPV4":
		return FamilyIPv4, true
	case "ipv6", "inet6", "6", "IPv6", "IPV6":
		return FamilyIPv6, true
	}
	return 0, false
}

// Proto is an IP protocol number (the L4 protocol of a tuple).
type Proto uint8

// Protocols with their own conntrack tracker (or, for DCCP, a former one).
const (
	ProtoICMP    Proto = 1
	ProtoTCP     Proto = 6
	ProtoUDP     Proto = 17
	ProtoDCCP    Proto = 33
	ProtoGRE     Proto = 47
	ProtoICMPv6  Proto = 58
	ProtoSCTP    Proto = 132
	ProtoUDPLite Proto = 136
)

// Name returns the protocol name conntrack-tools prints ("dccp" included);
// protocols without a name print as "unknown", as libnetfilter_conntrack does.
func (p Proto) Name() string {
	switch p {
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoDCCP:
		return "dccp"
	case ProtoGRE:
		return "gre"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoSCTP:
		return "sctp"
	case ProtoUDPLite:
		return "udplite"
	}
	return "unknown"
}

// String is Name for known protocols and the number otherwise, so that two
// different unknown protocols never print the same.
func (p Proto) String() string {
	if n := p.Name(); n != "unknown" {
		return n
	}
	return strconv.Itoa(int(p))
}

// ParseProto accepts a protocol name (as printed by Name, case-insensitive for
// the common ones) or a decimal number 0-255.
func ParseProto(s string) (Proto, bool) {
	switch s {
	case "icmp", "ICMP":
		return ProtoICMP, true
	case "tcp", "TCP":
		return ProtoTCP, true
	case "udp", "UDP":
		return ProtoUDP, true
	case "dccp", "DCCP":
		return ProtoDCCP, true
	case "gre", "GRE":
		return ProtoGRE, true
	case "icmpv6", "ICMPv6", "ipv6-icmp":
		return ProtoICMPv6, true
	case "sctp", "SCTP":
		return ProtoSCTP, true
	case "udplite", "UDPLITE", "UDPLite":
		return ProtoUDPLite, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, false
	}
	return Proto(n), true
}

// HasPorts reports whether tuples of this protocol carry source and
// destination ports.
func (p Proto) HasPorts() bool {
	switch p {
	case ProtoTCP, ProtoUDP, ProtoUDPLite, ProtoSCTP, ProtoDCCP:
		return true
	}
	return false
}

// IsICMP reports whether p is ICMP or ICMPv6 (tuples carry type, code, id).
func (p Proto) IsICMP() bool { return p == ProtoICMP || p == ProtoICMPv6 }
