package track

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Engine is ctdiag's reference conntrack engine: fed packets in time order,
// it keeps the table this kernel (Linux 6.18) would keep, and says which
// conntrack state each packet gets. It follows nf_conntrack_in and the
// protocol trackers step by step (docs/KERNEL.md §1-§4, §7); the kernel is its oracle
// (see docs/ENGINE.md for how well they agree).
//
// An Engine is pure and deterministic: it does no I/O, reads no clock and
// starts no goroutines. Time comes with each packet (Packet.Time) and is
// counted in jiffies of HZ 250 with the kernel's 32-bit wrap-safe
// comparisons. Where the kernel draws random numbers (early-drop buckets,
// SNAT ports on a collision) the engine uses its seed, so its choices
// differ from the kernel's but their aggregate effect does not (docs/KERNEL.md §8.6).
//
// An Engine is not safe for concurrent use.
type Engine struct {
	cfg EngineConfig

	t   *table
	max int // nf_conntrack_max; 0 = no limit

	timeouts engineTimeouts
	tcp      tcpSettings
	acct     bool // nf_conntrack_acct: new entries get counters
	tstamp   bool // nf_conntrack_timestamp: new entries get a start time
	checksum bool // checksums are verified (VerifyChecksums and nf_conntrack_checksum)

	stats [NumCounters]uint64

	now     uint32    // jiffies of the latest packet
	nowTime time.Time // and its time
	started bool

	// Expired entries are collected by lookups that meet them and by
	// sweeps. gcNext is a lower bound on every entry's expiry since the last
	// sweep: no sweep is needed before it.
	gcNext    uint32
	lastSweep uint32

	rng uint64 // SNAT port choice (the kernel's get_random_u16)
}

// EngineConfig configures an Engine. The zero value is this kernel with its
// default settings, no NOTRACK and no NAT.
type EngineConfig struct {
	// Sysctls override the defaults (DefaultSysctls, plus nf_conntrack_max
	// and nf_conntrack_buckets of 262144, 6.18 (observed) on a 24 GiB machine).
	// Names may be bare ("nf_conntrack_tcp_loose") or dotted.
	Sysctls Sysctls
	// NoTrack rules select packets the raw table marks untracked (docs/KERNEL.md §7.2).
	NoTrack []NoTrackRule
	// NAT rules translate new connections (docs/KERNEL.md §7.3). With any NAT rule,
	// every new entry also gets null bindings, as the kernel gives them once
	// a NAT chain exists.
	NAT []NATRule
	// VerifyChecksums checks L4 checksums (Packet.BadChecksum) as conntrack
	// does at PRE_ROUTING with nf_conntrack_checksum=1. Off by default:
	// locally generated packets are not checked, and captures of them carry
	// checksums the NIC fills in later.
	VerifyChecksums bool
	// Loopback says packets travel over the loopback device: one that left
	// LOCAL_OUT without a conntrack (INVALID) is tracked again at
	// PRE_ROUTING, so it is counted twice (docs/KERNEL.md §4.6).
	Loopback bool
	// Seed chooses the engine's hash key and SNAT port choices.
	Seed uint64
}

// Engine defaults not among DefaultSysctls: they depend on the machine's
// memory (docs/KERNEL.md §4.1); these are 6.18 (observed)'s.
const (
	defaultConntrackMax     = 262144
	defaultConntrackBuckets = 262144
)

// HZ is the kernel tick rate the engine counts time in (CONFIG_HZ=250 on
// the reference kernel). Remaining timeouts are whole jiffies / HZ, floored.
const HZ = 250

const jiffy = time.Second / HZ

// Timeout indexes past the TCP states (enum tcp_conntrack).
const (
	tcpTimeoutRetrans = 12
	tcpTimeoutUnack   = 13
	tcpTimeoutMax     = 14
)

// engineTimeouts are the timeouts in jiffies.
type engineTimeouts struct {
	tcp                          [tcpTimeoutMax]uint32
	udp, udpStream, icmp, icmpv6 uint32
	generic, gre, greStream      uint32
	greSecs, greStreamSecs       uint32 // printed in /proc
}

