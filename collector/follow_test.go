package collector

import (
	"testing"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/track"
)

// TestFollowerRing: counts cover every event; the kept events are the
// latest ones, oldest first, and Take starts afresh.
func TestFollowerRing(t *testing.T) {
	f := &Follower{keep: 3}
	for i := range 10 {
		typ := track.EventNew
		if i%4 == 3 {
			typ = track.EventDestroy
		}
		f.Event(&track.Event{Type: typ, Flow: ctfill.Entry(i)})
	}
	f.Lost(track.EventLoss{Total: 1})
	d := f.Take()
	if d.Created != 8 || d.Destroyed != 2 || len(d.Losses) != 1 || len(d.Events) != 3 {
		t.Fatalf("%d created, %d destroyed, %d losses, %d events", d.Created, d.Destroyed, len(d.Losses), len(d.Events))
	}
	for j, e := range d.Events {
		if e.Flow.Orig != ctfill.Entry(7+j).Orig {
			t.Errorf("kept event %d is %v, want entry %d", j, e.Flow.Orig, 7+j)
		}
	}
	if d = f.Take(); d.Created != 0 || len(d.Events) != 0 || len(d.Losses) != 0 || f.Losses() != 1 {
		t.Errorf("second Take: %+v, %d losses in all", d, f.Losses())
	}
}

// BenchmarkFollowerEvent: what following costs per event on top of
// decoding it (a busy node sends hundreds of thousands a second).
func BenchmarkFollowerEvent(b *testing.B) {
	f := &Follower{keep: 4096}
	ev := &track.Event{Type: track.EventNew, Flow: ctfill.Entry(1)}
	for b.Loop() {
		f.Event(ev)
	}
}
