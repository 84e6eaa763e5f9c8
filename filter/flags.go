package filter

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/track"
)

// Flags holds the raw option values registered on a FlagSet.
type Flags struct {
	fs                                   *pflag.FlagSet
	proto, family                        string
	src, dst, replySrc, replyDst         string
	maskSrc, maskDst                     string
	sport, dport, replySport, replyDport string
	icmpType, icmpCode, icmpID           string
	icmp6Type, icmp6Code, icmp6ID        string
	states, status, labels               []string
	mark                                 string
	zone, origZone, replyZone            string
	srcNAT, dstNAT, anyNAT               string
}

// natAny is the value pflag stores for --src-nat given without an argument.
const natAny = "any"

// aliases are conntrack's other spellings of the same options (conntrack.c
// and its protocol extensions accept both).
var aliases = map[string]string{
	"orig-src":      "src",
	"orig-dst":      "dst",
	"protonum":      "proto",
	"orig-port-src": "sport",
	"orig-port-dst": "dport",
}

// Register adds the filter options to fs, with conntrack's names and
// spellings (--orig-src, --protonum, --orig-port-src ... are accepted for
// the names shown).
func Register(fs *pflag.FlagSet) *Flags {
	fl := &Flags{fs: fs}
	prev := fs.GetNormalizeFunc()
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if canonical, ok := aliases[name]; ok {
			name = canonical
		}
		return prev(f, name)
	})
	fs.StringVarP(&fl.proto, "proto", "p", "", "layer 4 protocol: a name (tcp, udp, icmp, esp, igmp, ...; /etc/protocols names) or a number 0-255 (also --protonum)")
	fs.StringVarP(&fl.family, "family", "f", "", "layer 3 family: ipv4 or ipv6")
	fs.StringVarP(&fl.src, "src", "s", "", "original source address or CIDR (also --orig-src)")
	fs.StringVarP(&fl.dst, "dst", "d", "", "original destination address or CIDR (also --orig-dst)")
	fs.StringVarP(&fl.replySrc, "reply-src", "r", "", "reply source address or CIDR (the server, or the DNAT target)")
	fs.StringVarP(&fl.replyDst, "reply-dst", "q", "", "reply destination address or CIDR (the client, or the SNAT address)")
	fs.StringVar(&fl.maskSrc, "mask-src", "", "mask applied to --src (any mask, e.g. 255.255.0.255)")
	fs.StringVar(&fl.maskDst, "mask-dst", "", "mask applied to --dst")
	fs.StringVar(&fl.sport, "sport", "", "original source port (also --orig-port-src)")
	fs.StringVar(&fl.dport, "dport", "", "original destination port (also --orig-port-dst)")
	fs.StringVar(&fl.replySport, "reply-port-src", "", "reply source port")
	fs.StringVar(&fl.replyDport, "reply-port-dst", "", "reply destination port")
	fs.StringVar(&fl.icmpType, "icmp-type", "", "ICMP type of the original direction (with -p icmp)")
	fs.StringVar(&fl.icmpCode, "icmp-code", "", "ICMP code (with -p icmp)")
	fs.StringVar(&fl.icmpID, "icmp-id", "", "ICMP echo id (with -p icmp)")
	fs.StringVar(&fl.icmp6Type, "icmpv6-type", "", "ICMPv6 type of the original direction (with -p icmpv6)")
	fs.StringVar(&fl.icmp6Code, "icmpv6-code", "", "ICMPv6 code (with -p icmpv6)")
	fs.StringVar(&fl.icmp6ID, "icmpv6-id", "", "ICMPv6 echo id (with -p icmpv6)")
	fs.StringSliceVar(&fl.states, "state", nil, "protocol state, e.g. SYN_SENT or TIME_WAIT (comma list: any of them)")
	fs.StringSliceVarP(&fl.status, "status", "u", nil, "status bits that must be set, !BIT for clear: ASSURED, SEEN_REPLY, UNREPLIED, FIXED_TIMEOUT, EXPECTED, OFFLOAD, HW_OFFLOAD, UNSET, ... (e.g. SEEN_REPLY,!ASSURED)")
	fs.StringVarP(&fl.mark, "mark", "m", "", "connection mark VALUE[/MASK]: (mark & MASK) == VALUE (decimal, 0x hex or 0 octal)")
	fs.StringVarP(&fl.zone, "zone", "w", "", "conntrack zone (an entry without one is in zone 0)")
	fs.StringVar(&fl.origZone, "orig-zone", "", "zone of the original direction (0 for entries without one)")
	fs.StringVar(&fl.replyZone, "reply-zone", "", "zone of the reply direction (0 for entries without one)")
	fs.StringVarP(&fl.srcNAT, "src-nat", "n", "", "source-NATed entries; --src-nat ADDR[:PORT] for one NAT address")
	fs.StringVarP(&fl.dstNAT, "dst-nat", "g", "", "destination-NATed entries; --dst-nat ADDR[:PORT] for one target")
	fs.StringVarP(&fl.anyNAT, "any-nat", "j", "", "source- or destination-NATed entries; --any-nat ADDR[:PORT] for one address")
	fs.StringSliceVarP(&fl.labels, "label", "l", nil, "connection labels, all of them (names from connlabel.conf)")
	for _, n := range natFlags {
		fs.Lookup(n.long).NoOptDefVal = natAny
	}
	return fl
}

