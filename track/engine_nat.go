package track

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NOTRACK and NAT (docs/KERNEL.md §7): the raw-table rules that keep packets out of
// conntrack, and the NAT rules that rewrite a new connection's reply tuple.

// PortRange is an inclusive range of ports; the zero value matches any port
// (as a match) or means "no range" (as a NAT target).
type PortRange struct{ Min, Max uint16 }

// IsZero reports whether the range is unset.
func (r PortRange) IsZero() bool { return r.Min == 0 && r.Max == 0 }

func (r PortRange) contains(p uint16) bool { return r.IsZero() || (p >= r.Min && p <= r.Max) }

func (r PortRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(int(r.Min))
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// Match selects packets by header fields, like a rule's matches; zero
// fields match anything.
type Match struct {
	Family   Family
	Proto    Proto
	Src, Dst netip.Prefix
	SrcPorts PortRange
	DstPorts PortRange
}

func (m *Match) matches(fam Family, proto Proto, src, dst netip.Addr, sport, dport uint16) bool {
	switch {
	case m.Family != 0 && m.Family != fam:
		return false
	case m.Proto != 0 && m.Proto != proto:
		return false
	case m.Src.IsValid() && !m.Src.Contains(src):
		return false
	case m.Dst.IsValid() && !m.Dst.Contains(dst):
		return false
	}
	if !m.SrcPorts.IsZero() || !m.DstPorts.IsZero() {
		if !tracksPorts(proto) {
			return false
		}
		return m.SrcPorts.contains(sport) && m.DstPorts.contains(dport)
	}
	return true
}

func (m *Match) packet(p *Packet) bool {
	return m.matches(p.Family, p.Proto, p.Src, p.Dst, p.SrcPort, p.DstPort)
}

// NoTrackRule marks matching packets untracked, in either direction, before
// conntrack sees them (raw table -j NOTRACK / -j CT --notrack / nft notrack).
type NoTrackRule struct {
	Match Match
}

// notracked reports whether a NOTRACK rule selects p.
func (e *Engine) notracked(p *Packet) bool {
	for i := range e.cfg.NoTrack {
		if e.cfg.NoTrack[i].Match.packet(p) {
			return true
		}
	}
	return false
}

// NATKind is the kind of a NAT rule.
type NATKind uint8

// NAT rule kinds.
const (
	NATSnat       NATKind = iota + 1 // SNAT --to-source (POSTROUTING)
	NATMasquerade                    // MASQUERADE: SNAT to the output interface's address
	NATDnat                          // DNAT --to-destination (PREROUTING / OUTPUT)
)

func (k NATKind) String() string {
	switch k {
	case NATSnat:
		return "snat"
	case NATMasquerade:
		return "masquerade"
	case NATDnat:
		return "dnat"
	}
	return "nat?"
}

// NATRule translates the first packet of matching connections.
type NATRule struct {
	Kind  NATKind
	Match Match
	// To is the address range to translate to: the new source (SNAT), the
	// output interface's address (MASQUERADE; invalid means the interface
	// has none, and the kernel drops the packet: "<if> ate my IP address"),
	// or the new destination (DNAT). ToMax is the end of a range (invalid =
	// just To).
	To, ToMax netip.Addr
	// Ports is --to-ports (SNAT, MASQUERADE) or the destination port range
	// (DNAT); zero keeps the port where possible.
	Ports PortRange
}

// ErrBadNATRule is returned for a NAT rule that cannot be applied.
var ErrBadNATRule = errors.New("bad NAT rule")

func (r *NATRule) check() error {
	switch r.Kind {
	case NATSnat, NATDnat:
		if !r.To.IsValid() {
			return fmt.Errorf("%w: %s needs an address", ErrBadNATRule, r.Kind)
		}
	case NATMasquerade:
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrBadNATRule, r.Kind)
	}
	if r.ToMax.IsValid() && (!r.To.IsValid() || r.ToMax.Is4() != r.To.Is4() || r.ToMax.Less(r.To)) {
		return fmt.Errorf("%w: address range %s-%s", ErrBadNATRule, r.To, r.ToMax)
	}
	if r.Ports.Min > r.Ports.Max {
		return fmt.Errorf("%w: port range %d-%d", ErrBadNATRule, r.Ports.Min, r.Ports.Max)
	}
	return nil
}

