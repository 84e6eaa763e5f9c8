package exporter

import (
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// modelView is what the model keeps of an entry, for comparisons.
func modelView(f *track.Flow) track.Flow {
	keep := track.FieldTimeout | track.FieldState | track.FieldMark | track.FieldZone
	return track.Flow{Orig: f.Orig, Reply: f.Reply, Fields: f.Fields & keep, State: f.State, Timeout: f.Timeout,
		Status: f.Status, Mark: f.Mark, Zone: f.Zone}
}

// contents streams the model into a map by original tuple and zone.
func contents(t *testing.T, m *Model, now time.Time) map[oddKey]track.Flow {
	t.Helper()
	out := map[oddKey]track.Flow{}
	err := m.Each(now, func(f *track.Flow) error {
		k := oddKey{f.Orig, f.Zone}
		if _, dup := out[k]; dup {
			t.Errorf("entry %v streamed twice", f.Orig)
		}
		out[k] = f.Clone()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recount counts streamed entries as the model counts them incrementally.
func recount(t *testing.T, m *Model, now time.Time) (c Counts, n int) {
	t.Helper()
	m.Each(now, func(f *track.Flow) error {
		c[slotOf(f.Orig.Proto, f.State, f.HasState())][classOf(f.Status)]++
		n++
		return nil
	})
	return c, n
}

func checkCounts(t *testing.T, m *Model, now time.Time) {
	t.Helper()
	want, n := recount(t, m, now)
	var got Counts
	m.Counts(&got)
	if got != want || m.Len() != n {
		t.Fatalf("incremental counts disagree with a recount (len %d, recount %d)", m.Len(), n)
	}
}

// Every entry of real captures (NAT, IPv6, ICMP, every state) comes back
// from the model as it went in, but for what the model does not keep.
func TestModelRoundTripsCaptures(t *testing.T) {
	files, _ := filepath.Glob("../testdata/kernel-6.18/*/*/nf_conntrack.t*.txt")
	files = append(files, "../testdata/kernel-6.18/table-100k/proc-nf_conntrack-100k.txt.gz")
	total := 0
	for _, file := range files {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		m := NewModel(t0)
		var want []track.Flow
		readFlows(t, file, func(f *track.Flow) {
			want = append(want, modelView(f))
			m.put(f, m.tick(t0), false, false)
		})
		got := contents(t, m, t0)
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries in, %d out", file, len(want), len(got))
		}
		for _, w := range want {
			g, ok := got[oddKey{w.Orig, w.Zone}]
			if !ok || !g.Equal(&w) {
				t.Fatalf("%s: entry\n  in  %+v\n  out %+v", file, w, g)
			}
		}
		checkCounts(t, m, t0)
		total += len(want)
	}
	if total < 100000 {
		t.Fatalf("only %d entries checked: captures missing?", total)
	}
}

func readFlows(t *testing.T, file string, fn func(*track.Flow)) {
	t.Helper()
	r, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parser.NewDecoder(r, file, parser.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Flows(func(f *track.Flow) error { fn(f); return nil }); err != nil {
		t.Fatal(err)
	}
}

// Timeouts count down from when an entry was written.
func TestModelTimeoutCountsDown(t *testing.T) {
	m := NewModel(t0)
	f := ctfill.Entry(0) // 3600 s left
	m.Event(&track.Event{Type: track.EventNew, Flow: f}, t0.Add(10*time.Second))
	for _, c := range []struct {
		at   time.Duration
		want uint32
	}{{10 * time.Second, 3600}, {10*time.Second + 999*time.Millisecond, 3600}, {11 * time.Second, 3599}, {3610 * time.Second, 0}, {5000 * time.Second, 0}} {
		got := contents(t, m, t0.Add(c.at))[oddKey{f.Orig, 0}]
		if got.Timeout != c.want {
			t.Errorf("at +%v: %d s left, want %d", c.at, got.Timeout, c.want)
		}
	}
}

// An UPDATE event carries the tuples and status, and the state, timeout
// and mark only when they changed: the rest is kept.
func TestModelUpdateMerges(t *testing.T) {
	m := NewModel(t0)
	syn := ctfill.Entry(5) // TCP SYN_SENT, unreplied
	syn.Mark, syn.Fields = 9, syn.Fields|track.FieldMark
	m.Event(&track.Event{Type: track.EventNew, Flow: syn}, t0)

	up := syn
	up.Fields = 0 // status only: seen a reply
	up.Status = track.StatusSeenReply
	up.Mark = 0
	m.Event(&track.Event{Type: track.EventUpdate, Flow: up}, t0.Add(2*time.Second))
	got := contents(t, m, t0.Add(2*time.Second))[oddKey{syn.Orig, 0}]
	if st, _ := got.TCPState(); st != track.TCPSynSent || got.Mark != 9 || !got.Status.SeenReply() || got.Timeout != ctfill.Timeout-2 {
		t.Errorf("after a status-only update: %+v", got)
	}
	up.Fields = track.FieldState | track.FieldTimeout
	up.State, up.Timeout, up.Status = uint8(track.TCPEstablished), 300, 0 // a status without SEEN_REPLY cannot lose it
	m.Event(&track.Event{Type: track.EventUpdate, Flow: up}, t0.Add(3*time.Second))
	got = contents(t, m, t0.Add(3*time.Second))[oddKey{syn.Orig, 0}]
	if st, _ := got.TCPState(); st != track.TCPEstablished || got.Timeout != 300 || !got.Status.SeenReply() || got.Mark != 9 {
		t.Errorf("after a state update: %+v", got)
	}
	checkCounts(t, m, t0)
	var c Counts
	m.Counts(&c)
	if c[slotOf(track.ProtoTCP, uint8(track.TCPEstablished), true)][classHalf] != 1 || m.Len() != 1 {
		t.Errorf("counts: not one half-assured ESTABLISHED entry")
	}
	m.Event(&track.Event{Type: track.EventDestroy, Flow: up}, t0.Add(4*time.Second))
	if m.Len() != 0 || len(contents(t, m, t0)) != 0 {
		t.Errorf("destroyed entry still there")
	}
	checkCounts(t, m, t0)
}

// NAT entries keep their reply tuple; an update that ends NAT's rewrite
// (impossible in the kernel, but the model must not keep a stale one)
// forgets it.
func TestModelNATReply(t *testing.T) {
	m := NewModel(t0)
	f := ctfill.Entry(1)
	f.Reply.Dst = netip.MustParseAddr("198.51.100.7")
	f.Reply.DstPort = 61000
	m.Event(&track.Event{Type: track.EventNew, Flow: f}, t0)
	if got := contents(t, m, t0)[oddKey{f.Orig, 0}]; got.Reply != f.Reply || !got.SrcNAT() {
		t.Fatalf("reply %v, want %v", got.Reply, f.Reply)
	}
	if len(m.r4) != 1 {
		t.Fatalf("%d NAT replies kept", len(m.r4))
	}
	g := ctfill.Entry(1)
	m.Event(&track.Event{Type: track.EventUpdate, Flow: g}, t0)
	if got := contents(t, m, t0)[oddKey{f.Orig, 0}]; got.Reply != g.Reply || len(m.r4) != 0 {
		t.Fatalf("reply %v after the update, want %v (%d kept)", got.Reply, g.Reply, len(m.r4))
	}
}

// A resync removes what the dump no longer has, keeps what events wrote
// during it, and does not bring back entries destroyed during it.
func TestModelResync(t *testing.T) {
	m := NewModel(t0)
	for i := 0; i < 100; i++ {
		f := ctfill.Entry(i)
		m.Event(&track.Event{Type: track.EventNew, Flow: f}, t0)
	}
	// Events for 90-99 were lost: the kernel destroyed them.
	start := t0.Add(10 * time.Second)
	r := m.BeginResync(start)
	// During the dump: entry 5 is answered (an event), entry 6 is
	// destroyed, entry 200 is created.
	e5 := ctfill.Entry(5)
	e5.Status |= track.StatusSeenReply
	e5.State = uint8(track.TCPSynRecv)
	m.Event(&track.Event{Type: track.EventUpdate, Flow: e5}, start.Add(time.Second))
	m.Event(&track.Event{Type: track.EventDestroy, Flow: ctfill.Entry(6)}, start.Add(time.Second))
	m.Event(&track.Event{Type: track.EventNew, Flow: ctfill.Entry(200)}, start.Add(time.Second))
	// The dump read 0-89 (5 and 6 before they changed).
	for i := 0; i < 90; i++ {
		f := ctfill.Entry(i)
		r.Add(&f, start.Add(2*time.Second))
	}
	if removed := r.End(); removed != 10 {
		t.Errorf("%d removed, want 10 (90-99)", removed)
	}
	got := contents(t, m, start.Add(2*time.Second))
	if len(got) != 90 || m.Len() != 90 {
		t.Fatalf("%d entries (len %d), want 0-89 without 6, and 200", len(got), m.Len())
	}
	if _, ok := got[oddKey{ctfill.Entry(6).Orig, 0}]; ok {
		t.Error("entry 6 came back from the dump after its DESTROY")
	}
	if _, ok := got[oddKey{ctfill.Entry(200).Orig, 0}]; !ok {
		t.Error("entry 200, created during the dump, was removed")
	}
	if g := got[oddKey{e5.Orig, 0}]; !g.Status.SeenReply() || g.State != uint8(track.TCPSynRecv) {
		t.Errorf("entry 5 lost its update to the older dump: %+v", g)
	}
	checkCounts(t, m, t0)
	if len(m.tomb) != 0 {
		t.Errorf("%d tombstones left after the resync", len(m.tomb))
	}
	// An aborted resync removes nothing.
	r = m.BeginResync(start.Add(time.Minute))
	r.Abort()
	if m.Len() != 90 {
		t.Errorf("an aborted resync removed entries: %d left", m.Len())
	}
}

// Events are read in batches and stamped when their batch was read, so an
// event read before a dump began can be applied after the dump wrote its
// entry. The entry is in the table (the dump saw it): the late event must
// not make it look untouched since the dump began, or End removes it.
func TestModelResyncEventReadBeforeItBegan(t *testing.T) {
	m := NewModel(t0)
	read := t0.Add(10 * time.Second) // the batch's read time
	r := m.BeginResync(read.Add(time.Second))
	for _, i := range []int{1, 2} {
		f := ctfill.Entry(i)
		r.Add(&f, read.Add(2*time.Second))
	}
	// The batch read before the dump began is applied now: 1 was created,
	// 2 was answered, 3 was created and destroyed.
	e2 := ctfill.Entry(2)
	e2.Status |= track.StatusSeenReply
	for _, ev := range []track.Event{
		{Type: track.EventNew, Flow: ctfill.Entry(1)},
		{Type: track.EventUpdate, Flow: e2},
		{Type: track.EventNew, Flow: ctfill.Entry(3)},
		{Type: track.EventDestroy, Flow: ctfill.Entry(3)},
	} {
		m.Event(&ev, read)
	}
	if removed := r.End(); removed != 0 {
		t.Errorf("the resync removed %d entries the dump had", removed)
	}
	got := contents(t, m, read.Add(3*time.Second))
	if len(got) != 2 || m.Len() != 2 {
		t.Fatalf("%d entries (len %d), want 1 and 2", len(got), m.Len())
	}
	if g := got[oddKey{e2.Orig, 0}]; !g.Status.SeenReply() {
		t.Errorf("entry 2 lost its event: %+v", g)
	}
	checkCounts(t, m, read)
}

// Entries that fit no compact key are kept whole, and counted.
func TestModelOddEntries(t *testing.T) {
	m := NewModel(t0)
	f := ctfill.Entry(9) // IPv6
	f.Orig.Src = netip.MustParseAddr("fe80::1%eth0")
	f.Reply = f.Orig.Reply()
	m.Event(&track.Event{Type: track.EventNew, Flow: f}, t0)
	g := ctfill.Entry(3)
	g.Status |= 1 << 20 // a status bit from a future kernel
	m.Event(&track.Event{Type: track.EventNew, Flow: g}, t0)
	if len(m.odd) != 2 {
		t.Fatalf("%d odd entries, want 2", len(m.odd))
	}
	got := contents(t, m, t0.Add(5*time.Second))
	if h := got[oddKey{g.Orig, 0}]; h.Status != g.Status || h.Timeout != ctfill.Timeout-5 {
		t.Errorf("odd entry %+v", h)
	}
	checkCounts(t, m, t0)
	r := m.BeginResync(t0.Add(time.Minute))
	r.Add(&g, t0.Add(time.Minute))
	r.End()
	if m.Len() != 1 {
		t.Errorf("%d entries after a dump of one", m.Len())
	}
	checkCounts(t, m, t0)
}

// Each releases the lock between chunks: events applied meanwhile neither
// block nor break the walk, and every entry they do not touch is streamed
// exactly once.
func TestModelEachWhileEvents(t *testing.T) {
	m := NewModel(t0)
	const n = 20000
	for i := 0; i < n; i++ {
		f := ctfill.Entry(i)
		m.Event(&track.Event{Type: track.EventNew, Flow: f}, t0)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	var applied atomic.Int64
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := ctfill.Entry(n + i%5000)
			typ := track.EventNew
			if (i/5000)%2 == 1 {
				typ = track.EventDestroy
			}
			m.Event(&track.Event{Type: typ, Flow: f}, t0)
			applied.Add(1)
		}
	}()
	seen := map[track.Tuple]int{}
	var first int64 = -1
	err := m.Each(t0, func(f *track.Flow) error {
		if first < 0 {
			first = applied.Load()
		}
		seen[f.Orig]++
		if len(seen)%4096 == 0 {
			time.Sleep(time.Millisecond) // the writer's turn
		}
		return nil
	})
	during := applied.Load() - first
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if c := seen[ctfill.Entry(i).Orig]; c != 1 {
			t.Fatalf("entry %d streamed %d times (%d events applied meanwhile)", i, c, during)
		}
	}
	if during == 0 {
		t.Fatal("no event was applied during the walk: it held the lock throughout")
	}
	checkCounts(t, m, t0)
}

// The evaluator replaces its analyzer every evalWindow samples, starting
// the next one a sample early, so findings always rest on two samples or
// more once there have been two.
func TestEvaluatorWindow(t *testing.T) {
	cfg := Config{}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	m := NewModel(t0)
	e := newEvaluator(&cfg, collector.Netns{})
	extra := track.Snapshot{Count: 0, HasCount: true, Max: 1000, HasMax: true}
	for i := 0; i < 4*evalWindow; i++ {
		doc, err := e.run(t0.Add(time.Duration(i)*time.Second), track.Source{}, nil, &extra, m)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, 2); len(doc.Samples) < want || len(doc.Samples) > evalWindow {
			t.Fatalf("evaluation %d rests on %d samples", i, len(doc.Samples))
		}
		if len(e.live) > 2 {
			t.Fatalf("evaluation %d: %d analyzers alive", i, len(e.live))
		}
	}
}
