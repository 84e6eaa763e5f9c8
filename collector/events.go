package collector

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/track"
)

// EventSink receives what Events reads, on Events's goroutine.
type EventSink interface {
	// Event receives one conntrack event; ev is reused.
	track.EventSink
	// Expect receives one expectation event (EventNew or EventDestroy).
	Expect(typ track.EventType, t time.Time, e *track.Expectation) error
	// Resync receives the entries of the dump taken after an overrun, one by
	// one (f is reused), before Lost reports the overrun.
	Resync(f *track.Flow) error
	// Lost reports an overrun: the kernel dropped events for this reader at
	// loss.Time, and the table was re-read (loss.Resynced entries).
	Lost(loss track.EventLoss) error
}

// EventOptions tune Events.
type EventOptions struct {
	// ReadBuffer is the receive buffer asked for (default 32 MiB, about a
	// quarter of a second of events at 350,000/s: slack for a busy
	// machine). With CAP_NET_ADMIN it is forced past net.core.rmem_max
	// (SO_RCVBUFFORCE), as conntrackd does.
	ReadBuffer int
	// MaxReadBuffer bounds the doubling after each overrun (default 256
	// MiB); set it equal to ReadBuffer to keep the size fixed.
	MaxReadBuffer int
	// Expectations also subscribes to expectation events.
	Expectations bool
	// Ready, when set, is called once the subscription is in place.
	Ready func()
	// Kinds, when not empty, subscribes only to these event kinds (as
	// conntrack -E -e does: the kernel sends nothing else).
	Kinds []track.EventType
	// SkipResync reports overruns without re-reading the table: for a
	// reader that prints events (conntrack -E) rather than keeping the
	// table, a dump after each overrun is work that helps no one.
	SkipResync bool
	// Coalesce, when positive, lets events gather in the socket for this
	// long each time a read empties it, then reads them together: a
	// reader that keeps a model (the exporter) wakes a hundred times a
	// second instead of once per event, and takes up to 64 datagrams
	// per system call. Waking per event was most of an event's cost.
	// Events reach the sink up to this much later, so the buffer must
	// hold this much of the event rate.
	Coalesce time.Duration
}

// EventStats summarises an event run.
type EventStats struct {
	Events, Expectations int
	// Reads is how many system calls brought datagrams: each takes what
	// queued in the socket since the last (EventOptions.Coalesce).
	Reads int
	// Losses lists every overrun with its time and resync.
	Losses []track.EventLoss
	// ReadBuffer is the receive buffer at the end (as the kernel reports
	// it, twice what was asked); Forced says SO_RCVBUFFORCE was allowed.
	ReadBuffer int
	Forced     bool
}