// bad formats an error about one option.
func bad(opt, val, why string) error {
	return fmt.Errorf("%w: --%s %q: %s", ErrBadFilter, opt, val, why)
}

// Filter builds the Filter from the parsed options.
func (fl *Flags) Filter() (*Filter, error) {
	f := &Filter{}
	if err := fl.protoAndFamily(f); err != nil {
		return nil, err
	}
	if err := fl.addresses(f); err != nil {
		return nil, err
	}
	if err := fl.ports(f); err != nil {
		return nil, err
	}
	if err := fl.statesAndStatus(f); err != nil {
		return nil, err
	}
	if err := fl.markAndZones(f); err != nil {
		return nil, err
	}
	if err := fl.nat(f); err != nil {
		return nil, err
	}
	for _, l := range fl.labels {
		if l == "" {
			return nil, bad("label", strings.Join(fl.labels, ","), "an empty label name")
		}
	}
	f.Labels = fl.labels
	f.args = fl.changedArgs()
	return f, nil
}

func (fl *Flags) protoAndFamily(f *Filter) error {
	if fl.family != "" {
		fam, ok := track.ParseFamily(fl.family)
		if !ok {
			return bad("family", fl.family, "want ipv4 or ipv6")
		}
		f.Family = fam
	}
	if fl.proto != "" {
		p, ok := ParseProto(fl.proto)
		if !ok {
			return bad("proto", fl.proto, "want a protocol name (tcp, udp, icmp, esp, ... as in /etc/protocols) or a number 0-255")
		}
		f.Proto, f.HasProto = p, true
	}
	return nil
}

// setFamily records the family an address implies, as conntrack does,
// refusing a second, different one.
func setFamily(f *Filter, opt, val string, a netip.Addr) error {
	fam := track.FamilyIPv4
	if a.Is6() {
		fam = track.FamilyIPv6
	}
	if f.Family != 0 && f.Family != fam {
		return bad(opt, val, "address family differs from "+f.Family.String()+" (given by --family or another address)")
	}
	f.Family = fam
	return nil
}

func (fl *Flags) addresses(f *Filter) error {
	var err error
	for _, a := range []struct {
		opt, val string
		dst      *netip.Prefix
	}{{"src", fl.src, &f.Src}, {"dst", fl.dst, &f.Dst}, {"reply-src", fl.replySrc, &f.ReplySrc}, {"reply-dst", fl.replyDst, &f.ReplyDst}} {
		if a.val == "" {
			continue
		}
		if *a.dst, err = parsePrefix(a.val); err != nil {
			return bad(a.opt, a.val, err.Error())
		}
		if err := setFamily(f, a.opt, a.val, a.dst.Addr()); err != nil {
			return err
		}
	}
	for _, m := range []struct {
		opt, val, of string
		prefix       *netip.Prefix
		dst          *maskMatch
	}{{"mask-src", fl.maskSrc, "src", &f.Src, &f.srcMask}, {"mask-dst", fl.maskDst, "dst", &f.Dst, &f.dstMask}} {
		if m.val == "" {
			continue
		}
		if !m.prefix.IsValid() {
			return bad(m.opt, m.val, "needs --"+m.of+" (the address the mask applies to)")
		}
		if m.prefix.Bits() != m.prefix.Addr().BitLen() {
			return bad(m.opt, m.val, "--"+m.of+" is already a CIDR; give a prefix length or a mask, not both")
		}
		mask, err := netip.ParseAddr(m.val)
		if err != nil || mask.Zone() != "" {
			return bad(m.opt, m.val, "want a mask written as an address (255.255.255.0, ffff:ffff::)")
		}
		if mask.Is4() != m.prefix.Addr().Is4() {
			return bad(m.opt, m.val, "the mask's family differs from --"+m.of)
		}
		if bits, ok := prefixLen(mask); ok {
			*m.prefix = netip.PrefixFrom(m.prefix.Addr(), bits).Masked()
			continue
		}
		*m.dst = newMaskMatch(m.prefix.Addr(), mask)
		*m.prefix = netip.Prefix{}
	}
	return nil
}

