package tui

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// liveLike is a Source shaped like the live collector: no recording, a
// refresh interval, events between reads, lost events, and reads that can
// fail. Its data are real: the formats capture's table, statistics and
// sysctls, and on the second read the events conntrack -E printed in the
// same session.
type liveLike struct {
	reads    int
	failNext bool
	lost     uint64
	clock    time.Time
	counts   *track.EventTotals // carried by the next read, with a loss
}

// totalsSink adds event totals and a loss to a sample's first Extra, as
// the live collector's follower does.
type totalsSink struct {
	track.SampleSink
	totals *track.EventTotals
}

func (s *totalsSink) Extra(x *track.Snapshot) error {
	if s.totals != nil {
		x.EventTotals.Add(*s.totals)
		x.EventLosses = append(x.EventLosses, track.EventLoss{Time: time.Now(), Total: 1})
		s.totals = nil
	}
	return s.SampleSink.Extra(x)
}

func (s *liveLike) Describe() Description {
	return Description{Kind: track.SourceNetlink, Name: "netlink", Host: "lab", Kernel: "6.18.44", Netns: "init",
		Interval: time.Second, Timing: "wall clock", WallClock: true, Events: true, LostEvents: s.lost}
}

func (s *liveLike) Read(ctx context.Context, sink track.SampleSink) (ReadReport, error) {
	if s.failNext {
		s.failNext = false
		return ReadReport{}, errors.New("netlink dump: operation not permitted (lost privileges?)")
	}
	s.reads++
	dir := filepath.Join("..", "testdata", "kernel-6.18", "formats")
	in := []parser.Input{{Path: filepath.Join(dir, "proc-nf_conntrack.txt"), Time: s.clock.Add(time.Duration(s.reads) * time.Second)}}
	if s.reads == 2 {
		in = append(in, parser.Input{Path: filepath.Join(dir, "conntrack-E-timestamp-extended-id.txt")})
	}
	in = append(in, parser.Input{Path: filepath.Join(dir, "stat-nf_conntrack.txt")}, parser.Input{Path: filepath.Join(dir, "sysctl-nf_conntrack.txt")})
	_, err := parser.WalkSamples(in, parser.Options{}, &totalsSink{SampleSink: sink, totals: s.counts})
	s.counts = nil
	return ReadReport{}, err
}

func (s *liveLike) Close() error { return nil }

func TestLiveSource(t *testing.T) {
	src := &liveLike{lost: 3, clock: fixedNow()}
	m := New(Options{Source: src, Renderer: asciiRenderer(), Now: fixedNow})
	t.Cleanup(func() { m.Close() })
	var ticks []time.Duration
	m.tick = func(d time.Duration, _ func(time.Time) tea.Msg) tea.Cmd { ticks = append(ticks, d); return nil }
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	d.run(m.Init())
	if len(ticks) != 1 || ticks[0] != time.Second {
		t.Fatalf("the next refresh should be due in the source's interval, got %v", ticks)
	}
	screen := m.View()
	for _, want := range []string{"netlink", "events lost 3×", "every 1s"} {
		if !strings.Contains(screen, want) {
			t.Errorf("first frame lacks %q:\n%s", want, screen)
		}
	}
	if r := m.frame.Rates; r.HasNew {
		t.Errorf("one sample cannot give new/destroy rates: %+v", r)
	}
	if strings.Contains(screen, "netlink netlink") {
		t.Errorf("the source is named twice:\n%s", screen)
	}

	// A failing read: the error goes to the status line, the last sample
	// stays, and the next refresh is still scheduled.
	src.failNext = true
	d.send(tickMsg{gen: m.play.tickGen})
	screen = m.View()
	if !strings.Contains(screen, "operation not permitted") || m.frame == nil || m.frame.Table.Len() == 0 {
		t.Errorf("a read error should show in the status line over the last sample:\n%s", screen)
	}
	if len(ticks) != 2 {
		t.Errorf("a failed read must not stop the refreshes (%d ticks)", len(ticks))
	}
	// It recovers, and rates now compare two samples.
	d.send(tickMsg{gen: m.play.tickGen})
	if strings.Contains(m.View(), "operation not permitted") {
		t.Error("the error should clear once a read succeeds")
	}
	if r := m.frame.Rates; !r.HasPrev || r.Seconds != 1 || !r.Counters[track.CounterFound].HasDelta {
		t.Errorf("second sample: rates %+v", r)
	}
	// Its new/destroy rates come from the events it delivered (11 NEW, 1
	// DESTROY in the file): exact, so
	// without the "~" of a tuple comparison.
	if r := m.frame.Rates; !r.FromEvents || r.New != 11 || r.Destroyed != 1 {
		t.Errorf("new/destroy from events: %+v", r)
	}
	if !strings.Contains(m.View(), "per s: new 11 destroy 1") {
		t.Errorf("header should show the event rates:\n%s", m.View())
	}

	// A source that counts its events (the live collector keeps only the
	// latest few) reports the counts; with a loss they are lower bounds.
	src.counts = &track.EventTotals{Followed: true, Created: 5000, Destroyed: 40}
	d.send(tickMsg{gen: m.play.tickGen})
	if r := m.frame.Rates; !r.FromEvents || !r.EventsLost || r.New != 5000 || r.Destroyed != 40 {
		t.Errorf("new/destroy from counted events: %+v", r)
	}
	if !strings.Contains(m.View(), "per s: new ≥5000 destroy ≥40") {
		t.Errorf("header should show the counted rates as lower bounds:\n%s", m.View())
	}

	// A flow's detail shows the events seen for it.
	d.keys("5", "/")
	d.typeText("-p tcp --dport 8081")
	d.keys("enter", "enter")
	screen = m.View()
	for _, want := range []string{"EVENTS", "NEW     SYN_SENT [UNREPLIED]", "UPDATE  TIME_WAIT [ASSURED]"} {
		if !strings.Contains(screen, want) {
			t.Errorf("flow detail lacks %q:\n%s", want, screen)
		}
	}
}
