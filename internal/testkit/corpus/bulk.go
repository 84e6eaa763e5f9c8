package corpus

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/track"
)

// Default timeouts (s) of the kernel's conntrack sysctls, which the
// scenarios leave alone unless they say otherwise.
const (
	toEstablished = 432000
	toSynSent     = 120
	toSynRecv     = 60
	toFinWait     = 120
	toCloseWait   = 60
	toLastAck     = 30
	toTimeWait    = 120
	toClose       = 10
	toUDP         = 30
	toUDPStream   = 120
	toICMP        = 30
)

// Flows makes the tuples of one service as a host's table holds them: the
// i-th connection of the class, unique within the class for every i.
type Flows struct {
	Proto track.Proto
	// Clients are the originating addresses, taken in order; each makes
	// PerClient connections (distinct source ports, or ICMP ids).
	Clients   netip.Prefix
	PerClient int
	// From, when valid, is the one originating address of every
	// connection (the host's own outgoing connections); Clients is unused.
	// Its source ports are the ephemeral range (32768, 28232 of them)
	// unless FromPorts widens it (from 1024 on).
	From      netip.Addr
	FromPorts uint16
	// Servers are the destinations, in turn.
	Servers []netip.Addr
	Port    uint16 // destination port (none for ICMP)
	// SNAT, when valid, is the address the reply goes back to (a router's
	// MASQUERADE); each entry gets its own reply port, from SNATPort on
	// (default 1024) within SNATSpan ports (default up to 65023), so that
	// classes to the same service can take disjoint blocks.
	SNAT               netip.Addr
	SNATPort, SNATSpan uint16
	// SNATKeepPort keeps the source port in the reply (MASQUERADE does
	// when the port is free).
	SNATKeepPort bool
	// DNAT, when valid, is the address replies come from (the backend the
	// service address was translated to), on DNATPort.
	DNAT     netip.Addr
	DNATPort uint16
}

// capacity is how many distinct connections the flows can make: one
// originating address has only so many source ports per destination.
func (f *Flows) capacity() uint64 {
	if !f.From.IsValid() || f.Proto == track.ProtoICMP || f.Proto == track.ProtoICMPv6 {
		return math.MaxUint64
	}
	span := uint64(28232)
	if f.FromPorts != 0 {
		span = uint64(f.FromPorts)
	}
	return span * uint64(len(f.Servers))
}

// Tuple returns connection i's original and reply tuples.
func (f *Flows) Tuple(i uint64) (orig, reply track.Tuple) {
	per := uint64(max(f.PerClient, 1))
	client := i / per
	k := i % per
	var src netip.Addr
	if f.From.IsValid() {
		src, client, k = f.From, 0, i/uint64(len(f.Servers))
	} else {
		src = addrAdd(f.Clients.Addr(), 1+client)
	}
	dst := f.Servers[i%uint64(len(f.Servers))]
	fam := track.FamilyIPv4
	if src.Is6() {
		fam = track.FamilyIPv6
	}
	orig = track.Tuple{Family: fam, Proto: f.Proto, Src: src, Dst: dst}
	switch f.Proto {
	case track.ProtoICMP, track.ProtoICMPv6:
		orig.Type, orig.ID = 8, uint16(k*7919+client*31)
		if f.Proto == track.ProtoICMPv6 {
			orig.Type = 128
		}
	default:
		// Ephemeral ports, distinct for one client: 997 is prime to 28232
		// (and to any span a multiple of 1000 plus 1).
		base, span := uint64(32768), uint64(28232)
		if f.FromPorts != 0 {
			base, span = 1024, uint64(f.FromPorts)
		}
		orig.SrcPort = uint16(base + (k*997+client*31)%span)
		orig.DstPort = f.Port
	}
	reply = orig.Reply()
	if f.DNAT.IsValid() {
		reply.Src, reply.SrcPort = f.DNAT, f.DNATPort
	}
	if f.SNAT.IsValid() {
		// One reply port per entry and server: unique reply tuples.
		n := uint64(len(f.Servers))
		reply.Dst = f.SNAT
		switch {
		case f.SNATKeepPort:
			reply.DstPort, reply.ID = orig.SrcPort, orig.ID
		case f.Proto.HasPorts():
			first, span := uint64(f.SNATPort), uint64(f.SNATSpan)
			if first == 0 {
				first = 1024
			}
			if span == 0 {
				span = 65536 - first
			}
			reply.DstPort = uint16(first + (i/n)%span)
		default:
			reply.ID = uint16(i / n)
		}
	}
	return orig, reply
}