// String renders the rule as ParseNATRule reads it.
func (r NATRule) String() string {
	var b strings.Builder
	b.WriteString(r.Kind.String())
	if r.To.IsValid() {
		b.WriteString(" to " + r.To.String())
		if r.ToMax.IsValid() && r.ToMax != r.To {
			b.WriteString("-" + r.ToMax.String())
		}
	}
	if !r.Ports.IsZero() {
		b.WriteString(" ports " + r.Ports.String())
	}
	return b.String()
}

// applyNAT makes the NAT decision for a new entry (docs/KERNEL.md §7.3): DNAT first
// (PREROUTING/OUTPUT), then SNAT (POSTROUTING), each from the first matching
// rule or a null binding. It rewrites the entry's reply tuple; ok is false
// when the packet must be dropped.
func (e *Engine) applyNAT(c *conn, p *Packet, now uint32) (reason string, ok bool) {
	if len(e.cfg.NAT) == 0 {
		return "", true
	}
	orig := c.orig
	t := orig // the packet's tuple after translation so far

	if r := e.natRule(NATDnat, &t); r != nil {
		e.natDestination(&t, r, now)
	}
	c.status |= StatusDstNATDone

	r := e.natRule(NATSnat, &t)
	switch {
	case r == nil:
		e.natNullSource(&t, now)
	case r.Kind == NATMasquerade && !r.To.IsValid():
		return "masquerade: the output interface has no address (\"ate my IP address\")", false
	case r.Kind == NATMasquerade && t.family == FamilyIPv4 && netip.AddrFrom16(t.src).Unmap().IsUnspecified():
		e.natNullSource(&t, now) // masquerade leaves 0.0.0.0 alone
	default:
		e.natSource(&t, r, now)
	}
	c.status |= StatusSrcNATDone

	if t.src != orig.src || (t.a != orig.a && (tracksPorts(orig.proto) || orig.proto.IsICMP())) {
		c.status |= StatusSrcNAT
	}
	if t.dst != orig.dst || (t.b != orig.b && tracksPorts(orig.proto)) {
		c.status |= StatusDstNAT
	}
	if c.status&StatusNATMask != 0 {
		reply, _ := t.invert()
		x := e.t.newExt(c)
		x.reply, x.natReply = reply, true
	}
	return "", true
}

// natRule finds the first rule of the hook's kind (DNAT, or SNAT and
// MASQUERADE) matching the packet as translated so far.
func (e *Engine) natRule(kind NATKind, t *key) *NATRule {
	tu := t.tuple()
	for i := range e.cfg.NAT {
		r := &e.cfg.NAT[i]
		if (kind == NATDnat) != (r.Kind == NATDnat) {
			continue
		}
		sport, dport := tu.SrcPort, tu.DstPort
		if r.Match.matches(tu.Family, tu.Proto, tu.Src, tu.Dst, sport, dport) {
			return r
		}
	}
	return nil
}

// natUsed is nf_nat_used_tuple: would t's reply tuple clash with an entry?
func (e *Engine) natUsed(t key, now uint32) bool {
	reply, ok := t.invert()
	if !ok {
		return false
	}
	_, _, taken := e.t.lookup(reply, now)
	if taken {
		e.stats[CounterFound]++ // nf_conntrack_tuple_taken counts its hits
	}
	return taken
}

// pickAddr chooses an address in [min, max] by hashing the connection, as
// find_best_ips_proto does (no "least used" accounting).
func (e *Engine) pickAddr(t *key, lo, hi netip.Addr, hashDst bool) [16]byte {
	if !hi.IsValid() || hi == lo {
		return lo.As16()
	}
	a, b := lo.As16(), hi.As16()
	span := uint64(be64(b[8:]) - be64(a[8:]) + 1) // ranges wider than 2^64 are not a thing
	h := t.hash(e.t.seed)
	if hashDst {
		h ^= uint32(mix64(uint64(t.zone)))
	}
	var off uint64
	if span != 0 {
		off = uint64(h) % span
	}
	out := a
	putBe64(out[8:], be64(a[8:])+off)
	return out
}

