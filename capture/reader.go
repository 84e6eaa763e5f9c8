package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ctdiag/ctdiag/track"
)

// ErrNotCapture is returned for input that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng capture")

// Stats counts what a Reader did with the frames it read.
type Stats struct {
	Frames      int // records read from the file
	Packets     int // packets handed out (reassembled datagrams count once)
	NotIP       int // frames that carry no IP (ARP, LLDP, ...)
	Fragments   int // IP fragments taken in for reassembly
	Reassembled int // datagrams reassembled from them
	Bad         int // frames that could not be decoded (truncated, malformed, unknown link type)
	// Problems are the first few bad frames, with their number.
	Problems []Problem
	// CutShort says the file ended inside a record (a capture stopped
	// mid-write); what came before was read.
	CutShort bool
	// Stopped says why the reading stopped before the end of the file (a
	// record or block whose lengths are impossible); what came before was
	// read.
	Stopped error
}

// Problem is one frame that could not be decoded.
type Problem struct {
	Frame int // 1-based record number, as Wireshark numbers frames
	Err   error
}

func (p Problem) Error() string { return fmt.Sprintf("frame %d: %v", p.Frame, p.Err) }

// maxProblems is how many bad frames are kept with their reason.
const maxProblems = 5

// packetSource is what pcapgo's two readers have in common. The data a
// call returns is valid until the next call: nothing keeps it (the
// reassembler copies what it needs).
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Reader reads packets from a pcap or pcapng capture.
type Reader struct {
	name   string
	src    packetSource
	linkOf func(ci gopacket.CaptureInfo) layers.LinkType
	closer io.Closer
	frags  reassembler
	stats  Stats
}

// Open opens a capture file.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads a capture from r, detecting pcap or pcapng (either
// gzipped) by its magic number. name is used in messages.
func NewReader(r io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (empty or shorter than a header)", name, ErrNotCapture)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b { // gzip: a .pcap.gz or .pcapng.gz
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 1<<16)
		if magic, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("%s: %w (empty after gunzip)", name, ErrNotCapture)
		}
	}
	c := &Reader{name: name, frags: reassembler{pending: map[fragKey]*datagram{}}}
	switch binary.BigEndian.Uint32(magic) {
	case 0x0a0d0d0a: // pcapng section header block
		ng, err := newNgReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: pcapng: %w", name, err)
		}
		c.src = ng
		c.linkOf = ng.linkOf
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: pcap: %w", name, err)
		}
		// pcapgo allocates the snap length the header claims; bound it
		// (records longer than it are then reported as corrupt).
		if pr.Snaplen() > maxSnap || pr.Snaplen() == 0 {
			pr.SetSnaplen(maxSnap)
		}
		c.src = pr
		link := pr.LinkType()
		c.linkOf = func(gopacket.CaptureInfo) layers.LinkType { return link }
	default:
		return nil, fmt.Errorf("%s: %w (magic %#08x)", name, ErrNotCapture, binary.BigEndian.Uint32(magic))
	}
	return c, nil
}

// Name is the capture's name as given.
func (r *Reader) Name() string { return r.name }

// Stats returns the counts so far.
func (r *Reader) Stats() *Stats { return &r.stats }

