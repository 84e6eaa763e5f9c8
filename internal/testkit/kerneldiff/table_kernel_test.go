package kerneldiff

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// tableRoom is how many entries the table tests leave room for. The limit
// is global and is not changed: each test fills its own namespace with
// ASSURED entries (ctfill.Assured, over netlink) up to the limit minus
// tableRoom, and the engine, configured with a limit of tableRoom, holds
// only the flooder's flows. Entries early drop may not evict change
// nothing in what it finds, so the two tables fill up and evict alike.
const tableRoom = 2048

// flooder sends UDP datagrams from distinct clients to the kernel and the
// engine, and counts what each dropped.
type flooder struct {
	t      *testing.T
	sender *Sender
	e      *track.Engine
	base   byte // second octet of the client addresses

	kernelDrops, engineDrops, disagree int
}

func (f *flooder) send(i int, fromServer bool) {
	client := netip.AddrFrom4([4]byte{127, f.base, byte(i >> 8), byte(i)})
	p := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoUDP, Src: client, Dst: Server4, SrcPort: 1000, DstPort: 53,
		L4Length: 9, Length: 29, UDP: track.UDPHeader{Length: 9, Checksum: 1}}
	if fromServer {
		p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	b, err := capture.Encode(&p)
	if err != nil {
		f.t.Fatal(err)
	}
	var q track.Packet
	if err := capture.DecodeIP(b, &q); err != nil {
		f.t.Fatal(err)
	}
	q.Time = time.Now()
	err = f.sender.Send(b, p.Dst)
	dropped := errors.Is(err, unix.EPERM)
	if err != nil && !dropped {
		f.t.Fatal(err)
	}
	v := f.e.Process(&q)
	if dropped {
		f.kernelDrops++
	}
	if v.Action == track.ActionDropped {
		f.engineDrops++
	}
	if dropped != (v.Action == track.ActionDropped) {
		f.disagree++
	}
}

