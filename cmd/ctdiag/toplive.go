package main

import (
	"context"
	"strings"
	"time"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/tui"
)

// liveSource is the running kernel as the TUI reads it: one collector
// (netlink, else /proc), read once per refresh.
type liveSource struct {
	c        *collector.Collector
	interval time.Duration
	notes    int // collector notes already shown
}

func newLiveSource(cfg collector.Config, interval time.Duration) (*liveSource, error) {
	c, err := collector.Open(cfg)
	if err != nil {
		return nil, err
	}
	return &liveSource{c: c, interval: interval}, nil
}

// Describe implements tui.Source.
func (s *liveSource) Describe() tui.Description {
	src := s.c.Source()
	return tui.Description{Kind: src.Kind, Name: src.Name, Host: src.Host, Kernel: src.Kernel, Netns: src.Netns,
		Interval: s.interval, Timing: "wall clock", WallClock: true}
}

// Read implements tui.Source: one sample of the live table, with its
// statistics, count, max, sysctls, new kernel-log lines and slab size.
func (s *liveSource) Read(ctx context.Context, sink parser.SampleSink) (tui.ReadReport, error) {
	_, err := s.c.Sample(ctx, collector.DumpFilter{}, sink)
	var rep tui.ReadReport
	if notes := s.c.Notes(); len(notes) > s.notes {
		rep.Warning = strings.Join(notes[s.notes:], "; ")
		s.notes = len(notes)
	}
	if err != nil {
		return rep, explainLiveError(err)
	}
	return rep, nil
}

// Close implements tui.Source.
func (s *liveSource) Close() error { return s.c.Close() }
