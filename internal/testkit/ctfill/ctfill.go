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

// Assured is entry i of a table that early drop cannot make room in:
// UDP [ASSURED] (a stream that saw traffic both ways for more than 2 s)
// from 100.64.0.0/10 to 198.51.100.1:443 (QUIC), unique for i < 4,194,304
// and distinct from every Entry. A namespace filled with them to
// nf_conntrack_max drops every new flow ("table full"). They are not TCP,
// so analysis takes them neither for idle connections nor for connections
// left open, and their timeout is Timeout (ctnetlink allows more than the
// kernel's stream timeout), so none expires while a table is being filled
// or a test runs.
func Assured(i int) track.Flow {
	n := uint32(i)
	src := netip.AddrFrom4([4]byte{100, 64 | byte(n>>16)&0x3f, byte(n >> 8), byte(n)})
	f := track.Flow{Timeout: Timeout, Fields: track.FieldTimeout}
	f.Orig = track.Tuple{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: src, Dst: netip.AddrFrom4([4]byte{198, 51, 100, 1}), SrcPort: 40000, DstPort: 443}
	f.Status = track.StatusSeenReply | track.StatusAssured
	f.Reply = f.Orig.Reply()
	return f
}

// Filler creates entries in one namespace.
type Filler struct {
	c     *netlink.Conn
	batch []netlink.Message
	size  int
	sent  int
	// count and max are the namespace's nf_conntrack_count and the global
	// nf_conntrack_max, as the last Sync's barrier request was answered.
	count, max int
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
			if !wait || m.Header.Sequence != barrier {
				continue
			}
			if m.Header.Type == netlink.Error {
				return first
			}
			fl.readCount(m.Data)
		}
	}
}

// readCount takes the namespace's count and the limit from the answer to
// IPCTNL_MSG_CT_GET_STATS (CTA_STATS_GLOBAL_ENTRIES, _MAX_ENTRIES).
func (fl *Filler) readCount(b []byte) {
	if len(b) < 4 {
		return
	}
	ad, err := netlink.NewAttributeDecoder(b[4:])
	if err != nil {
		return
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case 1:
			fl.count = int(ad.Uint32())
		case 2:
			fl.max = int(ad.Uint32())
		}
	}
}

// Count waits until the kernel has processed everything sent (as Sync)
// and returns the namespace's entry count and nf_conntrack_max, with the
// first creation error, if any (the count is valid all the same).
func (fl *Filler) Count() (count, max int, err error) {
	fl.count, fl.max = -1, -1
	err = fl.Sync()
	if fl.count < 0 || fl.max < 0 {
		return 0, 0, errors.Join(err, errors.New("ctfill: the kernel's statistics gave no count and limit"))
	}
	return fl.count, fl.max, err
}

// ErrTableFull is returned by a creation the kernel refused because the
// namespace already holds nf_conntrack_max entries.
var ErrTableFull = syscall.ENOMEM

// FillToLimit creates entry(from), entry(from+1), … until the namespace
// holds nf_conntrack_max entries, and returns how many it created. The
// limit is global to the machine and never changed: each namespace counts
// its own entries against it, so a test fills its own namespace instead of
// lowering the limit for everyone (262,144 entries take a few seconds).
// Entries made meanwhile by the namespace's own traffic count too; a
// creation refused because the table filled up first is not an error. With
// entries early drop may not evict (Assured), the table is then full for
// good: every new flow is dropped.
func (fl *Filler) FillToLimit(from int, entry func(int) track.Flow) (int, error) {
	made := 0
	for range 10 {
		count, max, err := fl.Count()
		if err != nil && (!errors.Is(err, ErrTableFull) || max <= 0) {
			return made, err
		}
		if max == 0 {
			return made, errors.New("ctfill: nf_conntrack_max is 0 (no limit): a table cannot be filled")
		}
		if count >= max {
			return made, nil
		}
		for range max - count {
			f := entry(from + made)
			if err := fl.Add(&f); err != nil && !errors.Is(err, ErrTableFull) {
				return made, err
			}
			made++
		}
	}
	return made, errors.New("ctfill: the table did not fill up: entries vanish as fast as they are made")
}

// Fill creates entries Entry(from) … Entry(from+n-1).
func (fl *Filler) Fill(from, n int) error { return fl.FillWith(from, n, Entry) }

// FillWith creates entries entry(from) … entry(from+n-1) (Entry, Assured).
func (fl *Filler) FillWith(from, n int, entry func(int) track.Flow) error {
	for i := from; i < from+n; i++ {
		f := entry(i)
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
