package exporter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/rules"
)

// ErrConfig: options that contradict each other or are out of range.
var ErrConfig = errors.New("bad exporter options")

// Config says what to watch and how often. Zero durations take the
// defaults.
type Config struct {
	// Collector is the base live-source configuration (proc root, netns
	// directory, source choice); its Netns is ignored.
	Collector collector.Config
	// Netns lists the namespaces to watch; empty watches the exporter's
	// own (unless AllNetns).
	Netns []collector.Netns
	// AllNetns watches every namespace with a name or a process, found
	// again every DiscoverInterval.
	AllNetns bool
	// TopNetns bounds the namespaces that get their own netns label: the
	// busiest TopNetns by entries; the rest are summed as netns="other".
	// 0: every namespace gets its own.
	TopNetns int

	ReadInterval time.Duration // count, max, statistics (default 5s)
	// EvalInterval is the least time between two evaluations of the rules
	// (default 30s); on a big table they are spaced further, so that they
	// take at most EvalCPUShare of one core.
	EvalInterval     time.Duration
	EvalCPUShare     float64       // default 0.03
	ResyncInterval   time.Duration // full dump (default 5m)
	DiscoverInterval time.Duration // --all-netns discovery (default 30s)

	Rules *rules.Config // nil: the shipped catalog
	Tool  string        // "ctdiag vX", in /findings

	// EventReadBuffer and EventMaxReadBuffer size the event socket (see
	// collector.EventOptions; 0: its defaults).
	EventReadBuffer, EventMaxReadBuffer int

	// MaxScrapes bounds concurrent requests per endpoint; more are
	// refused with 503 (default 4).
	MaxScrapes int

	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default time.Now

	// listNetns lists the namespaces --all-netns watches (tests narrow it
	// to their own namespaces; default collector.ListNetns).
	listNetns func(collector.Config) ([]collector.NetnsRef, error)
}

