package analyzer

import (
	"fmt"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/track"
)

// timeline is the samples with their offsets in seconds from the first.
type timeline struct {
	s       []*sample
	timed   bool // every sample has a time, strictly increasing
	offsets []float64
}

func (a *Analyzer) timeline() timeline {
	t := timeline{s: a.done, timed: len(a.done) > 1}
	for i, s := range a.done {
		if s.meta.Time.IsZero() || i > 0 && !s.meta.Time.After(a.done[i-1].meta.Time) {
			t.timed = false
		}
	}
	for _, s := range a.done {
		off := -1.0
		if t.timed {
			off = s.meta.Time.Sub(a.done[0].meta.Time).Seconds()
		}
		t.offsets = append(t.offsets, off)
	}
	return t
}

func (t timeline) last() *sample  { return t.s[len(t.s)-1] }
func (t timeline) first() *sample { return t.s[0] }

func (t timeline) span() float64 {
	if !t.timed {
		return 0
	}
	return t.offsets[len(t.offsets)-1]
}

// series is one value per sample.
func (t timeline) series(name string, f func(*sample) float64) Series {
	out := Series{Name: name}
	for i, s := range t.s {
		out.Points = append(out.Points, Point{Sample: i, Offset: t.offsets[i], Value: f(s)})
	}
	return out
}

// riseWindow is how many steps between samples a rise is judged over: a
// count that went up at each of the last three is rising now; one that
// rose long ago and stayed flat since is not.
const riseWindow = 3

// rise is how a count moved over the last samples.
type rise struct {
	steps    int     // steps looked at: samples − 1, at most riseWindow
	every    bool    // it went up at every one of them (two steps or more)
	from, to float64 // at the start and the end of the window
	perSec   float64 // (to − from) per second, when the samples are timed
}

// total is how much it rose over the window.
func (r rise) total() float64 { return r.to - r.from }

// minRelativeRise is how much, relative to where it started, a count must
// rise to be rising: a big steady count (a pool of 150,000 connections, a
// few hundred unanswered SYNs on a gateway) wanders by tens from sample to
// sample, and three small steps up in a row are chance, not a trend.
const minRelativeRise = 0.1

// sustained: rising at every step of the window, by at least min in all and
// by at least a tenth of where it started.
func (r rise) sustained(min float64) bool {
	return r.every && r.total() >= max(min, 1) && r.total() >= minRelativeRise*r.from
}

func (t timeline) rise(f func(*sample) float64) rise {
	n := len(t.s)
	start := max(0, n-1-riseWindow)
	r := rise{steps: n - 1 - start, from: f(t.s[start]), to: f(t.s[n-1])}
	r.every = r.steps >= 2
	for i := start + 1; i < n; i++ {
		if f(t.s[i]) <= f(t.s[i-1]) {
			r.every = false
		}
	}
	if t.timed && t.offsets[n-1] > t.offsets[start] {
		r.perSec = (r.to - r.from) / (t.offsets[n-1] - t.offsets[start])
	}
	return r
}

// peakOf is the largest value over the samples and where it was.
func (t timeline) peakOf(f func(*sample) float64) (v float64, at int) {
	for i, s := range t.s {
		if x := f(s); x > v {
			v, at = x, i
		}
	}
	return v, at
}

// at says when sample i was, for summaries: "t+25s", or "sample 3".
func (t timeline) at(i int) string {
	if t.timed {
		return "t+" + human.Seconds(t.offsets[i])
	}
	return fmt.Sprintf("sample %d", i+1)
}

// counterDelta is how much a statistics counter grew between the first and
// the last sample that carry statistics; ok is false without two such
// samples, or when the counter went backwards (another namespace, a
// reboot).
func (t timeline) counterDelta(c track.Counter) (delta uint64, perSec float64, ok bool) {
	var first, last *sample
	fi, li := -1, -1
	for i, s := range t.s {
		if s.meta.Stats.Has(c) {
			if first == nil {
				first, fi = s, i
			}
			last, li = s, i
		}
	}
	if first == nil || first == last {
		return 0, 0, false
	}
	a, b := first.meta.Stats.Total(c), last.meta.Stats.Total(c)
	if b < a {
		return 0, 0, false
	}
	delta = b - a
	if t.timed && t.offsets[li] > t.offsets[fi] {
		perSec = float64(delta) / (t.offsets[li] - t.offsets[fi])
	}
	return delta, perSec, true
}

// counterTotal is a counter's value in the last sample that has it.
func (t timeline) counterTotal(c track.Counter) (uint64, bool) {
	for i := len(t.s) - 1; i >= 0; i-- {
		if t.s[i].meta.Stats.Has(c) {
			return t.s[i].meta.Stats.Total(c), true
		}
	}
	return 0, false
}

// maxOf returns the latest nf_conntrack_max known in the timeline.
func (t timeline) maxOf() (uint64, bool) {
	for i := len(t.s) - 1; i >= 0; i-- {
		if t.s[i].meta.HasMax {
			return t.s[i].meta.Max, true
		}
	}
	return 0, false
}

// maxAt is the limit in force at sample i: its own, else the last one read
// before it (carried); ok is false when none was read yet.
func (t timeline) maxAt(i int) (max uint64, carried, ok bool) {
	for j := i; j >= 0; j-- {
		if t.s[j].meta.HasMax {
			return t.s[j].meta.Max, j != i, true
		}
	}
	return 0, false, false
}

// memTotal is the latest known RAM size, 0 when unknown.
func (t timeline) memTotal() uint64 {
	for i := len(t.s) - 1; i >= 0; i-- {
		if m := t.s[i].meta.MemTotal; m > 0 {
			return m
		}
	}
	return 0
}

// sysctls merges the samples' sysctls, later ones winning.
func (t timeline) sysctls() track.Sysctls {
	layers := make([]track.Sysctls, 0, len(t.s))
	for _, s := range t.s {
		layers = append(layers, s.meta.Sysctls)
	}
	return track.LayerSysctls(layers...)
}

// sysctlsKnown: some timeout sysctl was read (or given), so ages are
// computed from the values in force rather than defaults.
func (a *Analyzer) sysctlsKnown(t timeline) bool {
	for _, given := range []track.Sysctls{a.opts.Sysctls, a.hint} {
		if _, ok := given.Get("nf_conntrack_tcp_timeout_established"); ok {
			return true
		}
	}
	for _, s := range t.s {
		if _, ok := s.meta.Sysctls.Get("nf_conntrack_tcp_timeout_established"); ok {
			return true
		}
	}
	return false
}
