package track

import (
	"net/netip"
	"time"
)

// Packet is one IP packet as conntrack sees it at its hook: the L3 and L4
// header fields the kernel's trackers read, the packet's IP length, and the
// zone and connection mark a ruleset would give it. The engine never sees
// payload bytes; a decoder (package capture) fills a Packet from a frame.
type Packet struct {
	Time time.Time // when conntrack sees the packet

	Family   Family
	Src, Dst netip.Addr
	Proto    Proto

	// Length is the IP packet length from its header (header included): what
	// accounting counts and what the TCP window tracker measures from.
	Length int
	// L4Length is the number of bytes from the start of the L4 header to the
	// end of the packet, per the IP header.
	L4Length int

	// Zone is the conntrack zone (ct zone set / -j CT --zone); part of the
	// lookup key.
	Zone uint16
	// Mark is the connection mark the ruleset sets on an entry this packet
	// creates (e.g. ct mark set 16); 0 leaves it at 0.
	Mark uint32

	// BadChecksum says the L4 checksum is wrong. It matters only when the
	// engine verifies checksums (Config.VerifyChecksums, the PRE_ROUTING
	// hook with nf_conntrack_checksum=1; docs/KERNEL.md §1.7).
	BadChecksum bool
	// Unparsable says conntrack could not find the L4 header or read the
	// tuple from it (e.g. broken IPv6 extension headers, fewer than 4 bytes
	// of ports): the packet is INVALID before any lookup.
	Unparsable bool

	SrcPort, DstPort uint16 // TCP, UDP, UDPLITE

	TCP  TCPHeader  // when Proto is TCP
	UDP  UDPHeader  // when Proto is UDP or UDPLITE
	ICMP ICMPHeader // when Proto is ICMP or ICMPv6
	GRE  GREHeader  // when Proto is GRE
}

// TCP header flags as in byte 13 of the header.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// TCPFlags is the flag byte of a TCP header.
type TCPFlags uint8

// Has reports whether every flag in want is set.
func (f TCPFlags) Has(want TCPFlags) bool { return f&want == want }