func (c *Config) defaults() error {
	if c.ReadInterval == 0 {
		c.ReadInterval = 5 * time.Second
	}
	if c.EvalInterval == 0 {
		c.EvalInterval = 30 * time.Second
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = 5 * time.Minute
	}
	if c.DiscoverInterval == 0 {
		c.DiscoverInterval = 30 * time.Second
	}
	if c.MaxScrapes == 0 {
		c.MaxScrapes = 4
	}
	if c.EvalCPUShare == 0 {
		c.EvalCPUShare = 0.03
	}
	if c.Rules == nil {
		c.Rules = rules.DefaultConfig()
	}
	if c.Tool == "" {
		c.Tool = "ctdiag"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.listNetns == nil {
		c.listNetns = collector.ListNetns
	}
	for _, d := range []time.Duration{c.ReadInterval, c.EvalInterval, c.ResyncInterval, c.DiscoverInterval} {
		if d < 0 {
			return fmt.Errorf("%w: intervals must be positive", ErrConfig)
		}
	}
	switch {
	case c.AllNetns && len(c.Netns) > 0:
		return fmt.Errorf("%w: --all-netns watches every namespace; drop --netns", ErrConfig)
	case c.TopNetns < 0:
		return fmt.Errorf("%w: --top-netns %d: want 0 (no limit) or more", ErrConfig, c.TopNetns)
	case c.MaxScrapes < 1:
		return fmt.Errorf("%w: at least one concurrent scrape", ErrConfig)
	}
	return nil
}

// evalSpacing is the time to the next evaluation after one that took cpu:
// EvalInterval, or longer when that would spend more than EvalCPUShare of a
// core on evaluations (a million entries take seconds).
func (c *Config) evalSpacing(cpu time.Duration) time.Duration {
	return max(c.EvalInterval, time.Duration(float64(cpu)/c.EvalCPUShare))
}

// retryDelay is how long a failed namespace waits before it is tried again.
func (c *Config) retryDelay() time.Duration { return c.ReadInterval }

// Exporter watches namespaces and serves what it knows.
type Exporter struct {
	cfg Config

	mu       sync.Mutex
	watchers map[string]*watchHandle // by label
	// list is the watchers scrapes read, replaced whole on every change.
	list atomic.Pointer[[]*watcher]
	// top is the labels that get their own series (TopNetns); the others
	// are summed as "other". Ranked at every discovery.
	top atomic.Pointer[map[string]bool]
	// others keeps the counters of netns="other" to what happened while
	// namespaces were summed there, so they never jump or go down as
	// namespaces join and leave it.
	others  otherCounters
	gone    atomic.Uint64 // namespaces that vanished while watched
	started time.Time
}

type watchHandle struct {
	w      *watcher
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks the configuration. Nothing is read until Run.
func New(cfg Config) (*Exporter, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	e := &Exporter{cfg: cfg, watchers: map[string]*watchHandle{}, started: cfg.Now(),
		others: otherCounters{base: map[*watcher]*counterBase{}}}
	e.list.Store(&[]*watcher{})
	e.top.Store(&map[string]bool{})
	return e, nil
}

// Run watches until ctx ends. It fails at once when the first namespace
// cannot be opened at all (no privilege, no conntrack, no such namespace),
// so a misconfigured exporter does not serve empty metrics.
func (e *Exporter) Run(ctx context.Context) error {
	base := e.cfg.Collector
	if !e.cfg.AllNetns {
		targets := e.cfg.Netns
		if len(targets) == 0 {
			targets = []collector.Netns{{}}
		}
		for _, n := range targets {
			c := base
			c.Netns = n
			col, err := collector.Open(c)
			if err != nil {
				return explainOpen(err, n)
			}
			col.Close()
		}
		for _, n := range targets {
			e.add(ctx, LabelFor(e.cfg.Collector, n), n, true)
		}
		e.rank()
		<-ctx.Done()
		e.stopAll()
		return nil
	}
	if err := e.discover(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(e.cfg.DiscoverInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.stopAll()
			return nil
		case <-tick.C:
			if err := e.discover(ctx); err != nil {
				e.cfg.Logger.Error("listing network namespaces failed", "err", err)
			}
		}
	}
}

// explainOpen adds what the kernel wants for entering another namespace:
// setns needs CAP_SYS_ADMIN, and the namespace of another user's process
// CAP_SYS_PTRACE; the collector's message names only CAP_NET_ADMIN.
func explainOpen(err error, n collector.Netns) error {
	if n.IsZero() || !(errors.Is(err, collector.ErrPermission) || errors.Is(err, fs.ErrPermission)) {
		return err
	}
	return fmt.Errorf("%w\n  entering network namespace %s also needs CAP_SYS_ADMIN (setns), and for a namespace given by pid CAP_SYS_PTRACE", err, n)
}

// discover lists the namespaces, starts watchers for new ones and stops
// those of namespaces that are gone.
func (e *Exporter) discover(ctx context.Context) error {
	refs, err := e.cfg.listNetns(e.cfg.Collector)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, r := range refs {
		l := labelOf(r)
		if seen[l] {
			continue
		}
		seen[l] = true
		e.mu.Lock()
		_, have := e.watchers[l]
		e.mu.Unlock()
		if !have {
			e.add(ctx, l, r.Netns, false)
		}
	}
	e.mu.Lock()
	var gone []string
	for l, h := range e.watchers {
		select {
		case <-h.done: // its watcher saw the namespace go
			gone = append(gone, l)
			continue
		default:
		}
		if !seen[l] {
			gone = append(gone, l)
		}
	}
	e.mu.Unlock()
	for _, l := range gone {
		e.remove(l)
	}
	e.rank()
	return nil
}

func (e *Exporter) add(ctx context.Context, label string, n collector.Netns, explicit bool) {
	w := newWatcher(&e.cfg, label, n, explicit)
	wctx, cancel := context.WithCancel(ctx)
	h := &watchHandle{w: w, cancel: cancel, done: make(chan struct{})}
	e.mu.Lock()
	e.watchers[label] = h
	e.mu.Unlock()
	e.refreshList()
	go func() {
		defer close(h.done)
		w.run(wctx)
	}()
	e.cfg.Logger.Info("watching network namespace", "netns", label)
}

// remove stops a watcher whose namespace is gone; its series go with it.
func (e *Exporter) remove(label string) {
	e.mu.Lock()
	h, ok := e.watchers[label]
	delete(e.watchers, label)
	e.mu.Unlock()
	if !ok {
		return
	}
	h.cancel()
	<-h.done
	if top := *e.top.Load(); !top[label] {
		e.others.leave(h.w)
	}
	e.gone.Add(1)
	e.refreshList()
	e.cfg.Logger.Warn("network namespace gone: no longer watched, its series dropped", "netns", label)
}

func (e *Exporter) stopAll() {
	e.mu.Lock()
	hs := make([]*watchHandle, 0, len(e.watchers))
	for _, h := range e.watchers {
		hs = append(hs, h)
	}
	e.mu.Unlock()
	for _, h := range hs {
		h.cancel()
		<-h.done
	}
}

func (e *Exporter) refreshList() {
	e.mu.Lock()
	list := make([]*watcher, 0, len(e.watchers))
	for _, h := range e.watchers {
		list = append(list, h.w)
	}
	e.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].label < list[j].label })
	e.list.Store(&list)
}