// Events subscribes to the namespace's conntrack events and passes them to
// sink until ctx ends (then it returns the stats and ctx's error) or sink
// fails. When the kernel drops events because the socket buffer is full
// (ENOBUFS) it does what conntrackd does: it keeps the subscription, doubles
// the buffer (up to MaxReadBuffer), reads what is still queued, re-reads the
// table with a fresh dump (sink.Resync) and reports the loss with its time
// (sink.Lost), then goes on reading events. Every loss is counted; none is
// silent: after the resync, the dump plus the events that follow describe
// the whole table again.
func (c *Collector) Events(ctx context.Context, opts EventOptions, sink EventSink) (EventStats, error) {
	var st EventStats
	if c.nl == nil {
		return st, fmt.Errorf("%w: events need ctnetlink (the %s source has none)", ErrUnavailable, c.kind)
	}
	if opts.ReadBuffer <= 0 {
		opts.ReadBuffer = 32 << 20
	}
	if opts.MaxReadBuffer < opts.ReadBuffer {
		if opts.MaxReadBuffer == 0 {
			opts.MaxReadBuffer = 256 << 20
		}
		if opts.MaxReadBuffer < opts.ReadBuffer {
			opts.MaxReadBuffer = opts.ReadBuffer
		}
	}
	ev, err := dialNetlink(c.ns, c.cfg.observe)
	if err != nil {
		return st, explainNetlink(err)
	}
	size := opts.ReadBuffer
	if st.ReadBuffer, st.Forced, err = ev.setReadBuffer(size); err != nil {
		ev.close()
		return st, err
	}
	if !st.Forced {
		c.note("event buffer limited to %d bytes by net.core.rmem_max (SO_RCVBUFFORCE needs CAP_NET_ADMIN)", st.ReadBuffer/2)
	}
	groups := []uint32{netlinkct.GroupNew, netlinkct.GroupUpdate, netlinkct.GroupDestroy}
	if len(opts.Kinds) > 0 {
		groups = groups[:0]
		for _, k := range []track.EventType{track.EventNew, track.EventUpdate, track.EventDestroy} {
			if slices.Contains(opts.Kinds, k) {
				groups = append(groups, []uint32{netlinkct.GroupNew, netlinkct.GroupUpdate, netlinkct.GroupDestroy}[k-track.EventNew])
			}
		}
	}
	if opts.Expectations {
		groups = append(groups, netlinkct.GroupExpNew, netlinkct.GroupExpDestroy)
	}
	if err := ev.join(groups...); err != nil {
		ev.close()
		return st, explainNetlink(err)
	}
	// From here the socket is read in batches, off the runtime's poller.
	br, err := newBatchReader(ev, opts.Coalesce)
	if err != nil {
		return st, err
	}
	defer br.close()
	br.reads = &st.Reads
	if opts.Ready != nil {
		opts.Ready()
	}
	// A deleted namespace sends no more events, and says nothing: watch
	// for it so the reader stops with the reason.
	ctx, cancel := context.WithCancelCause(ctx)
	var watching sync.WaitGroup
	// The watcher reads the collector's namespace handle: it is gone
	// before Events returns, so a Close after it cannot race it.
	defer func() { cancel(nil); watching.Wait() }()
	if c.nsPath != "" {
		watching.Add(1)
		go func() { defer watching.Done(); c.watchNetns(ctx, cancel) }()
	}
	r := &eventReader{c: c, ev: br, sink: sink, st: &st, names: prognames{c: c}, skipResync: opts.SkipResync}
	for {
		b, err := br.recv(ctx)
		now := c.cfg.Now()
		switch {
		case errors.Is(err, unix.ENOBUFS):
			if size < opts.MaxReadBuffer {
				size = min(size*2, opts.MaxReadBuffer)
				if got, forced, err := setReadBuffer(br.fd, size); err == nil {
					st.ReadBuffer, st.Forced = got, forced
				}
			}
			if err := r.overrun(ctx, now); err != nil {
				if ctx.Err() != nil {
					return st, context.Cause(ctx)
				}
				return st, err
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return st, context.Cause(ctx)
			}
			return st, fmt.Errorf("reading events: %w", err)
		}
		if err := r.deliver(b, now); err != nil {
			return st, err
		}
	}
}

// watchNetns cancels ctx with ErrNetnsGone once the namespace read is
// gone, checking twice a second.
func (c *Collector) watchNetns(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.checkNetns(); err != nil {
				cancel(err)
				return
			}
		}
	}
}

// eventRun is Events running in the background on a collector of its own
// (the caller's dumps use the other socket).
type eventRun struct {
	cancel   context.CancelFunc
	finished chan struct{}
	st       EventStats // set before finished closes
	err      error
}

// startEvents opens cfg's namespace again, subscribes, and returns once
// the subscription is in place; sink gets the events until stop.
func startEvents(ctx context.Context, cfg Config, opts EventOptions, sink EventSink) (*eventRun, error) {
	ec, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &eventRun{cancel: cancel, finished: make(chan struct{})}
	ready := make(chan struct{})
	opts.Ready = func() { close(ready) }
	go func() {
		defer close(r.finished)
		defer ec.Close()
		r.st, r.err = ec.Events(ctx, opts, sink)
	}()
	select {
	case <-ready:
		return r, nil
	case <-r.finished:
		cancel()
		return nil, r.err
	}
}

// stop ends the subscription and says how it went; being stopped is not
// an error.
func (r *eventRun) stop() (EventStats, error) {
	r.cancel()
	<-r.finished
	if errors.Is(r.err, context.Canceled) {
		return r.st, nil
	}
	return r.st, r.err
}

// failed says why the subscription ended on its own; nil while it runs.
func (r *eventRun) failed() error {
	select {
	case <-r.finished:
		if errors.Is(r.err, context.Canceled) {
			return nil
		}
		return r.err
	default:
		return nil
	}
}

// eventReader is one run of Events.
type eventReader struct {
	c     *Collector
	ev    *batchReader
	sink  EventSink
	st    *EventStats
	event track.Event
	names prognames
	// skipResync: report overruns without re-reading the table.
	skipResync bool
}

