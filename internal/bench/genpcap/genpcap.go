// Package genpcap makes deterministic packet streams and captures for
// benchmarks of the reference engine and of ctdiag replay.
//
// It imports track and capture; production code must not import it.
package genpcap

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/track"
)

// Epoch is when generated streams start.
var Epoch = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// TCPMix is a realistic stream: conns short TCP connections (handshake with
// window scaling and SACK, a 300-byte request, 1-6 response segments of
// 1400 bytes each acknowledged, FIN close), interleaved so that about
// active connections are open at once, plus a DNS query and answer for one
// connection in ten. Packets are 50 µs apart (20,000 packets/s).
func TCPMix(conns, active int, seed uint64) []track.Packet {
	var out []track.Packet
	_ = EachTCPMix(conns, active, seed, func(p *track.Packet) error {
		out = append(out, *p)
		return nil
	})
	return out
}

// EachTCPMix hands TCPMix's packets to fn one at a time (p is reused), so a
// stream of any length is made in the memory of the active connections.
func EachTCPMix(conns, active int, seed uint64, fn func(p *track.Packet) error) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	server := netip.MustParseAddr("10.1.0.1")
	type conn struct {
		steps []track.Packet
		next  int
	}
	mk := func(i int) *conn {
		client := netip.AddrFrom4([4]byte{10, 2, byte(i >> 16), byte(i >> 8)})
		cport := uint16(1024 + i%60000)
		c := &conn{}
		cseq, sseq := rng.Uint32(), rng.Uint32()
		add := func(fromServer bool, flags track.TCPFlags, seq, ack uint32, payload int, opts track.TCPOptions) {
			p := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: client, Dst: server, SrcPort: cport, DstPort: 443}
			if fromServer {
				p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
			}
			doff := uint8(5)
			if opts.Present {
				doff = 8
			}
			opts.SACK = ack
			p.TCP = track.TCPHeader{Seq: seq, Ack: ack, Flags: flags, Window: 502, DataOffset: doff, Options: opts}
			p.L4Length = int(doff)*4 + payload
			p.Length = 20 + p.L4Length
			c.steps = append(c.steps, p)
		}
		if i%10 == 0 {
			q := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: client, Dst: server, SrcPort: cport + 1, DstPort: 53,
				L4Length: 40, Length: 60, UDP: track.UDPHeader{Length: 40, Checksum: 1}}
			a := q
			a.Src, a.Dst, a.SrcPort, a.DstPort = q.Dst, q.Src, q.DstPort, q.SrcPort
			c.steps = append(c.steps, q, a)
		}
		syn := track.TCPOptions{Present: true, HasWScale: true, WScale: 7, SACKPerm: true}
		add(false, track.TCPSyn, cseq, 0, 0, syn)
		add(true, track.TCPSyn|track.TCPAck, sseq, cseq+1, 0, syn)
		cseq, sseq = cseq+1, sseq+1
		add(false, track.TCPAck, cseq, sseq, 0, track.TCPOptions{})
		add(false, track.TCPAck|track.TCPPsh, cseq, sseq, 300, track.TCPOptions{})
		cseq += 300
		for range 1 + rng.IntN(6) {
			add(true, track.TCPAck|track.TCPPsh, sseq, cseq, 1400, track.TCPOptions{})
			sseq += 1400
			add(false, track.TCPAck, cseq, sseq, 0, track.TCPOptions{})
		}
		add(false, track.TCPFin|track.TCPAck, cseq, sseq, 0, track.TCPOptions{})
		add(true, track.TCPFin|track.TCPAck, sseq, cseq+1, 0, track.TCPOptions{})
		add(false, track.TCPAck, cseq+1, sseq+1, 0, track.TCPOptions{})
		return c
	}
	open := make([]*conn, 0, active)
	started := 0
	now := Epoch
	for started < conns || len(open) > 0 {
		for len(open) < active && started < conns {
			open = append(open, mk(started))
			started++
		}
		i := rng.IntN(len(open))
		c := open[i]
		p := c.steps[c.next]
		p.Time = now
		now = now.Add(50 * time.Microsecond)
		if err := fn(&p); err != nil {
			return err
		}
		c.next++
		if c.next == len(c.steps) {
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	return nil
}

// WritePcap writes packets as a pcap file of Ethernet frames.
func WritePcap(w io.Writer, packets []track.Packet) error {
	pw, err := NewPcapWriter(w)
	if err != nil {
		return err
	}
	for i := range packets {
		if err := pw.Write(&packets[i]); err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
	}
	return nil
}

// PcapWriter writes packets one at a time as Ethernet frames of a pcap.
type PcapWriter struct {
	pw    *pcapgo.Writer
	frame []byte
}

// NewPcapWriter writes the file header.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &PcapWriter{pw: pw, frame: make([]byte, 0, 2048)}, nil
}

// Write writes one packet.
func (w *PcapWriter) Write(p *track.Packet) error {
	ip, err := capture.Encode(p)
	if err != nil {
		return err
	}
	frame := append(w.frame[:0], 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00)
	if p.Family == track.FamilyIPv6 {
		frame[12], frame[13] = 0x86, 0xdd
	}
	frame = append(frame, ip...)
	w.frame = frame
	ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(frame), Length: len(frame)}
	return w.pw.WritePacket(ci, frame)
}
