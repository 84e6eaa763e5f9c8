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
// time, with the engine's rules (spec §1.10, §2).

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
		cands := []TimeoutRule{base}
		names := []string{"nf_conntrack_tcp_timeout_max_retrans", "nf_conntrack_tcp_timeout_unacknowledged"}
		if st == TCPEstablished {
			// An in-window but inexact RST keeps ESTABLISHED with the
			// close timeout (spec §1.5.5).
			names = append(names, "nf_conntrack_tcp_timeout_close")
		}
		for _, name := range names {
			if c := rule(name); c.Value < base.Value {
				cands = append(cands, c)
			}
		}
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].Value < cands[j].Value })
		for _, c := range cands {
			if c.Value > remaining {
				return c
			}
		}
		return base
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
		if f.Status.SeenReply() {
			return rule("nf_conntrack_gre_timeout_stream")
		}
		return rule("nf_conntrack_gre_timeout")
	}
	return rule("nf_conntrack_generic_timeout")
}

// IdleAge estimates how long ago f's last refreshing packet came: its
// timeout rule's value minus the time left (the middle of the second the
// kernel's floor leaves). It is never negative.
func IdleAge(f *Flow, t Timeouts) time.Duration {
	left := time.Duration(f.Timeout)*time.Second + time.Second/2
	return max(TimeoutOf(f, t).Value-left, 0)
}

// StateKey is how what-if groups entries: "tcp TIME_WAIT", "udp", ...
func StateKey(f *Flow) string {
	if st := f.StateName(); st != "" {
		return f.Orig.Proto.String() + " " + st
	}
	return f.Orig.Proto.String()
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
}

// WhatIfSnapshot predicts how many of flows, counted per StateKey, a table
// would hold with the timeouts in next instead of cur. Entries idle longer
// than their new timeout would be gone; with a longer timeout, the extra
// entries are extrapolated (see WhatIfCount.Extrapolated).
func WhatIfSnapshot(flows []Flow, cur, next Timeouts) []WhatIfCount {
	idx := map[string]*WhatIfCount{}
	var order []string
	for i := range flows {
		f := &flows[i]
		if !f.Fields.Has(FieldTimeout) {
			continue
		}
		k := StateKey(f)
		c := idx[k]
		if c == nil {
			c = &WhatIfCount{Key: k}
			idx[k] = c
			order = append(order, k)
		}
		c.Current++
		r := TimeoutOf(f, cur)
		newValue := r.Value
		if r.Sysctl != "" {
			newValue = next.Get(r.Sysctl)
		}
		switch age := IdleAge(f, cur); {
		case newValue <= age:
			// gone: idle longer than the new timeout allows
		case newValue > r.Value && r.Value > 0:
			c.Predicted += float64(newValue) / float64(r.Value)
			c.Extrapolated = true
		default:
			c.Predicted++
		}
	}
	out := make([]WhatIfCount, 0, len(order))
	for _, k := range order {
		out = append(out, *idx[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Current > out[j].Current })
	return out
}
