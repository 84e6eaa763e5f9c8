package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/track"
)

// readKind names what a watcher reads, for the health metrics.
type readKind int

const (
	readCounters readKind = iota // count, max, per-CPU statistics
	readDump                     // the periodic full dump
	readRules                    // an evaluation of the catalog
	readEvents                   // the event subscription
	numReads
)

func (k readKind) String() string {
	switch k {
	case readCounters:
		return "counters"
	case readDump:
		return "dump"
	case readRules:
		return "rules"
	}
	return "events"
}

// errGone: the namespace was deleted (its name removed or renamed, its last
// process gone) while watched.
var errGone = errors.New("network namespace gone")

// watcher follows one network namespace: events into its model, periodic
// dumps, counters, evaluations, and the snapshot scrapes read.
type watcher struct {
	label    string
	netns    collector.Netns // zero: the exporter's own
	explicit bool            // named on the command line: kept (down) when gone
	cfg      *Config
	log      *slog.Logger

	model *Model
	eval  *evaluator

	// Written by the event goroutine, read when publishing.
	events     [3]atomic.Uint64 // new, update, destroy
	lost       atomic.Uint64
	resyncs    [numResyncReasons]atomic.Uint64
	readErrors [numReads]atomic.Uint64
	vanished   atomic.Uint64 // times the namespace was seen gone

	snap atomic.Pointer[nsSnap]

	// Owned by the run goroutine.
	inode      uint64
	started    time.Time
	history    []analyzer.SizePoint
	tableFull  uint64 // kernel-log "table full" lines since started
	readDur    [numReads]float64
	lastRead   time.Time
	lastEval   time.Time
	doc        *report.Document
	findings   []findingSnap
	stats      [10]uint64
	statsHave  [10]bool
	count, max uint64
	hasCount   bool
	hasMax     bool
	upErr      string
	prevEvents [3]uint64 // event counts at the last evaluation
	prevLost   uint64
	losses     []track.EventLoss // since the last evaluation
	lossMu     sync.Mutex
	evalCPU    time.Duration // CPU the last evaluation took
	drift      drift
}

func newWatcher(cfg *Config, label string, netns collector.Netns, explicit bool) *watcher {
	now := cfg.Now()
	w := &watcher{label: label, netns: netns, explicit: explicit, cfg: cfg, started: now,
		log: cfg.Logger.With("netns", label), model: NewModel(now), eval: newEvaluator(cfg, netns)}
	w.publish()
	return w
}

func (w *watcher) collectorConfig() collector.Config {
	c := w.cfg.Collector
	c.Netns = w.netns
	c.Now = w.cfg.Now
	return c
}

// run watches until ctx ends, or until the namespace is gone and was not
// named on the command line (discovery dropped it).
func (w *watcher) run(ctx context.Context) {
	wasGone := false
	for {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return
		}
		w.upErr = err.Error()
		w.publish()
		if errors.Is(err, errGone) || errors.Is(err, collector.ErrNoNetns) || errors.Is(err, collector.ErrNetnsGone) {
			if !wasGone {
				w.vanished.Add(1)
				w.log.Warn("network namespace gone: its series are dropped", "err", err)
			}
			wasGone = true
			w.reset()
			w.inode = 0
			w.publish()
			if !w.explicit {
				return
			}
		} else {
			wasGone = false
			w.log.Error("reading the namespace failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.cfg.retryDelay()):
		}
	}
}

