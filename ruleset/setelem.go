package ruleset

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/track"
)

// Anonymous sets: nft keeps "tcp dport { 8080, 9090 }" as a lookup in a
// set the rule owns (__set0, …) whose elements are not in the rule
// message. They are read with NFT_MSG_GETSETELEM, a dump per set (a get:
// Check lets it pass), and the lookup then becomes the rule's ports or
// addresses. Named sets and maps stay undecoded: they change on their own
// and stand for policy, not for one rule's match.

// lookupFieldKind is what a lookup's key is.
type lookupFieldKind uint8

const (
	fieldDPort lookupFieldKind = iota + 1
	fieldSPort
	fieldSaddr
	fieldDaddr
)

// setLookup is a rule's lookup in an anonymous set, waiting for the set.
type setLookup struct {
	set   string
	field lookupFieldKind
	neg   bool
	l3    track.Family
	part  int // index of its "lookup @set" part in nlRule.parts
}

// lookupField says which match a lookup's source register stands for.
func lookupField(s source, l3 track.Family) (lookupFieldKind, bool) {
	if s.kind != srcPayload || s.mask != nil {
		return 0, false
	}
	switch {
	case s.base == unix.NFT_PAYLOAD_TRANSPORT_HEADER && s.length == 2 && s.offset == 2:
		return fieldDPort, true
	case s.base == unix.NFT_PAYLOAD_TRANSPORT_HEADER && s.length == 2 && s.offset == 0:
		return fieldSPort, true
	case s.base == unix.NFT_PAYLOAD_NETWORK_HEADER && l3 == track.FamilyIPv4 && s.length == 4 && s.offset == 12,
		s.base == unix.NFT_PAYLOAD_NETWORK_HEADER && l3 == track.FamilyIPv6 && s.length == 16 && s.offset == 8:
		return fieldSaddr, true
	case s.base == unix.NFT_PAYLOAD_NETWORK_HEADER && l3 == track.FamilyIPv4 && s.length == 4 && s.offset == 16,
		s.base == unix.NFT_PAYLOAD_NETWORK_HEADER && l3 == track.FamilyIPv6 && s.length == 16 && s.offset == 24:
		return fieldDaddr, true
	}
	return 0, false
}

// nftaSetElemKeyEnd is NFTA_SET_ELEM_KEY_END (uapi nf_tables.h; not
// named by golang.org/x/sys): the last key of a range element.
const nftaSetElemKeyEnd = 10

// setKey names an anonymous set: sets belong to a table.
type setKey struct {
	family track.RuleFamily
	table  string
	set    string
}

// maxAnonSets bounds the sets fetched per read (one round trip each); the
// lookups in sets beyond it stay undecoded, with a note.
const maxAnonSets = 256

// setElem is one element as the kernel lists it: a key, and for interval
// sets the flag that marks where a range ends (exclusive), or with
// NFTA_SET_ELEM_KEY_END the range's last key.
type setElem struct {
	key, keyEnd []byte
	end         bool
}

// decodeSetElemMsg reads an NFT_MSG_NEWSETELEM message of a dump.
func decodeSetElemMsg(b []byte) ([]setElem, error) {
	if len(b) < nfgenLen {
		return nil, fmt.Errorf("set element message of %d bytes", len(b))
	}
	var out []setElem
	a := attrIter{b: b[nfgenLen:]}
	for a.next() {
		if a.typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		list := attrIter{b: a.data}
		for list.next() {
			if list.typ != unix.NFTA_LIST_ELEM {
				continue
			}
			var e setElem
			ea := attrIter{b: list.data}
			for ea.next() {
				switch ea.typ {
				case unix.NFTA_SET_ELEM_KEY:
					e.key = append([]byte(nil), dataValue(ea.data)...)
				case nftaSetElemKeyEnd:
					e.keyEnd = append([]byte(nil), dataValue(ea.data)...)
				case unix.NFTA_SET_ELEM_FLAGS:
					e.end = ea.u32()&unix.NFT_SET_ELEM_INTERVAL_END != 0
				}
			}
			if ea.bad {
				return nil, fmt.Errorf("a malformed set element")
			}
			out = append(out, e)
		}
		if list.bad {
			return nil, fmt.Errorf("a malformed element list")
		}
	}
	if a.bad {
		return nil, fmt.Errorf("malformed set element attributes")
	}
	return out, nil
}

// keyRange is one element as an inclusive range of keys (big-endian
// numbers of one width).
type keyRange struct{ lo, hi []byte }

// elemRanges turns a set's elements into inclusive ranges: single keys,
// KEY..KEY_END pairs, and interval sets' start/end keys (an end is
// exclusive: the first key after the range). ok is false when the keys
// do not all have width n.
func elemRanges(es []setElem, n int) ([]keyRange, bool) {
	type point struct {
		key []byte
		end bool
	}
	var pts []point
	var out []keyRange
	interval := false
	for _, e := range es {
		if len(e.key) != n || e.keyEnd != nil && len(e.keyEnd) != n {
			return nil, false
		}
		interval = interval || e.end
		switch {
		case e.keyEnd != nil:
			out = append(out, keyRange{e.key, e.keyEnd})
		default:
			pts = append(pts, point{e.key, e.end})
		}
	}
	if !interval {
		for _, p := range pts {
			out = append(out, keyRange{p.key, p.key})
		}
		return out, true
	}
	sort.SliceStable(pts, func(i, j int) bool { return string(pts[i].key) < string(pts[j].key) })
	for i := 0; i < len(pts); i++ {
		if pts[i].end {
			continue // the end of the gap before the first range
		}
		lo := pts[i].key
		hi := bytesMax(n)
		if i+1 < len(pts) && pts[i+1].end {
			hi = bytesDec(pts[i+1].key)
			i++
		}
		out = append(out, keyRange{lo, hi})
	}
	return out, true
}

