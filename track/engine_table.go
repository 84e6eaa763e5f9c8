package track

import (
	"encoding/binary"
	"net/netip"
)

// This file holds the engine's table: compact entries in pages, and a
// chained hash table shaped like the kernel's (nf_conntrack_hash): a fixed
// number of buckets (nf_conntrack_buckets), each entry hashed twice, once per
// direction. Keeping the kernel's shape is what lets early drop scan "the
// next 8 buckets" as the kernel does (docs/KERNEL.md §4.3); only the hash key differs
// (the kernel's is random), so which entries are evicted differs, not how
// many.

// key is one direction of a connection in compact, pointer-free form: the
// lookup key (zone, L3, addresses, L4 protocol, L4 identifiers).
type key struct {
	src, dst [16]byte // IPv4 as IPv4-mapped IPv6
	// a and b are the L4 identifiers: source and destination port; for ICMP
	// the id and type<<8|code; for GRE the source and destination key.
	a, b   uint16
	proto  Proto
	family Family
	zone   uint16
}

// keyOf builds the key of a packet's own direction.
func keyOf(p *Packet) key {
	k := key{src: p.Src.As16(), dst: p.Dst.As16(), proto: p.Proto, family: p.Family, zone: p.Zone}
	switch {
	case tracksPorts(p.Proto):
		k.a, k.b = p.SrcPort, p.DstPort
	case p.Proto.IsICMP():
		k.a, k.b = p.ICMP.ID, uint16(p.ICMP.Type)<<8|uint16(p.ICMP.Code)
	case p.Proto == ProtoGRE:
		if p.GRE.Version == 1 {
			k.b = p.GRE.CallID // the source key needs the PPTP helper's keymap
		}
	}
	return k
}

// tracksPorts reports whether the engine keys entries of p by ports. DCCP
// has ports but 6.18 tracks it with the generic tracker (docs/KERNEL.md §0).
func tracksPorts(p Proto) bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoUDPLite
}

// invert is nf_ct_invert_tuple: the key replies carry. ok is false for ICMP
// types without an answer, which the kernel refuses to track.
func (k key) invert() (key, bool) {
	r := k
	r.src, r.dst = k.dst, k.src
	switch {
	case k.proto.IsICMP():
		inv, ok := icmpReplyType(k.proto, uint8(k.b>>8))
		if !ok {
			return key{}, false
		}
		r.b = uint16(inv)<<8 | k.b&0xff
	default:
		r.a, r.b = k.b, k.a
	}
	return r, true
}

// tuple converts a key back to a Tuple.
func (k key) tuple() Tuple {
	t := Tuple{Family: k.family, Proto: k.proto}
	if k.family == FamilyIPv4 {
		t.Src = netip.AddrFrom16(k.src).Unmap()
		t.Dst = netip.AddrFrom16(k.dst).Unmap()
	} else {
		t.Src = netip.AddrFrom16(k.src)
		t.Dst = netip.AddrFrom16(k.dst)
	}
	switch {
	case k.proto.IsICMP():
		t.ID, t.Type, t.Code = k.a, uint8(k.b>>8), uint8(k.b)
	case k.proto == ProtoGRE:
		t.SrcKey, t.DstKey = k.a, k.b
	case k.proto.HasPorts():
		t.SrcPort, t.DstPort = k.a, k.b
	}
	return t
}