// String renders flags as tcpdump does: "S", "S.", "F.", "R", ...
func (f TCPFlags) String() string {
	var b []byte
	for _, x := range []struct {
		flag TCPFlags
		c    byte
	}{{TCPFin, 'F'}, {TCPSyn, 'S'}, {TCPRst, 'R'}, {TCPPsh, 'P'}, {TCPUrg, 'U'}, {TCPEce, 'E'}, {TCPCwr, 'W'}, {TCPAck, '.'}} {
		if f&x.flag != 0 {
			b = append(b, x.c)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// TCPHeader holds what conntrack reads from a TCP header.
type TCPHeader struct {
	Seq, Ack   uint32
	Flags      TCPFlags
	Window     uint16 // raw, unscaled
	DataOffset uint8  // header length in 32-bit words (doff)
	Options    TCPOptions
}

// TCPOptions is what conntrack's option parsers (tcp_options, tcp_sack)
// take from a TCP header. ParseTCPOptions computes it from the raw bytes.
type TCPOptions struct {
	// Present: the header has option bytes (doff > 5). Only then does the
	// kernel reset a direction's window scale and flags when it parses them.
	Present   bool
	WScale    uint8 // capped at 14
	HasWScale bool
	SACKPerm  bool
	// SACK is the highest right edge of the first SACK option's blocks,
	// folded from the ack number with sequence-space comparisons exactly as
	// tcp_sack does. It is used only when HasSACK is set (without SACK
	// blocks the kernel's fold leaves the ack number).
	SACK    uint32
	HasSACK bool
}

// UDPHeader holds the UDP (and UDPLITE) length field: UDP's length, or
// UDPLITE's checksum coverage (0 = the whole datagram).
type UDPHeader struct {
	Length   uint16
	Checksum uint16 // 0 = none (UDP) / invalid (UDPLITE)
}

// ICMPHeader holds an ICMP or ICMPv6 header.
type ICMPHeader struct {
	Type, Code uint8
	ID         uint16 // echo/query identifier
	// Short says the packet has fewer than the 8 header bytes conntrack
	// reads ("short packet").
	Short bool
	// Inner is the embedded packet header of an error message (types 3, 4,
	// 5, 11, 12; ICMPv6 1-4), nil if it could not be read.
	Inner *InnerHeader
}

// InnerHeader is the packet header embedded in an ICMP error: the packet
// the error is about, as it left its sender.
type InnerHeader struct {
	Src, Dst         netip.Addr
	Proto            Proto
	SrcPort, DstPort uint16
	Type, Code       uint8 // when the inner packet is ICMP
	ID               uint16
	GRE              GREHeader
}

// GREHeader holds what the GRE tracker reads: version 1 (PPTP) carries a
// call id that becomes the tuple's key; other GRE is tracked with keys 0.
type GREHeader struct {
	Version uint8
	// PPP says the protocol field is PPP (0x880b); version 1 GRE of another
	// protocol cannot be tracked.
	PPP    bool
	CallID uint16
}

// TCP option kinds conntrack reads.
const (
	tcpOptEOL      = 0
	tcpOptNOP      = 1
	tcpOptWindow   = 3
	tcpOptSACKPerm = 4
	tcpOptSACK     = 5
)

// ParseTCPOptions reads the option bytes of a TCP header (after the 20 fixed
// bytes) the way the kernel's tcp_options and tcp_sack do, including where
// they stop early. ack is the header's ack number, the start of the SACK fold.
func ParseTCPOptions(opts []byte, ack uint32) TCPOptions {
	o := TCPOptions{Present: len(opts) > 0, SACK: ack}
	// tcp_options: every option is read; the last window scale wins.
	walkTCPOptions(opts, func(kind byte, opt []byte) bool {
		switch {
		case kind == tcpOptSACKPerm && len(opt) == 2:
			o.SACKPerm = true
		case kind == tcpOptWindow && len(opt) == 3:
			o.WScale = min(opt[2], 14)
			o.HasWScale = true
		}
		return true
	})
	// tcp_sack: a timestamp-only header is skipped; otherwise the first
	// well-formed SACK option's right edges are folded in.
	if len(opts) == 12 && opts[0] == tcpOptNOP && opts[1] == tcpOptNOP && opts[2] == 8 && opts[3] == 10 {
		return o
	}
	walkTCPOptions(opts, func(kind byte, opt []byte) bool {
		if kind != tcpOptSACK || len(opt) < 2+8 || (len(opt)-2)%8 != 0 {
			return true
		}
		for b := 2; b < len(opt); b += 8 {
			right := uint32(opt[b+4])<<24 | uint32(opt[b+5])<<16 | uint32(opt[b+6])<<8 | uint32(opt[b+7])
			if seqAfter(right, o.SACK) {
				o.SACK = right
			}
		}
		o.HasSACK = true
		return false
	})
	return o
}

// walkTCPOptions calls fn with each option's kind and bytes (kind, length,
// data), stopping where the kernel's option loops stop: at EOL, at a
// length that is too short or runs past the header, or when fn says so.
func walkTCPOptions(opts []byte, fn func(kind byte, opt []byte) bool) {
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == tcpOptEOL {
			return
		}
		if kind == tcpOptNOP {
			i++
			continue
		}
		if len(opts)-i < 2 {
			return
		}
		size := int(opts[i+1])
		if size < 2 || size > len(opts)-i || !fn(kind, opts[i:i+size]) {
			return
		}
		i += size
	}
}

// CTState is the conntrack state a packet gets, as nft `ct state` and
// iptables `--ctstate` match it (docs/KERNEL.md §6).
type CTState uint8

// Packet conntrack states.
const (
	CTInvalid     CTState = iota // no conntrack: tracker said invalid, unparsable, table full
	CTNew                        // original direction, no reply seen yet
	CTEstablished                // a reply was seen, or the packet is a reply
	CTRelated                    // an ICMP error about a tracked connection (or an expected one)
	CTUntracked                  // NOTRACK, or ICMPv6 neighbour discovery / MLD
)

func (s CTState) String() string {
	switch s {
	case CTNew:
		return "NEW"
	case CTEstablished:
		return "ESTABLISHED"
	case CTRelated:
		return "RELATED"
	case CTUntracked:
		return "UNTRACKED"
	}
	return "INVALID"
}

// Action says what a packet did to the table.
type Action uint8

// What a packet did.
const (
	// ActionUpdated: an entry accepted the packet; its state and timeout
	// were updated.
	ActionUpdated Action = iota
	// ActionCreated: the packet created a new entry.
	ActionCreated
	// ActionIgnored: TCP accepted the packet but left the entry as it was,
	// timeout included (the IG cells of the transition table, a window
	// IGNORE, a retransmitted SYN before any reply; docs/KERNEL.md §1.4, §1.10).
	ActionIgnored
	// ActionInvalid: the packet got no conntrack; any entry is unchanged.
	ActionInvalid
	// ActionDeleted: the packet was accepted and its entry removed (a TCP
	// RST before any reply, docs/KERNEL.md §1.5.6).
	ActionDeleted
	// ActionReopened: a SYN removed a closed TCP entry and created a fresh
	// one (docs/KERNEL.md §1.5.1).
	ActionReopened
	// ActionRelated: an ICMP error attached to the entry it is about.
	ActionRelated
	// ActionDropped: the packet was dropped (table full, docs/KERNEL.md §4.2; NAT
	// found no address or port).
	ActionDropped
	// ActionUntracked: NOTRACK or a never-tracked ICMPv6 type.
	ActionUntracked
	// ActionNotModelled: a protocol the engine does not track (SCTP).
	ActionNotModelled
)

func (a Action) String() string {
	switch a {
	case ActionUpdated:
		return "updated"
	case ActionCreated:
		return "created"
	case ActionIgnored:
		return "ignored"
	case ActionInvalid:
		return "invalid"
	case ActionDeleted:
		return "deleted"
	case ActionReopened:
		return "reopened"
	case ActionRelated:
		return "related"
	case ActionDropped:
		return "dropped"
	case ActionUntracked:
		return "untracked"
	case ActionNotModelled:
		return "not-modelled"
	}
	return "action?"
}

// Verdict is what the engine decided for one packet.
type Verdict struct {
	State  CTState
	Action Action
	// Reply: the packet matched its entry's reply direction.
	Reply bool
	// Reason names why a packet was invalid, ignored or dropped, in the
	// kernel's log words where it has them ("invalid tcp flag combination",
	// "SEQ is over upper bound", "table full").
	Reason string
	// EarlyDropped is how many entries early drop evicted to make room.
	EarlyDropped int
	// Orig is the original tuple of the entry the packet belongs to (zero
	// when it has none).
	Orig Tuple
}
