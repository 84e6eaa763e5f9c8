package track

import (
	"sort"
	"time"
)

// What-if from a table snapshot: an entry's remaining timeout and the
// timeout it was last given tell how long ago its last packet came (its
// idle age); with other timeouts, the entry would be there only if that age
// is under the new timeout. The timeout an entry was given is not in the
// table, so it is inferred from its protocol, state, flags and remaining
// time, with the engine's rules (docs/KERNEL.md §1.10, §2).

// TimeoutRule names the timeout an entry was last given: the sysctl that
// sets it ("" for SYN_SENT2, whose 120 s has none) and its value.
type TimeoutRule struct {
	Sysctl string
	Value  time.Duration
}

// TimeoutOf infers the timeout rule behind f's remaining time. For TCP the
// candidates are the state's timeout and the lower caps the kernel applies
// (max_retrans, unacknowledged, close after an RST): the smallest that is
// above the remaining time wins.
func TimeoutOf(f *Flow, t Timeouts) TimeoutRule {
	remaining := time.Duration(f.Timeout) * time.Second
	rule := func(name string) TimeoutRule { return TimeoutRule{Sysctl: name, Value: t.Get(name)} }
	switch f.Orig.Proto {
	case ProtoTCP:
		st, ok := f.TCPState()
		if !ok {
			return rule("nf_conntrack_tcp_timeout_established")
		}
		base := TimeoutRule{Sysctl: TimeoutSysctl(st), Value: t.TCP(st)}
		// The candidates: the state's timeout and the caps below it; the
		// smallest above the time left wins, the state's own on a tie.
		best := base
		consider := func(name string, v time.Duration) {
			if v < base.Value && v > remaining && v < best.Value {
				best = TimeoutRule{Sysctl: name, Value: v}
			}
		}
		if base.Value <= remaining {
			return base
		}
		consider("nf_conntrack_tcp_timeout_max_retrans", t.retrans)
		consider("nf_conntrack_tcp_timeout_unacknowledged", t.unack)
		if st == TCPEstablished {
			// An in-window but inexact RST keeps ESTABLISHED with the
			// close timeout (docs/KERNEL.md §1.5.5).
			consider("nf_conntrack_tcp_timeout_close", t.TCP(TCPClose))
		}
		return best
	case ProtoUDP, ProtoUDPLite:
		if f.Status.Assured() {
			return rule("nf_conntrack_udp_timeout_stream")
		}
		return rule("nf_conntrack_udp_timeout")
	case ProtoICMP:
		return rule("nf_conntrack_icmp_timeout")
	case ProtoICMPv6:
		return rule("nf_conntrack_icmpv6_timeout")
	case ProtoGRE:
		// The stream timeout comes with ASSURED, on the first packet after
		// the reply (docs/KERNEL.md §2.5): a replied entry not yet assured still has
		// the unreplied one. The entry carries both as they were when it
		// was made; they win over today's sysctls.
		r := rule("nf_conntrack_gre_timeout")
		if f.Status.Assured() {
			r = rule("nf_conntrack_gre_timeout_stream")
		}
		if f.Fields.Has(FieldGRETimeouts) && f.Ext != nil {
			v := f.Ext.GRETimeout
			if f.Status.Assured() {
				v = f.Ext.GREStreamTimeout
			}
			r.Value = time.Duration(v) * time.Second
		}
		return r
	}
	return rule("nf_conntrack_generic_timeout")
}

// IdleAge estimates how long ago f's last refreshing packet came: its
// timeout rule's value minus the time left (the middle of the second the
// kernel's floor leaves). It is never negative.
func IdleAge(f *Flow, t Timeouts) time.Duration {
	return idleAgeUnder(f, TimeoutOf(f, t))
}

// idleAgeUnder is IdleAge under the timeout r, already resolved.
func idleAgeUnder(f *Flow, r TimeoutRule) time.Duration {
	left := time.Duration(f.Timeout)*time.Second + time.Second/2
	return max(r.Value-left, 0)
}

// StateKey is how what-if groups entries: "tcp TIME_WAIT", "udp",
// "unknown 253", ...
func StateKey(f *Flow) string {
	name := f.Orig.Proto.Name()
	if name == "unknown" {
		name = "unknown " + f.Orig.Proto.String() // as /proc prints it
	}
	if st := f.StateName(); st != "" {
		return name + " " + st
	}
	return name
}

