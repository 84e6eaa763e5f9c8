package ruleset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/track"
)

// Decoding of nftables netlink messages (the payload after the netlink
// header: the nfgenmsg, then attributes) into the model. Pure: the live
// reader feeds it what the kernel sent, the fuzzer anything.

// Verdict and hook numbers golang.org/x/sys does not name
// (include/uapi/linux/netfilter.h).
const (
	nfDrop        = 0
	nfAccept      = 1
	nfQueue       = 3
	nfInetIngress = 5

	nlaTypeMask    = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nftaBitwiseOp  = 6      // NFTA_BITWISE_OP (absent: a boolean mask and xor)
	nftBitwiseBool = 0      // NFT_BITWISE_BOOL
)

// nfgenLen is struct nfgenmsg: family, version, res_id.
const nfgenLen = 4

func attrs(b []byte) (*netlink.AttributeDecoder, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	return ad, nil
}

// nlTable is a table message.
type nlTable struct {
	family track.RuleFamily
	name   string
}

func decodeTableMsg(b []byte) (nlTable, error) {
	if len(b) < nfgenLen {
		return nlTable{}, fmt.Errorf("table message of %d bytes", len(b))
	}
	t := nlTable{family: track.RuleFamily(b[0])}
	ad, err := attrs(b[nfgenLen:])
	if err != nil {
		return t, err
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_TABLE_NAME {
			t.name = ad.String()
		}
	}
	return t, ad.Err()
}

// nlChain is a chain message.
type nlChain struct {
	family track.RuleFamily
	table  string
	chain  track.RuleChain
}

func decodeChainMsg(b []byte) (nlChain, error) {
	if len(b) < nfgenLen {
		return nlChain{}, fmt.Errorf("chain message of %d bytes", len(b))
	}
	c := nlChain{family: track.RuleFamily(b[0])}
	ad, err := attrs(b[nfgenLen:])
	if err != nil {
		return c, err
	}
	hooknum, hasHook := uint32(0), false
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_CHAIN_TABLE:
			c.table = ad.String()
		case unix.NFTA_CHAIN_NAME:
			c.chain.Name = ad.String()
		case unix.NFTA_CHAIN_TYPE:
			c.chain.Type = ad.String()
		case unix.NFTA_CHAIN_POLICY:
			switch ad.Uint32() {
			case nfAccept:
				c.chain.Policy = "accept"
			case nfDrop:
				c.chain.Policy = "drop"
			}
		case unix.NFTA_CHAIN_HOOK:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					switch nd.Type() {
					case unix.NFTA_HOOK_HOOKNUM:
						hooknum, hasHook = nd.Uint32(), true
					case unix.NFTA_HOOK_PRIORITY:
						c.chain.Priority = int32(nd.Uint32())
					case unix.NFTA_HOOK_DEV:
						c.chain.Device = nd.String()
					}
				}
				return nil
			})
		}
	}
	if hasHook {
		c.chain.Hook = hookOf(c.family, hooknum)
	}
	return c, ad.Err()
}

// hookOf maps a hook number of a family to the model's hook.
func hookOf(fam track.RuleFamily, n uint32) track.Hook {
	if fam == track.RuleFamilyNetdev {
		switch n {
		case unix.NF_NETDEV_INGRESS:
			return track.HookIngress
		case unix.NF_NETDEV_EGRESS:
			return track.HookEgress
		}
		return track.HookNone
	}
	switch n {
	case unix.NF_INET_PRE_ROUTING:
		return track.HookPrerouting
	case unix.NF_INET_LOCAL_IN:
		return track.HookInput
	case unix.NF_INET_FORWARD:
		return track.HookForward
	case unix.NF_INET_LOCAL_OUT:
		return track.HookOutput
	case unix.NF_INET_POST_ROUTING:
		return track.HookPostrouting
	case nfInetIngress:
		return track.HookIngress
	}
	return track.HookNone
}