func bytesMax(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xff
	}
	return b
}

// bytesDec is the big-endian number one below b (b > 0).
func bytesDec(b []byte) []byte {
	out := append([]byte(nil), b...)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] > 0 {
			out[i]--
			return out
		}
		out[i] = 0xff
	}
	return out
}

// applyLookup makes a fetched set the rule's match; false when its keys
// do not fit the field.
func applyLookup(r *track.Rule, l setLookup, es []setElem) bool {
	m := &r.Match
	switch l.field {
	case fieldDPort, fieldSPort:
		rs, ok := elemRanges(es, 2)
		if !ok || len(rs) == 0 {
			return false
		}
		var prs []track.PortRange
		for _, x := range rs {
			prs = append(prs, track.PortRange{Min: binary.BigEndian.Uint16(x.lo), Max: binary.BigEndian.Uint16(x.hi)})
		}
		sort.Slice(prs, func(i, j int) bool { return prs[i].Min < prs[j].Min })
		if l.field == fieldDPort {
			m.DPorts, m.DPortNeg = prs, l.neg
		} else {
			m.SPorts, m.SPortNeg = prs, l.neg
		}
	case fieldSaddr, fieldDaddr:
		n := 4
		if l.l3 == track.FamilyIPv6 {
			n = 16
		}
		rs, ok := elemRanges(es, n)
		if !ok || len(rs) == 0 {
			return false
		}
		var ps []netip.Prefix
		for _, x := range rs {
			lo, _ := netip.AddrFromSlice(x.lo)
			hi, _ := netip.AddrFromSlice(x.hi)
			ps = append(ps, rangePrefixes(lo, hi)...)
		}
		if l.field == fieldSaddr {
			m.Src, m.SrcNeg = ps, l.neg
		} else {
			m.Dst, m.DstNeg = ps, l.neg
		}
	default:
		return false
	}
	return true
}

// rangePrefixes is the fewest prefixes that cover lo..hi exactly.
func rangePrefixes(lo, hi netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for guard := 0; !hi.Less(lo) && guard < 256; guard++ {
		// The largest prefix starting at lo that stays within hi.
		bits := lo.BitLen()
		for bits > 0 {
			p, err := lo.Prefix(bits - 1)
			if err != nil || p.Addr() != lo || hi.Less(lastAddr(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		out = append(out, p)
		last := lastAddr(p)
		next := last.Next()
		if !next.IsValid() || next.Less(last) {
			break
		}
		lo = next
	}
	return out
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// dumpSetElems reads the elements of one set.
func (n *nftConn) dumpSetElems(ctx context.Context, k setKey) ([]setElem, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, k.table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, k.set)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	if err := n.sendWith(unix.NFT_MSG_GETSETELEM, netlink.Request|netlink.Dump, uint8(k.family), attrs); err != nil {
		return nil, err
	}
	var out []setElem
	err = n.receive(ctx, func(b []byte) error {
		es, err := decodeSetElemMsg(b)
		out = append(out, es...)
		return err
	}, true)
	return out, err
}

// resolveLookups fetches the anonymous sets the rules look up and decodes
// those lookups into the rules' matches. It returns how many lookups were
// decoded; a set it could not read leaves its lookups as they were.
func (n *nftConn) resolveLookups(ctx context.Context, rs *track.Ruleset, parts []ruleParts) (int, error) {
	sets := map[setKey][]setElem{}
	fetched, skipped, done := 0, 0, 0
	for i := range parts {
		p := &parts[i]
		t := &rs.Tables[p.table]
		r := &t.Chains[p.chain].Rules[p.rule]
		for _, l := range p.lookups {
			k := setKey{t.Family, t.Name, l.set}
			es, ok := sets[k]
			if !ok {
				if fetched >= maxAnonSets {
					skipped++
					continue
				}
				fetched++
				var err error
				if es, err = n.dumpSetElems(ctx, k); err != nil {
					if ctx.Err() != nil {
						return done, err
					}
					sets[k] = nil
					continue
				}
				sets[k] = es
			}
			if es == nil || !applyLookup(r, l, es) {
				continue
			}
			p.parts[l.part] = ""
			p.narrowing--
			rs.Unknown--
			done++
		}
		if len(p.lookups) > 0 {
			r.Partial = p.narrowing > 0
			kept := p.parts[:0]
			for _, s := range p.parts {
				if s != "" {
					kept = append(kept, s)
				}
			}
			p.parts = kept
		}
	}
	if skipped > 0 {
		rs.Notes = append(rs.Notes, fmt.Sprintf("%d lookups in anonymous sets beyond the first %d sets were not read (their rules stay partly decoded)", skipped, maxAnonSets))
	}
	return done, nil
}