func be64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func putBe64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// natDestination applies a DNAT rule: a new destination address, and a new
// port only if a port range is given (get_unique_tuple for MANIP_DST).
func (e *Engine) natDestination(t *key, r *NATRule, now uint32) {
	t.dst = e.pickAddr(t, r.To, r.ToMax, false)
	if r.Ports.IsZero() || !tracksPorts(t.proto) {
		return // DNAT without a port range never changes the port
	}
	if r.Ports.contains(t.b) && (r.Ports.Min == r.Ports.Max || !e.natUsed(*t, now)) {
		return
	}
	e.uniquePort(t, &t.b, int(r.Ports.Min), int(r.Ports.Max)-int(r.Ports.Min)+1, 0, now)
}

// natSource applies an SNAT or MASQUERADE rule.
func (e *Engine) natSource(t *key, r *NATRule, now uint32) {
	inRange := func(addr [16]byte) bool {
		a := netip.AddrFrom16(addr)
		if t.family == FamilyIPv4 {
			a = a.Unmap()
		}
		lo, hi := r.To, r.ToMax
		if !hi.IsValid() {
			hi = lo
		}
		return !a.Less(lo) && !hi.Less(a)
	}
	// 1. Keep the original source if it is in range and unused.
	if inRange(t.src) && (r.Ports.IsZero() || r.Ports.contains(t.a) || !tracksPorts(t.proto)) && !e.natUsed(*t, now) {
		return
	}
	// 2. Choose the address.
	t.src = e.pickAddr(t, r.To, r.ToMax, true)
	// 3. Keep the port if it is in range and the tuple unused.
	if !r.Ports.IsZero() && tracksPorts(t.proto) {
		if r.Ports.contains(t.a) && (r.Ports.Min == r.Ports.Max || !e.natUsed(*t, now)) {
			return
		}
		e.uniquePort(t, &t.a, int(r.Ports.Min), int(r.Ports.Max)-int(r.Ports.Min)+1, -1, now)
		return
	}
	if !e.natUsed(*t, now) {
		return
	}
	e.sourcePortSearch(t, now)
}

// natNullSource is the null binding at the SNAT hook: nothing changes
// unless the reply tuple is taken, then the source port moves.
func (e *Engine) natNullSource(t *key, now uint32) {
	if !e.natUsed(*t, now) {
		return
	}
	e.sourcePortSearch(t, now)
}

// sourcePortSearch looks for a free source port (ICMP id) in the class of
// the original one: <512 in 1-511, <1024 in 600-1023, else 1024-65535.
func (e *Engine) sourcePortSearch(t *key, now uint32) {
	switch {
	case t.proto.IsICMP():
		e.uniquePort(t, &t.a, 0, 65536, -1, now)
	case !tracksPorts(t.proto):
		// No port to change: the clash stays and the packet is dropped at
		// confirmation.
	case t.a < 512:
		e.uniquePort(t, &t.a, 1, 511, -1, now)
	case t.a < 1024:
		e.uniquePort(t, &t.a, 600, 424, -1, now)
	default:
		e.uniquePort(t, &t.a, 1024, 64512, -1, now)
	}
}

// natMaxAttempts is NF_NAT_MAX_ATTEMPTS.
const natMaxAttempts = 128

// uniquePort is nf_nat_l4proto_unique_tuple: try up to 128 ports from an
// offset (random for SNAT, 0 for DNAT), then rounds of half as many from new
// random offsets, down to 16. If none is free the port is left clashing.
// off < 0 asks for a random offset.
func (e *Engine) uniquePort(t *key, port *uint16, lo, size, off int, now uint32) {
	if size <= 0 {
		return
	}
	if off < 0 {
		off = int(e.random16())
	}
	attempts := min(size, natMaxAttempts)
	for {
		for i := 0; i < attempts; i, off = i+1, off+1 {
			*port = uint16(lo + off%size)
			if !e.natUsed(*t, now) {
				return
			}
		}
		if attempts >= size || attempts < 16 {
			return
		}
		attempts /= 2
		off = int(e.random16())
	}
}

