package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui"
)

// liveSource is the running kernel as the TUI reads it: one collector
// (netlink, else /proc), read once per refresh, and over netlink an event
// follower between reads, so new/s and destroy/s are counted, not guessed.
type liveSource struct {
	// mu serialises Read and Close: the TUI reads in a command of its own,
	// which may still run when the program quits and closes the source.
	mu       sync.Mutex
	closed   bool
	c        *collector.Collector
	follow   *collector.Follower // nil: events not followed (see notes)
	interval time.Duration
	notes    []string // the source's own notes, shown with the collector's
	shown    int      // notes already shown
	// gone is set once the namespace read was deleted: the handles are
	// let go (so it can really go) and every later read says why.
	gone error
}

// errLiveSourceClosed is what a read after Close returns.
var errLiveSourceClosed = errors.New("the live source is closed")

// recentEvents is how many events a read keeps for the flow detail's
// history; the counts cover every event.
const recentEvents = 4096

func newLiveSource(cfg collector.Config, interval time.Duration) (*liveSource, error) {
	c, err := collector.Open(cfg)
	if err != nil {
		return nil, err
	}
	s := &liveSource{c: c, interval: interval}
	if c.Source().Kind == track.SourceNetlink {
		if s.follow, err = collector.Follow(cfg, recentEvents); err != nil {
			s.notes = append(s.notes, fmt.Sprintf("events not followed (new/s and destroy/s are estimated from samples): %v", explainLiveError(err)))
		}
	}
	return s, nil
}

// Describe implements tui.Source.
func (s *liveSource) Describe() tui.Description {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.c.Source()
	d := tui.Description{Kind: src.Kind, Name: src.Name, Host: src.Host, Kernel: src.Kernel, Netns: src.Netns,
		Interval: s.interval, Timing: "wall clock", WallClock: true}
	if s.follow != nil {
		d.Events, d.LostEvents = true, uint64(s.follow.Losses())
	}
	return d
}

// Read implements tui.Source: one sample of the live table, with its
// statistics, count, max, sysctls, new kernel-log lines, slab size and the
// events since the previous read.
func (s *liveSource) Read(ctx context.Context, sink track.SampleSink) (tui.ReadReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep tui.ReadReport
	if s.closed {
		// A closed collector would fall back to this process's own /proc:
		// another namespace's table.
		return rep, errLiveSourceClosed
	}
	if s.gone != nil {
		return rep, s.gone
	}
	if s.follow != nil {
		if err := s.follow.Err(); err != nil {
			s.notes = append(s.notes, fmt.Sprintf("events no longer followed: %v", err))
			s.follow.Stop()
			s.follow = nil
		}
	}
	if s.follow != nil {
		sink = s.follow.Into(sink)
	}
	_, err := s.c.Sample(ctx, collector.DumpFilter{}, sink)
	notes := append(slices.Clone(s.notes), s.c.Notes()...)
	if len(notes) > s.shown {
		rep.Warning = strings.Join(notes[s.shown:], "; ")
		s.shown = len(notes)
	}
	if errors.Is(err, collector.ErrNetnsGone) {
		s.gone = fmt.Errorf("%w (q quits)", explainLiveError(err))
		if s.follow != nil {
			s.follow.Stop()
			s.follow = nil
		}
		s.c.Close()
		return rep, s.gone
	}
	if err != nil {
		return rep, explainLiveError(err)
	}
	return rep, nil
}

// Close implements tui.Source.
func (s *liveSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.follow != nil {
		s.follow.Stop()
	}
	return s.c.Close()
}
