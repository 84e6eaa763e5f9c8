package analyzer

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// whatIfs price the timeouts the remedies propose, over the ranked
// sample's entries, with the same arithmetic as ctdiag whatif
// (track.WhatIf), so that a report and that command give one figure.
type whatIfs struct {
	items []whatIfItem
}

type whatIfItem struct {
	sysctl string
	value  time.Duration
	state  track.TCPState
	w      *track.WhatIf
}

// proposedTimeouts are the shorter TCP timeouts remedies suggest, by the
// state whose entries they concern.
func (a *Analyzer) proposedTimeouts() []whatIfItem {
	return []whatIfItem{
		{sysctl: "nf_conntrack_tcp_timeout_syn_sent", value: 30 * time.Second, state: track.TCPSynSent},
		{sysctl: "nf_conntrack_tcp_timeout_syn_recv", value: 10 * time.Second, state: track.TCPSynRecv},
		{sysctl: "nf_conntrack_tcp_timeout_established", value: time.Duration(idleCandidates(a.th.minIdle)[0]) * time.Second, state: track.TCPEstablished},
		{sysctl: "nf_conntrack_tcp_timeout_time_wait", value: 60 * time.Second, state: track.TCPTimeWait},
	}
}

// newWhatIfs prepares a what-if for each proposal shorter than the timeout
// in force.
func (a *Analyzer) newWhatIfs(cur track.Timeouts) whatIfs {
	var w whatIfs
	for _, it := range a.proposedTimeouts() {
		if it.value >= cur.Get(it.sysctl) {
			continue
		}
		next := cur.With(it.sysctl, it.value)
		it.w = track.NewWhatIf(cur, next)
		w.items = append(w.items, it)
	}
	return w
}

func (w *whatIfs) add(f *track.Flow) {
	if len(w.items) == 0 || f.Orig.Proto != track.ProtoTCP {
		return
	}
	st, ok := f.TCPState()
	if !ok {
		return
	}
	for i := range w.items {
		if w.items[i].state == st {
			w.items[i].w.Add(f)
		}
	}
}

// whatIfResult is one proposal priced over the sample.
type whatIfResult struct {
	sysctl    string
	value     time.Duration
	key       string // "tcp SYN_SENT"
	now       int
	predicted float64
}

// result prices the proposal for sysctl; ok is false when none was made
// (the timeout in force is already as short) or no entry concerned it.
func (w *whatIfs) result(sysctl string) (whatIfResult, bool) {
	for _, it := range w.items {
		if it.sysctl != sysctl {
			continue
		}
		for _, c := range it.w.Counts() {
			return whatIfResult{sysctl: it.sysctl, value: it.value, key: c.Key, now: c.Current, predicted: c.Predicted}, true
		}
	}
	return whatIfResult{}, false
}

// sentence says what the proposal does to the sample's entries, and how to
// see the same figure with ctdiag whatif.
func (r whatIfResult) sentence(source string) string {
	secs := strconv.Itoa(int(r.value.Seconds()))
	var out string
	switch kept := int(r.predicted); {
	case kept >= r.now:
		out = fmt.Sprintf("With %s s, all %d %s entries of the last sample would still be there (none has been idle that long yet): the gain is the time each new one holds its slot.", secs, r.now, r.key)
	case kept == 0:
		out = fmt.Sprintf("With %s s, none of the %d %s entries of the last sample would still be there: all have been idle longer.", secs, r.now, r.key)
	default:
		out = fmt.Sprintf("With %s s, %d of the %d %s entries of the last sample would still be there (the others have been idle longer).", secs, kept, r.now, r.key)
	}
	if source != "" {
		out += fmt.Sprintf("\nThe same figure for every state:\nctdiag whatif %s --set %s=%s\n", source, r.sysctl, secs)
	}
	return out
}