// prefixLen reports whether mask is contiguous ones, and how many.
func prefixLen(mask netip.Addr) (int, bool) {
	b := mask.AsSlice()
	n, zero := 0, false
	for _, x := range b {
		for bit := 7; bit >= 0; bit-- {
			if x&(1<<bit) != 0 {
				if zero {
					return 0, false
				}
				n++
			} else {
				zero = true
			}
		}
	}
	return n, true
}

func newMaskMatch(a, mask netip.Addr) maskMatch {
	m := maskMatch{set: true, v4: a.Is4(), maskString: mask.String()}
	ab, mb := a.AsSlice(), mask.AsSlice()
	for i := range ab {
		m.mask[i] = mb[i]
		m.net[i] = ab[i] & mb[i]
	}
	return m
}

func (fl *Flags) ports(f *Filter) error {
	for _, p := range []struct {
		opt, val string
		dst      *portMatch
	}{{"sport", fl.sport, &f.sport}, {"dport", fl.dport, &f.dport}, {"reply-port-src", fl.replySport, &f.replySport}, {"reply-port-dst", fl.replyDport, &f.replyDport}} {
		if p.val == "" {
			continue
		}
		v, err := strconv.ParseUint(p.val, 10, 16)
		if err != nil {
			return bad(p.opt, p.val, "want a port 0-65535")
		}
		*p.dst = portMatch{set: true, port: uint16(v)}
	}
	if (f.sport.set || f.dport.set || f.replySport.set || f.replyDport.set) && f.HasProto && !f.Proto.HasPorts() {
		return bad("proto", fl.proto, "has no ports")
	}
	for _, ic := range []struct {
		prefix            string
		proto             track.Proto
		typ, code, idText string
	}{{"icmp", track.ProtoICMP, fl.icmpType, fl.icmpCode, fl.icmpID}, {"icmpv6", track.ProtoICMPv6, fl.icmp6Type, fl.icmp6Code, fl.icmp6ID}} {
		if ic.typ == "" && ic.code == "" && ic.idText == "" {
			continue
		}
		if !f.HasProto || f.Proto != ic.proto {
			opt, val := ic.prefix+"-type", ic.typ
			if ic.typ == "" {
				opt, val = ic.prefix+"-code", ic.code
				if ic.code == "" {
					opt, val = ic.prefix+"-id", ic.idText
				}
			}
			return bad(opt, val, "needs -p "+ic.prefix+", as in conntrack")
		}
		for _, b := range []struct {
			opt, val string
			dst      *byteMatch
		}{{ic.prefix + "-type", ic.typ, &f.icmpType}, {ic.prefix + "-code", ic.code, &f.icmpCode}} {
			if b.val == "" {
				continue
			}
			v, err := strconv.ParseUint(b.val, 10, 8)
			if err != nil {
				return bad(b.opt, b.val, "want a number 0-255")
			}
			*b.dst = byteMatch{set: true, v: uint8(v)}
		}
		if ic.idText != "" {
			v, err := strconv.ParseUint(ic.idText, 10, 16)
			if err != nil {
				return bad(ic.prefix+"-id", ic.idText, "want an id 0-65535")
			}
			f.icmpID = portMatch{set: true, port: uint16(v)}
		}
	}
	return nil
}

func (fl *Flags) statesAndStatus(f *Filter) error {
	for _, s := range fl.states {
		name := strings.ToUpper(s)
		known := false
		for _, p := range []track.Proto{track.ProtoTCP, track.ProtoSCTP, track.ProtoDCCP} {
			if f.HasProto && f.Proto != p {
				continue
			}
			if n, ok := track.ParseStateName(p, name); ok {
				name = track.StateName(p, n) // LISTEN → SYN_SENT2
				known = true
				break
			}
		}
		if !known {
			return bad("state", s, "not a TCP, SCTP or DCCP state name")
		}
		f.States = append(f.States, name)
	}
	if fl.fs.Changed("status") && len(fl.status) == 0 {
		return bad("status", "", "an empty status word")
	}
	for _, s := range fl.status {
		neg := strings.HasPrefix(s, "!")
		word := strings.TrimPrefix(s, "!")
		if !neg && strings.HasPrefix(strings.ToUpper(word), "UNREPLIED") {
			// conntrack compares the start only.
			f.StatusClear |= track.StatusSeenReply
			continue
		}
		bit, err := ParseStatusWord(word)
		if err != nil {
			return bad("status", s, err.Error())
		}
		if neg {
			f.StatusClear |= bit
		} else {
			f.StatusSet |= bit
		}
	}
	if f.StatusSet&f.StatusClear != 0 {
		return bad("status", strings.Join(fl.status, ","), "a bit cannot be both set and clear")
	}
	return nil
}

