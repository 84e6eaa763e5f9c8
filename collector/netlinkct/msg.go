package netlinkct

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrMalformed marks bytes that are not a well-formed ctnetlink message.
	ErrMalformed = errors.New("malformed ctnetlink message")
	// ErrWrite marks a request that would change kernel state; ctdiag never
	// sends one (see Check).
	ErrWrite = errors.New("request would change kernel state")
)

// Message is one netlink message of a datagram, with its nfgenmsg header
// decoded. Attrs aliases the datagram: it is valid until the buffer is
// reused.
type Message struct {
	Type   uint16 // nlmsg_type: subsystem << 8 | message type
	Flags  uint16
	Seq    uint32
	PortID uint32 // for events: the port of the process whose request caused it, else 0
	Family uint8  // nfgen_family: 2 (IPv4), 10 (IPv6) or 0
	ResID  uint16 // nfgenmsg res_id (host order): the CPU of a statistics message
	Attrs  []byte
	// Body is the netfilter header and the attributes, as netlink
	// libraries expect a message's data.
	Body []byte
}

// Subsys is the message's netfilter subsystem (SubsysConntrack, SubsysExpect).
func (m *Message) Subsys() uint8 { return uint8(m.Type >> 8) }

// Msg is the subsystem's message type (MsgNew, MsgDelete, ...).
func (m *Message) Msg() uint8 { return uint8(m.Type) }

// Done reports the NLMSG_DONE that ends a dump.
func (m *Message) Done() bool { return m.Type == typeDone }

// Ack reports an acknowledgement (NLMSG_ERROR with errno 0).
func (m *Message) Ack() bool { return m.Type == typeError }

// Errno is a netlink error message's errno; 0 is an acknowledgement.
type Errno struct {
	Err syscall.Errno
}

func (e *Errno) Error() string { return "netlink: " + e.Err.Error() }
func (e *Errno) Unwrap() error { return e.Err }

// Walk calls fn for every message in a datagram, in order. Control messages
// are handled here: NLMSG_NOOP is skipped, NLMSG_DONE and acknowledgements
// (NLMSG_ERROR with errno 0) are passed to fn (so a reader knows its answer
// ended; see Done and Ack), and NLMSG_ERROR with a non-zero errno stops the
// walk with an *Errno. A
// message that does not fit the datagram is ErrMalformed.
func Walk(b []byte, fn func(m *Message) error) error {
	var m Message
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return fmt.Errorf("%w: %d trailing bytes, shorter than a netlink header", ErrMalformed, len(b))
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		if n < nlmsgHdrLen || n > len(b) {
			return fmt.Errorf("%w: message length %d in a datagram of %d bytes", ErrMalformed, n, len(b))
		}
		m = Message{
			Type:   binary.NativeEndian.Uint16(b[4:6]),
			Flags:  binary.NativeEndian.Uint16(b[6:8]),
			Seq:    binary.NativeEndian.Uint32(b[8:12]),
			PortID: binary.NativeEndian.Uint32(b[12:16]),
		}
		body := b[nlmsgHdrLen:n]
		if next := align4(n); next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		switch m.Type {
		case typeNoop:
			continue
		case typeError:
			if len(body) < 4 {
				return fmt.Errorf("%w: short error message", ErrMalformed)
			}
			code := int32(binary.NativeEndian.Uint32(body[:4]))
			if code == 0 {
				if err := fn(&m); err != nil {
					return err
				}
				continue
			}
			return &Errno{Err: syscall.Errno(-code)}
		case typeDone, typeOverrun:
			if err := fn(&m); err != nil {
				return err
			}
			continue
		}
		if len(body) < nfgenmsgLen {
			return fmt.Errorf("%w: type %#x without a netfilter header", ErrMalformed, m.Type)
		}
		m.Family = body[0]
		m.ResID = binary.BigEndian.Uint16(body[2:4])
		m.Attrs = body[nfgenmsgLen:]
		m.Body = body
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// attrs iterates over netlink attributes. The zero value is empty.
type attrs struct {
	b   []byte
	err error
	// current attribute
	typ    uint16
	nested bool
	data   []byte
}

func newAttrs(b []byte) attrs { return attrs{b: b} }

// next advances to the following attribute; false at the end or on a
// malformed one (then err is set).
func (a *attrs) next() bool {
	if len(a.b) == 0 || a.err != nil {
		return false
	}
	if len(a.b) < nlaHdrLen {
		a.err = fmt.Errorf("%w: %d trailing bytes, shorter than an attribute header", ErrMalformed, len(a.b))
		return false
	}
	n := int(binary.NativeEndian.Uint16(a.b[0:2]))
	t := binary.NativeEndian.Uint16(a.b[2:4])
	if n < nlaHdrLen || n > len(a.b) {
		a.err = fmt.Errorf("%w: attribute %d of length %d in %d bytes", ErrMalformed, t&nlaTypeMask, n, len(a.b))
		return false
	}
	a.typ = t & nlaTypeMask
	a.nested = t&nlaFNested != 0
	a.data = a.b[nlaHdrLen:n]
	if next := align4(n); next < len(a.b) {
		a.b = a.b[next:]
	} else {
		a.b = nil
	}
	return true
}

func (a *attrs) bad(what string) {
	if a.err == nil {
		a.err = fmt.Errorf("%w: %s: attribute %d has %d bytes", ErrMalformed, what, a.typ, len(a.data))
	}
}

func (a *attrs) u8(what string) uint8 {
	if len(a.data) < 1 {
		a.bad(what)
		return 0
	}
	return a.data[0]
}

func (a *attrs) be16(what string) uint16 {
	if len(a.data) < 2 {
		a.bad(what)
		return 0
	}
	return binary.BigEndian.Uint16(a.data)
}

func (a *attrs) be32(what string) uint32 {
	if len(a.data) < 4 {
		a.bad(what)
		return 0
	}
	return binary.BigEndian.Uint32(a.data)
}

func (a *attrs) be64(what string) uint64 {
	if len(a.data) < 8 {
		a.bad(what)
		return 0
	}
	return binary.BigEndian.Uint64(a.data)
}

// str is a NUL-terminated string attribute.
func (a *attrs) str() string {
	d := a.data
	for i, c := range d {
		if c == 0 {
			d = d[:i]
			break
		}
	}
	return string(d)
}