// addrAdd returns a + n (n small enough to stay in the family).
func addrAdd(a netip.Addr, n uint64) netip.Addr {
	b := a.As16()
	for i := 15; i >= 0 && n > 0; i-- {
		s := uint64(b[i]) + n&0xff
		b[i] = byte(s)
		n = n>>8 + s>>8
	}
	r := netip.AddrFrom16(b)
	if a.Is4() {
		return r.Unmap()
	}
	return r
}

// Class is one kind of traffic of a host, as the entries it keeps in the
// table. Transient classes (TIME_WAIT, answered UDP, pings) hold N entries
// in a steady state: as many are born each second as the kernel expires,
// each born with its state's full timeout. Long-lived classes (Long:
// ESTABLISHED) hold N connections whose idle ages follow Idle; each
// second a share of them carries a packet (Refresh: timeout back to the
// full value) and a share closes (Close: the entry goes to TIME_WAIT and a
// new connection replaces it).
type Class struct {
	Name    string
	N       int
	Flows   Flows
	State   track.TCPState // TCP only
	Status  track.Status
	Timeout uint32 // a fresh entry's remaining timeout: the state's

	// Rate, when set, is a transient class's births per second instead of
	// N/Timeout (real traffic of the same kind makes the rest).
	Rate float64
	// Births, when set, ends a transient class's births after that many
	// (a loop that stops), however long the capture takes.
	Births int

	Long    bool
	Idle    func(r *rand.Rand) float64 // idle age (s) at the start; default exponential, mean 30 s
	Refresh float64
	Close   float64
	// Grow is a long-lived class's new connections per second that stay
	// (a surge); 0 keeps N steady.
	Grow float64

	next  uint64
	carry float64
	live  []uint64
	last  time.Time // when the class was last advanced
	born  int       // births by Tick
}

// flow returns connection i of the class with the given remaining timeout.
func (c *Class) flow(i uint64, timeout uint32) track.Flow {
	orig, reply := c.Flows.Tuple(i)
	f := track.Flow{Orig: orig, Reply: reply, Timeout: max(timeout, 1), Status: c.Status, Fields: track.FieldTimeout}
	if orig.Proto == track.ProtoTCP {
		f.State, f.Fields = uint8(c.State), f.Fields|track.FieldState
	}
	return f
}

// Bulk keeps netlink-made entries in one namespace the way steady traffic
// keeps packet-made ones: Prime gives the table its state at the start,
// Tick ages it (births, refreshes, closes; the kernel expires entries by
// itself).
type Bulk struct {
	fl   *ctfill.Filler
	rand *rand.Rand

	mu      sync.Mutex
	classes []*Class
	err     error
	// Full counts batches with creations refused because the table was
	// full (ENOMEM), when tolerated.
	Full      int
	tolerated bool

	Created, Refreshed, Closed int
}

// NewBulk opens a netlink socket in the namespace at path.
func NewBulk(path string, rng *rand.Rand) (*Bulk, error) {
	fl, err := ctfill.NewIn(path)
	if err != nil {
		return nil, err
	}
	return &Bulk{fl: fl, rand: rng}, nil
}

// Close closes the socket.
func (b *Bulk) Close() error { return b.fl.Close() }

// TolerateFull makes creations refused by a full table counted (Full)
// instead of failing the run: new connections fail the same way.
func (b *Bulk) TolerateFull() { b.tolerated = true }

// Prime creates each class's entries as they stand at the start and keeps
// the classes for Tick.
//
// Priming takes seconds at L (longer on a busy machine), and the kernel
// ages the first entries meanwhile: a class's clock of births starts
// halfway through its priming (what expired before then was born before
// it, on average), so the catch-up Tick in Run.Begin replaces what expired
// since; the short-lived classes go last.
func (b *Bulk) Prime(classes ...*Class) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	classes = slices.Clone(classes)
	slices.SortStableFunc(classes, func(x, y *Class) int { return cmp.Compare(y.Timeout, x.Timeout) })
	for _, c := range classes {
		start := time.Now()
		for j := 0; j < c.N; j++ {
			i := c.next
			c.next++
			timeout := c.Timeout
			if c.Long {
				idle := exponential(b.rand, 30)
				if c.Idle != nil {
					idle = c.Idle(b.rand)
				}
				timeout = uint32(max(1, float64(c.Timeout)-idle))
				c.live = append(c.live, i)
			} else {
				// Born uniformly over the last Timeout seconds.
				timeout = 1 + uint32(b.rand.IntN(int(c.Timeout)))
			}
			f := c.flow(i, timeout)
			if err := b.fl.Add(&f); err != nil {
				return err
			}
			b.Created++
		}
		// A long-lived class that closes Close×N connections a second has
		// left that many a second in TIME_WAIT over the last 120 s.
		for j := 0; j < int(c.Close*float64(c.N)*toTimeWait); j++ {
			f := c.flow(c.next, 1+uint32(b.rand.IntN(toTimeWait)))
			c.next++
			f.State = uint8(track.TCPTimeWait)
			if err := b.fl.Add(&f); err != nil {
				return err
			}
			b.Created++
		}
		if err := b.sync(); err != nil {
			return err
		}
		c.last = start.Add(time.Since(start) / 2)
		b.classes = append(b.classes, c)
	}
	return nil
}