// nlRule is a decoded rule message. table and chain alias the message.
type nlRule struct {
	family  track.RuleFamily
	table   []byte
	chain   []byte
	rule    track.Rule
	xt      bool // it has x_tables match or target expressions (iptables-nft)
	unknown int  // expressions or parts not decoded
	parts   []string
	// narrowing counts the parts not decoded that may narrow the match;
	// lookups are anonymous-set matches to decode once the set is read.
	narrowing int
	lookups   []setLookup
}

// attrIter walks netlink attributes in place, without allocating: the
// rule dump of a large ruleset is decoded while the next datagram is read,
// and must keep up with it.
type attrIter struct {
	b    []byte
	typ  uint16
	data []byte
	bad  bool
}

func (a *attrIter) next() bool {
	if len(a.b) < 4 {
		a.bad = a.bad || len(a.b) != 0
		return false
	}
	l := int(binary.NativeEndian.Uint16(a.b))
	if l < 4 || l > len(a.b) {
		a.bad, a.b = true, nil
		return false
	}
	a.typ = binary.NativeEndian.Uint16(a.b[2:]) & nlaTypeMask
	a.data = a.b[4:l]
	a.b = a.b[min((l+3)&^3, len(a.b)):]
	return true
}

func (a *attrIter) u32() uint32 {
	if len(a.data) < 4 {
		a.bad = true
		return 0
	}
	return binary.BigEndian.Uint32(a.data)
}

func (a *attrIter) u64() uint64 {
	if len(a.data) < 8 {
		a.bad = true
		return 0
	}
	return binary.BigEndian.Uint64(a.data)
}

// str is the attribute as a string without its NUL.
func (a *attrIter) str() []byte { return bytes.TrimRight(a.data, "\x00") }

// rawExpr is one expression of a rule: its name and attributes.
type rawExpr struct {
	name []byte
	data []byte
}

// maxExprs bounds the expressions of one rule kept for interpretation.
const maxExprs = 128

func decodeRuleMsg(b []byte) (nlRule, error) {
	if len(b) < nfgenLen {
		return nlRule{}, fmt.Errorf("rule message of %d bytes", len(b))
	}
	r := nlRule{family: track.RuleFamily(b[0])}
	var buf [16]rawExpr
	exprs := buf[:0]
	a := attrIter{b: b[nfgenLen:]}
	for a.next() {
		switch a.typ {
		case unix.NFTA_RULE_TABLE:
			r.table = a.str()
		case unix.NFTA_RULE_CHAIN:
			r.chain = a.str()
		case unix.NFTA_RULE_HANDLE:
			r.rule.Handle = a.u64()
		case unix.NFTA_RULE_USERDATA:
			r.rule.Comment = udataComment(a.data)
		case unix.NFTA_RULE_EXPRESSIONS:
			list := attrIter{b: a.data}
			for list.next() {
				if list.typ != unix.NFTA_LIST_ELEM {
					continue
				}
				var e rawExpr
				ea := attrIter{b: list.data}
				for ea.next() {
					switch ea.typ {
					case unix.NFTA_EXPR_NAME:
						e.name = ea.str()
					case unix.NFTA_EXPR_DATA:
						e.data = ea.data
					}
				}
				if ea.bad {
					return r, fmt.Errorf("a malformed expression")
				}
				if len(exprs) == maxExprs {
					r.unknown++
					r.rule.Partial = true
					continue
				}
				exprs = append(exprs, e)
			}
			if list.bad {
				return r, fmt.Errorf("a malformed expression list")
			}
		}
	}
	if a.bad {
		return r, fmt.Errorf("malformed rule attributes")
	}
	interpret(&r, exprs)
	return r, nil
}

// udataComment reads nft's rule comment (NFTNL_UDATA_RULE_COMMENT, a
// type-length-value list).
func udataComment(b []byte) string {
	for len(b) >= 2 {
		typ, n := b[0], int(b[1])
		if 2+n > len(b) {
			return ""
		}
		if typ == 0 {
			return string(bytes.TrimRight(b[2:2+n], "\x00"))
		}
		b = b[2+n:]
	}
	return ""
}

// Kinds of register contents.
const (
	srcMeta uint8 = iota + 1
	srcPayload
	srcCt
	srcImm
)

