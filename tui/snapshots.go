package tui

import (
	"context"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Snapshots is a Recording of samples already in memory: the reference
// engine's demo scenario, which computes its samples rather than reading
// them.
type Snapshots struct {
	snaps []track.Snapshot
	pos   int
	info  Description
}

// NewSnapshots replays snaps in order; their Time fields pace the playback.
func NewSnapshots(snaps []track.Snapshot, info Description) *Snapshots {
	if info.Kind == track.SourceUnknown {
		info.Kind = track.SourceEngine
	}
	info.Timing, info.WallClock = "scenario time", false
	return &Snapshots{snaps: snaps, info: info}
}

// Describe implements Source.
func (r *Snapshots) Describe() Description { return r.info }

// Len implements Recording.
func (r *Snapshots) Len() int { return len(r.snaps) }

// Seek implements Recording.
func (r *Snapshots) Seek(i int) { r.pos = max(0, min(i, len(r.snaps)-1)) }

// Position implements Recording.
func (r *Snapshots) Position() int { return r.pos }

// Gap implements Recording.
func (r *Snapshots) Gap(i int) (time.Duration, bool) {
	if i <= 0 || i >= len(r.snaps) || r.snaps[i].Time.IsZero() || r.snaps[i-1].Time.IsZero() {
		return 0, false
	}
	return r.snaps[i].Time.Sub(r.snaps[i-1].Time), true
}

// Read implements Source: the sample at Position, in track.SampleSink
// order, then it moves on to the next (staying on the last).
func (r *Snapshots) Read(ctx context.Context, sink track.SampleSink) (ReadReport, error) {
	if len(r.snaps) == 0 {
		return ReadReport{}, ErrNoSamples
	}
	s := r.snaps[r.pos]
	meta := s
	meta.Flows = nil
	if err := sink.BeginSample(track.Snapshot{Time: s.Time, Source: s.Source, HasTable: true}); err != nil {
		return ReadReport{}, err
	}
	if err := sink.Extra(&meta); err != nil {
		return ReadReport{}, err
	}
	for i := range s.Flows {
		if err := ctx.Err(); err != nil && i&0xfff == 0 {
			return ReadReport{}, err
		}
		f := s.Flows[i]
		if err := sink.Flow(&f); err != nil {
			return ReadReport{}, err
		}
	}
	if err := sink.EndSample(); err != nil {
		return ReadReport{}, err
	}
	if r.pos < len(r.snaps)-1 {
		r.pos++
	}
	return ReadReport{}, nil
}

// Close implements Source.
func (r *Snapshots) Close() error { return nil }