// addClass keeps c going from now on (births, refreshes) without priming
// it: a kind of traffic that starts now.
func (b *Bulk) addClass(c *Class) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c.last = time.Now()
	b.classes = append(b.classes, c)
}

// Locked runs fn while no tick runs, to change a class's settings.
func (b *Bulk) Locked(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn()
}

// Add creates n entries of class c now (fresh: the full timeout, or, for
// a long-lived class, idle as Idle says), without keeping c for Tick.
func (b *Bulk) Add(c *Class, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for j := 0; j < n; j++ {
		i := c.next
		c.next++
		timeout := c.Timeout
		if c.Idle != nil {
			timeout = uint32(max(1, float64(c.Timeout)-c.Idle(b.rand)))
		}
		f := c.flow(i, timeout)
		if err := b.fl.Add(&f); err != nil {
			return err
		}
		b.Created++
	}
	return b.sync()
}

// Tick advances the classes to now.
func (b *Bulk) Tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	now := time.Now()
	for _, c := range b.classes {
		dt := now.Sub(c.last).Seconds()
		c.last = now
		if err := b.tick(c, dt); err != nil {
			b.err = err
			return
		}
	}
	if err := b.sync(); err != nil {
		b.err = err
	}
}

func (b *Bulk) tick(c *Class, dt float64) error {
	if !c.Long {
		rate := c.Rate
		if rate == 0 {
			rate = float64(c.N) / float64(c.Timeout)
		}
		// A long catch-up (see Prime) never makes more than the class holds;
		// a client whose source ports are all taken opens nothing more.
		c.carry = min(c.carry+max(rate, 0)*dt, float64(c.N)+1)
		for ; c.carry >= 1 && c.next < c.Flows.capacity() && (c.Births == 0 || c.born < c.Births); c.carry-- {
			c.born++
			f := c.flow(c.next, c.Timeout)
			c.next++
			if err := b.fl.Add(&f); err != nil {
				return err
			}
			b.Created++
		}
		return nil
	}
	// A surge: new connections that stay.
	c.carry += c.Grow * dt
	for ; c.carry >= 1; c.carry-- {
		f := c.flow(c.next, c.Timeout)
		c.live = append(c.live, c.next)
		c.next++
		if err := b.fl.Add(&f); err != nil {
			return err
		}
		b.Created++
	}
	// Refreshes: a packet sets the timeout back to the state's.
	for n := poisson(b.rand, c.Refresh*float64(len(c.live))*dt); n > 0 && len(c.live) > 0; n-- {
		f := c.flow(c.live[b.rand.IntN(len(c.live))], c.Timeout)
		if err := b.fl.Update(&f); err != nil {
			return err
		}
		b.Refreshed++
	}
	// Closes: FIN, FIN, ACK leave the entry in TIME_WAIT; a new
	// connection takes its place.
	for n := poisson(b.rand, c.Close*float64(len(c.live))*dt); n > 0 && len(c.live) > 0; n-- {
		j := b.rand.IntN(len(c.live))
		f := c.flow(c.live[j], toTimeWait)
		f.State = uint8(track.TCPTimeWait)
		if err := b.fl.Update(&f); err != nil {
			return err
		}
		b.Closed++
		c.live[j] = c.next
		nf := c.flow(c.next, c.Timeout)
		c.next++
		if err := b.fl.Add(&nf); err != nil {
			return err
		}
		b.Created++
	}
	return nil
}

// sync waits for the kernel to have processed what was sent.
func (b *Bulk) sync() error {
	err := b.fl.Sync()
	// In a full table a replacement connection may not have been created,
	// so a later refresh finds nothing (ENOENT): the same failure, seen late.
	if err != nil && b.tolerated && (errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ENOENT)) {
		b.Full++
		return nil
	}
	return err
}

// flush reports the first error a background tick met.
func (b *Bulk) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return fmt.Errorf("netlink bulk: %w", b.err)
	}
	return nil
}

// exponential draws from an exponential distribution with the given mean.
func exponential(r *rand.Rand, mean float64) float64 { return r.ExpFloat64() * mean }

// poisson draws how many of a Poisson process with mean m happen.
func poisson(r *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	if m > 50 { // normal approximation
		return max(0, int(math.Round(m+math.Sqrt(m)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