// source is what a register holds.
type source struct {
	kind   uint8
	key    uint32 // meta or ct key
	base   uint32 // payload base
	offset uint32
	length uint32
	mask   []byte // a bitwise mask applied to it
	data   []byte // immediate data
}

// regOffset turns a register number into its byte offset in the register
// file: NFT_REG_1..4 are 16 bytes, NFT_REG32_00..15 4 bytes each.
func regOffset(r uint32) uint32 {
	if r >= unix.NFT_REG32_00 {
		return (r - unix.NFT_REG32_00) * 4
	}
	if r >= 1 {
		return (r - 1) * 16
	}
	return 1 << 20 // the verdict register
}

// ctKeyNames are the conntrack keys a rule may read, nft's names.
var ctKeyNames = map[uint32]string{
	unix.NFT_CT_STATE: "state", unix.NFT_CT_DIRECTION: "direction", unix.NFT_CT_STATUS: "status",
	unix.NFT_CT_MARK: "mark", unix.NFT_CT_SECMARK: "secmark", unix.NFT_CT_EXPIRATION: "expiration",
	unix.NFT_CT_HELPER: "helper", unix.NFT_CT_L3PROTOCOL: "l3proto", unix.NFT_CT_SRC: "saddr",
	unix.NFT_CT_DST: "daddr", unix.NFT_CT_PROTOCOL: "protocol", unix.NFT_CT_PROTO_SRC: "proto-src",
	unix.NFT_CT_PROTO_DST: "proto-dst", unix.NFT_CT_LABELS: "label", unix.NFT_CT_PKTS: "packets",
	unix.NFT_CT_BYTES: "bytes", unix.NFT_CT_AVGPKT: "avgpkt", unix.NFT_CT_ZONE: "zone",
	unix.NFT_CT_EVENTMASK: "event", unix.NFT_CT_ID: "id",
}

func ctName(k uint32) string {
	if n, ok := ctKeyNames[k]; ok {
		return n
	}
	return fmt.Sprintf("key%d", k)
}

// interpreter follows the registers of a rule's expressions.
type interpreter struct {
	r      *nlRule
	regs   []regValue // few per rule: a slice beats a map
	fam    track.RuleFamily
	l3     track.Family // the address family packets have here (ip, ip6 tables; inet after meta nfproto)
	nfprot bool         // a meta nfproto match not yet explained by an address match
}

type regValue struct {
	off uint32
	src source
}

func (it *interpreter) load(reg uint32, s source) {
	off := regOffset(reg)
	for i := range it.regs {
		if it.regs[i].off == off {
			it.regs[i].src = s
			return
		}
	}
	it.regs = append(it.regs, regValue{off, s})
}

func (it *interpreter) get(reg uint32) (source, bool) {
	off := regOffset(reg)
	for i := range it.regs {
		if it.regs[i].off == off {
			return it.regs[i].src, true
		}
	}
	return source{}, false
}

// immAt returns immediate data in register reg (n bytes), also when it is
// a slice of a longer immediate (a concatenation).
func (it *interpreter) immAt(reg uint32, n int) ([]byte, bool) {
	off := regOffset(reg)
	for _, v := range it.regs {
		if v.src.kind != srcImm || v.off > off {
			continue
		}
		from := int(off - v.off)
		if from+n <= len(v.src.data) {
			return v.src.data[from : from+n], true
		}
	}
	return nil, false
}

// undecoded notes a part not understood: it counts, and (for a match)
// makes the rule Partial.
func (it *interpreter) undecoded(part string, narrows bool) {
	it.r.unknown++
	it.r.parts = append(it.r.parts, part)
	if narrows {
		it.r.rule.Partial = true
		it.r.narrowing++
	}
}

// nested returns the NFTA_DATA_VALUE inside a data attribute.
func dataValue(b []byte) []byte {
	a := attrIter{b: b}
	for a.next() {
		if a.typ == unix.NFTA_DATA_VALUE {
			return a.data
		}
	}
	return nil
}

