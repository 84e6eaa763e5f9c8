package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// recorder is an EventSink that keeps everything, guarded for the test
// goroutine that reads it.
type recorder struct {
	mu      sync.Mutex
	events  []track.Event
	expects []track.Expectation
	resync  int
	losses  []track.EventLoss
	// known is what the reader can know of the table: the entries of the
	// last resync dump plus the entries of the events since.
	known     map[track.Tuple]bool
	resyncing bool
	// gate, when set, blocks the first Event until open is called.
	gate     chan struct{}
	gateOnce sync.Once
	// seen is signalled on every event.
	seen chan struct{}
}

func newRecorder() *recorder { return &recorder{seen: make(chan struct{}, 1)} }

// gated makes the first Event wait until open; call it before listen,
// and openAtEnd after, so the gate opens before the listener stops.
func (r *recorder) gated() { r.gate = make(chan struct{}) }

func (r *recorder) openAtEnd(t *testing.T) { t.Cleanup(r.open) }

func (r *recorder) open() { r.gateOnce.Do(func() { close(r.gate) }) }

func (r *recorder) Event(ev *track.Event) error {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.events = append(r.events, track.Event{Type: ev.Type, Time: ev.Time, Flow: ev.Flow.Clone(), Userspace: ev.Userspace, PortID: ev.PortID, Progname: ev.Progname})
	if r.known == nil {
		r.known = map[track.Tuple]bool{}
	}
	r.known[ev.Flow.Orig] = ev.Type != track.EventDestroy
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) Expect(typ track.EventType, t time.Time, e *track.Expectation) error {
	r.mu.Lock()
	r.expects = append(r.expects, *e)
	r.mu.Unlock()
	return nil
}

func (r *recorder) Resync(f *track.Flow) error {
	r.mu.Lock()
	if !r.resyncing {
		r.known, r.resyncing, r.resync = map[track.Tuple]bool{}, true, 0
	}
	r.known[f.Orig] = true
	r.resync++
	r.mu.Unlock()
	return nil
}

func (r *recorder) Lost(l track.EventLoss) error {
	r.mu.Lock()
	r.losses = append(r.losses, l)
	r.resyncing = false
	r.mu.Unlock()
	return nil
}

// knows reports whether the reader knows entry t exists.
func (r *recorder) knows(t track.Tuple) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known[t]
}

func (r *recorder) snapshot() ([]track.Event, []track.EventLoss, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.losses), r.resync
}

// listen runs Events in the background until the returned stop is called.
func listen(t *testing.T, c *Collector, opts EventOptions, sink EventSink) (stop func() (EventStats, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	opts.Ready = func() { close(ready) }
	type result struct {
		st  EventStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := c.Events(ctx, opts, sink)
		done <- result{st, err}
	}()
	select {
	case <-ready:
	case r := <-done:
		cancel()
		t.Fatalf("Events ended before subscribing: %v", r.err)
	}
	var once sync.Once
	var res result
	stop = func() (EventStats, error) {
		once.Do(func() {
			cancel()
			res = <-done
			if errors.Is(res.err, context.Canceled) {
				res.err = nil
			}
		})
		return res.st, res.err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestKernelEventsMatchConntrack: while connections are made, ctdiag's
// event stream and conntrack -E -o extended,id receive the same events, in
// the same order, printed identically; the stream has NEW, UPDATE and
// DESTROY, a userspace deletion is marked as such, and every event has a
// time.
func TestKernelEventsMatchConntrack(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack", "ping")
	p := netnstest.NewPair(t)
	echo := p.TCPEcho(t)
	c := openIn(t, p.A, Config{})
	rec := newRecorder()
	stop := listen(t, c, EventOptions{}, rec)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := p.A.Exec(ctx, "conntrack", "-E", "-o", "extended,id")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var theirs []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			theirs = append(theirs, sc.Text())
		}
	}()
	time.Sleep(500 * time.Millisecond) // conntrack -E subscribes

	conn, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, echo).String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("hello"))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	conn.Read(make([]byte, 5))
	conn.Close()
	if u, err := p.A.Dial("udp", netip.AddrPortFrom(p.B6, 9).String()); err == nil {
		u.Write([]byte("x"))
		u.Close()
	}
	p.Ping(t, p.B4)
	p.A.MustOutput(t, "conntrack", "-D", "-p", "icmp")
	time.Sleep(500 * time.Millisecond)

	cmd.Process.Signal(syscall.SIGINT)
	wg.Wait()
	cmd.Wait()
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	events, losses, _ := rec.snapshot()
	if len(losses) > 0 {
		t.Fatalf("lost events: %+v", losses)
	}
	var ours []string
	types := map[track.EventType]int{}
	userspace := 0
	for i := range events {
		ev := &events[i]
		if ev.Time.IsZero() || time.Since(ev.Time) > time.Minute {
			t.Errorf("event without a plausible time: %v", ev.Time)
		}
		types[ev.Type]++
		if ev.Userspace {
			userspace++
		}
		e := *ev
		e.Time = time.Time{}
		ours = append(ours, strings.TrimSuffix(string(parser.AppendEvent(nil, &e, parser.StyleExtended)), "\n"))
	}
	// Both name the deleting program, if it is still running when they
	// read the event (conntrack -D exits right after): a race, so the
	// name is left out here (TestKernelEventProgname checks it).
	for _, lines := range [][]string{ours, theirs} {
		for i, l := range lines {
			if j := strings.Index(l, " progname="); j >= 0 {
				lines[i] = l[:j]
			}
		}
	}
	if !slices.Equal(ours, theirs) {
		t.Errorf("event streams differ:\nctdiag:\n%s\nconntrack -E:\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
	}
	if types[track.EventNew] < 3 || types[track.EventUpdate] < 3 || types[track.EventDestroy] < 1 || userspace != 1 {
		t.Errorf("event kinds %v, %d from userspace", types, userspace)
	}
}

