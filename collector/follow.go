package collector

import (
	"context"
	"sync"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Follower follows a namespace's conntrack events in the background (on a
// socket of its own) and keeps what a reader sampling the table
// periodically needs between two samples: exactly how many entries were
// created and destroyed, the most recent events, and every loss. It is how
// the live TUI knows new/s and destroy/s instead of estimating them.
type Follower struct {
	keep int
	run  *eventRun

	mu                 sync.Mutex
	created, destroyed int
	recent             []track.Event // the last keep events since Take
	first              int           // ring start when len(recent) == keep
	losses             []track.EventLoss
	totalLosses        int
}

// FollowDelta is what happened since the previous Take.
type FollowDelta struct {
	Created, Destroyed int
	// Events are the most recent events, oldest first (at most the
	// Follower's keep).
	Events []track.Event
	// Losses are the overruns: Created and Destroyed are then lower bounds.
	Losses []track.EventLoss
}

// Follow opens its own collector on cfg's namespace, subscribes to its
// events and returns once the subscription is in place; it follows until
// Stop. keep bounds the events held between two Takes (counts are always
// exact but for losses). It fails where Events would (no ctnetlink, no
// CAP_NET_ADMIN).
func Follow(cfg Config, keep int) (*Follower, error) {
	f := &Follower{keep: max(keep, 1)}
	run, err := startEvents(context.Background(), cfg, EventOptions{}, f)
	if err != nil {
		return nil, err
	}
	f.run = run
	return f, nil
}

// Take returns what happened since the previous Take and starts afresh.
func (f *Follower) Take() FollowDelta {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := FollowDelta{Created: f.created, Destroyed: f.destroyed, Losses: f.losses}
	d.Events = make([]track.Event, 0, len(f.recent))
	d.Events = append(d.Events, f.recent[f.first:]...)
	d.Events = append(d.Events, f.recent[:f.first]...)
	f.created, f.destroyed, f.recent, f.first, f.losses = 0, 0, f.recent[:0], 0, nil
	return d
}

// Losses is how many times events were lost since Follow.
func (f *Follower) Losses() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.totalLosses
}

// Err says why following stopped on its own (nil while it runs).
func (f *Follower) Err() error { return f.run.failed() }

// Stop ends the subscription and waits for it to close.
func (f *Follower) Stop() { f.run.stop() }

// Event implements EventSink.
func (f *Follower) Event(ev *track.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Type {
	case track.EventNew:
		f.created++
	case track.EventDestroy:
		f.destroyed++
	}
	// The decoder reuses ev and what its flow points into.
	kept := *ev
	kept.Flow = ev.Flow.Clone()
	if len(f.recent) < f.keep {
		f.recent = append(f.recent, kept)
		return nil
	}
	f.recent[f.first] = kept
	f.first = (f.first + 1) % f.keep
	return nil
}

// Expect implements EventSink: expectations are not followed.
func (f *Follower) Expect(track.EventType, time.Time, *track.Expectation) error { return nil }

// Resync implements EventSink: the reader's next sample is a full dump.
func (f *Follower) Resync(*track.Flow) error { return nil }

// Lost implements EventSink.
func (f *Follower) Lost(loss track.EventLoss) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.losses = append(f.losses, loss)
	f.totalLosses++
	return nil
}

// Into wraps sink so that each sample read through it carries, in its
// first Extra, what f followed since the previous sample: the latest
// events, the losses, and the totals (track.Snapshot.EventTotals).
func (f *Follower) Into(sink track.SampleSink) *FollowSink {
	return &FollowSink{SampleSink: sink, f: f}
}

// FollowSink is a SampleSink that adds a Follower's events to each sample.
type FollowSink struct {
	track.SampleSink
	f     *Follower
	taken bool
}

// BeginSample implements track.SampleSink.
func (s *FollowSink) BeginSample(meta track.Snapshot) error {
	s.taken = false
	return s.SampleSink.BeginSample(meta)
}

// Extra implements track.SampleSink.
func (s *FollowSink) Extra(x *track.Snapshot) error {
	if !s.taken {
		s.taken = true
		d := s.f.Take()
		x.Events = append(x.Events, d.Events...)
		x.EventLosses = append(x.EventLosses, d.Losses...)
		x.EventTotals.Add(track.EventTotals{Followed: true, Created: d.Created, Destroyed: d.Destroyed})
	}
	return s.SampleSink.Extra(x)
}
