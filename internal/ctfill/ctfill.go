package ctfill

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/track"
)

// Timeout is the timeout every created entry gets (seconds): long enough
// that nothing expires while a test or benchmark runs.
const Timeout = 3600

// Kinds of entries, by index modulo 10: mostly established TCP, as on a
// busy server, with the states and protocols analysis cares about.
//
//	0-4 TCP ESTABLISHED [ASSURED]      5 TCP SYN_SENT [UNREPLIED]
//	6   TCP TIME_WAIT [ASSURED]        7 UDP [ASSURED]
//	8   ICMP echo (answered)           9 IPv6 TCP ESTABLISHED [ASSURED], mark 7
//
// Entry(i) gives the values; addresses make every tuple unique for i <
// 16,777,216.
func Entry(i int) track.Flow {
	n := uint32(i)
	src4 := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	dst4 := netip.AddrFrom4([4]byte{192, 0, 2, 1})
	f := track.Flow{Timeout: Timeout, Fields: track.FieldTimeout}
	tcp := func(state track.TCPState, status track.Status) {
		f.Orig = track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoTCP, Src: src4, Dst: dst4, SrcPort: 40000 + uint16(n%20000), DstPort: 443}
		f.State, f.Fields = uint8(state), f.Fields|track.FieldState
		f.Status = status
	}
	assured := track.StatusSeenReply | track.StatusAssured
	switch i % 10 {
	case 0, 1, 2, 3, 4:
		tcp(track.TCPEstablished, assured)
	case 5:
		tcp(track.TCPSynSent, 0)
	case 6:
		tcp(track.TCPTimeWait, assured)
	case 7:
		f.Orig = track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: src4, Dst: dst4, SrcPort: 50000 + uint16(n%10000), DstPort: 53}
		f.Status = assured
	case 8:
		f.Orig = track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoICMP, Src: src4, Dst: dst4, Type: 8, ID: uint16(n)}
		f.Status = track.StatusSeenReply
	case 9:
		src6 := netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)})
		dst6 := netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
		f.Orig = track.Tuple{Family: track.FamilyIPv6, Proto: track.ProtoTCP, Src: src6, Dst: dst6, SrcPort: 40000 + uint16(n%20000), DstPort: 443}
		f.State, f.Fields = uint8(track.TCPEstablished), f.Fields|track.FieldState
		f.Status = assured
		f.Mark, f.Fields = 7, f.Fields|track.FieldMark
	}
	f.Reply = f.Orig.Reply()
	return f
}

// Filler creates entries in one namespace.
type Filler struct {
	c     *netlink.Conn
	batch []netlink.Message
	size  int
	sent  int
}

// batchBytes is how much one sendmsg carries; the send buffer is forced
// above it.
const batchBytes = 256 << 10

// New opens a ctnetlink socket in the namespace whose file descriptor is
// nsFD (0: the caller's).
func New(nsFD int) (*Filler, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFD})
	if err != nil {
		return nil, fmt.Errorf("ctfill: %w", err)
	}
	raw, err := c.SyscallConn()
	if err == nil {
		err = raw.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4*batchBytes)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("ctfill: %w", err)
	}
	return &Filler{c: c}, nil
}

// NewIn opens a Filler in the namespace at path (e.g. /run/netns/NAME).
func NewIn(path string) (*Filler, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ctfill: %w", err)
	}
	defer f.Close()
	return New(int(f.Fd()))
}

// FillIn creates Entry(from) … Entry(from+n-1) in the namespace at path
// (e.g. /run/netns/NAME) on a socket of its own.
func FillIn(path string, from, n int) error {
	fl, err := NewIn(path)
	if err != nil {
		return err
	}
	defer fl.Close()
	return fl.Fill(from, n)
}

// Close closes the socket.
func (fl *Filler) Close() error { return fl.c.Close() }

// Add queues the creation of f (sent when a batch is full, or by Sync).
func (fl *Filler) Add(f *track.Flow) error {
	m, err := createMessage(f)
	if err != nil {
		return err
	}
	fl.batch = append(fl.batch, m)
	fl.size += len(m.Data) + 16
	if fl.size >= batchBytes-4096 {
		return fl.send()
	}
	return nil
}

func (fl *Filler) send() error {
	if len(fl.batch) == 0 {
		return nil
	}
	if _, err := fl.c.SendMessages(fl.batch); err != nil {
		return fmt.Errorf("ctfill: send: %w", err)
	}
	fl.sent += len(fl.batch)
	fl.batch, fl.size = fl.batch[:0], 0
	return fl.drainErrors(false)
}

// Sync sends what is queued and waits until the kernel has processed
// everything: it returns the first creation error the kernel reported.
func (fl *Filler) Sync() error {
	if err := fl.send(); err != nil {
		return err
	}
	return fl.drainErrors(true)
}

// drainErrors reads creation errors (only failures are answered). With
// wait it sends an acknowledged no-op request and reads up to its answer,
// so every earlier request has been processed.
func (fl *Filler) drainErrors(wait bool) error {
	var barrier uint32
	if wait {
		m, err := fl.c.Send(netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(1<<8 | 5), Flags: netlink.Request | netlink.Acknowledge},
			Data:   []byte{0, 0, 0, 0},
		}) // IPCTNL_MSG_CT_GET_STATS: harmless, answered, then acknowledged
		if err != nil {
			return fmt.Errorf("ctfill: %w", err)
		}
		barrier = m.Header.Sequence
	} else if err := fl.c.SetReadDeadline(deadlineNow()); err != nil {
		return err
	}
	defer fl.c.SetReadDeadline(noDeadline())
	var first error
	for {
		msgs, err := fl.c.Receive()
		if err != nil {
			var op *netlink.OpError
			if errors.As(err, &op) && op.Timeout() {
				return first
			}
			if errors.Is(err, syscall.ENOBUFS) {
				return fmt.Errorf("ctfill: too many creation errors to read them all: %w", err)
			}
			if first == nil {
				first = fmt.Errorf("ctfill: creating entries: %w", err)
			}
			if !wait {
				return first
			}
			continue
		}
		for _, m := range msgs {
			if wait && m.Header.Sequence == barrier && m.Header.Type == netlink.Error {
				return first
			}
		}
	}
}