// session opens the namespace, follows its events and reads it until
// something fails.
func (w *watcher) session(ctx context.Context) error {
	cc := w.collectorConfig()
	col, err := collector.Open(cc)
	if err != nil {
		w.readErrors[readCounters].Add(1)
		return err
	}
	defer col.Close()
	if ino := col.NetnsInode(); ino != w.inode {
		if w.inode != 0 {
			// The name now refers to another namespace: a new table.
			w.log.Info("the namespace was re-created; starting afresh", "inode", ino)
			w.reset()
		}
		w.inode = ino
	}
	for _, n := range col.Notes() {
		w.log.Info(n)
	}

	evCtx, stopEvents := context.WithCancel(ctx)
	evDone := make(chan error, 1)
	defer func() { stopEvents(); <-evDone }()
	if err := w.follow(evCtx, cc, evDone); err != nil {
		w.readErrors[readEvents].Add(1)
		evDone <- nil
		return fmt.Errorf("following events: %w", err)
	}
	if err := w.resync(ctx, col); err != nil {
		return err
	}
	w.upErr = ""
	tick := time.NewTicker(w.cfg.ReadInterval)
	defer tick.Stop()
	nextEval := w.cfg.Now()
	nextResync := w.cfg.Now().Add(w.cfg.ResyncInterval)
	for {
		if err := w.checkSame(); err != nil {
			return err
		}
		select {
		case err := <-evDone:
			evDone <- err // for the deferred wait
			w.readErrors[readEvents].Add(1)
			if err == nil {
				err = errors.New("the event reader stopped")
			}
			return fmt.Errorf("following events: %w", err)
		default:
		}
		if err := w.readCounters(ctx, col); err != nil {
			return err
		}
		now := w.cfg.Now()
		if w.drift.due(w.model.Len(), w.count, now) {
			w.log.Info("the model and the kernel's count disagree; the table was re-read",
				"model", w.model.Len(), "count", w.count)
			if err := w.resync(ctx, col); err != nil {
				return err
			}
			w.resyncs[resyncDrift].Add(1)
			w.drift.resynced(w.cfg.Now())
		}
		if !now.Before(nextEval) {
			cpu := w.evaluate(ctx, col)
			nextEval = now.Add(w.cfg.evalSpacing(cpu))
		}
		if !now.Before(nextResync) {
			if err := w.resync(ctx, col); err != nil {
				return err
			}
			w.resyncs[resyncPeriodic].Add(1)
			nextResync = w.cfg.Now().Add(w.cfg.ResyncInterval)
		}
		w.publish()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// reset forgets a namespace that was replaced by another of the same name.
func (w *watcher) reset() {
	now := w.cfg.Now()
	w.model = NewModel(now)
	w.eval = newEvaluator(w.cfg, w.netns)
	for i := range w.events {
		w.events[i].Store(0)
	}
	w.lost.Store(0)
	for i := range w.resyncs {
		w.resyncs[i].Store(0)
	}
	w.drift = drift{}
	w.started, w.history, w.tableFull, w.doc, w.findings = now, nil, 0, nil, nil
	w.prevEvents, w.prevLost = [3]uint64{}, 0
	w.statsHave = [10]bool{}
	w.hasCount, w.hasMax = false, false
}

// checkSame fails when the namespace's name no longer refers to the one
// watched: the exporter's sockets would keep a deleted namespace alive and
// report its empty table forever.
func (w *watcher) checkSame() error {
	if w.netns.IsZero() {
		return nil
	}
	ino, err := collector.NetnsInodeOf(w.collectorConfig(), w.netns)
	if err != nil {
		return fmt.Errorf("%w: %v", errGone, err)
	}
	if ino != w.inode {
		return fmt.Errorf("%w: %s now names another namespace (inode %d, was %d)", errGone, w.netns, ino, w.inode)
	}
	return nil
}

// eventCoalesce is how long events gather in the socket before the
// exporter reads them together: twenty wake-ups a second instead of one per
// event. Each wake-up costs the runtime's scheduler and monitor far more
// than an event's decoding (at 8,000 events a second, 10 ms pauses cost
// 7.9 µs an event, 50 ms 4.8-5.2, 100 ms 4.4). At 300,000 events a second
// 50 ms is 15,000 queued, about half of the 32 MiB buffer.
const eventCoalesce = 50 * time.Millisecond

// follow starts the event subscription on a collector of its own and
// returns once it is in place.
func (w *watcher) follow(ctx context.Context, cc collector.Config, done chan<- error) error {
	ec, err := collector.Open(cc)
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	failed := make(chan error, 1)
	opts := collector.EventOptions{ReadBuffer: w.cfg.EventReadBuffer, MaxReadBuffer: w.cfg.EventMaxReadBuffer,
		Coalesce: eventCoalesce, Ready: func() { close(ready) }}
	go func() {
		defer ec.Close()
		_, err := ec.Events(ctx, opts, &eventSink{w: w})
		if ctx.Err() != nil {
			err = nil
		}
		select {
		case <-ready:
			done <- err
		default:
			failed <- err
		}
	}()
	select {
	case <-ready:
		return nil
	case err := <-failed:
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
}

// resync re-reads the whole table into the model.
func (w *watcher) resync(ctx context.Context, col *collector.Collector) error {
	start := w.cfg.Now()
	r := w.model.BeginResync(start)
	_, err := col.Flows(ctx, collector.DumpFilter{}, func(f *track.Flow) error {
		r.Add(f, w.cfg.Now())
		return nil
	})
	if err != nil {
		r.Abort()
		w.readErrors[readDump].Add(1)
		return fmt.Errorf("dumping the table: %w", err)
	}
	removed := r.End()
	w.readDur[readDump] = w.cfg.Now().Sub(start).Seconds()
	if removed > 0 {
		w.log.Debug("resync removed entries the events missed", "removed", removed)
	}
	return nil
}

// readCounters reads count, max and the per-CPU statistics.
func (w *watcher) readCounters(ctx context.Context, col *collector.Collector) error {
	start := w.cfg.Now()
	st, pcount, hasPCount, err := col.Stats(ctx)
	if err != nil {
		w.readErrors[readCounters].Add(1)
		return fmt.Errorf("reading statistics: %w", err)
	}
	count, max, hasMax, err := col.Count(ctx)
	if err != nil {
		if !hasPCount {
			w.readErrors[readCounters].Add(1)
			return fmt.Errorf("reading the count: %w", err)
		}
		count = pcount
	}
	now := w.cfg.Now()
	w.count, w.hasCount = count, true
	if hasMax {
		w.max, w.hasMax = max, true
	}
	for i, name := range report.PromCounters() {
		c, ok := track.ParseCounter(name)
		if ok && st.Has(c) {
			w.stats[i], w.statsHave[i] = st.Total(c), true
		}
	}
	w.history = append(w.history, analyzer.SizePoint{Offset: now.Sub(w.started).Seconds(), Size: float64(count)})
	if len(w.history) > 8 {
		w.history = append(w.history[:0], w.history[len(w.history)-8:]...)
	}
	w.lastRead = now
	w.readDur[readCounters] = now.Sub(start).Seconds()
	return nil
}

// evaluate runs the catalog over the model as it is now, with the
// statistics, sysctls and kernel-log lines of this moment, and returns the
// CPU time it took (the whole process's, so an over-estimate).
func (w *watcher) evaluate(ctx context.Context, col *collector.Collector) time.Duration {
	start := w.cfg.Now()
	cpu0 := processCPU()
	defer func() { w.evalCPU = processCPU() - cpu0 }()
	extra, err := col.Extra(ctx)
	if err != nil {
		w.readErrors[readRules].Add(1)
		w.log.Warn("reading statistics and sysctls for the rules failed", "err", err)
		return processCPU() - cpu0
	}
	// The first read of the kernel log returns its whole buffer: lines from
	// before the exporter started are history, not news.
	fresh := extra.KernelLog[:0]
	for _, l := range extra.KernelLog {
		if l.Time.IsZero() || l.Time.Before(w.started) {
			continue
		}
		fresh = append(fresh, l)
		if l.Kind == track.KernelLogTableFull {
			w.tableFull++
		}
	}
	extra.KernelLog = fresh
	var ev [3]uint64
	for i := range ev {
		ev[i] = w.events[i].Load()
	}
	extra.EventTotals = track.EventTotals{Followed: true,
		Created: int(ev[0] - w.prevEvents[0]), Destroyed: int(ev[2] - w.prevEvents[2])}
	w.prevEvents = ev
	w.lossMu.Lock()
	extra.EventLosses, w.losses = w.losses, nil
	w.lossMu.Unlock()

	src := col.Source()
	doc, err := w.eval.run(start, src, col.Notes(), &extra, w.model)
	if err != nil {
		w.readErrors[readRules].Add(1)
		w.log.Warn("evaluating the rules failed", "err", err)
		return processCPU() - cpu0
	}
	w.doc = doc
	w.findings = w.findings[:0]
	for i := range doc.Findings {
		f := &doc.Findings[i]
		v, ok := report.Headline(f)
		w.findings = append(w.findings, findingSnap{rule: f.Rule, severity: f.Severity.String(), active: 1, value: v, hasValue: ok})
	}
	w.lastEval = w.cfg.Now()
	w.readDur[readRules] = w.lastEval.Sub(start).Seconds()
	return processCPU() - cpu0
}

// processCPU is the CPU time the process has used.
func processCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// eventSink applies events to the model and counts them.
type eventSink struct {
	w *watcher
	r *Resync // the resync after an overrun, while its dump arrives
}

func (s *eventSink) Event(ev *track.Event) error {
	at := ev.Time
	if at.IsZero() {
		at = s.w.cfg.Now()
	}
	s.w.model.Event(ev, at)
	switch ev.Type {
	case track.EventNew:
		s.w.events[0].Add(1)
	case track.EventUpdate:
		s.w.events[1].Add(1)
	case track.EventDestroy:
		s.w.events[2].Add(1)
	}
	return nil
}

func (s *eventSink) Expect(track.EventType, time.Time, *track.Expectation) error { return nil }

func (s *eventSink) Resync(f *track.Flow) error {
	now := s.w.cfg.Now()
	if s.r == nil {
		s.r = s.w.model.BeginResync(now)
	}
	s.r.Add(f, now)
	return nil
}

// Lost ends the resync that follows an overrun. The collector reports each
// overrun of a burst after the one dump that covers them all: only the
// first ends the resync (an empty dump sends no entry before it).
func (s *eventSink) Lost(loss track.EventLoss) error {
	w := s.w
	switch {
	case loss.Resynced < 0:
		if s.r != nil {
			s.r.Abort()
		}
	case s.r != nil:
		s.r.End()
	case loss.Resynced == 0:
		w.model.BeginResync(w.cfg.Now()).End() // the table was empty
	}
	if s.r != nil || loss.Resynced == 0 {
		w.resyncs[resyncOverrun].Add(1)
	}
	s.r = nil
	w.lost.Add(1)
	w.lossMu.Lock()
	w.losses = append(w.losses, loss)
	w.lossMu.Unlock()
	w.log.Warn("the kernel dropped conntrack events (reader overrun); the table was re-read",
		"resynced", loss.Resynced, "total", loss.Total)
	return nil
}
