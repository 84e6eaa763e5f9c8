package ruleset

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/track"
)

// Live says which namespace to read and how.
type Live struct {
	// Netns is an open network namespace file (/run/netns/NAME,
	// /proc/PID/ns/net); nil reads the caller's own namespace.
	Netns *os.File
	// NetnsName names the namespace in notes ("" for the caller's own).
	NetnsName string
	// Observe, when set, sees every netlink request (type, flags) before
	// it is checked and sent: tests prove the reader read-only with it.
	Observe func(typ, flags uint16)
	// NoLegacy skips looking for iptables-legacy tables.
	NoLegacy bool
}

// The nftables requests this package may send: gets and dumps only.
var readRequests = map[uint16]string{
	unix.NFT_MSG_GETTABLE:     "NFT_MSG_GETTABLE",
	unix.NFT_MSG_GETCHAIN:     "NFT_MSG_GETCHAIN",
	unix.NFT_MSG_GETRULE:      "NFT_MSG_GETRULE",
	unix.NFT_MSG_GETSET:       "NFT_MSG_GETSET",
	unix.NFT_MSG_GETSETELEM:   "NFT_MSG_GETSETELEM",
	unix.NFT_MSG_GETGEN:       "NFT_MSG_GETGEN",
	unix.NFT_MSG_GETOBJ:       "NFT_MSG_GETOBJ",
	unix.NFT_MSG_GETFLOWTABLE: "NFT_MSG_GETFLOWTABLE",
}

// Check refuses any netlink request that is not a get or dump of the
// nftables subsystem: no NEW*/DEL*/DESTROY*, no batches, and none of the
// *_RESET gets (which zero counters and quotas as they read them).
func Check(typ, flags uint16) error {
	if typ>>8 != unix.NFNL_SUBSYS_NFTABLES {
		return fmt.Errorf("%w: subsystem %d (message type %#04x)", ErrWrite, typ>>8, typ)
	}
	if _, ok := readRequests[typ&0xff]; !ok {
		return fmt.Errorf("%w: nftables message %d", ErrWrite, typ&0xff)
	}
	if flags&unix.NLM_F_REQUEST == 0 {
		return fmt.Errorf("%w: not a request (flags %#04x)", ErrWrite, flags)
	}
	return nil
}

// RequestName names an nftables read request ("NFT_MSG_GETRULE").
func RequestName(typ uint16) string {
	if typ>>8 != unix.NFNL_SUBSYS_NFTABLES {
		return ""
	}
	return readRequests[typ&0xff]
}

// nftConn is an NETLINK_NETFILTER socket in one namespace; every request
// goes through send, which calls Check.
type nftConn struct {
	c       *netlink.Conn
	raw     syscall.RawConn
	buf     []byte
	observe func(typ, flags uint16)
}