// cmpExpr is a cmp expression.
type cmpExpr struct {
	reg, op uint32
	data    []byte
}

// interpret reads the expression list into the rule. The expressions
// every rule has (meta, payload, cmp, bitwise, immediate, counter, ct,
// x_tables match and target) are read in place; the rarer ones (NAT,
// masquerade, redirect, range, lookup, objref) through google/nftables'
// expression types.
func interpret(r *nlRule, exprs []rawExpr) {
	var regBuf [8]regValue
	it := &interpreter{r: r, regs: regBuf[:0], fam: r.family}
	switch r.family {
	case track.RuleFamilyIP:
		it.l3 = track.FamilyIPv4
	case track.RuleFamilyIP6:
		it.l3 = track.FamilyIPv6
	}
	fam := byte(r.family)
	rule := &r.rule
	m := &rule.Match
	for _, e := range exprs {
		a := attrIter{b: e.data}
		switch string(e.name) {
		case "meta":
			var key, dreg, sreg uint32
			for a.next() {
				switch a.typ {
				case unix.NFTA_META_DREG:
					dreg = a.u32()
				case unix.NFTA_META_KEY:
					key = a.u32()
				case unix.NFTA_META_SREG:
					sreg = a.u32()
				}
			}
			switch {
			case a.bad:
				it.undecoded("meta", true)
			case sreg != 0:
				it.undecoded("meta set", false)
			default:
				it.load(dreg, source{kind: srcMeta, key: key})
			}
		case "payload":
			var s source
			var dreg, sreg uint32
			s.kind = srcPayload
			for a.next() {
				switch a.typ {
				case unix.NFTA_PAYLOAD_DREG:
					dreg = a.u32()
				case unix.NFTA_PAYLOAD_BASE:
					s.base = a.u32()
				case unix.NFTA_PAYLOAD_OFFSET:
					s.offset = a.u32()
				case unix.NFTA_PAYLOAD_LEN:
					s.length = a.u32()
				case unix.NFTA_PAYLOAD_SREG:
					sreg = a.u32()
				}
			}
			if a.bad || sreg != 0 || dreg == 0 {
				it.undecoded("payload", sreg == 0)
				continue
			}
			it.load(dreg, s)
		case "ct":
			key, dreg, sreg, ok := decodeCt(e.data)
			if !ok {
				it.undecoded("ct", true)
				continue
			}
			if sreg != 0 {
				it.ctSet(key, sreg)
				continue
			}
			it.load(dreg, source{kind: srcCt, key: key})
		case "bitwise":
			var sreg, dreg, op uint32
			var mask, xor []byte
			for a.next() {
				switch a.typ {
				case unix.NFTA_BITWISE_SREG:
					sreg = a.u32()
				case unix.NFTA_BITWISE_DREG:
					dreg = a.u32()
				case unix.NFTA_BITWISE_MASK:
					mask = dataValue(a.data)
				case unix.NFTA_BITWISE_XOR:
					xor = dataValue(a.data)
				case nftaBitwiseOp:
					op = a.u32()
				}
			}
			s, ok := it.get(sreg)
			if a.bad || !ok || op != nftBitwiseBool || len(mask) == 0 || !allZero(xor) {
				it.undecoded("bitwise", true)
				continue
			}
			s.mask = mask
			it.load(dreg, s)
		case "immediate":
			var dreg uint32
			var data, verdict []byte
			for a.next() {
				switch a.typ {
				case unix.NFTA_IMMEDIATE_DREG:
					dreg = a.u32()
				case unix.NFTA_IMMEDIATE_DATA:
					d := attrIter{b: a.data}
					for d.next() {
						switch d.typ {
						case unix.NFTA_DATA_VALUE:
							data = d.data
						case unix.NFTA_DATA_VERDICT:
							verdict = d.data
						}
					}
				}
			}
			switch {
			case a.bad:
				it.undecoded("immediate", false)
			case dreg == unix.NFT_REG_VERDICT && verdict != nil:
				it.verdict(verdict)
			default:
				it.load(dreg, source{kind: srcImm, data: data})
			}
		case "cmp":
			var x cmpExpr
			for a.next() {
				switch a.typ {
				case unix.NFTA_CMP_SREG:
					x.reg = a.u32()
				case unix.NFTA_CMP_OP:
					x.op = a.u32()
				case unix.NFTA_CMP_DATA:
					x.data = dataValue(a.data)
				}
			}
			if a.bad {
				it.undecoded("cmp", true)
				continue
			}
			it.cmp(x)
		case "counter":
			var c track.RuleCounter
			for a.next() {
				switch a.typ {
				case unix.NFTA_COUNTER_BYTES:
					c.Bytes = a.u64()
				case unix.NFTA_COUNTER_PACKETS:
					c.Packets = a.u64()
				}
			}
			if a.bad {
				it.undecoded("counter", false)
				continue
			}
			rule.Counter, rule.HasCounter = c, true
		case "notrack":
			rule.Action.Kind = track.ActionNotrack
		case "range":
			var x expr.Range
			if expr.Unmarshal(fam, e.data, &x) != nil {
				it.undecoded("range", true)
				continue
			}
			it.rangeMatch(x)
		case "lookup":
			var x expr.Lookup
			if expr.Unmarshal(fam, e.data, &x) != nil {
				it.undecoded("lookup", true)
				continue
			}
			s, ok := it.get(x.SourceRegister)
			if ok && s.kind == srcCt {
				m.CtOther = append(m.CtOther, ctName(s.key)+" in set")
			}
			it.undecoded("lookup @"+x.SetName, true)
			// An anonymous set of ports or addresses ("tcp dport { 80,
			// 443 }") is fetched once the rules are read: then the part
			// is decoded after all.
			if f, known := lookupField(s, it.l3); ok && known && strings.HasPrefix(x.SetName, "__set") {
				r.lookups = append(r.lookups, setLookup{set: x.SetName, field: f, neg: x.Invert, l3: it.l3, part: len(r.parts) - 1})
				if f == fieldSaddr || f == fieldDaddr {
					it.nfprot = false // an address match says the family
				}
			}
		case "nat":
			var x expr.NAT
			if expr.Unmarshal(fam, e.data, &x) != nil {
				it.undecoded("nat", false)
				continue
			}
			it.nat(x)
		case "masq":
			var x expr.Masq
			if expr.Unmarshal(fam, e.data, &x) != nil {
				it.undecoded("masquerade", false)
				continue
			}
			rule.Action.Kind = track.ActionMasquerade
			it.natPorts(x.RegProtoMin, x.RegProtoMax, x.RegProtoMin != 0)
			rule.Action.Flags = flags(x.Random, x.FullyRandom, x.Persistent)
		case "redir":
			var x expr.Redir
			if expr.Unmarshal(fam, e.data, &x) != nil {
				it.undecoded("redirect", false)
				continue
			}
			rule.Action.Kind = track.ActionRedirect
			it.natPorts(x.RegisterProtoMin, x.RegisterProtoMax, x.RegisterProtoMin != 0)
			rule.Action.Flags = natFlagsOf(x.Flags)
		case "objref":
			var x expr.Objref
			if expr.Unmarshal(fam, e.data, &x) != nil {
				it.undecoded("objref", false)
				continue
			}
			switch x.Type {
			case unix.NFT_OBJECT_CT_HELPER:
				rule.Action.Kind, rule.Action.Helper = track.ActionCtHelper, x.Name
			case unix.NFT_OBJECT_CT_TIMEOUT, unix.NFT_OBJECT_CT_EXPECT:
				if rule.Action.Kind == track.ActionNone {
					rule.Action.Kind = track.ActionCtOther
				}
			case unix.NFT_OBJECT_COUNTER:
				it.undecoded("counter name "+x.Name, false)
			default:
				it.undecoded("objref "+x.Name, x.Type == unix.NFT_OBJECT_QUOTA || x.Type == unix.NFT_OBJECT_LIMIT)
			}
		case "match", "target":
			r.xt = true
			isMatch := e.name[0] == 'm'
			name, rev, info, ok := decodeXt(e.data)
			switch {
			case !ok:
				it.undecoded("xt "+string(e.name), isMatch)
			case isMatch && decodeXtMatch(name, rev, r.family, info, rule):
			case !isMatch && decodeXtTarget(name, rev, r.family, info, rule):
				if rule.Action.Kind == track.ActionNone && rule.Verdict == track.VerdictNone {
					it.undecoded("xt target "+name, false)
				}
			default:
				it.undecoded("xt "+string(e.name)+" "+name, isMatch)
			}
		case "reject":
			rule.Verdict = track.VerdictReject
		case "queue":
			rule.Verdict = track.VerdictQueue
		case "log":
			it.undecoded("log", false)
		default:
			it.undecoded(string(e.name), true)
		}
	}
	if it.nfprot {
		it.undecoded("meta nfproto", true)
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func flags(random, fully, persistent bool) track.NATFlags {
	var f track.NATFlags
	if random {
		f |= track.NATRandom
	}
	if fully {
		f |= track.NATRandomFully
	}
	if persistent {
		f |= track.NATPersistent
	}
	return f
}

// decodeCt reads a ct expression: key, destination or source register.
func decodeCt(b []byte) (key, dreg, sreg uint32, ok bool) {
	a := attrIter{b: b}
	for a.next() {
		switch a.typ {
		case unix.NFTA_CT_KEY:
			key = a.u32()
		case unix.NFTA_CT_DREG:
			dreg = a.u32()
		case unix.NFTA_CT_SREG:
			sreg = a.u32()
		}
	}
	return key, dreg, sreg, !a.bad && (dreg != 0) != (sreg != 0)
}

// decodeXt reads a match or target expression: name, revision, info.
func decodeXt(b []byte) (name string, rev uint32, info []byte, ok bool) {
	a := attrIter{b: b}
	for a.next() {
		switch a.typ {
		case unix.NFTA_MATCH_NAME: // NFTA_TARGET_NAME has the same number
			name = string(a.str())
		case unix.NFTA_MATCH_REV:
			rev = a.u32()
		case unix.NFTA_MATCH_INFO:
			info = a.data
		}
	}
	return name, rev, info, !a.bad && name != ""
}

func (it *interpreter) verdict(b []byte) {
	rule := &it.r.rule
	var code int32
	var chain []byte
	a := attrIter{b: b}
	for a.next() {
		switch a.typ {
		case unix.NFTA_VERDICT_CODE:
			code = int32(a.u32())
		case unix.NFTA_VERDICT_CHAIN:
			chain = a.str()
		}
	}
	switch code {
	case nfAccept:
		rule.Verdict = track.VerdictAccept
	case nfDrop:
		rule.Verdict = track.VerdictDrop
	case unix.NFT_RETURN:
		rule.Verdict = track.VerdictReturn
	case unix.NFT_JUMP:
		rule.Verdict, rule.Target = track.VerdictJump, string(chain)
	case unix.NFT_GOTO:
		rule.Verdict, rule.Target = track.VerdictGoto, string(chain)
	case nfQueue:
		rule.Verdict = track.VerdictQueue
	case unix.NFT_CONTINUE:
	default:
		it.undecoded("verdict", false)
	}
}

// ctSet reads "ct KEY set REG".
func (it *interpreter) ctSet(key, sreg uint32) {
	a := &it.r.rule.Action
	if key == unix.NFT_CT_ZONE {
		if d, ok := it.immAt(sreg, 2); ok {
			a.Kind, a.Zone = track.ActionCtZone, binary.NativeEndian.Uint16(d)
			return
		}
	}
	if a.Kind == track.ActionNone {
		a.Kind = track.ActionCtOther
	}
}

// cmp reads a comparison of a loaded register with constant data.
func (it *interpreter) cmp(x cmpExpr) {
	s, ok := it.get(x.reg)
	m := &it.r.rule.Match
	if !ok {
		it.undecoded("cmp", true)
		return
	}
	neg := x.op == unix.NFT_CMP_NEQ
	eqOrNeq := x.op == unix.NFT_CMP_EQ || neg
	switch {
	case s.kind == srcMeta && s.key == unix.NFT_META_L4PROTO && eqOrNeq && len(x.data) == 1,
		s.kind == srcPayload && s.base == unix.NFT_PAYLOAD_NETWORK_HEADER && s.length == 1 && eqOrNeq && len(x.data) == 1 &&
			(s.offset == 9 && it.l3 == track.FamilyIPv4 || s.offset == 6 && it.l3 == track.FamilyIPv6):
		m.Proto, m.ProtoNeg = track.Proto(x.data[0]), neg
	case s.kind == srcMeta && (s.key == unix.NFT_META_IIFNAME || s.key == unix.NFT_META_OIFNAME) && eqOrNeq:
		name := string(bytes.TrimRight(x.data, "\x00"))
		if !bytes.Contains(x.data, []byte{0}) {
			name += "+" // a prefix: iptables' -o eth+, nft's "eth*"
		}
		if s.key == unix.NFT_META_IIFNAME {
			m.InIface, m.InNeg = name, neg
		} else {
			m.OutIface, m.OutNeg = name, neg
		}
	case s.kind == srcMeta && s.key == unix.NFT_META_NFPROTO && eqOrNeq && len(x.data) == 1 && !neg:
		it.nfprot = true // the family: explained by an address match, if one follows
		it.l3 = track.Family(x.data[0])
	case s.kind == srcMeta && s.key == unix.NFT_META_PROTOCOL && eqOrNeq && len(x.data) == 2 && !neg:
		it.nfprot = true
		switch binary.BigEndian.Uint16(x.data) {
		case unix.ETH_P_IP:
			it.l3 = track.FamilyIPv4
		case unix.ETH_P_IPV6:
			it.l3 = track.FamilyIPv6
		}
	case s.kind == srcPayload && s.base == unix.NFT_PAYLOAD_NETWORK_HEADER && eqOrNeq:
		if !it.address(s, x.data, neg) {
			it.undecoded("payload", true)
		}
	case s.kind == srcPayload && s.base == unix.NFT_PAYLOAD_TRANSPORT_HEADER && s.length == 2 && (s.offset == 0 || s.offset == 2) && len(x.data) == 2:
		it.port(s.offset == 2, x.op, binary.BigEndian.Uint16(x.data))
	case s.kind == srcCt && s.key == unix.NFT_CT_STATE && len(x.data) == 4:
		v := binary.NativeEndian.Uint32(x.data)
		switch {
		case s.mask != nil && len(s.mask) == 4 && v == 0 && eqOrNeq:
			// (state & mask) != 0: one of mask; == 0: none of them.
			m.CtState, m.CtStateNeg = track.CtState(binary.NativeEndian.Uint32(s.mask)), x.op == unix.NFT_CMP_EQ
		case s.mask == nil && eqOrNeq:
			m.CtState, m.CtStateNeg = track.CtState(v), neg
		default:
			m.CtOther = append(m.CtOther, "state")
			it.undecoded("ct state", true)
		}
	case s.kind == srcCt:
		m.CtOther = append(m.CtOther, ctName(s.key))
		it.undecoded("ct "+ctName(s.key), true)
	default:
		it.undecoded("match", true)
	}
}

// address reads an ip/ip6 saddr/daddr comparison. nft loads only the
// bytes a prefix needs (ip saddr 10.0.0.0/8 loads one byte) and masks the
// last when the prefix does not end on a byte.
func (it *interpreter) address(s source, data []byte, neg bool) bool {
	m := &it.r.rule.Match
	size, srcOff, dstOff := 4, uint32(12), uint32(16)
	if it.l3 == track.FamilyIPv6 {
		size, srcOff, dstOff = 16, 8, 24
	} else if it.l3 != track.FamilyIPv4 {
		return false
	}
	var src bool
	switch s.offset {
	case srcOff:
		src = true
	case dstOff:
	default:
		return false
	}
	if int(s.length) > size || len(data) != int(s.length) {
		return false
	}
	full := make([]byte, size)
	copy(full, data)
	a, _ := netip.AddrFromSlice(full)
	bits := int(s.length) * 8
	if s.mask != nil {
		if len(s.mask) != len(data) {
			return false
		}
		if bits = maskLen(s.mask); bits < 0 {
			return false
		}
	}
	p := netip.PrefixFrom(a, bits).Masked()
	if src {
		m.Src, m.SrcNeg = []netip.Prefix{p}, neg
	} else {
		m.Dst, m.DstNeg = []netip.Prefix{p}, neg
	}
	it.nfprot = false
	return true
}

// port reads a port comparison; >= and <= pairs make a range.
func (it *interpreter) port(dst bool, op uint32, p uint16) {
	m := &it.r.rule.Match
	ports, neg := &m.SPorts, &m.SPortNeg
	if dst {
		ports, neg = &m.DPorts, &m.DPortNeg
	}
	switch op {
	case unix.NFT_CMP_EQ, unix.NFT_CMP_NEQ:
		*ports, *neg = []track.PortRange{{Min: p, Max: p}}, op == unix.NFT_CMP_NEQ
	case unix.NFT_CMP_GTE:
		*ports = []track.PortRange{{Min: p, Max: 0xffff}}
	case unix.NFT_CMP_LTE:
		if len(*ports) == 1 && (*ports)[0].Max == 0xffff {
			(*ports)[0].Max = p
		} else {
			*ports = []track.PortRange{{Min: 0, Max: p}}
		}
	default:
		it.undecoded("port comparison", true)
	}
}

func (it *interpreter) rangeMatch(x expr.Range) {
	s, ok := it.get(x.Register)
	if !ok || s.kind != srcPayload || s.base != unix.NFT_PAYLOAD_TRANSPORT_HEADER || s.length != 2 ||
		len(x.FromData) != 2 || len(x.ToData) != 2 || (s.offset != 0 && s.offset != 2) {
		it.undecoded("range", true)
		return
	}
	m := &it.r.rule.Match
	pr := []track.PortRange{{Min: binary.BigEndian.Uint16(x.FromData), Max: binary.BigEndian.Uint16(x.ToData)}}
	neg := x.Op == expr.CmpOpNeq
	if s.offset == 2 {
		m.DPorts, m.DPortNeg = pr, neg
	} else {
		m.SPorts, m.SPortNeg = pr, neg
	}
}

// nat reads snat/dnat with addresses and ports from immediates.
func (it *interpreter) nat(x expr.NAT) {
	a := &it.r.rule.Action
	a.Kind = track.ActionSNAT
	if x.Type == expr.NATTypeDestNAT {
		a.Kind = track.ActionDNAT
	}
	if x.RegAddrMin != 0 {
		n := 4
		if x.Family == unix.NFPROTO_IPV6 {
			n = 16
		}
		lo, ok1 := it.immAt(x.RegAddrMin, n)
		hi, ok2 := lo, ok1
		if x.RegAddrMax != 0 {
			hi, ok2 = it.immAt(x.RegAddrMax, n)
		}
		if ok1 && ok2 {
			a.AddrMin, _ = netip.AddrFromSlice(lo)
			a.AddrMax, _ = netip.AddrFromSlice(hi)
		} else {
			it.undecoded("nat address from a map", false)
		}
	}
	it.natPorts(x.RegProtoMin, x.RegProtoMax, x.RegProtoMin != 0)
	a.Flags = flags(x.Random, x.FullyRandom, x.Persistent)
}

func (it *interpreter) natPorts(minReg, maxReg uint32, has bool) {
	if !has {
		return
	}
	a := &it.r.rule.Action
	lo, ok1 := it.immAt(minReg, 2)
	hi, ok2 := lo, ok1
	if maxReg != 0 {
		hi, ok2 = it.immAt(maxReg, 2)
	}
	if !ok1 || !ok2 {
		it.undecoded("nat port from a map", false)
		return
	}
	a.Ports = track.PortRange{Min: binary.BigEndian.Uint16(lo), Max: binary.BigEndian.Uint16(hi)}
}