// overrun handles ENOBUFS. The kernel reports it once, then drops every
// event for this socket until its queue is empty (NETLINK_S_CONGESTED,
// cleared by the read that empties it). So the queue is drained first —
// its events are real — and only then is the table re-read: events of
// changes after that point are queued again, and nothing falls between the
// dump and the events. Further overruns seen while draining are counted
// too; one resync covers them all.
func (r *eventReader) overrun(ctx context.Context, at time.Time) error {
	times := []time.Time{at}
	deadline := at.Add(time.Second) // a sustained flood: resync anyway
	for r.c.cfg.Now().Before(deadline) {
		b, err := r.ev.recvNow()
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		now := r.c.cfg.Now()
		if errors.Is(err, unix.ENOBUFS) {
			times = append(times, now)
			continue
		}
		if err != nil {
			return fmt.Errorf("reading events: %w", err)
		}
		if err := r.deliver(b, now); err != nil {
			return err
		}
	}
	n := 0
	if !r.skipResync {
		var err error
		if n, err = r.c.resync(ctx, r.sink); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n = -1
			r.c.note("resync after lost events failed: %v", err)
		}
	}
	for _, t := range times {
		loss := track.EventLoss{Time: t, Resynced: n, Total: len(r.st.Losses) + 1}
		r.st.Losses = append(r.st.Losses, loss)
		if err := r.sink.Lost(loss); err != nil {
			return err
		}
	}
	return nil
}

// deliver decodes one datagram of events.
func (r *eventReader) deliver(b []byte, now time.Time) error {
	return netlinkct.Walk(b, func(m *netlinkct.Message) error {
		switch m.Subsys() {
		case netlinkct.SubsysConntrack:
			ok, err := r.c.dec.Event(m, now, &r.event)
			if err != nil || !ok {
				return err
			}
			if r.event.Userspace {
				r.event.Progname = r.names.lookup(r.event.PortID)
			}
			r.st.Events++
			return r.sink.Event(&r.event)
		case netlinkct.SubsysExpect:
			typ, e, ok, err := decodeExpectEvent(m)
			if err != nil || !ok {
				return err
			}
			r.st.Expectations++
			return r.sink.Expect(typ, now, &e)
		}
		return nil
	})
}

// resync streams a fresh dump to sink.Resync and returns its size.
func (c *Collector) resync(ctx context.Context, sink EventSink) (int, error) {
	info, err := c.netlinkFlows(ctx, DumpFilter{}, sink.Resync)
	return info.Entries, err
}

// decodeExpectEvent decodes an expectation event with ti-mo/conntrack.
func decodeExpectEvent(m *netlinkct.Message) (track.EventType, track.Expectation, bool, error) {
	var e conntrack.Event
	err := e.Unmarshal(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(m.Type), Flags: netlink.HeaderFlags(m.Flags), Sequence: m.Seq, PID: m.PortID},
		Data:   m.Body,
	})
	if err != nil {
		return 0, track.Expectation{}, false, fmt.Errorf("decoding an expectation event: %w", err)
	}
	if e.Expect == nil {
		return 0, track.Expectation{}, false, nil
	}
	typ := track.EventNew
	if e.Type == conntrack.EventExpDestroy {
		typ = track.EventDestroy
	}
	return typ, ExpectationFrom(e.Expect), true, nil
}

// ExpectationFrom converts ti-mo/conntrack's expectation.
func ExpectationFrom(x *conntrack.Expect) track.Expectation {
	return track.Expectation{
		Timeout: x.Timeout,
		Tuple:   tupleFrom(x.Tuple),
		Mask:    tupleFrom(x.Mask),
		Master:  tupleFrom(x.TupleMaster),
		Helper:  x.HelpName,
		Class:   x.Class,
		Zone:    x.Zone,
		Flags:   x.Flags,
		ID:      x.ID,
	}
}

func tupleFrom(t conntrack.Tuple) track.Tuple {
	out := track.Tuple{
		Src: t.IP.SourceAddress, Dst: t.IP.DestinationAddress,
		Proto:   track.Proto(t.Proto.Protocol),
		SrcPort: t.Proto.SourcePort, DstPort: t.Proto.DestinationPort,
		Type: t.Proto.ICMPType, Code: t.Proto.ICMPCode, ID: t.Proto.ICMPID,
	}
	switch {
	case out.Src.Is4() || out.Dst.Is4():
		out.Family = track.FamilyIPv4
	case out.Src.Is6() || out.Dst.Is6():
		out.Family = track.FamilyIPv6
	}
	if out.Src.Is4In6() {
		out.Src = netip.AddrFrom4(out.Src.As4())
	}
	return out
}