func newFlooder(t *testing.T, base byte) (*flooder, *Namespace) {
	netnstest.FillableConntrackMax(t)
	ns := NewNamespace(t, track.Sysctls{})
	fl, err := ctfill.NewIn("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	count, max, err := fl.Count()
	if err != nil {
		t.Fatal(err)
	}
	if max-count < tableRoom {
		t.Skipf("nf_conntrack_max is %d: too small for a table test", max)
	}
	if err := fl.FillWith(0, max-count-tableRoom, ctfill.Assured); err != nil {
		t.Fatal(err)
	}
	if count, _, err := fl.Count(); err != nil || count != max-tableRoom {
		t.Fatalf("filled to %d entries (%v), want %d", count, err, max-tableRoom)
	}
	sender, err := NewSender(ns.NS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sender.Close)
	cfg := ns.EngineConfig(t)
	cfg.Sysctls.Set("nf_conntrack_max", strconv.Itoa(tableRoom))
	e, err := track.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &flooder{t: t, sender: sender, e: e, base: base}, ns
}

// flooded returns the kernel's entries of the flooder's flows (clients on
// 127/8), not the ASSURED entries that fill the rest of the table.
func flooded(ns *Namespace) ([]track.Flow, error) {
	all, err := ReadTable(ns.NS)
	var out []track.Flow
	for _, f := range all {
		if f.Orig.Src.Is4() && f.Orig.Src.As4()[0] == 127 {
			out = append(out, f)
		}
	}
	return out, err
}

// TestKernelEngineTableFull fills a namespace's table and compares what
// new flows get (docs/KERNEL.md §4.2, §4.3).
func TestKernelEngineTableFull(t *testing.T) {
	netnstest.Require(t) // before the subtests, so that the test itself skips too
	t.Run("assured", func(t *testing.T) {
		// A table full of ASSURED entries has nothing early drop may take:
		// every new flow is dropped, exactly, in both.
		//
		// With other namespaces being made and torn down meanwhile (another
		// test package's, in CI), the kernel was seen to leave the same 149
		// of the 2,048 entries without SEEN_REPLY however often their
		// replies were sent again, no counter moving. That is outside
		// what this test checks, so the table is filled again in a fresh
		// namespace (other hash buckets) when it happens.
		var f *flooder
		var ns *Namespace
		var kflows []track.Flow
		assured := 0
		for attempt := 1; ; attempt++ {
			f, ns = newFlooder(t, 41)
			for i := range tableRoom {
				f.send(i, false)
				f.send(i, true)
			}
			time.Sleep(2300 * time.Millisecond) // past the UDP 2-second mark
			for i := range tableRoom {
				f.send(i, false) // assures
			}
			var err error
			if kflows, err = flooded(ns); err != nil {
				t.Fatal(err)
			}
			assured = 0
			for _, fl := range kflows {
				if fl.Status.Assured() {
					assured++
				}
			}
			if assured == tableRoom || attempt == 3 {
				break
			}
			t.Logf("attempt %d: %d of %d entries ASSURED (the others never saw their reply); filling a fresh namespace", attempt, assured, tableRoom)
		}
		if assured != tableRoom || f.e.Len(time.Now()) != tableRoom {
			t.Fatalf("kernel holds %d entries (%d ASSURED), engine %d; want %d ASSURED", len(kflows), assured, f.e.Len(time.Now()), tableRoom)
		}
		before, _ := ReadStats(ns.NS)
		const extra = 100
		for i := range extra {
			f.send(tableRoom+i, false)
		}
		after, _ := ReadStats(ns.NS)
		est := EngineStats(f.e)
		t.Logf("full of ASSURED: %d new flows, kernel dropped %d (drop +%d, early_drop +%d), engine dropped %d (drop %d, early_drop %d), %d packets disagree",
			extra, f.kernelDrops, after["drop"]-before["drop"], after["early_drop"]-before["early_drop"], f.engineDrops, est["drop"], est["early_drop"], f.disagree)
		if f.kernelDrops != extra || f.engineDrops != extra || f.disagree != 0 ||
			after["drop"]-before["drop"] != extra || est["drop"] != extra || est["early_drop"] != 0 || after["early_drop"] != before["early_drop"] {
			t.Errorf("every new flow must be dropped and counted in drop, in both")
		}
	})

	t.Run("unreplied", func(t *testing.T) {
		// A table full of unreplied entries: early drop scans 8 buckets from
		// the new tuple's; with 2048 entries in the kernel's 262144 buckets
		// it mostly finds none and the flow is dropped. Which flows get in
		// is random (docs/KERNEL.md §8.6): compare the shares.
		for attempt := 1; ; attempt++ {
			ok, gc := tableFullUnreplied(t, byte(50+attempt))
			if ok || !gc || attempt == 3 {
				return
			}
			t.Logf("attempt %d: the kernel's garbage collector evicted unassured entries during the test (docs/KERNEL.md §4.3, after a table-full event); again", attempt)
		}
	})
}

func tableFullUnreplied(t *testing.T, base byte) (ok, gcInterfered bool) {
	f, ns := newFlooder(t, base)
	for i := range tableRoom {
		f.send(i, false)
	}
	before, _ := ReadStats(ns.NS)
	const extra = 400
	for i := range extra {
		f.send(tableRoom+i, false)
	}
	after, err := ReadStats(ns.NS)
	if err != nil {
		t.Fatal(err)
	}
	kflows, err := flooded(ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(kflows) < tableRoom*9/10 {
		return false, true
	}
	est := EngineStats(f.e)
	buckets := 262144.0
	if v, ok := ns.EngineConfig(t).Sysctls.Int("nf_conntrack_buckets"); ok {
		buckets = float64(v)
	}
	// Expected share dropped: no node of an entry in 8 buckets, with 2
	// nodes per entry spread over the buckets.
	p := math.Exp(-8 * 2 * tableRoom / buckets)
	sd := math.Sqrt(2 * extra * p * (1 - p))
	t.Logf("full of unreplied entries (%d in %.0f buckets): of %d new flows the kernel dropped %d (drop +%d, early_drop +%d), the engine %d (drop %d, early_drop %d); expected %.0f ± %.0f; kernel table %d entries, engine %d",
		tableRoom, buckets, extra, f.kernelDrops, after["drop"]-before["drop"], after["early_drop"]-before["early_drop"],
		f.engineDrops, est["drop"], est["early_drop"], p*extra, sd/math.Sqrt2, len(kflows), f.e.Len(time.Now()))
	ok = true
	if d := math.Abs(float64(f.kernelDrops - f.engineDrops)); d > 5*sd {
		t.Errorf("kernel and engine dropped %d and %d of %d new flows: more than 5 standard deviations apart", f.kernelDrops, f.engineDrops, extra)
		ok = false
	}
	admittedK, admittedE := extra-f.kernelDrops, extra-f.engineDrops
	if int(after["early_drop"]-before["early_drop"]) < admittedK || int(est["early_drop"]) < admittedE {
		t.Errorf("every admitted flow needs an eviction: kernel %d admitted, %d evicted; engine %d admitted, %d evicted",
			admittedK, after["early_drop"]-before["early_drop"], admittedE, est["early_drop"])
		ok = false
	}
	if len(kflows) > tableRoom || f.e.Len(time.Now()) > tableRoom {
		t.Errorf("a table over its limit: kernel %d, engine %d", len(kflows), f.e.Len(time.Now()))
		ok = false
	}
	if int(after["drop"]-before["drop"]) != f.kernelDrops || int(est["drop"]) != f.engineDrops {
		t.Errorf("drop statistic does not count the dropped packets")
		ok = false
	}
	return ok, false
}