type tcpSettings struct {
	loose, beLiberal, ignoreInvalidRST bool
	maxRetrans                         int
}

// EngineSysctls lists the sysctls the engine reads (bare names).
func EngineSysctls() []string {
	names := make([]string, 0, 32)
	for k := range DefaultSysctls() {
		names = append(names, strings.TrimPrefix(k, netfilterPrefix))
	}
	return append(names, "nf_conntrack_max", "nf_conntrack_buckets")
}

// NewEngine returns an empty engine. It fails on a sysctl value that is not
// a non-negative integer, or a NAT rule without an address.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	get := func(name string, def int64) (int64, error) {
		v, ok := cfg.Sysctls.Get(name)
		if !ok && name == "nf_conntrack_max" {
			v, ok = cfg.Sysctls.Get("net.nf_conntrack_max") // the legacy path
		}
		if !ok {
			return def, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 || n > 1<<31-1 {
			return 0, fmt.Errorf("sysctl %s=%q: %w: want a whole number 0..%d", name, v, ErrBadSysctl, int64(1<<31-1))
		}
		return n, nil
	}
	def := func(name string) int64 {
		v, _ := DefaultSysctls().Get(name)
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	var firstErr error
	secs := func(name string) uint32 {
		n, err := get(name, def(name))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if n > (1<<31-1)/HZ {
			n = (1<<31 - 1) / HZ // the kernel's jiffies conversion saturates too
		}
		return uint32(n)
	}
	flag := func(name string) bool { return secs(name) != 0 }

	e := &Engine{cfg: cfg, rng: cfg.Seed ^ 0x9e3779b97f4a7c15}
	t := &e.timeouts
	for s := TCPSynSent; s <= TCPClose; s++ {
		t.tcp[s] = secs(TimeoutSysctl(s)) * HZ
	}
	t.tcp[TCPSynSent2] = 120 * HZ // no sysctl (docs/KERNEL.md §2.1)
	t.tcp[tcpTimeoutRetrans] = secs("nf_conntrack_tcp_timeout_max_retrans") * HZ
	t.tcp[tcpTimeoutUnack] = secs("nf_conntrack_tcp_timeout_unacknowledged") * HZ
	t.udp = secs("nf_conntrack_udp_timeout") * HZ
	t.udpStream = secs("nf_conntrack_udp_timeout_stream") * HZ
	t.icmp = secs("nf_conntrack_icmp_timeout") * HZ
	t.icmpv6 = secs("nf_conntrack_icmpv6_timeout") * HZ
	t.generic = secs("nf_conntrack_generic_timeout") * HZ
	t.greSecs = secs("nf_conntrack_gre_timeout")
	t.greStreamSecs = secs("nf_conntrack_gre_timeout_stream")
	t.gre, t.greStream = t.greSecs*HZ, t.greStreamSecs*HZ

	e.tcp = tcpSettings{
		loose:            flag("nf_conntrack_tcp_loose"),
		beLiberal:        flag("nf_conntrack_tcp_be_liberal"),
		ignoreInvalidRST: flag("nf_conntrack_tcp_ignore_invalid_rst"),
		maxRetrans:       int(secs("nf_conntrack_tcp_max_retrans")),
	}
	e.acct = flag("nf_conntrack_acct")
	e.tstamp = flag("nf_conntrack_timestamp")
	e.checksum = cfg.VerifyChecksums && flag("nf_conntrack_checksum")
	count := func(name string, def int64) int {
		n, err := get(name, def)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return int(n)
	}
	e.max = count("nf_conntrack_max", defaultConntrackMax)
	buckets := count("nf_conntrack_buckets", defaultConntrackBuckets)
	if firstErr != nil {
		return nil, firstErr
	}
	for i := range cfg.NAT {
		if err := cfg.NAT[i].check(); err != nil {
			return nil, fmt.Errorf("NAT rule %d: %w", i+1, err)
		}
	}
	e.t = newTable(buckets, mix64(cfg.Seed+1))
	return e, nil
}

