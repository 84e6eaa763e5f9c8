package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pcapng is read here rather than with pcapgo's NgReader, which allocates
// whatever length a block or interface claims (up to 4 GiB: one corrupt
// header could exhaust memory; found by FuzzReader). This reader bounds
// every block and reads only what replay needs: section headers (byte
// order), interface descriptions (link type, snap length, timestamp
// resolution and offset), and enhanced, simple and obsolete packet blocks.

// maxSnap bounds a packet's captured length: tcpdump's default snap length,
// room for the largest GSO packets a host captures.
const maxSnap = 262144

// maxBlock bounds a pcapng block.
const maxBlock = maxSnap + 64<<10

// ErrCorrupt says the capture's structure is broken from some point on.
var ErrCorrupt = errors.New("corrupt capture")

type ngInterface struct {
	link    layers.LinkType
	snaplen uint32
	// Timestamps are units of 1/resolution s since offset.
	resolution uint64
	offset     int64
}

type ngReader struct {
	r      *bufio.Reader
	order  binary.ByteOrder
	ifaces []ngInterface
	block  []byte
}

func newNgReader(r *bufio.Reader) (*ngReader, error) {
	ng := &ngReader{r: r, order: binary.LittleEndian}
	typ, _, err := ng.readBlock()
	if err != nil {
		return nil, err
	}
	if typ != ngSectionHeader {
		return nil, fmt.Errorf("%w: pcapng does not start with a section header", ErrCorrupt)
	}
	return ng, nil
}

const (
	ngSectionHeader      = 0x0A0D0D0A
	ngInterfaceDesc      = 1
	ngPacketObsolete     = 2
	ngSimplePacket       = 3
	ngEnhancedPacket     = 6
	ngByteOrderMagic     = 0x1A2B3C4D
	ngOptionEnd          = 0
	ngOptionTSResolution = 9
	ngOptionTSOffset     = 14
)

// readBlock reads the next block; for a section header it switches byte
// order and forgets the interfaces. body excludes type, lengths and trailer.
func (ng *ngReader) readBlock() (typ uint32, body []byte, err error) {
	var head [12]byte
	if _, err := io.ReadFull(ng.r, head[:8]); err != nil {
		return 0, nil, err
	}
	if binary.LittleEndian.Uint32(head[0:4]) == ngSectionHeader {
		if _, err := io.ReadFull(ng.r, head[8:12]); err != nil {
			return 0, nil, unexpected(err)
		}
		switch {
		case binary.LittleEndian.Uint32(head[8:12]) == ngByteOrderMagic:
			ng.order = binary.LittleEndian
		case binary.BigEndian.Uint32(head[8:12]) == ngByteOrderMagic:
			ng.order = binary.BigEndian
		default:
			return 0, nil, fmt.Errorf("%w: pcapng section header without a byte-order magic", ErrCorrupt)
		}
		ng.ifaces = ng.ifaces[:0]
	}
	typ = ng.order.Uint32(head[0:4])
	total := ng.order.Uint32(head[4:8])
	read := uint32(8)
	if typ == ngSectionHeader {
		read = 12
	}
	if total < read+4 || total%4 != 0 || total > maxBlock {
		return 0, nil, fmt.Errorf("%w: pcapng block of type %#x claims %d bytes", ErrCorrupt, typ, total)
	}
	n := int(total - read)
	if cap(ng.block) < n {
		ng.block = make([]byte, n)
	}
	b := ng.block[:n]
	if _, err := io.ReadFull(ng.r, b); err != nil {
		return 0, nil, unexpected(err)
	}
	if trailer := ng.order.Uint32(b[n-4:]); trailer != total {
		return 0, nil, fmt.Errorf("%w: pcapng block length %d, trailer %d", ErrCorrupt, total, trailer)
	}
	return typ, b[:n-4], nil
}

// unexpected turns an end of file inside a block into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ZeroCopyReadPacketData returns the next packet; data is valid until the
// next call.
func (ng *ngReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for {
		typ, b, err := ng.readBlock()
		if err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
		switch typ {
		case ngInterfaceDesc:
			if len(b) < 8 {
				return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: short interface description", ErrCorrupt)
			}
			iface := ngInterface{link: layers.LinkType(ng.order.Uint16(b[0:2])), snaplen: ng.order.Uint32(b[4:8]), resolution: 1e6}
			ng.options(b[8:], func(code uint16, v []byte) {
				switch {
				case code == ngOptionTSResolution && len(v) >= 1:
					iface.resolution = tsResolution(v[0])
				case code == ngOptionTSOffset && len(v) >= 8:
					iface.offset = int64(ng.order.Uint64(v[:8]))
				}
			})
			ng.ifaces = append(ng.ifaces, iface)
		case ngEnhancedPacket, ngPacketObsolete:
			if len(b) < 20 {
				return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: short packet block", ErrCorrupt)
			}
			var id int
			if typ == ngEnhancedPacket {
				id = int(ng.order.Uint32(b[0:4]))
			} else {
				id = int(ng.order.Uint16(b[0:2]))
			}
			if id >= len(ng.ifaces) {
				return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: packet on interface %d, %d described", ErrCorrupt, id, len(ng.ifaces))
			}
			caplen := int(ng.order.Uint32(b[12:16]))
			if caplen > len(b)-20 {
				return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: packet of %d bytes in a block of %d", ErrCorrupt, caplen, len(b)+12)
			}
			ts := uint64(ng.order.Uint32(b[4:8]))<<32 | uint64(ng.order.Uint32(b[8:12]))
			ci := gopacket.CaptureInfo{Timestamp: ng.ifaces[id].time(ts), CaptureLength: caplen,
				Length: int(ng.order.Uint32(b[16:20])), InterfaceIndex: id}
			return b[20 : 20+caplen], ci, nil
		case ngSimplePacket:
			if len(b) < 4 || len(ng.ifaces) == 0 {
				return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: simple packet block without an interface", ErrCorrupt)
			}
			orig := int(ng.order.Uint32(b[0:4]))
			caplen := min(orig, len(b)-4)
			if s := int(ng.ifaces[0].snaplen); s > 0 {
				caplen = min(caplen, s)
			}
			return b[4 : 4+caplen], gopacket.CaptureInfo{CaptureLength: caplen, Length: orig}, nil
		}
		// Other blocks (statistics, name resolution, custom) are skipped.
	}
}

// options walks a block's options.
func (ng *ngReader) options(b []byte, fn func(code uint16, value []byte)) {
	for len(b) >= 4 {
		code, n := ng.order.Uint16(b[0:2]), int(ng.order.Uint16(b[2:4]))
		if code == ngOptionEnd || 4+n > len(b) {
			return
		}
		fn(code, b[4:4+n])
		b = b[4+(n+3)&^3:]
	}
}

// tsResolution decodes if_tsresol: 10^-v, or 2^-v with the top bit set.
func tsResolution(v byte) uint64 {
	if v&0x80 != 0 {
		return 1 << min(v&0x7f, 63)
	}
	r := uint64(1)
	for range min(v, 19) {
		r *= 10
	}
	return r
}

func (i *ngInterface) time(units uint64) time.Time {
	sec := units / i.resolution
	frac := units % i.resolution
	nsec := uint64(math.Round(float64(frac) * 1e9 / float64(i.resolution)))
	return time.Unix(i.offset+int64(sec), int64(nsec)).UTC()
}

func (ng *ngReader) linkOf(ci gopacket.CaptureInfo) layers.LinkType {
	if ci.InterfaceIndex < len(ng.ifaces) {
		return ng.ifaces[ci.InterfaceIndex].link
	}
	return layers.LinkTypeNull
}