// random16 is the engine's get_random_u16: a seeded splitmix64 stream.
func (e *Engine) random16() uint16 {
	e.rng += 0x9e3779b97f4a7c15
	return uint16(mix64(e.rng))
}

// ParseNATRule reads a rule from the CLI syntax:
//
//	snat to ADDR[-ADDR] [ports N[-M]] [match...]
//	masquerade [to ADDR] [ports N[-M]] [match...]
//	dnat to ADDR[-ADDR] [ports N[-M]] [match...]
//
// with matches "proto P", "src PREFIX", "dst PREFIX", "sport N[-M]",
// "dport N[-M]".
func ParseNATRule(s string) (NATRule, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return NATRule{}, fmt.Errorf("%w: empty", ErrBadNATRule)
	}
	var r NATRule
	switch strings.ToLower(f[0]) {
	case "snat":
		r.Kind = NATSnat
	case "masquerade", "masq":
		r.Kind = NATMasquerade
	case "dnat":
		r.Kind = NATDnat
	default:
		return r, fmt.Errorf("%w: %q: want snat, masquerade or dnat", ErrBadNATRule, f[0])
	}
	rest, err := parseRuleWords(f[1:], &r.Match, func(word, val string) (bool, error) {
		switch word {
		case "to":
			lo, hi, _ := strings.Cut(val, "-")
			a, err := netip.ParseAddr(lo)
			if err != nil {
				return true, err
			}
			r.To = a
			if hi != "" {
				if r.ToMax, err = netip.ParseAddr(hi); err != nil {
					return true, err
				}
			}
			return true, nil
		case "ports", "to-ports":
			pr, err := parsePortRange(val)
			r.Ports = pr
			return true, err
		}
		return false, nil
	})
	if err != nil {
		return r, fmt.Errorf("%w: %q: %v", ErrBadNATRule, s, err)
	}
	if len(rest) > 0 {
		return r, fmt.Errorf("%w: %q: unexpected %q", ErrBadNATRule, s, rest[0])
	}
	return r, r.check()
}

// ParseNoTrackRule reads a NOTRACK rule: matches as in ParseNATRule.
func ParseNoTrackRule(s string) (NoTrackRule, error) {
	var r NoTrackRule
	rest, err := parseRuleWords(strings.Fields(s), &r.Match, nil)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected %q", rest[0])
	}
	if err != nil {
		return r, fmt.Errorf("notrack rule %q: %w", s, err)
	}
	return r, nil
}

// parseRuleWords reads "word value" pairs into m; extra handles words m
// does not know. It returns the words it could not read.
func parseRuleWords(words []string, m *Match, extra func(word, val string) (bool, error)) ([]string, error) {
	for len(words) > 0 {
		if len(words) < 2 {
			return words, nil
		}
		word, val := strings.ToLower(words[0]), words[1]
		var err error
		switch word {
		case "proto", "p":
			p, ok := ParseProto(val)
			if !ok {
				err = fmt.Errorf("unknown protocol %q", val)
			}
			m.Proto = p
		case "src", "saddr", "s":
			m.Src, err = parsePrefix(val)
		case "dst", "daddr", "d":
			m.Dst, err = parsePrefix(val)
		case "sport":
			m.SrcPorts, err = parsePortRange(val)
		case "dport":
			m.DstPorts, err = parsePortRange(val)
		case "family":
			f, ok := ParseFamily(val)
			if !ok {
				err = fmt.Errorf("unknown family %q", val)
			}
			m.Family = f
		default:
			handled := false
			if extra != nil {
				handled, err = extra(word, val)
			}
			if !handled && err == nil {
				return words, nil
			}
		}
		if err != nil {
			return words, fmt.Errorf("%s %s: %w", word, val, err)
		}
		words = words[2:]
	}
	return nil, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return PortRange{}, fmt.Errorf("port %q: want 0-65535", lo)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
			return PortRange{}, fmt.Errorf("port %q: want 0-65535", hi)
		}
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %s: end before start", s)
	}
	return PortRange{Min: uint16(a), Max: uint16(b)}, nil
}