// Fill creates entries Entry(from) … Entry(from+n-1).
func (fl *Filler) Fill(from, n int) error {
	for i := from; i < from+n; i++ {
		f := Entry(i)
		if err := fl.Add(&f); err != nil {
			return err
		}
	}
	return fl.Sync()
}

// Sent is how many creations were sent.
func (fl *Filler) Sent() int { return fl.sent + len(fl.batch) }

// Update queues a change of the existing entry whose original tuple is
// f.Orig: its timeout becomes f.Timeout and, for TCP with FieldState, its
// state f.State. It is what a packet does to an entry (a refresh, a state
// transition), for harnesses that keep netlink-made entries alive the way
// traffic would. Sent like Add; an entry gone meanwhile is a creation error
// (ENOENT) reported by Sync.
func (fl *Filler) Update(f *track.Flow) error {
	m, err := updateMessage(f)
	if err != nil {
		return err
	}
	fl.batch = append(fl.batch, m)
	fl.size += len(m.Data) + 16
	if fl.size >= batchBytes-4096 {
		return fl.send()
	}
	return nil
}

// createMessage encodes IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL and
// no acknowledgement (failures are still reported).
func createMessage(f *track.Flow) (netlink.Message, error) {
	return newMessage(f, true)
}

// updateMessage encodes IPCTNL_MSG_CT_NEW without NLM_F_CREATE: the kernel
// changes the entry found by the original tuple (ctnetlink_change_conntrack),
// here only its timeout and TCP state.
func updateMessage(f *track.Flow) (netlink.Message, error) {
	return newMessage(f, false)
}

func newMessage(f *track.Flow, create bool) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	tuples := []struct {
		typ uint16
		t   *track.Tuple
	}{{1, &f.Orig}, {2, &f.Reply}} // CTA_TUPLE_ORIG, CTA_TUPLE_REPLY
	if !create {
		tuples = tuples[:1]
	}
	for _, tu := range tuples {
		t := tu.t
		ae.Nested(tu.typ|unix.NLA_F_NESTED, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(1|unix.NLA_F_NESTED, func(ae *netlink.AttributeEncoder) error { // CTA_TUPLE_IP
				if t.Family == track.FamilyIPv6 {
					ae.Bytes(3, t.Src.AsSlice())
					ae.Bytes(4, t.Dst.AsSlice())
				} else {
					ae.Bytes(1, t.Src.AsSlice())
					ae.Bytes(2, t.Dst.AsSlice())
				}
				return nil
			})
			ae.Nested(2|unix.NLA_F_NESTED, func(ae *netlink.AttributeEncoder) error { // CTA_TUPLE_PROTO
				ae.Uint8(1, uint8(t.Proto))
				switch {
				case t.Proto.HasPorts():
					ae.Uint16(2, t.SrcPort)
					ae.Uint16(3, t.DstPort)
				case t.Proto == track.ProtoICMP:
					ae.Uint16(4, t.ID)
					ae.Uint8(5, t.Type)
					ae.Uint8(6, t.Code)
				case t.Proto == track.ProtoICMPv6:
					ae.Uint16(7, t.ID)
					ae.Uint8(8, t.Type)
					ae.Uint8(9, t.Code)
				}
				return nil
			})
			return nil
		})
	}
	ae.Uint32(7, f.Timeout) // CTA_TIMEOUT
	if create {
		// CONFIRMED too: ctnetlink_create_conntrack sets it before applying
		// CTA_STATUS, and a status that differs in that bit is EBUSY.
		ae.Uint32(3, uint32(f.Status|track.StatusConfirmed)) // CTA_STATUS
		if f.Fields.Has(track.FieldMark) {
			ae.Uint32(8, f.Mark) // CTA_MARK
		}
	}
	if f.Fields.Has(track.FieldState) && f.Orig.Proto == track.ProtoTCP {
		ae.Nested(4|unix.NLA_F_NESTED, func(ae *netlink.AttributeEncoder) error { // CTA_PROTOINFO
			ae.Nested(1|unix.NLA_F_NESTED, func(ae *netlink.AttributeEncoder) error { // _TCP
				ae.Uint8(1, f.State) // _TCP_STATE
				return nil
			})
			return nil
		})
	}
	attrs, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, fmt.Errorf("ctfill: encode: %w", err)
	}
	family := byte(unix.AF_INET)
	if f.Orig.Family == track.FamilyIPv6 {
		family = unix.AF_INET6
	}
	flags := netlink.Request
	if create {
		flags |= netlink.Create | netlink.Excl
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(1 << 8), // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW (0)
			Flags: flags,
		},
		Data: append([]byte{family, 0, 0, 0}, attrs...),
	}, nil
}

// Flush deletes every entry of the namespace (conntrack -F: an
// IPCTNL_MSG_CT_DELETE without a tuple), which makes one DESTROY event
// per entry.
func (fl *Filler) Flush() error {
	if err := fl.send(); err != nil {
		return err
	}
	_, err := fl.c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(1<<8 | 2), Flags: netlink.Request | netlink.Acknowledge},
		Data:   []byte{0, 0, 0, 0},
	})
	if err != nil {
		return fmt.Errorf("ctfill: flush: %w", err)
	}
	return nil
}