// ErrBadSysctl is returned for a sysctl value the engine cannot use.
var ErrBadSysctl = fmt.Errorf("bad sysctl value")

// clock turns a packet time into jiffies and advances the engine's clock.
func (e *Engine) clock(t time.Time) uint32 {
	now := jiffiesOf(t)
	if !e.started || int32(now-e.now) > 0 {
		e.now, e.nowTime = now, t
	}
	if !e.started {
		e.started = true
		e.gcNext = now
		e.lastSweep = now
	}
	return now
}

func jiffiesOf(t time.Time) uint32 { return uint32(uint64(t.UnixNano()) / uint64(jiffy)) }

// Process runs one packet through conntrack and returns what it got. Packets
// must come in time order; one that goes back in time is treated as arriving
// at the latest time seen.
func (e *Engine) Process(p *Packet) Verdict {
	now := e.clock(p.Time)
	if int32(now-e.now) < 0 {
		now = e.now
	}
	if int32(now-e.lastSweep) >= HZ {
		e.sweepIfDue(now)
		e.lastSweep = now
	}
	if e.notracked(p) {
		return Verdict{State: CTUntracked, Action: ActionUntracked, Reason: "notrack"}
	}
	v := e.conntrackIn(p, now)
	if e.cfg.Loopback && v.State == CTInvalid && v.Action != ActionDropped && v.Action != ActionNotModelled {
		// Over loopback, a packet without a conntrack is tracked again at
		// PRE_ROUTING (docs/KERNEL.md §4.6); that second look is what input sees.
		v = e.conntrackIn(p, now)
	}
	return v
}

// conntrackIn is nf_conntrack_in for one hook.
func (e *Engine) conntrackIn(p *Packet, now uint32) Verdict {
	if p.Unparsable {
		e.stats[CounterInvalid]++
		return Verdict{State: CTInvalid, Action: ActionInvalid, Reason: "no L4 header"}
	}
	if p.Proto == ProtoSCTP {
		return Verdict{State: CTInvalid, Action: ActionNotModelled, Reason: "SCTP is not modelled"}
	}
	if p.Proto.IsICMP() && icmpOwnFamily(p) {
		if v, done := e.icmpError(p, now); done {
			return v
		}
	}
	reopened := false
repeat:
	k := keyOf(p)
	if p.Proto == ProtoGRE && p.GRE.Version == 1 && !p.GRE.PPP {
		e.stats[CounterInvalid]++ // gre_pkt_to_tuple refuses it
		return Verdict{State: CTInvalid, Action: ActionInvalid, Reason: "GRE version 1 without PPP"}
	}
	id, dir, found := e.t.lookup(k, now)
	created := false
	var evicted int
	if !found {
		if _, ok := k.invert(); !ok {
			e.stats[CounterInvalid]++
			return Verdict{State: CTInvalid, Action: ActionInvalid, Reason: fmt.Sprintf("%s type %d has no reply type", p.Proto, p.ICMP.Type)}
		}
		var room bool
		if room, evicted = e.makeRoom(k, now); !room {
			e.stats[CounterDrop]++
			return Verdict{State: CTInvalid, Action: ActionDropped, Reason: "table full, dropping packet", EarlyDropped: evicted}
		}
		id, dir, created = e.t.alloc(), dirOriginal, true
		c := e.t.conn(id)
		c.orig, c.created, c.mark = k, now, p.Mark
		if e.acct || e.tstamp {
			x := e.t.newExt(c)
			x.start = p.Time.UnixNano()
		}
	}
	c := e.t.conn(id)
	state := CTNew
	switch {
	case dir == dirReply, c.status.SeenReply():
		state = CTEstablished
	case c.status.Expected():
		state = CTRelated
	}

	r := e.handle(c, p, dir, created, now)
	switch r.kind {
	case resRepeat:
		// A SYN re-opens a closed connection: the old entry goes and the
		// packet is looked up again (docs/KERNEL.md §1.5.1).
		e.t.remove(id)
		reopened = true
		goto repeat
	case resInvalid, resDrop:
		if created {
			e.t.release(id)
		}
		e.stats[CounterInvalid]++
		if r.kind == resDrop {
			e.stats[CounterDrop]++
			return Verdict{State: CTInvalid, Action: ActionDropped, Reason: r.reason}
		}
		return Verdict{State: CTInvalid, Action: ActionInvalid, Reason: r.reason}
	}
	v := Verdict{State: state, Reply: dir == dirReply, Reason: r.reason, EarlyDropped: evicted, Orig: c.orig.tuple()}
	if dir == dirReply {
		c.status |= StatusSeenReply
	}
	switch {
	case r.kind == resKill:
		v.Action = ActionDeleted
		e.t.remove(id)
		return v
	case r.kind == resIgnore:
		v.Action = ActionIgnored
	default:
		v.Action = ActionUpdated
	}
	if !created {
		return v
	}
	if reason, ok := e.applyNAT(c, p, now); !ok {
		e.t.release(id)
		return Verdict{State: CTInvalid, Action: ActionDropped, Reason: reason}
	}
	if reason, ok := e.confirm(id, now); !ok {
		return Verdict{State: CTInvalid, Action: ActionDropped, Reason: reason}
	}
	v.Orig = c.orig.tuple()
	v.Action = ActionCreated
	if reopened {
		v.Action = ActionReopened
	}
	return v
}