// TestKernelEventOverrunResyncs forces an overrun: a receive buffer of a
// few KiB that may not grow, a reader stalled on its first event, and a
// burst of 3000 new entries; and the same with a reader that is not
// stalled, so the overrun and the resync fall in the middle of the burst.
// The kernel drops events (ENOBUFS); the collector must keep its
// subscription, re-read the table, report each loss with its time, and go
// on: what it knows at the end (the last resync dump plus the events after
// it) is the whole table, one more entry made after the burst included.
func TestKernelEventOverrunResyncs(t *testing.T) {
	netnstest.Require(t)
	for _, stalled := range []bool{true, false} {
		t.Run(fmt.Sprintf("stalled=%v", stalled), func(t *testing.T) { overrunResyncs(t, stalled) })
	}
}

func overrunResyncs(t *testing.T, stalled bool) {
	ns := netnstest.NewNS(t)
	c := openIn(t, ns, Config{})
	rec := newRecorder()
	if stalled {
		rec.gated()
	}
	stop := listen(t, c, EventOptions{ReadBuffer: 4096, MaxReadBuffer: 4096}, rec)
	if stalled {
		rec.openAtEnd(t)
	}

	fill, err := ctfill.NewIn("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer fill.Close()
	before := time.Now()
	if err := fill.Fill(0, 3000); err != nil {
		t.Fatal(err)
	}
	if stalled {
		rec.open() // the stalled reader wakes up to an overrun
	}
	waitFor(t, "a loss report", func() bool { _, l, _ := rec.snapshot(); return len(l) > 0 })
	if err := fill.Fill(99999, 1); err != nil { // after the burst
		t.Fatal(err)
	}
	want := []track.Flow{ctfill.Entry(99999)}
	for i := range 3000 {
		want = append(want, ctfill.Entry(i))
	}
	waitFor(t, "the reader to know the whole table", func() bool {
		for _, f := range want {
			if !rec.knows(f.Orig) {
				return false
			}
		}
		return true
	})
	st, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	events, losses, _ := rec.snapshot()
	for i, l := range losses {
		if l.Time.Before(before) || l.Time.After(time.Now()) || l.Total != i+1 || l.Resynced < 1 || l.Resynced > 3001 {
			t.Errorf("loss %d: %+v: not within the test, not counted, or no resync", i, l)
		}
	}
	if len(st.Losses) != len(losses) {
		t.Errorf("stats report %d losses, the sink %d", len(st.Losses), len(losses))
	}
	if len(events) >= 3001 {
		t.Errorf("%d events arrived: nothing was lost, the test did not overrun", len(events))
	}
	t.Logf("%d events delivered of 3001, %d overruns (last resync %d entries), buffer %d bytes",
		len(events), len(losses), losses[len(losses)-1].Resynced, st.ReadBuffer)
}

// TestKernelEventBufferGrows: after an overrun the buffer doubles, as
// conntrackd's does, up to the maximum.
func TestKernelEventBufferGrows(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	c := openIn(t, ns, Config{})
	rec := newRecorder()
	rec.gated()
	stop := listen(t, c, EventOptions{ReadBuffer: 4096, MaxReadBuffer: 1 << 20}, rec)
	rec.openAtEnd(t)
	fill(t, ns, 0, 2000)
	rec.open()
	waitFor(t, "a loss report", func() bool { _, l, _ := rec.snapshot(); return len(l) > 0 })
	st, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Forced || st.ReadBuffer < 2*8192 {
		t.Errorf("buffer %d bytes (forced %v) after an overrun, want it doubled from 4096 (8192 as the kernel reports it)", st.ReadBuffer, st.Forced)
	}
}

// TestKernelEventsCoalesce: with Coalesce, the events of a burst wait in
// the socket and come in a few reads of many datagrams each, every one of
// them delivered, in order, none lost.
func TestKernelEventsCoalesce(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	c := openIn(t, ns, Config{})
	rec := newRecorder()
	stop := listen(t, c, EventOptions{Coalesce: 200 * time.Millisecond, Kinds: []track.EventType{track.EventNew}}, rec)
	const n = 2000
	fill(t, ns, 0, n)
	waitFor(t, "the events of the fill", func() bool { ev, _, _ := rec.snapshot(); return len(ev) >= n })
	st, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	ev, losses, _ := rec.snapshot()
	if len(losses) > 0 || st.Events != n {
		t.Fatalf("%d events delivered, %d losses; want %d and none", st.Events, len(losses), n)
	}
	for i := range ev {
		if want := ctfill.Entry(i).Orig; ev[i].Flow.Orig != want {
			t.Fatalf("event %d is for %v, want %v (the fill's order)", i, ev[i].Flow.Orig, want)
		}
	}
	// 64 datagrams a read at most; one read per event is what waking for
	// each event did.
	if st.Reads > n/20 {
		t.Errorf("%d events came in %d reads; want batches (at most %d reads)", n, st.Reads, n/20)
	}
	t.Logf("%d events in %d reads", n, st.Reads)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKernelExpectationEvents: an FTP control connection through the
// kernel's FTP helper creates an expectation; the collector reports its
// NEW event, decoded with ti-mo/conntrack, and counts it in the
// expectation statistics.
func TestKernelExpectationEvents(t *testing.T) {
	netnstest.Require(t)
	p := netnstest.NewPair(t)
	p.A.Nft(t, `table inet ftp {
		ct helper ftp-std {
			type "ftp" protocol tcp
		}
		chain out {
			type filter hook output priority 0;
			tcp dport 21 ct helper set "ftp-std"
		}
	}`)
	l, err := p.B.Listen("tcp", netip.AddrPortFrom(p.B4, 21).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		io.WriteString(s, "220 ready\r\n")
		br := bufio.NewReader(s)
		br.ReadString('\n') // PASV
		a := p.B4.As4()
		fmt.Fprintf(s, "227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).\r\n", a[0], a[1], a[2], a[3], 40000>>8, 40000&0xff)
		br.ReadString('\n')
	}()
	c := openIn(t, p.A, Config{})
	rec := newRecorder()
	stop := listen(t, c, EventOptions{Expectations: true}, rec)

	conn, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, 21).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br.ReadString('\n')
	io.WriteString(conn, "PASV\r\n")
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "227") {
		t.Fatalf("server said %q", line)
	}
	waitFor(t, "the expectation event", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.expects) > 0
	})
	stop()
	e := rec.expects[0]
	if e.Helper != "ftp" || e.Tuple.Dst != p.B4 || e.Tuple.DstPort != 40000 || e.Master.DstPort != 21 || e.Tuple.Family != track.FamilyIPv4 {
		t.Errorf("expectation %+v", e)
	}
	st, _, _, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Total(track.CounterExpectCreate) < 1 {
		t.Errorf("expect_create %d after an expectation", st.Total(track.CounterExpectCreate))
	}
}

// TestKernelEventProgname: entries created over netlink by a running
// process (this test, through ctfill) come as [USERSPACE] events naming
// the program, as conntrack -E names it.
func TestKernelEventProgname(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.NewNS(t)
	c := openIn(t, ns, Config{})
	rec := newRecorder()
	stop := listen(t, c, EventOptions{}, rec)
	f, err := ctfill.NewIn("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // open until the events are read: the name is found through the socket
	if err := f.Fill(0, 5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 events", func() bool { ev, _, _ := rec.snapshot(); return len(ev) >= 5 })
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	events, _, _ := rec.snapshot()
	for _, ev := range events {
		if !ev.Userspace || ev.PortID == 0 || ev.Progname != strings.TrimSpace(string(comm)) {
			t.Errorf("event %v %v: userspace %v portid %d progname %q, want %q", ev.Type, ev.Flow.Orig, ev.Userspace, ev.PortID, ev.Progname, strings.TrimSpace(string(comm)))
		}
	}
}