// Close closes the file Open opened.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Next reads the next IP packet into p. It returns io.EOF at the end of the
// capture. Frames that are not IP, or cannot be decoded, are counted and
// skipped; a file cut short, or broken from some record on, ends the
// reading as io.EOF with Stats.CutShort or Stats.Stopped set. It never
// fails otherwise.
func (r *Reader) Next(p *track.Packet) error {
	for {
		data, ci, err := r.src.ZeroCopyReadPacketData()
		if err != nil {
			// A record cut inside its header or data is a capture stopped
			// mid-write. pcapgo says io.EOF when the header is whole and
			// no data follows; the header's capture length gives it away.
			if errors.Is(err, io.ErrUnexpectedEOF) || (errors.Is(err, io.EOF) && ci.CaptureLength > 0) {
				r.stats.CutShort = true
				return io.EOF
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			// A broken record or block: nothing after it can be trusted.
			// Keep what was read, and say where it stopped.
			if !errors.Is(err, ErrCorrupt) {
				err = fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			r.stats.Frames++
			r.stats.Bad++
			r.stats.Stopped = fmt.Errorf("at frame %d: %w", r.stats.Frames, err)
			return io.EOF
		}
		r.stats.Frames++
		*p = track.Packet{Time: ci.Timestamp}
		done, err := r.decodeFrame(r.linkOf(ci), data, p)
		switch {
		case errors.Is(err, ErrNotIP):
			r.stats.NotIP++
		case err != nil:
			r.stats.Bad++
			if len(r.stats.Problems) < maxProblems {
				r.stats.Problems = append(r.stats.Problems, Problem{Frame: r.stats.Frames, Err: err})
			}
		case done:
			r.stats.Packets++
			return nil
		}
	}
}

// decodeFrame decodes one frame; done is false when it was a fragment that
// did not complete a datagram.
func (r *Reader) decodeFrame(link layers.LinkType, frame []byte, p *track.Packet) (done bool, err error) {
	ip, err := linkPayload(link, frame)
	if err != nil {
		return false, err
	}
	frag, err := decodeIP(ip, p)
	if err != nil || frag == nil {
		return err == nil, err
	}
	r.stats.Fragments++
	whole, ok := r.frags.add(frag, p.Time)
	if !ok {
		return false, nil
	}
	r.stats.Reassembled++
	if _, err := decodeIP(whole, p); err != nil {
		return false, fmt.Errorf("reassembled datagram: %w", err)
	}
	return true, nil
}

// Reassembly. Conntrack sees whole datagrams (defragmentation runs first,
// docs/KERNEL.md §7.1), so a fragmented datagram is one packet of its full length.
// Only the first fragment's first bytes are kept: that is all the headers
// conntrack reads need.

type fragKey struct {
	family   track.Family
	src, dst netip.Addr
	proto    track.Proto // IPv4 only; IPv6 identifies by id
	id       uint32
}

type datagram struct {
	first    []byte // the start of the payload, from the offset-0 fragment
	haveHead bool
	received int // payload bytes seen (overlaps are not modelled)
	end      int // payload length, known once the last fragment came; -1 before
	seen     time.Time
}

// keepHead is how much of the first fragment is kept: room for a TCP header
// with options, or an ICMP error with an IPv6 header and 8 bytes.
const keepHead = 128

// fragTimeout drops incomplete datagrams, like ipfrag_time (IPv4 30 s,
// IPv6 60 s; the longer is used).
const fragTimeout = 60 * time.Second

// maxPending bounds memory on captures full of lone fragments.
const maxPending = 4096

type reassembler struct {
	pending map[fragKey]*datagram
}

func (a *reassembler) add(f *fragment, at time.Time) ([]byte, bool) {
	k := fragKey{family: f.family, src: f.src, dst: f.dst, id: f.id}
	if f.family == track.FamilyIPv4 {
		k.proto = f.proto
	}
	d := a.pending[k]
	if d == nil {
		if len(a.pending) >= maxPending {
			a.expire(at)
		}
		d = &datagram{end: -1}
		a.pending[k] = d
	}
	d.seen = at
	d.received += f.payLen
	if f.offset == 0 {
		d.first = append(d.first[:0], f.payload[:min(len(f.payload), keepHead)]...)
		d.haveHead = true
	}
	if !f.more {
		d.end = f.offset + f.payLen
	}
	if !d.haveHead || d.end < 0 || d.received < d.end {
		return nil, false
	}
	delete(a.pending, k)
	return rebuild(f.family, k.src, k.dst, f.proto, d.end, d.first), true
}

// expire drops datagrams older than the fragment timeout, or all of them if
// none is (the table is full of fresh fragments).
func (a *reassembler) expire(now time.Time) {
	for k, d := range a.pending {
		if now.Sub(d.seen) > fragTimeout {
			delete(a.pending, k)
		}
	}
	if len(a.pending) >= maxPending {
		clear(a.pending)
	}
}

// rebuild makes an unfragmented IP packet of the datagram's length holding
// its first bytes.
func rebuild(family track.Family, src, dst netip.Addr, proto track.Proto, payLen int, head []byte) []byte {
	if family == track.FamilyIPv4 {
		total := min(20+payLen, 0xffff)
		b := make([]byte, 20, 20+len(head))
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:4], uint16(total))
		b[8] = 64
		b[9] = byte(proto)
		s, d := src.As4(), dst.As4()
		copy(b[12:16], s[:])
		copy(b[16:20], d[:])
		return append(b, head...)
	}
	b := make([]byte, 40, 40+len(head))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:6], uint16(min(payLen, 0xffff)))
	b[6] = byte(proto)
	b[7] = 64
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return append(b, head...)
}
