package ruleset

import "net/netip"

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// ruleMsgSeed builds a rule message the way the kernel encodes one.
func ruleMsgSeed() []byte {
	attr := func(typ uint16, data []byte) []byte {
		l := 4 + len(data)
		b := []byte{byte(l), byte(l >> 8), byte(typ), byte(typ >> 8)}
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	be32 := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	expr := func(name string, data []byte) []byte {
		return attr(1|0x8000, append(attr(1, append([]byte(name), 0)), attr(2|0x8000, data)...))
	}
	var exprs []byte
	exprs = append(exprs, expr("meta", append(attr(2, be32(16)), attr(1, be32(1))...))...)
	exprs = append(exprs, expr("cmp", append(append(attr(1, be32(1)), attr(2, be32(0))...), attr(3|0x8000, attr(1, []byte{6}))...))...)
	exprs = append(exprs, expr("counter", append(attr(1, make([]byte, 8)), attr(2, make([]byte, 8))...))...)
	exprs = append(exprs, expr("immediate", append(attr(1, be32(1)), attr(2|0x8000, attr(1, []byte{0x75, 0x30}))...))...)
	exprs = append(exprs, expr("immediate", append(attr(1, be32(2)), attr(2|0x8000, attr(1, []byte{0x75, 0x43}))...))...)
	exprs = append(exprs, expr("masq", append(attr(2, be32(1)), attr(3, be32(2))...))...)
	msg := []byte{2, 0, 0, 0}
	msg = append(msg, attr(1, []byte("nat\x00"))...)
	msg = append(msg, attr(2, []byte("post\x00"))...)
	msg = append(msg, attr(4|0x8000, exprs)...)
	return msg
}
