package tui

import (
	"fmt"
	"time"

	"github.com/ctdiag/ctdiag/tui/common"
)

// speeds are the playback speeds + and - step through.
var speeds = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32}

// player is the playback of a source: which sample is shown or being read,
// whether it plays and how fast, and when the next refresh is due. It only
// decides: the root turns its answers into refreshes and timers. A live
// source (rec nil) plays at its interval and cannot be stepped.
type player struct {
	rec      Recording // nil for a live source
	interval time.Duration

	paused, atEnd bool
	speed         float64
	tickGen       int // timers of older generations are ignored

	busy     bool
	inflight int  // the sample being read (-1: a live source's next)
	pending  *int // a read asked for while one ran
	scanning bool // every sample is being analysed to open the most telling
}

func newPlayer(src Source, speed float64, paused bool) player {
	p := player{interval: src.Describe().Interval, speed: speed, paused: paused}
	if r, ok := src.(Recording); ok {
		p.rec = r
	}
	return p
}

// start marks a read of sample seek as in flight; false when one already
// is (the read is queued and starts when that one is done).
func (p *player) start(seek int) bool {
	if p.busy {
		p.pending = &seek
		return false
	}
	p.busy, p.inflight = true, seek
	return true
}

// done marks the read in flight as done and returns the queued one, if any.
func (p *player) done() (next int, ok bool) {
	p.busy = false
	if p.pending == nil {
		return 0, false
	}
	next = *p.pending
	p.pending = nil
	return next, true
}

// shown notes that a recording's sample is on screen: playing stops at the
// last one.
func (p *player) shown(f *common.Frame) {
	if p.rec != nil {
		p.atEnd = f.Sample >= f.Samples-1 && !p.paused
	}
}

// next is the sample a refresh reads: the one after f in a recording, -1
// (the next reading) for a live source.
func (p *player) next(f *common.Frame) int {
	if p.rec == nil {
		return -1
	}
	if f == nil {
		return 0
	}
	return f.Sample + 1
}

// delay is when the refresh after f is due; ok is false when none is
// (paused, or at the end). Each call starts a new timer generation.
func (p *player) delay(f *common.Frame) (d time.Duration, gen int, ok bool) {
	if p.paused || p.atEnd {
		return 0, 0, false
	}
	p.tickGen++
	d = p.interval
	if p.rec != nil {
		d = time.Second
		if f != nil {
			if gap, ok := p.rec.Gap(f.Sample + 1); ok {
				d = gap
			}
		}
		d = time.Duration(float64(d) / p.speed)
	}
	return max(50*time.Millisecond, min(d, time.Minute)), p.tickGen, true
}

// due reports whether a timer of generation gen should refresh.
func (p *player) due(gen int) bool { return gen == p.tickGen && !p.paused && !p.atEnd }

// togglePause pauses or plays; at the end of a recording it replays from
// the first sample. seek is the sample to read now (ok false: none).
func (p *player) togglePause(f *common.Frame) (seek int, ok bool, status string) {
	if p.atEnd {
		p.atEnd, p.paused = false, false
		return 0, true, "replaying from the first sample"
	}
	p.paused = !p.paused
	if p.paused {
		p.tickGen++ // drop the timer in flight
		return 0, false, ""
	}
	return p.next(f), true, ""
}

// step is the sample d away from the one shown (or being read, or
// queued); it pauses. ok is false, with why, when there is none.
func (p *player) step(f *common.Frame, d int) (seek int, ok bool, status string) {
	if p.rec == nil {
		return 0, false, "stepping between samples needs a recording (ctdiag top FILE|DIR)"
	}
	if f == nil {
		return 0, false, ""
	}
	target := f.Sample + d
	switch {
	case p.pending != nil:
		target = *p.pending + d
	case p.busy && p.inflight >= 0:
		target = p.inflight + d
	}
	if target < 0 || target >= p.rec.Len() {
		return 0, false, fmt.Sprintf("no sample %d: the recording has %d", target+1, p.rec.Len())
	}
	p.pause()
	return target, true, ""
}

// goTo is sample i of a recording (the first, the last), pausing there.
func (p *player) goTo(i int) (seek int, ok bool, status string) {
	if p.rec == nil {
		return 0, false, "the first and last samples are a recording's (ctdiag top FILE|DIR)"
	}
	p.pause()
	return max(0, min(i, p.rec.Len()-1)), true, ""
}

// pause stops playing where it is.
func (p *player) pause() {
	p.paused, p.atEnd = true, false
	p.tickGen++
}

// setSpeed moves to the next faster (d > 0) or slower speed.
func (p *player) setSpeed(d int) string {
	if p.rec == nil {
		return "speed applies to recordings; a live source refreshes every " + common.Dur(p.interval)
	}
	i := 0
	for j, s := range speeds {
		if s <= p.speed {
			i = j
		}
	}
	p.speed = speeds[max(0, min(i+d, len(speeds)-1))]
	return fmt.Sprintf("speed %g×", p.speed)
}
