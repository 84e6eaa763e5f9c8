package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/track"
)

// ErrBadFilter wraps every error about filter options.
var ErrBadFilter = errors.New("bad filter")

// portMatch is an optional port condition.
type portMatch struct {
	set  bool
	port uint16
}

// natMatch is --src-nat / --dst-nat / --any-nat with an optional address
// and port ("--src-nat 10.0.0.1:40000").
type natMatch struct {
	set  bool
	addr netip.Addr // invalid = any
	port portMatch
}

// Filter selects flows. The zero Filter matches everything.
type Filter struct {
	Family track.Family // 0 = any
	Proto  track.Proto
	// HasProto distinguishes "-p 0" from no -p.
	HasProto bool

	Src, Dst, ReplySrc, ReplyDst netip.Prefix // invalid = any

	sport, dport, replySport, replyDport portMatch

	States []string // state names (TCP, SCTP or DCCP), any of them

	StatusSet   track.Status // bits that must be set
	StatusClear track.Status // bits that must be clear ("!ASSURED", UNREPLIED)

	Mark, MarkMask uint32
	HasMark        bool

	Zone, OrigZone, ReplyZone          uint16
	HasZone, HasOrigZone, HasReplyZone bool

	srcNAT, dstNAT, anyNAT natMatch

	Labels []string // all of them

	args []string // the options as given, for String
}

// SrcPort returns the original source port asked for (--sport), if any.
func (f *Filter) SrcPort() (uint16, bool) { return f.sport.port, f.sport.set }

// DstPort returns the original destination port asked for (--dport), if any.
func (f *Filter) DstPort() (uint16, bool) { return f.dport.port, f.dport.set }

// ReplySrcPort returns the reply source port asked for, if any.
func (f *Filter) ReplySrcPort() (uint16, bool) { return f.replySport.port, f.replySport.set }

// ReplyDstPort returns the reply destination port asked for, if any.
func (f *Filter) ReplyDstPort() (uint16, bool) { return f.replyDport.port, f.replyDport.set }

// Match reports whether fl passes every condition.
func (f *Filter) Match(fl *track.Flow) bool {
	if f.Family != 0 && fl.Orig.Family != f.Family {
		return false
	}
	if f.HasProto && fl.Orig.Proto != f.Proto {
		return false
	}
	if f.Src.IsValid() && !f.Src.Contains(fl.Orig.Src) ||
		f.Dst.IsValid() && !f.Dst.Contains(fl.Orig.Dst) ||
		f.ReplySrc.IsValid() && !f.ReplySrc.Contains(fl.Reply.Src) ||
		f.ReplyDst.IsValid() && !f.ReplyDst.Contains(fl.Reply.Dst) {
		return false
	}
	if f.sport.set || f.dport.set || f.replySport.set || f.replyDport.set {
		if !fl.Orig.Proto.HasPorts() || fl.Fields.Has(track.FieldGeneric) ||
			!f.sport.matches(fl.Orig.SrcPort) || !f.dport.matches(fl.Orig.DstPort) ||
			!f.replySport.matches(fl.Reply.SrcPort) || !f.replyDport.matches(fl.Reply.DstPort) {
			return false
		}
	}
	if len(f.States) > 0 && !slices.Contains(f.States, fl.StateName()) {
		return false
	}
	if fl.Status&f.StatusSet != f.StatusSet || fl.Status&f.StatusClear != 0 {
		return false
	}
	if f.HasMark && fl.Mark&f.MarkMask != f.Mark {
		return false
	}
	if f.HasZone && (fl.Zone != f.Zone || fl.Fields.Has(track.FieldZoneOrig) || fl.Fields.Has(track.FieldZoneReply)) {
		return false
	}
	if f.HasOrigZone && (!fl.Fields.Has(track.FieldZoneOrig) || fl.ZoneOrig != f.OrigZone) {
		return false
	}
	if f.HasReplyZone && (!fl.Fields.Has(track.FieldZoneReply) || fl.ZoneReply != f.ReplyZone) {
		return false
	}
	if f.anyNAT.set {
		if !f.anyNAT.matchSrc(fl) && !f.anyNAT.matchDst(fl) {
			return false
		}
	} else {
		if f.srcNAT.set && !f.srcNAT.matchSrc(fl) {
			return false
		}
		if f.dstNAT.set && !f.dstNAT.matchDst(fl) {
			return false
		}
	}
	if len(f.Labels) > 0 {
		var have []string
		if fl.Ext != nil {
			have = fl.Ext.Labels
		}
		for _, l := range f.Labels {
			if !slices.Contains(have, l) {
				return false
			}
		}
	}
	return true
}