// rank chooses the namespaces that get their own label: the busiest
// TopNetns by entries. Ranked at discovery only, so that a namespace does
// not move between its own series and "other" at every scrape.
func (e *Exporter) rank() {
	list := *e.list.Load()
	top := map[string]bool{}
	if e.cfg.TopNetns == 0 || len(list) <= e.cfg.TopNetns {
		for _, w := range list {
			top[w.label] = true
		}
	} else {
		type ranked struct {
			label string
			n     uint64
		}
		rs := make([]ranked, 0, len(list))
		for _, w := range list {
			s := w.snap.Load()
			rs = append(rs, ranked{w.label, s.count})
		}
		sort.Slice(rs, func(i, j int) bool {
			if rs[i].n != rs[j].n {
				return rs[i].n > rs[j].n
			}
			return rs[i].label < rs[j].label
		})
		for _, r := range rs[:e.cfg.TopNetns] {
			top[r.label] = true
		}
	}
	// "other" keeps what a namespace added while it was summed there, and
	// one that joins it adds only what happens from then on.
	old := *e.top.Load()
	for _, w := range list {
		switch {
		case top[w.label] && !old[w.label]:
			e.others.leave(w)
		case !top[w.label] && old[w.label]:
			e.others.join(w)
		}
	}
	e.top.Store(&top)
}

// counterTotals are the counters of a namespace, as summed into "other".
type counterTotals struct {
	stats      [10]uint64
	events     [3]uint64
	lost       uint64
	tableFull  uint64
	readErrors [numReads]uint64
	resyncs    [2]uint64
}

func (t *counterTotals) add(s *nsSnap) {
	for i := range t.stats {
		t.stats[i] += s.stats[i]
	}
	for i := range t.events {
		t.events[i] += s.events[i]
	}
	t.lost += s.lost
	t.tableFull += s.tableFull
	for i := range t.readErrors {
		t.readErrors[i] += s.readErrors[i]
	}
	t.resyncs[0] += s.resyncs[0]
	t.resyncs[1] += s.resyncs[1]
}

// otherCounters are the counters of netns="other": for each namespace
// summed there, what it added since it joined (its counters minus a base),
// plus what the namespaces that left added while they were there. A
// namespace's kernel statistics count from its creation, so a namespace
// new to the sum is based at its first reading: joining adds nothing, and
// a leaving or deleted one takes nothing away. The counters never jump and
// never go down, which Prometheus would read as traffic or a reset.
type otherCounters struct {
	mu      sync.Mutex
	base    map[*watcher]*counterBase
	retired counterTotals
}

type counterBase struct {
	counterTotals
	statsRead bool // the kernel statistics' base is set
}

func totalsOf(s *nsSnap) counterTotals {
	var t counterTotals
	t.add(s)
	return t
}

// since is t − b per counter; a counter below its base was reset (the
// namespace re-created under the same name) and counts whole.
func (t counterTotals) since(b *counterTotals) counterTotals {
	d := func(x, y uint64) uint64 {
		if x < y {
			return x
		}
		return x - y
	}
	var out counterTotals
	for i := range t.stats {
		out.stats[i] = d(t.stats[i], b.stats[i])
	}
	for i := range t.events {
		out.events[i] = d(t.events[i], b.events[i])
	}
	out.lost, out.tableFull = d(t.lost, b.lost), d(t.tableFull, b.tableFull)
	for i := range t.readErrors {
		out.readErrors[i] = d(t.readErrors[i], b.readErrors[i])
	}
	out.resyncs[0], out.resyncs[1] = d(t.resyncs[0], b.resyncs[0]), d(t.resyncs[1], b.resyncs[1])
	return out
}

func (t *counterTotals) plus(o counterTotals) {
	for i := range t.stats {
		t.stats[i] += o.stats[i]
	}
	for i := range t.events {
		t.events[i] += o.events[i]
	}
	t.lost += o.lost
	t.tableFull += o.tableFull
	for i := range t.readErrors {
		t.readErrors[i] += o.readErrors[i]
	}
	t.resyncs[0] += o.resyncs[0]
	t.resyncs[1] += o.resyncs[1]
}

// contribution is what w added to "other" since it joined. A namespace
// summed there from the start is based at zero for the exporter's own
// counters and at its first reading for the kernel's statistics.
func (o *otherCounters) contribution(w *watcher, s *nsSnap) counterTotals {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.contributionLocked(w, s)
}

func (o *otherCounters) contributionLocked(w *watcher, s *nsSnap) counterTotals {
	b := o.base[w]
	if b == nil {
		b = &counterBase{}
		o.base[w] = b
	}
	if !b.statsRead && s.hasCount {
		b.stats, b.statsRead = s.stats, true
	}
	cur := totalsOf(s)
	if !b.statsRead {
		cur.stats = b.stats
	}
	return cur.since(&b.counterTotals)
}

// join bases a namespace that leaves its own series for "other" at its
// counters now.
func (o *otherCounters) join(w *watcher) {
	s := w.snap.Load()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.base[w] = &counterBase{counterTotals: totalsOf(s), statsRead: s.hasCount}
}

// leave keeps what a namespace added to "other" when it leaves it
// (deleted, or ranked into the top).
func (o *otherCounters) leave(w *watcher) {
	s := w.snap.Load()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retired.plus(o.contributionLocked(w, s))
	delete(o.base, w)
}

// left is what the namespaces that left "other" added.
func (o *otherCounters) left() counterTotals {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.retired
}