func dialNft(l Live) (*nftConn, error) {
	cfg := &netlink.Config{}
	if l.Netns != nil {
		cfg.NetNS = int(l.Netns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: %v", ErrPermission, err)
		}
		return nil, fmt.Errorf("opening an nftables netlink socket: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	// The kernel fills dump datagrams up to 32 KiB for a reader with a
	// buffer at least that large.
	return &nftConn{c: c, raw: raw, buf: make([]byte, 64<<10), observe: l.Observe}, nil
}

func (n *nftConn) close() error { return n.c.Close() }

func (n *nftConn) send(msg uint16, flags netlink.HeaderFlags) error {
	return n.sendWith(msg, flags, unix.NFPROTO_UNSPEC, nil)
}

// sendWith sends a request for one family with attributes (a set's
// elements are asked for by table and set name).
func (n *nftConn) sendWith(msg uint16, flags netlink.HeaderFlags, family uint8, attrs []byte) error {
	typ := uint16(unix.NFNL_SUBSYS_NFTABLES)<<8 | msg
	if n.observe != nil {
		n.observe(typ, uint16(flags))
	}
	if err := Check(typ, uint16(flags)); err != nil {
		return err
	}
	_, err := n.c.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: flags},
		Data:   append([]byte{family, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	return err
}

// dump sends a dump request for msg and calls fn with each answer's
// payload (valid only during the call) until the dump ends.
func (n *nftConn) dump(ctx context.Context, msg uint16, fn func([]byte) error) error {
	if err := n.send(msg, netlink.Request|netlink.Dump); err != nil {
		return err
	}
	return n.receive(ctx, fn, true)
}

// recv reads one datagram into buf.
func (n *nftConn) recv(buf []byte) (int, error) {
	var got int
	var rerr error
	err := n.raw.Read(func(fd uintptr) bool {
		got, _, rerr = unix.Recvfrom(int(fd), buf, 0)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, fmt.Errorf("netlink receive: %w", err)
	}
	return got, nil
}

// walkDatagram calls fn for each message of a datagram until its end or
// the end of the answer (done). An error from the kernel is returned;
// fn's first error is kept in *ferr and later messages are skipped.
func walkDatagram(b []byte, fn func([]byte) error, ferr *error, dump bool) (done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := binary.NativeEndian.Uint32(b)
		typ := binary.NativeEndian.Uint16(b[4:])
		if l < unix.NLMSG_HDRLEN || int(l) > len(b) {
			return true, fmt.Errorf("netlink: a message of %d bytes in a datagram of %d", l, len(b))
		}
		payload := b[unix.NLMSG_HDRLEN:l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(payload) >= 4 {
				if errno := -int32(binary.NativeEndian.Uint32(payload)); errno != 0 {
					err := syscall.Errno(errno)
					if err == unix.EPERM || err == unix.EACCES {
						return true, fmt.Errorf("%w: %v", ErrPermission, err)
					}
					return true, fmt.Errorf("nftables: %w", err)
				}
			}
			return true, nil
		default:
			if *ferr == nil {
				*ferr = fn(payload)
			}
		}
		b = b[min(int((l+3)&^3), len(b)):]
		if !dump {
			return true, nil
		}
	}
	return false, nil
}

// receive reads datagrams until NLMSG_DONE (a dump) or one message. It
// reads to the end even after fn or ctx failed, so the socket stays
// usable.
func (n *nftConn) receive(ctx context.Context, fn func([]byte) error, dump bool) error {
	var ferr error
	for {
		if err := ctx.Err(); err != nil && ferr == nil {
			ferr = err
		}
		got, err := n.recv(n.buf)
		if err != nil {
			return err
		}
		done, err := walkDatagram(n.buf[:got], fn, &ferr, dump)
		if err != nil {
			return err
		}
		if done {
			return ferr
		}
	}
}

// dumpPipelined is dump with the datagrams read by a goroutine of their
// own into a few circulating buffers: the kernel builds the next datagram
// (inside recvmsg) while this one is decoded, on another core.
func (n *nftConn) dumpPipelined(ctx context.Context, msg uint16, fn func([]byte) error) error {
	if err := n.send(msg, netlink.Request|netlink.Dump); err != nil {
		return err
	}
	const buffers = 4
	type datagram struct {
		b    []byte
		err  error
		last bool
	}
	free := make(chan []byte, buffers)
	full := make(chan datagram, buffers)
	free <- n.buf
	for i := 1; i < buffers; i++ {
		free <- make([]byte, len(n.buf))
	}
	go func() {
		for {
			buf := <-free
			got, err := n.recv(buf)
			last := err != nil || endsAnswer(buf[:got])
			full <- datagram{b: buf[:got], err: err, last: last}
			if last {
				return
			}
		}
	}()
	var ferr, kerr error
	for d := range full {
		if err := ctx.Err(); err != nil && ferr == nil {
			ferr = err
		}
		if d.err != nil {
			kerr = d.err
		} else if _, err := walkDatagram(d.b, fn, &ferr, true); err != nil && kerr == nil {
			kerr = err
		}
		if d.last {
			break
		}
		free <- d.b[:cap(d.b)]
	}
	if kerr != nil {
		return kerr
	}
	return ferr
}

// endsAnswer reports whether a datagram holds the end of a dump.
func endsAnswer(b []byte) bool {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := binary.NativeEndian.Uint32(b)
		typ := binary.NativeEndian.Uint16(b[4:])
		if typ == unix.NLMSG_DONE || typ == unix.NLMSG_ERROR || l < unix.NLMSG_HDRLEN || int(l) > len(b) {
			return true
		}
		b = b[min(int((l+3)&^3), len(b)):]
	}
	return false
}

// genID reads the ruleset's generation: it changes with every commit, so
// equal ids before and after the dumps mean they saw one ruleset.
func (n *nftConn) genID(ctx context.Context) (uint32, error) {
	if err := n.send(unix.NFT_MSG_GETGEN, netlink.Request); err != nil {
		return 0, err
	}
	var id uint32
	err := n.receive(ctx, func(b []byte) error {
		if len(b) < nfgenLen {
			return nil
		}
		ad, err := attrs(b[nfgenLen:])
		if err != nil {
			return err
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				id = ad.Uint32()
			}
		}
		return ad.Err()
	}, false)
	return id, err
}

// Read reads the namespace's ruleset: the nftables tables (nft's and
// iptables-nft's) over netlink, then, when legacy x_tables tables exist
// in the namespace, those with iptables-legacy-save -c (a note says so).
// It only reads; every request passes Check.
func Read(ctx context.Context, l Live) (*track.Ruleset, error) {
	rs, err := ReadNftables(ctx, l)
	if err != nil {
		return nil, err
	}
	if !l.NoLegacy {
		readLegacy(ctx, l, rs)
	}
	return rs, nil
}

// ReadNftables reads the nftables ruleset over netlink. If the ruleset
// changes while it is read (the generation id moved), it reads again, up
// to three times, and notes it when it never held still.
func ReadNftables(ctx context.Context, l Live) (*track.Ruleset, error) {
	n, err := dialNft(l)
	if err != nil {
		return nil, err
	}
	defer n.close()
	var rs *track.Ruleset
	for attempt := 0; attempt < 3; attempt++ {
		before, err := n.genID(ctx)
		if err != nil {
			return nil, err
		}
		if rs, err = n.readOnce(ctx); err != nil {
			return nil, err
		}
		after, err := n.genID(ctx)
		if err != nil {
			return nil, err
		}
		if before == after {
			rs.Source = "nftables netlink"
			if l.NetnsName != "" {
				rs.Source += " (netns " + l.NetnsName + ")"
			}
			return rs, nil
		}
	}
	rs.Notes = append(rs.Notes, "the ruleset changed while it was read (three times): it may mix two versions")
	return rs, nil
}

// ruleParts is what a rule read over netlink leaves to do once every rule
// is read: its text (which needs its table's backend), and its lookups in
// anonymous sets.
type ruleParts struct {
	table, chain, rule int
	parts              []string
	narrowing          int
	lookups            []setLookup
}

// readOnce dumps tables, chains and rules and assembles them.
func (n *nftConn) readOnce(ctx context.Context) (*track.Ruleset, error) {
	rs := &track.Ruleset{}
	// Lookups by family, then name (indexing with string(bytes) does not
	// allocate).
	tables := map[track.RuleFamily]map[string]int{}
	var bad int
	err := n.dump(ctx, unix.NFT_MSG_GETTABLE, func(b []byte) error {
		t, err := decodeTableMsg(b)
		if err != nil {
			bad++
			return nil
		}
		if tables[t.family] == nil {
			tables[t.family] = map[string]int{}
		}
		tables[t.family][t.name] = len(rs.Tables)
		rs.Tables = append(rs.Tables, track.RuleTable{Family: t.family, Name: t.name, Backend: track.BackendNft})
		return nil
	})
	if err != nil {
		return nil, err
	}
	chains := map[int]map[string]int{} // by table index
	err = n.dump(ctx, unix.NFT_MSG_GETCHAIN, func(b []byte) error {
		c, err := decodeChainMsg(b)
		ti, ok := tables[c.family][c.table]
		if err != nil || !ok {
			bad++
			return nil
		}
		if chains[ti] == nil {
			chains[ti] = map[string]int{}
		}
		chains[ti][c.chain.Name] = len(rs.Tables[ti].Chains)
		rs.Tables[ti].Chains = append(rs.Tables[ti].Chains, c.chain)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Per table: whether iptables-nft wrote it, and the undecoded parts of
	// each rule, for its text once the backend is known.
	xtTables := map[int]bool{}
	var parts []ruleParts
	err = n.dumpPipelined(ctx, unix.NFT_MSG_GETRULE, func(b []byte) error {
		r, err := decodeRuleMsg(b)
		ti, ok := tables[r.family][string(r.table)]
		ci, ok2 := chains[ti][string(r.chain)]
		if err != nil || !ok || !ok2 {
			bad++
			return nil
		}
		c := &rs.Tables[ti].Chains[ci]
		r.rule.Position = len(c.Rules) + 1
		c.Rules = append(c.Rules, r.rule)
		rs.Unknown += r.unknown
		if r.xt {
			xtTables[ti] = true
		}
		parts = append(parts, ruleParts{table: ti, chain: ci, rule: len(c.Rules) - 1, parts: r.parts, narrowing: r.narrowing, lookups: r.lookups})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := n.resolveLookups(ctx, rs, parts); err != nil {
		return nil, err
	}
	for i := range rs.Tables {
		if xtTables[i] || looksLikeIptablesNft(&rs.Tables[i]) {
			rs.Tables[i].Backend = track.BackendIptablesNft
		}
	}
	for _, p := range parts {
		t := &rs.Tables[p.table]
		c := &t.Chains[p.chain]
		r := &c.Rules[p.rule]
		if t.Backend == track.BackendIptablesNft {
			r.Text = IptablesText(c.Name, r, p.parts...)
		} else {
			r.Text = NftText(r, p.parts...)
		}
	}
	if bad > 0 {
		rs.Notes = append(rs.Notes, fmt.Sprintf("%d netlink messages could not be decoded", bad))
		rs.Unknown += bad
	}
	return rs, nil
}