// confirm inserts a new entry (__nf_conntrack_confirm). It fails when
// either direction's tuple is already in the table, which only NAT without
// a free port can cause: the packet is dropped (docs/KERNEL.md §4.6).
func (e *Engine) confirm(id uint32, now uint32) (string, bool) {
	c := e.t.conn(id)
	for dir := range 2 {
		if _, _, taken := e.t.lookup(e.t.keyAt(c, dir), now); taken {
			e.t.release(id)
			e.stats[CounterInsertFailed]++
			e.stats[CounterDrop]++
			return "tuple clash at confirm", false
		}
	}
	c.status |= StatusConfirmed
	e.t.insert(id)
	e.noteExpiry(c.expires)
	return "", true
}

// makeRoom is the table-limit check of __nf_conntrack_alloc (docs/KERNEL.md §4.2):
// room for one more entry, after early drop if needed.
func (e *Engine) makeRoom(k key, now uint32) (ok bool, evicted int) {
	if e.max == 0 || e.t.count < e.max {
		return true, 0
	}
	// The kernel's count can include expired entries its GC has not yet
	// collected; the engine collects them first (see docs/ENGINE.md).
	e.sweepIfDue(now)
	if e.t.count < e.max {
		return true, 0
	}
	if n := e.earlyDrop(k, now); n > 0 {
		e.stats[CounterEarlyDrop] += uint64(n)
		return true, n
	}
	return false, 0
}

// evictionRange is NF_CT_EVICTION_RANGE: buckets early drop looks at.
const evictionRange = 8

// earlyDrop deletes every non-ASSURED entry in the first of 8 consecutive
// buckets, starting at the new tuple's, that holds one (docs/KERNEL.md §4.3).
func (e *Engine) earlyDrop(k key, now uint32) int {
	b := e.t.bucket(k.hash(e.t.seed))
	for range evictionRange {
		var victims []uint32
		for n := e.t.buckets[b]; n != 0; {
			id := n.id()
			c := e.t.conn(id)
			next := c.next[n.dir()]
			switch {
			case expired(c, now):
				next = e.t.nextOther(id, next)
				e.t.remove(id)
			case !c.status.Assured() && !contains(victims, id):
				victims = append(victims, id)
			}
			n = next
		}
		for _, id := range victims {
			e.t.remove(id)
		}
		if len(victims) > 0 {
			return len(victims)
		}
		b = (b + 1) % len(e.t.buckets)
	}
	return 0
}