// WhatIfCount is one group's entries now and as predicted.
type WhatIfCount struct {
	Key       string
	Current   int
	Predicted float64
	// Extrapolated says longer timeouts added entries the snapshot cannot
	// show (ones that expired before it was taken), estimated as steady
	// arrivals: count × new timeout / old timeout.
	Extrapolated bool
	// Unexplained counts entries with more time left than any timeout
	// their state can be given (set by conntrack -I/-U, a cttimeout
	// policy, or sysctls changed since): they are predicted to stay.
	Unexplained int
}

// WhatIf accumulates a snapshot's entries, one at a time, and predicts how
// many of them, counted per StateKey, a table would hold with other
// timeouts. Entries idle longer than their new timeout would be gone; with
// a longer timeout, the extra entries are extrapolated (see
// WhatIfCount.Extrapolated).
type WhatIf struct {
	cur, next Timeouts
	idx       map[string]*WhatIfCount
	order     []string
	// byKind finds an entry's group without building its StateKey: most
	// entries of a table share a few protocol and state pairs.
	byKind map[uint32]*WhatIfCount
	// lastKind and last skip even that lookup for a run of one kind (the
	// analyzer prices each proposal over one state's entries).
	lastKind uint32
	last     *WhatIfCount
	// nextOf caches the proposed value of the few sysctls entries are
	// timed by (a linear scan of a handful beats hashing the name).
	nextOf []TimeoutRule
}

// nextValue is the proposed value of a timeout sysctl.
func (w *WhatIf) nextValue(name string) time.Duration {
	for _, r := range w.nextOf {
		if r.Sysctl == name {
			return r.Value
		}
	}
	v := w.next.Get(name)
	w.nextOf = append(w.nextOf, TimeoutRule{Sysctl: name, Value: v})
	return v
}

// NewWhatIf compares the timeouts in force (cur) with proposed ones (next).
func NewWhatIf(cur, next Timeouts) *WhatIf {
	return &WhatIf{cur: cur, next: next, idx: map[string]*WhatIfCount{}, byKind: map[uint32]*WhatIfCount{}}
}

// Add counts one entry.
func (w *WhatIf) Add(f *Flow) {
	if !f.Fields.Has(FieldTimeout) {
		return // offloaded: no timeout to reason about
	}
	kind := uint32(f.Orig.Proto)<<16 | uint32(f.State)<<8
	if f.HasState() {
		kind |= 1
	}
	c := w.last
	if c == nil || w.lastKind != kind {
		if c = w.byKind[kind]; c == nil {
			k := StateKey(f)
			if c = w.idx[k]; c == nil {
				c = &WhatIfCount{Key: k}
				w.idx[k] = c
				w.order = append(w.order, k)
			}
			w.byKind[kind] = c
		}
		w.last, w.lastKind = c, kind
	}
	c.Current++
	r := TimeoutOf(f, w.cur)
	if time.Duration(f.Timeout)*time.Second > r.Value {
		c.Unexplained++
		c.Predicted++
		return
	}
	newValue := r.Value
	if r.Sysctl != "" {
		newValue = w.nextValue(r.Sysctl)
	}
	switch age := idleAgeUnder(f, r); {
	case newValue <= age:
		// gone: idle longer than the new timeout allows
	case newValue > r.Value && r.Value > 0:
		c.Predicted += float64(newValue) / float64(r.Value)
		c.Extrapolated = true
	default:
		c.Predicted++
	}
}

// Counts returns the groups, largest first.
func (w *WhatIf) Counts() []WhatIfCount {
	out := make([]WhatIfCount, 0, len(w.order))
	for _, k := range w.order {
		out = append(out, *w.idx[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Current > out[j].Current })
	return out
}

// WhatIfSnapshot is WhatIf over a slice of entries.
func WhatIfSnapshot(flows []Flow, cur, next Timeouts) []WhatIfCount {
	w := NewWhatIf(cur, next)
	for i := range flows {
		w.Add(&flows[i])
	}
	return w.Counts()
}
