package filter

import (
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// ipProtocols are the names and aliases of netbase's /etc/protocols that
// fit in a protocol byte, which conntrack finds with getprotobyname(3).
// They are kept here rather than read from the file so a filter means the
// same on every machine (and filter does no I/O).
var ipProtocols = map[string]uint8{
	"ip": 0, "IP": 0, "hopopt": 0, "HOPOPT": 0,
	"icmp": 1, "ICMP": 1, "igmp": 2, "IGMP": 2, "ggp": 3, "GGP": 3,
	"ipencap": 4, "IP-ENCAP": 4, "st": 5, "ST": 5, "tcp": 6, "TCP": 6,
	"egp": 8, "EGP": 8, "igp": 9, "IGP": 9, "pup": 12, "PUP": 12,
	"udp": 17, "UDP": 17, "hmp": 20, "HMP": 20, "xns-idp": 22, "XNS-IDP": 22,
	"rdp": 27, "RDP": 27, "iso-tp4": 29, "ISO-TP4": 29, "dccp": 33, "DCCP": 33,
	"xtp": 36, "XTP": 36, "ddp": 37, "DDP": 37, "idpr-cmtp": 38, "IDPR-CMTP": 38,
	"ipv6": 41, "IPv6": 41, "ipv6-route": 43, "IPv6-Route": 43,
	"ipv6-frag": 44, "IPv6-Frag": 44, "idrp": 45, "IDRP": 45, "rsvp": 46, "RSVP": 46,
	"gre": 47, "GRE": 47, "esp": 50, "IPSEC-ESP": 50, "ah": 51, "IPSEC-AH": 51,
	"skip": 57, "SKIP": 57, "ipv6-icmp": 58, "IPv6-ICMP": 58,
	"ipv6-nonxt": 59, "IPv6-NoNxt": 59, "ipv6-opts": 60, "IPv6-Opts": 60,
	"rspf": 73, "RSPF": 73, "CPHB": 73, "vmtp": 81, "VMTP": 81,
	"eigrp": 88, "EIGRP": 88, "ospf": 89, "OSPFIGP": 89, "ax.25": 93, "AX.25": 93,
	"ipip": 94, "IPIP": 94, "etherip": 97, "ETHERIP": 97, "encap": 98, "ENCAP": 98,
	"pim": 103, "PIM": 103, "ipcomp": 108, "IPCOMP": 108, "vrrp": 112, "VRRP": 112,
	"l2tp": 115, "L2TP": 115, "isis": 124, "ISIS": 124, "sctp": 132, "SCTP": 132,
	"fc": 133, "FC": 133, "mobility-header": 135, "Mobility-Header": 135,
	"udplite": 136, "UDPLite": 136, "mpls-in-ip": 137, "MPLS-in-IP": 137,
	"manet": 138, "hip": 139, "HIP": 139, "shim6": 140, "Shim6": 140,
	"wesp": 141, "WESP": 141, "rohc": 142, "ROHC": 142, "ethernet": 143, "Ethernet": 143,
}

// conntrackProtos are the protocols conntrack has an extension for; it
// matches their names case-insensitively before asking /etc/protocols.
var conntrackProtos = map[string]track.Proto{
	"tcp": track.ProtoTCP, "udp": track.ProtoUDP, "udplite": track.ProtoUDPLite,
	"sctp": track.ProtoSCTP, "dccp": track.ProtoDCCP, "icmp": track.ProtoICMP,
	"icmpv6": track.ProtoICMPv6, "gre": track.ProtoGRE,
}

// ParseProto reads -p as conntrack's findproto does: the name of one of
// its protocol extensions (any case), else a name or alias of
// /etc/protocols (as written there), else a number 0-255 (decimal, 0x hex
// or 0 octal).
func ParseProto(s string) (track.Proto, bool) {
	if p, ok := conntrackProtos[strings.ToLower(s)]; ok {
		return p, true
	}
	if n, ok := ipProtocols[s]; ok {
		return track.Proto(n), true
	}
	if v, ok := strtoul(s); ok && v <= 255 {
		return track.Proto(v), true
	}
	return 0, false
}
