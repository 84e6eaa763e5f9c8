package exporter

import (
	"testing"
	"time"
)

func TestDrift(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var d drift
	steps := []struct {
		model int
		count uint64
		at    time.Duration
		want  bool
	}{
		{262144, 262144, 0, false},
		{262144, 0, time.Second, false},        // apart once: an event may be in flight
		{262144, 0, 2 * time.Second, true},     // apart twice: dump
		{0, 0, 3 * time.Second, false},         // after the dump
		{1000, 1040, 4 * time.Second, false},   // 40 entries: under the floor
		{1000, 1040, 5 * time.Second, false},   // still
		{10000, 10400, 6 * time.Second, false}, // 4 %: churn between reads
		{10000, 10400, 7 * time.Second, false},
		{10000, 12000, 8 * time.Second, false}, // apart once
		{10000, 12000, 9 * time.Second, false}, // twice, but within driftSpacing of the last dump
		{10000, 12000, 12 * time.Second, true},
	}
	for i, s := range steps {
		got := d.due(s.model, s.count, t0.Add(s.at))
		if got != s.want {
			t.Fatalf("step %d (model %d, count %d at %v): due %v, want %v", i, s.model, s.count, s.at, got, s.want)
		}
		if got {
			d.resynced(t0.Add(s.at))
		}
	}
}