func (fl *Flags) markAndZones(f *Filter) error {
	if fl.mark != "" {
		v, mask, err := parseMark(fl.mark)
		if err != nil {
			return bad("mark", fl.mark, err.Error())
		}
		// Like conntrack's mark_cmp: (mark & mask) == value, the value not masked.
		f.Mark, f.MarkMask, f.HasMark = v, mask, true
	}
	for _, z := range []struct {
		opt, val string
		dst      *uint16
		has      *bool
	}{{"zone", fl.zone, &f.Zone, &f.HasZone}, {"orig-zone", fl.origZone, &f.OrigZone, &f.HasOrigZone}, {"reply-zone", fl.replyZone, &f.ReplyZone, &f.HasReplyZone}} {
		if z.val == "" {
			continue
		}
		v, ok := strtoul(z.val)
		if !ok || v > 0xffff {
			return bad(z.opt, z.val, "want a zone 0-65535")
		}
		*z.dst, *z.has = uint16(v), true
	}
	return nil
}

func (fl *Flags) nat(f *Filter) error {
	if fl.anyNAT != "" && (fl.srcNAT != "" || fl.dstNAT != "") {
		return fmt.Errorf("%w: --any-nat cannot be combined with --src-nat or --dst-nat (as in conntrack)", ErrBadFilter)
	}
	var err error
	for _, n := range []struct {
		opt, val string
		dst      *natMatch
	}{{"src-nat", fl.srcNAT, &f.srcNAT}, {"dst-nat", fl.dstNAT, &f.dstNAT}, {"any-nat", fl.anyNAT, &f.anyNAT}} {
		if n.val == "" {
			continue
		}
		if *n.dst, err = parseNAT(n.val); err != nil {
			return bad(n.opt, n.val, err.Error())
		}
		if a := n.dst.addr; a.IsValid() {
			if err := setFamily(f, n.opt, n.val, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// changedArgs lists the options that were set, sorted by name.
func (fl *Flags) changedArgs() []string {
	var out []string
	fl.fs.VisitAll(func(fg *pflag.Flag) {
		if !fg.Changed || !isFilterFlag(fg.Name) {
			return
		}
		v := fg.Value.String()
		if sv, ok := fg.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		switch {
		case v == natAny:
			out = append(out, "--"+fg.Name)
		case fg.NoOptDefVal != "":
			out = append(out, "--"+fg.Name+"="+v) // an optional value must be attached
		default:
			out = append(out, "--"+fg.Name, v)
		}
	})
	return out
}

var filterFlagNames = []string{
	"proto", "family", "src", "dst", "reply-src", "reply-dst", "mask-src", "mask-dst",
	"sport", "dport", "reply-port-src", "reply-port-dst",
	"icmp-type", "icmp-code", "icmp-id", "icmpv6-type", "icmpv6-code", "icmpv6-id",
	"state", "status", "mark", "zone", "orig-zone", "reply-zone",
	"src-nat", "dst-nat", "any-nat", "label",
}

func isFilterFlag(name string) bool { return slices.Contains(filterFlagNames, name) }

// FlagNames lists the long names of the filter options (the canonical
// ones; see Register for the aliases), for callers that must tell them
// from their own options.
func FlagNames() []string { return slices.Clone(filterFlagNames) }

// parsePrefix accepts an address or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("want an address or CIDR")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("want an address or CIDR")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseNAT parses the optional ADDR[:PORT] of the NAT options (IPv6 with a
// port as [ADDR]:PORT), as conntrack's split_address_and_port does.
func parseNAT(s string) (natMatch, error) {
	n := natMatch{set: true}
	if s == natAny {
		return n, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		n.addr, n.port = ap.Addr().Unmap(), portMatch{set: true, port: ap.Port()}
		return n, nil
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return n, fmt.Errorf("want ADDR, ADDR:PORT or [IPv6]:PORT")
	}
	n.addr = a
	return n, nil
}

// isNATValue reports whether s reads as the optional value of a NAT
// option.
func isNATValue(s string) bool {
	_, err := parseNAT(s)
	return err == nil && s != natAny
}