func contains(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// noteExpiry keeps gcNext a lower bound of all expiry times.
func (e *Engine) noteExpiry(exp uint32) {
	if int32(exp-e.gcNext) < 0 {
		e.gcNext = exp
	}
}

// sweepIfDue removes expired entries if any can have expired since the last
// sweep.
func (e *Engine) sweepIfDue(now uint32) {
	if int32(now-e.gcNext) < 0 {
		return
	}
	first := true
	var next uint32
	var dead []uint32
	e.t.each(func(id uint32, c *conn) {
		if expired(c, now) {
			dead = append(dead, id)
			return
		}
		if first || int32(c.expires-next) < 0 {
			next, first = c.expires, false
		}
	})
	for _, id := range dead {
		e.t.remove(id)
	}
	if first {
		next = now + 1<<30 // empty: nothing can expire until something is added
	}
	e.gcNext = next
}

// setTimeout is nf_ct_refresh: the entry expires timeout jiffies from now,
// unless its timeout is fixed.
func (e *Engine) setTimeout(c *conn, now, timeout uint32) {
	if c.status&StatusFixedTimeout != 0 {
		return
	}
	c.expires = now + timeout
	e.noteExpiry(c.expires)
}

// refresh is nf_ct_refresh_acct: new timeout and accounting.
func (e *Engine) refresh(c *conn, p *Packet, dir int, now, timeout uint32) {
	e.setTimeout(c, now, timeout)
	e.account(c, p, dir)
}

func (e *Engine) account(c *conn, p *Packet, dir int) {
	if e.acct {
		x := e.t.newExt(c)
		x.counters[dir].Packets++
		x.counters[dir].Bytes += uint64(p.Length)
	}
}

// Len returns how many entries are alive at time at.
func (e *Engine) Len(at time.Time) int {
	now := jiffiesOf(at)
	n := 0
	e.t.each(func(_ uint32, c *conn) {
		if !expired(c, now) {
			n++
		}
	})
	return n
}

// Count is nf_conntrack_count as the engine keeps it: entries in the
// table, which may include some that expired since the last packet.
func (e *Engine) Count() int { return e.t.count }

// Max is the table limit in force (nf_conntrack_max; 0 = none).
func (e *Engine) Max() int { return e.max }

// Now is the time of the latest packet.
func (e *Engine) Now() time.Time { return e.nowTime }

// Collect removes the entries that have expired by time at and returns how
// many remain, as the kernel's garbage collector would eventually.
func (e *Engine) Collect(at time.Time) int {
	now := jiffiesOf(at)
	var dead []uint32
	e.t.each(func(id uint32, c *conn) {
		if expired(c, now) {
			dead = append(dead, id)
		}
	})
	for _, id := range dead {
		e.t.remove(id)
	}
	return e.t.count
}

// Table returns the entries alive at time at, as /proc/net/nf_conntrack
// would list them then: remaining timeouts are floor(jiffies left / HZ)
// (docs/KERNEL.md §5.1), use=2 (the reader's reference), mark= and zone= present,
// counters and delta-time when accounting and timestamps were on. The
// order is the engine's (the kernel's order is random; docs/KERNEL.md §5.1).
func (e *Engine) Table(at time.Time) []Flow {
	now := jiffiesOf(at)
	flows := make([]Flow, 0, e.t.count)
	e.t.each(func(_ uint32, c *conn) {
		if !expired(c, now) {
			flows = append(flows, e.flow(c, now, at))
		}
	})
	return flows
}

// Flows calls fn for each entry alive at time at, without building a slice.
func (e *Engine) Flows(at time.Time, fn func(*Flow)) {
	now := jiffiesOf(at)
	e.t.each(func(_ uint32, c *conn) {
		if !expired(c, now) {
			f := e.flow(c, now, at)
			fn(&f)
		}
	})
}

func (e *Engine) flow(c *conn, now uint32, at time.Time) Flow {
	f := Flow{
		Orig:    c.orig.tuple(),
		Reply:   e.t.keyAt(c, dirReply).tuple(),
		Fields:  FieldTimeout | FieldMark | FieldZone | FieldUse,
		Timeout: uint32(int32(c.expires-now)) / HZ,
		Status:  c.status,
		Mark:    c.mark,
		Zone:    c.orig.zone,
		Use:     2,
	}
	switch {
	case c.orig.proto == ProtoTCP:
		f.Fields |= FieldState
		f.State = uint8(c.tcp.state)
	case c.orig.proto == ProtoGRE:
		f.SetGRETimeouts(e.timeouts.greSecs, e.timeouts.greStreamSecs)
	case c.orig.proto.Name() != "unknown" && !c.orig.proto.IsICMP() && !tracksPorts(c.orig.proto):
		f.Fields |= FieldGeneric // DCCP: tracked generically on 6.18
	}
	if x := e.t.extOf(c); x != nil {
		if e.acct {
			f.Fields |= FieldOrigCounters | FieldReplyCounters
			f.OrigCounters, f.ReplyCounters = x.counters[0], x.counters[1]
		}
		if e.tstamp {
			f.Fields |= FieldDeltaTime
			if d := at.UnixNano() - x.start; d > 0 {
				f.DeltaTime = uint64(d / int64(time.Second))
			}
		}
	}
	return f
}

// Stats returns the statistics as the kernel reports them, all on one CPU
// (the kernel spreads them over CPUs unpredictably; compare totals).
func (e *Engine) Stats() Stats {
	cpu := CPUStats{CPU: 0}
	for _, k := range []Counter{CounterFound, CounterInvalid, CounterInsert, CounterInsertFailed,
		CounterDrop, CounterEarlyDrop, CounterError, CounterSearchRestart, CounterClashResolve, CounterChainTooLong} {
		cpu.Set(k, e.stats[k])
	}
	return Stats{CPUs: []CPUStats{cpu}}
}

// Snapshot returns the table and statistics at time at as a Snapshot, the
// shape the analyzer and the writers take.
func (e *Engine) Snapshot(at time.Time) Snapshot {
	s := Snapshot{
		Time:   at,
		Source: Source{Kind: SourceEngine, Name: "ctdiag engine"},
		Flows:  e.Table(at),
		Stats:  e.Stats(),
		Max:    uint64(e.max), HasMax: true,
		Sysctls: e.Sysctls(),
	}
	s.Count, s.HasCount = uint64(len(s.Flows)), true
	return s
}

// Sysctls returns the settings in force: the defaults with the
// configuration's overrides, under their dotted names.
func (e *Engine) Sysctls() Sysctls {
	limits := Sysctls{"nf_conntrack_max": strconv.Itoa(e.max), "nf_conntrack_buckets": strconv.Itoa(len(e.t.buckets))}
	return LayerSysctls(DefaultSysctls(), limits, e.cfg.Sysctls)
}

// EntryInfo is one entry with its exact timing, as Lookup returns it.
type EntryInfo struct {
	Flow    Flow      // as Table would show it at the time asked
	Expires time.Time // when it expires (to the jiffy)
	Created time.Time // when its first packet came (the UDP stream rule counts from it)
	Expired bool      // it has expired but not been collected yet
}

// Lookup finds the entry holding t (in either direction) in zone, without
// changing the table: expired entries not yet collected are returned with
// Expired set. Tests use it to keep away from timing boundaries; analysis can
// use it for exact expiry times.
func (e *Engine) Lookup(t Tuple, zone uint16, at time.Time) (EntryInfo, bool) {
	k, ok := keyOfTuple(t, zone)
	if !ok {
		return EntryInfo{}, false
	}
	id, _, found := e.t.find(k)
	if !found {
		return EntryInfo{}, false
	}
	c := e.t.conn(id)
	now := jiffiesOf(at)
	left := time.Duration(int32(c.expires-now)) * jiffy
	return EntryInfo{
		Flow:    e.flow(c, now, at),
		Expires: at.Add(left),
		Created: at.Add(time.Duration(int32(c.created-now)) * jiffy),
		Expired: expired(c, now),
	}, true
}
