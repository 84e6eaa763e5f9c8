package collector

import (
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/ctfill"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/track"
)

// TestKernelFollowerCounts: a Follower counts every entry created and
// destroyed between two Takes exactly, keeps only the latest events, and
// stops cleanly.
func TestKernelFollowerCounts(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireTools(t, "conntrack")
	ns := netnstest.NewNS(t)
	f, err := Follow(Config{Netns: Netns{Name: ns.Name}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	fill(t, ns, 0, 500)
	var d FollowDelta
	deadline := time.Now().Add(10 * time.Second)
	for d.Created < 500 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		x := f.Take()
		d.Created, d.Destroyed = d.Created+x.Created, d.Destroyed+x.Destroyed
		d.Events, d.Losses = x.Events, append(d.Losses, x.Losses...)
	}
	if d.Created != 500 || d.Destroyed != 0 || len(d.Losses) != 0 {
		t.Fatalf("after 500 inserts: %d created, %d destroyed, %d losses", d.Created, d.Destroyed, len(d.Losses))
	}
	if len(d.Events) == 0 || len(d.Events) > 100 {
		t.Fatalf("%d recent events kept, want 1 to 100", len(d.Events))
	}
	// The last one kept is the last entry made.
	if last := d.Events[len(d.Events)-1]; last.Type != track.EventNew || last.Flow.Orig != ctfill.Entry(499).Orig {
		t.Errorf("last event kept: %v %v, want NEW %v", last.Type, last.Flow.Orig, ctfill.Entry(499).Orig)
	}
	// The UDP entries (one in ten) go; the counts say so exactly.
	ns.MustOutput(t, "conntrack", "-D", "-p", "udp")
	d = FollowDelta{}
	deadline = time.Now().Add(10 * time.Second)
	for d.Destroyed < 50 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		x := f.Take()
		d.Created, d.Destroyed = d.Created+x.Created, d.Destroyed+x.Destroyed
	}
	if d.Created != 0 || d.Destroyed != 50 {
		t.Errorf("after deleting the 50 UDP entries: %d created, %d destroyed", d.Created, d.Destroyed)
	}
	if f.Losses() != 0 || f.Err() != nil {
		t.Errorf("losses %d, err %v", f.Losses(), f.Err())
	}
}