func (p portMatch) matches(port uint16) bool { return !p.set || p.port == port }

// matchSrc: the reply goes to a translated source (conntrack's
// NFCT_GOPT_IS_SNAT / IS_SPAT), optionally to the given address and port.
func (n natMatch) matchSrc(fl *track.Flow) bool {
	if !fl.SrcNAT() {
		return false
	}
	if n.addr.IsValid() && fl.Reply.Dst != n.addr {
		return false
	}
	return !n.port.set || (fl.Orig.Proto.HasPorts() && fl.Reply.DstPort == n.port.port)
}

// matchDst: replies come from a translated destination.
func (n natMatch) matchDst(fl *track.Flow) bool {
	if !fl.DstNAT() {
		return false
	}
	if n.addr.IsValid() && fl.Reply.Src != n.addr {
		return false
	}
	return !n.port.set || (fl.Orig.Proto.HasPorts() && fl.Reply.SrcPort == n.port.port)
}

// IsEmpty reports whether the filter matches everything.
func (f *Filter) IsEmpty() bool { return len(f.args) == 0 }

// String returns the options the filter was built from, quoted where
// needed, so it can be shown and parsed again.
func (f *Filter) String() string {
	out := make([]string, len(f.args))
	for i, a := range f.args {
		switch {
		case a == "" || strings.ContainsAny(a, " \t\""):
			a = "'" + a + "'"
		case strings.ContainsRune(a, '\''):
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// Flags holds the raw option values registered on a FlagSet.
type Flags struct {
	fs                                   *pflag.FlagSet
	proto, family                        string
	src, dst, replySrc, replyDst         string
	sport, dport, replySport, replyDport string
	states, status, labels               []string
	mark                                 string
	zone, origZone, replyZone            string
	srcNAT, dstNAT, anyNAT               string
}

// natAny is the value pflag stores for --src-nat given without an argument.
const natAny = "any"

// Register adds the filter options to fs, with conntrack's names.
func Register(fs *pflag.FlagSet) *Flags {
	fl := &Flags{fs: fs}
	fs.StringVarP(&fl.proto, "proto", "p", "", "layer 4 protocol: name (tcp, udp, icmp, ...) or number")
	fs.StringVarP(&fl.family, "family", "f", "", "layer 3 family: ipv4 or ipv6")
	fs.StringVarP(&fl.src, "src", "s", "", "original source address or CIDR")
	fs.StringVarP(&fl.dst, "dst", "d", "", "original destination address or CIDR")
	fs.StringVarP(&fl.replySrc, "reply-src", "r", "", "reply source address or CIDR (the server, or the DNAT target)")
	fs.StringVarP(&fl.replyDst, "reply-dst", "q", "", "reply destination address or CIDR (the client, or the SNAT address)")
	fs.StringVar(&fl.sport, "sport", "", "original source port")
	fs.StringVar(&fl.dport, "dport", "", "original destination port")
	fs.StringVar(&fl.replySport, "reply-port-src", "", "reply source port")
	fs.StringVar(&fl.replyDport, "reply-port-dst", "", "reply destination port")
	fs.StringSliceVar(&fl.states, "state", nil, "protocol state, e.g. SYN_SENT or TIME_WAIT (comma list: any of them)")
	fs.StringSliceVarP(&fl.status, "status", "u", nil, "status bits that must be set, !BIT for clear: ASSURED, SEEN_REPLY, UNREPLIED, OFFLOAD, ... (e.g. SEEN_REPLY,!ASSURED)")
	fs.StringVarP(&fl.mark, "mark", "m", "", "connection mark VALUE[/MASK] (decimal or 0x hex)")
	fs.StringVarP(&fl.zone, "zone", "w", "", "conntrack zone")
	fs.StringVar(&fl.origZone, "orig-zone", "", "zone of the original direction")
	fs.StringVar(&fl.replyZone, "reply-zone", "", "zone of the reply direction")
	fs.StringVarP(&fl.srcNAT, "src-nat", "n", "", "source-NATed entries; --src-nat=ADDR[:PORT] for one NAT address")
	fs.StringVarP(&fl.dstNAT, "dst-nat", "g", "", "destination-NATed entries; --dst-nat=ADDR[:PORT] for one target")
	fs.StringVarP(&fl.anyNAT, "any-nat", "j", "", "source- or destination-NATed entries; --any-nat=ADDR[:PORT] for one address")
	fs.StringSliceVarP(&fl.labels, "label", "l", nil, "connection labels, all of them")
	for _, n := range []string{"src-nat", "dst-nat", "any-nat"} {
		fs.Lookup(n).NoOptDefVal = natAny
	}
	return fl
}

// Filter builds the Filter from the parsed options.
func (fl *Flags) Filter() (*Filter, error) {
	f := &Filter{}
	bad := func(opt, val, why string) error {
		return fmt.Errorf("%w: --%s %q: %s", ErrBadFilter, opt, val, why)
	}
	var err error
	if fl.family != "" {
		fam, ok := track.ParseFamily(fl.family)
		if !ok {
			return nil, bad("family", fl.family, "want ipv4 or ipv6")
		}
		f.Family = fam
	}
	if fl.proto != "" {
		p, ok := track.ParseProto(strings.ToLower(fl.proto))
		if !ok {
			return nil, bad("proto", fl.proto, "want a protocol name or a number 0-255")
		}
		f.Proto, f.HasProto = p, true
	}
	for _, a := range []struct {
		opt, val string
		dst      *netip.Prefix
	}{{"src", fl.src, &f.Src}, {"dst", fl.dst, &f.Dst}, {"reply-src", fl.replySrc, &f.ReplySrc}, {"reply-dst", fl.replyDst, &f.ReplyDst}} {
		if a.val == "" {
			continue
		}
		if *a.dst, err = parsePrefix(a.val); err != nil {
			return nil, bad(a.opt, a.val, err.Error())
		}
		fam := track.FamilyIPv4
		if a.dst.Addr().Is6() {
			fam = track.FamilyIPv6
		}
		if f.Family != 0 && f.Family != fam {
			return nil, bad(a.opt, a.val, "address family differs from --family "+f.Family.String())
		}
		f.Family = fam // like conntrack: an address implies its family
	}
	for _, p := range []struct {
		opt, val string
		dst      *portMatch
	}{{"sport", fl.sport, &f.sport}, {"dport", fl.dport, &f.dport}, {"reply-port-src", fl.replySport, &f.replySport}, {"reply-port-dst", fl.replyDport, &f.replyDport}} {
		if p.val == "" {
			continue
		}
		v, err := strconv.ParseUint(p.val, 10, 16)
		if err != nil {
			return nil, bad(p.opt, p.val, "want a port 0-65535")
		}
		*p.dst = portMatch{set: true, port: uint16(v)}
	}
	if (f.sport.set || f.dport.set || f.replySport.set || f.replyDport.set) && f.HasProto && !f.Proto.HasPorts() {
		return nil, bad("proto", fl.proto, "has no ports")
	}
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
			return nil, bad("state", s, "not a TCP, SCTP or DCCP state name")
		}
		f.States = append(f.States, name)
	}
	for _, s := range fl.status {
		neg := strings.HasPrefix(s, "!")
		name := strings.ToUpper(strings.TrimPrefix(s, "!"))
		switch {
		case name == "UNREPLIED" && !neg:
			f.StatusClear |= track.StatusSeenReply
		case name == "UNSET":
			// conntrack's UNSET is the empty set: no condition.
		default:
			bit, ok := track.ParseStatusBit(name)
			if !ok {
				return nil, bad("status", s, "not a status bit (ASSURED, SEEN_REPLY, UNREPLIED, FIXED_TIMEOUT, EXPECTED, OFFLOAD, HW_OFFLOAD, ...)")
			}
			if neg {
				f.StatusClear |= bit
			} else {
				f.StatusSet |= bit
			}
		}
	}
	if f.StatusSet&f.StatusClear != 0 {
		return nil, bad("status", strings.Join(fl.status, ","), "a bit cannot be both set and clear")
	}
	if fl.mark != "" {
		v, mask, err := parseMark(fl.mark)
		if err != nil {
			return nil, bad("mark", fl.mark, err.Error())
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
		v, err := strconv.ParseUint(z.val, 0, 16)
		if err != nil {
			return nil, bad(z.opt, z.val, "want a zone 0-65535")
		}
		*z.dst, *z.has = uint16(v), true
	}
	for _, n := range []struct {
		opt, val string
		dst      *natMatch
	}{{"src-nat", fl.srcNAT, &f.srcNAT}, {"dst-nat", fl.dstNAT, &f.dstNAT}, {"any-nat", fl.anyNAT, &f.anyNAT}} {
		if n.val == "" {
			continue
		}
		if *n.dst, err = parseNAT(n.val); err != nil {
			return nil, bad(n.opt, n.val, err.Error())
		}
	}
	f.Labels = fl.labels
	f.args = fl.changedArgs()
	return f, nil
}

// changedArgs lists the options that were set, sorted by name.
func (fl *Flags) changedArgs() []string {
	var out []string
	fl.fs.VisitAll(func(fg *pflag.Flag) {
		if !fg.Changed || !isFilterFlag(fg.Name) {
			return
		}
		vals := []string{fg.Value.String()}
		if sv, ok := fg.Value.(pflag.SliceValue); ok {
			vals = []string{strings.Join(sv.GetSlice(), ",")}
		}
		for _, v := range vals {
			switch {
			case v == natAny:
				out = append(out, "--"+fg.Name)
			case fg.NoOptDefVal != "":
				out = append(out, "--"+fg.Name+"="+v) // an optional value must be attached
			default:
				out = append(out, "--"+fg.Name, v)
			}
		}
	})
	return out
}

var filterFlagNames = []string{
	"proto", "family", "src", "dst", "reply-src", "reply-dst", "sport", "dport",
	"reply-port-src", "reply-port-dst", "state", "status", "mark", "zone",
	"orig-zone", "reply-zone", "src-nat", "dst-nat", "any-nat", "label",
}

func isFilterFlag(name string) bool { return slices.Contains(filterFlagNames, name) }

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

// parseMark parses VALUE[/MASK] as strtoul(…, 0) does: decimal, 0x hex or
// leading-zero octal.
func parseMark(s string) (value, mask uint32, err error) {
	v, m, hasMask := strings.Cut(s, "/")
	vv, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("want VALUE[/MASK], numbers up to 0xffffffff")
	}
	mask = 0xffffffff
	if hasMask {
		mm, err := strconv.ParseUint(m, 0, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("want VALUE[/MASK], numbers up to 0xffffffff")
		}
		mask = uint32(mm)
	}
	return uint32(vv), mask, nil
}

// parseNAT parses the optional ADDR[:PORT] of the NAT options (IPv6 with a
// port as [ADDR]:PORT).
func parseNAT(s string) (natMatch, error) {
	n := natMatch{set: true}
	if s == natAny {
		return n, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		n.addr, n.port = ap.Addr(), portMatch{set: true, port: ap.Port()}
		return n, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return n, fmt.Errorf("want ADDR or ADDR:PORT")
	}
	n.addr = a
	return n, nil
}

// Parse builds a Filter from conntrack-style arguments, e.g.
// []string{"-p", "tcp", "--dport", "443", "-u", "SEEN_REPLY,!ASSURED"}.
func Parse(args []string) (*Filter, error) {
	fs := pflag.NewFlagSet("filter", pflag.ContinueOnError)
	fs.SetOutput(discard{})
	fl := Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFilter, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected %q (filters are options like -p tcp --dport 443)", ErrBadFilter, fs.Arg(0))
	}
	return fl.Filter()
}

// ParseString splits s like a shell would (spaces, single and double
// quotes) and parses the result; it is how a typed filter is read.
func ParseString(s string) (*Filter, error) {
	args, err := splitArgs(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFilter, err)
	}
	return Parse(args)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func splitArgs(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
