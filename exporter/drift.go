package exporter

import "time"

// resyncReason says why the table was dumped into the model again.
type resyncReason int

const (
	resyncOverrun  resyncReason = iota // the kernel dropped events (ENOBUFS)
	resyncDrift                        // the model and the kernel's count disagreed
	resyncPeriodic                     // the resync interval passed
	numResyncReasons
)

func (r resyncReason) String() string {
	return [...]string{"overrun", "drift", "periodic"}[r]
}

// Events alone do not keep the model equal to the table, even without an
// overrun: with nf_conntrack_events=2 (the default) an entry created while
// nobody listened has no event cache and never sends DESTROY, so every
// entry older than the exporter leaves the model only at the next dump,
// whether it expires or is flushed. The kernel's count is read every read
// interval anyway; a gap between it and the model that holds on two reads
// in a row (not one taken between an event and its delivery) is re-read
// at once instead of waiting for the periodic dump.
const (
	driftFloor = 64 // entries: below this a gap is never worth a dump
	driftShare = 20 // a gap above 1/driftShare of the larger of the two
	// driftSpacing bounds the cost when the table churns faster than the
	// events are read: at most one drift dump this often.
	driftSpacing = 10 * time.Second
)

// drift decides when the model has drifted from the kernel's count.
type drift struct {
	seen bool      // the previous read was already apart
	last time.Time // the last drift dump
}

// due says whether a read with the model at model entries and the
// kernel's count at count calls for a dump now.
func (d *drift) due(model int, count uint64, now time.Time) bool {
	gap := max(uint64(model), count) - min(uint64(model), count)
	apart := gap > driftFloor && gap*driftShare > max(uint64(model), count)
	was := d.seen
	d.seen = apart
	return apart && was && (d.last.IsZero() || now.Sub(d.last) >= driftSpacing)
}

// resynced records a drift dump at now.
func (d *drift) resynced(now time.Time) { d.seen, d.last = false, now }
