// Package capture reads packet captures (pcap and pcapng, as tcpdump and
// Wireshark write them) into track.Packet values for the reference engine.
//
// It owns the file formats (pcap through gopacket's pure-Go pcapgo, with
// its snap length bounded; pcapng by a small reader of its own, because
// pcapgo's allocates whatever length a corrupt block claims; either may be
// gzipped), the link layers (Ethernet with VLAN tags and BSD loopback
// through gopacket's layers; Linux cooked capture SLL and SLL2 and raw IP
// read directly) and the decoding of the IP and L4 headers into exactly the
// fields conntrack reads. That last part is
// written here rather than taken from gopacket's layers because conntrack
// depends on details those normalise away: the IP length field as opposed to
// the captured length, raw TCP option bytes parsed the kernel's lenient
// way, and the 8 bytes of L4 header embedded in an ICMP error.
//
// IP fragments are reassembled (conntrack sees whole datagrams, docs/KERNEL.md §7.1)
// well enough to know the datagram's length and its L4 header.
//
// Bad, truncated and non-IP frames are counted and the first few reported
// with their frame number; they never stop the reading.
//
// Encode is the inverse of DecodeIP: it writes a track.Packet as IP bytes,
// even a contradictory one (a data offset past the end, a wrong UDP
// length), for tests that send the same bytes to the kernel and the engine
// and for generated benchmark captures.
//
// capture imports track and gopacket; it must not import parser, analyzer
// or the CLI.
package capture