// hash mixes the key with the engine's seed (the kernel uses siphash with a
// random key; any good mix gives the same bucket statistics).
func (k *key) hash(seed uint64) uint32 {
	words := [5]uint64{
		binary.LittleEndian.Uint64(k.src[0:8]),
		binary.LittleEndian.Uint64(k.src[8:16]),
		binary.LittleEndian.Uint64(k.dst[0:8]),
		binary.LittleEndian.Uint64(k.dst[8:16]),
		uint64(k.a) | uint64(k.b)<<16 | uint64(k.proto)<<32 | uint64(k.family)<<40 | uint64(k.zone)<<48,
	}
	h := seed
	for _, w := range words {
		h = mix64(h ^ w)
	}
	return uint32(h ^ h>>32)
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Directions of an entry.
const (
	dirOriginal = 0
	dirReply    = 1
)

// node names one of an entry's two hash nodes: (id<<1 | dir) + 1, so that
// the zero value is "no node".
type node uint32

func nodeOf(id uint32, dir int) node { return node(id<<1|uint32(dir)) + 1 }
func (n node) id() uint32            { return uint32(n-1) >> 1 }
func (n node) dir() int              { return int(n-1) & 1 }

// conn is one entry. It holds no pointers, so a million of them cost the
// garbage collector nothing to scan.
type conn struct {
	orig    key
	hash    [2]uint32 // the full hash of each direction's key
	next    [2]node   // chain links, per direction; next[0] links the free list
	expires uint32    // jiffies, as the kernel's ct->timeout
	created uint32    // jiffies at creation (UDP stream rule)
	status  Status
	mark    uint32
	ext     uint32 // index into Engine.ext; 0 = none
	tcp     tcpConn
}

// connExt holds what few entries need: a NAT reply tuple, accounting and
// the creation time for the timestamp extension.
type connExt struct {
	reply    key // the reply key when NAT changed it
	natReply bool
	counters [2]Counters
	start    int64 // unix nanoseconds at creation (delta-time)
	nextFree uint32
}

// pageBits sizes the pages entries live in: growing the table never copies
// existing entries and wastes at most one page.
const pageBits = 12

type table struct {
	seed    uint64
	buckets []node
	pages   [][]conn
	n       uint32 // ids handed out so far
	free    uint32 // head of the free list, id+1; 0 = empty
	count   int    // entries in the table (nf_conntrack_count)

	ext     []connExt // ext[0] is unused so that 0 means "none"
	extFree uint32
}

func newTable(buckets int, seed uint64) *table {
	if buckets < 1 {
		buckets = 1
	}
	return &table{seed: seed, buckets: make([]node, buckets), ext: make([]connExt, 1)}
}

func (t *table) conn(id uint32) *conn {
	return &t.pages[id>>pageBits][id&(1<<pageBits-1)]
}

// bucket is reciprocal_scale(hash, hsize), as the kernel picks a bucket.
func (t *table) bucket(h uint32) int {
	return int(uint64(h) * uint64(len(t.buckets)) >> 32)
}

// alloc returns a zeroed entry's id.
func (t *table) alloc() uint32 {
	var id uint32
	if t.free != 0 {
		id = t.free - 1
		t.free = uint32(t.conn(id).next[0])
	} else {
		id = t.n
		t.n++
		if int(id>>pageBits) == len(t.pages) {
			t.pages = append(t.pages, make([]conn, 1<<pageBits))
		}
	}
	*t.conn(id) = conn{}
	return id
}

// release returns an entry (already unlinked) to the free list.
func (t *table) release(id uint32) {
	c := t.conn(id)
	if c.ext != 0 {
		t.ext[c.ext] = connExt{nextFree: t.extFree}
		t.extFree = c.ext
	}
	*c = conn{}
	c.next[0] = node(t.free)
	t.free = id + 1
}

// newExt gives an entry its extension record.
func (t *table) newExt(c *conn) *connExt {
	if c.ext == 0 {
		if t.extFree != 0 {
			c.ext = t.extFree
			t.extFree = t.ext[c.ext].nextFree
		} else {
			c.ext = uint32(len(t.ext))
			t.ext = append(t.ext, connExt{})
		}
		t.ext[c.ext] = connExt{}
	}
	return &t.ext[c.ext]
}

func (t *table) extOf(c *conn) *connExt {
	if c.ext == 0 {
		return nil
	}
	return &t.ext[c.ext]
}

// keyAt returns the key of one direction of an entry.
func (t *table) keyAt(c *conn, dir int) key {
	if dir == dirOriginal {
		return c.orig
	}
	if x := t.extOf(c); x != nil && x.natReply {
		return x.reply
	}
	r, _ := c.orig.invert()
	return r
}

// insert hashes both directions of entry id into the table.
func (t *table) insert(id uint32) {
	c := t.conn(id)
	for dir := range 2 {
		k := t.keyAt(c, dir)
		h := k.hash(t.seed)
		b := t.bucket(h)
		c.hash[dir] = h
		c.next[dir] = t.buckets[b]
		t.buckets[b] = nodeOf(id, dir)
	}
	t.count++
}

// remove takes both of an entry's nodes from their chains and frees it.
func (t *table) remove(id uint32) {
	c := t.conn(id)
	for dir := range 2 {
		b := t.bucket(c.hash[dir])
		want := nodeOf(id, dir)
		for p := &t.buckets[b]; *p != 0; {
			if *p == want {
				*p = c.next[dir]
				break
			}
			n := *p
			p = &t.conn(n.id()).next[n.dir()]
		}
	}
	t.release(id)
	t.count--
}

// lookup finds the entry holding k in either direction, collecting expired
// entries met on the way as the kernel's lookup does (docs/KERNEL.md §4.7).
func (t *table) lookup(k key, now uint32) (id uint32, dir int, ok bool) {
	h := k.hash(t.seed)
	b := t.bucket(h)
	for n := t.buckets[b]; n != 0; {
		id, dir := n.id(), n.dir()
		c := t.conn(id)
		next := c.next[dir]
		if expired(c, now) {
			n = t.nextOther(id, next)
			t.remove(id)
			continue
		}
		if c.hash[dir] == h && t.keyAt(c, dir) == k {
			return id, dir, true
		}
		n = next
	}
	return 0, 0, false
}

// nextOther skips past entry id's own second node, so that a chain walk can
// continue after removing id (its two nodes are adjacent when they share a
// bucket: both are pushed at the front together).
func (t *table) nextOther(id uint32, next node) node {
	for next != 0 && next.id() == id {
		next = t.conn(id).next[next.dir()]
	}
	return next
}

// expired is the kernel's nf_ct_is_expired: (s32)(timeout - now) <= 0.
func expired(c *conn, now uint32) bool { return int32(c.expires-now) <= 0 }

// each calls fn for every entry in the table, in id order.
func (t *table) each(fn func(id uint32, c *conn)) {
	for id := uint32(0); id < t.n; id++ {
		c := t.conn(id)
		if c.status&StatusConfirmed != 0 {
			fn(id, c)
		}
	}
}

// keyOfTuple builds the key of a Tuple (the inverse of key.tuple).
func keyOfTuple(t Tuple, zone uint16) (key, bool) {
	if !t.IsValid() {
		return key{}, false
	}
	p := Packet{Family: t.Family, Src: t.Src, Dst: t.Dst, Proto: t.Proto, Zone: zone,
		SrcPort: t.SrcPort, DstPort: t.DstPort,
		ICMP: ICMPHeader{Type: t.Type, Code: t.Code, ID: t.ID}}
	k := keyOf(&p)
	if t.Proto == ProtoGRE {
		k.a, k.b = t.SrcKey, t.DstKey
	}
	return k, true
}

// find is lookup without side effects: expired entries are found too.
func (t *table) find(k key) (id uint32, dir int, ok bool) {
	h := k.hash(t.seed)
	for n := t.buckets[t.bucket(h)]; n != 0; {
		id, dir := n.id(), n.dir()
		c := t.conn(id)
		if c.hash[dir] == h && t.keyAt(c, dir) == k {
			return id, dir, true
		}
		n = c.next[dir]
	}
	return 0, 0, false
}
