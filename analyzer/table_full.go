package analyzer

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// tableFull: the table is full, was full, or is filling
// (rules/table_full.go). It reads the evidence (fullness), weighs it
// (judge), then writes the finding (fullFinding) and sizes the remedies
// (fullRemedies) from what was measured, never from an unknown.
func (a *Analyzer) tableFull(t timeline, sum *Summary) *Finding {
	fu := a.fullness(t, sum)
	sev, why := a.judgeFullness(fu)
	if sev == rules.SeverityNone {
		return nil
	}
	f := a.fullFinding(t, fu, sev, why)
	f.Remedies = a.fullRemedies(t, sum, fu)
	return f
}

// fullness is everything the samples say about the table's size against
// its limit.
type fullness struct {
	now  Pressure    // the last sample
	peak *PeakSample // a worse sample before it
	pin  *plateau    // samples stuck at one size while full

	drop, early         uint64 // between samples
	dropOK, earlyOK     bool
	dropTotal           uint64 // one reading: since the counters started
	earlyTotal          uint64
	totalsOnly          bool
	klog                int
	klogNetns           []string
	forecast            bool // a forecast the rule stands behind
	accumulating        bool // the table keeps what it gains: few entries left since the previous sample
	arrived, gone       float64
	peakSize, largestAt float64
}

// plateau is a run of samples at one size while the table was full.
type plateau struct {
	size     float64
	from, to int    // samples
	limit    uint64 // the limit in force then, when read; 0 when not
	laterMax uint64 // the limit read last, when higher
}

func (a *Analyzer) fullness(t timeline, sum *Summary) fullness {
	fu := fullness{now: sum.Pressure, peak: sum.Peak, accumulating: math.IsInf(sum.Pressure.SteadyState, 1)}
	fu.arrived, fu.gone, _ = lastStep(t, sum)
	// A failed insertion (a clash, insert-failed's pattern) is counted as a
	// drop too: only drops beyond them are the table's (docs/KERNEL.md §4.6).
	fu.drop, _, fu.dropOK = t.counterDelta(track.CounterDrop)
	if failed, _, ok := t.counterDelta(track.CounterInsertFailed); ok && fu.dropOK {
		fu.drop -= min(fu.drop, failed)
	}
	fu.early, _, fu.earlyOK = t.counterDelta(track.CounterEarlyDrop)
	if !fu.dropOK {
		fu.dropTotal, _ = t.counterTotal(track.CounterDrop)
		failed, _ := t.counterTotal(track.CounterInsertFailed)
		fu.dropTotal -= min(fu.dropTotal, failed)
		fu.earlyTotal, _ = t.counterTotal(track.CounterEarlyDrop)
		fu.totalsOnly = true
	}
	netns := map[string]bool{}
	for _, s := range t.s {
		kt := s.meta.KernelLogCounts()
		fu.klog += kt.Kinds[track.KernelLogTableFull]
		for n := range kt.TableFullNetns {
			name := "init"
			if n != 0 {
				name = strconv.FormatUint(n, 10)
			}
			netns[name] = true
		}
	}
	for n := range netns {
		fu.klogNetns = append(fu.klogNetns, n)
	}
	sort.Strings(fu.klogNetns)
	fu.peakSize, _ = t.peakOf(func(s *sample) float64 { return s.tableSize() })
	fu.pin = a.findPlateau(t, fu.klog > 0 || fu.drop+fu.early+fu.dropTotal+fu.earlyTotal > 0)
	p := fu.now
	// PressureOf forecasts only what the rule's gate allows.
	fu.forecast = p.HasFullIn && p.FullInSeconds > 0 && p.FullInSeconds <= a.param(rules.TableFull, "warn_time_to_full")
	return fu
}

// findPlateau finds two samples or more in a row at the same size that was
// the limit in force then, or, with drops or "table full" lines to show the
// table was full, a size below the limit read later (the limit was raised
// since). The longest run wins.
func (a *Analyzer) findPlateau(t timeline, fullSeen bool) *plateau {
	var best *plateau
	for i := 0; i < len(t.s); {
		j := i
		size := t.s[i].tableSize()
		for j+1 < len(t.s) && t.s[j+1].tableSize() == size {
			j++
		}
		if j > i && size > 0 {
			limit, _, hasLimit := t.maxAt(j)
			atLimit := hasLimit && uint64(size) >= limit
			if atLimit || fullSeen && (!hasLimit || uint64(size) < limit) {
				p := &plateau{size: size, from: i, to: j}
				if hasLimit && atLimit {
					p.limit = limit
				}
				if last, ok := t.maxOf(); ok && last > uint64(size) {
					p.laterMax = last
				}
				if best == nil || j-i > best.to-best.from {
					best = p
				}
			}
		}
		i = j + 1
	}
	return best
}

// judgeFullness weighs the evidence: what makes the finding critical or a
// warning, with the reasons in words.
func (a *Analyzer) judgeFullness(fu fullness) (rules.Severity, []string) {
	sev := rules.SeverityNone
	var why []string
	raise := func(s rules.Severity, reason string) {
		if reason != "" {
			why = append(why, reason)
		}
		sev = max(sev, s)
	}
	if fu.dropOK && fu.drop > 0 {
		raise(rules.SeverityCritical, fmt.Sprintf("%d packets dropped between samples", fu.drop))
	}
	if fu.earlyOK && fu.early > 0 {
		raise(rules.SeverityCritical, fmt.Sprintf("%d entries evicted by early drop between samples", fu.early))
	}
	if fu.klog > 0 {
		raise(rules.SeverityCritical, fmt.Sprintf("%d \"table full, dropping packet\" kernel-log lines", fu.klog))
	}
	if fu.pin != nil {
		raise(rules.SeverityCritical, "")
	}
	if fu.now.HasMax && fu.now.Max > 0 {
		raise(a.pressSeverity(fu.now), a.keptReason(fu.now))
	}
	if fu.peak != nil {
		raise(a.pressSeverity(fu.peak.Pressure), "")
	}
	if fu.forecast {
		raise(rules.SeverityWarning, "")
	}
	if fu.totalsOnly && fu.dropTotal > 0 {
		raise(rules.SeverityWarning, fmt.Sprintf("%d packets dropped since the counters started (one reading of the statistics: whether it still drops is unknown)", fu.dropTotal))
	}
	return sev, why
}

// pressSeverity judges how pressed a table is against its limit: critical
// at critical_utilisation, a warning at warn_utilisation or when the entries
// the kernel never evicts hold warn_kept_share of the limit.
func (a *Analyzer) pressSeverity(p Pressure) rules.Severity {
	switch {
	case !p.HasMax || p.Max == 0:
		return rules.SeverityNone
	case p.Utilisation >= a.param(rules.TableFull, "critical_utilisation"):
		return rules.SeverityCritical
	case p.Utilisation >= a.param(rules.TableFull, "warn_utilisation"), p.KeptShare >= a.param(rules.TableFull, "warn_kept_share"):
		return rules.SeverityWarning
	}
	return rules.SeverityNone
}

// keptReason says so when the entries never evicted are what presses.
func (a *Analyzer) keptReason(p Pressure) string {
	if p.KeptShare >= a.param(rules.TableFull, "warn_kept_share") {
		return fmt.Sprintf("%d of them (%s of the limit) are entries the kernel never evicts (ASSURED, not closing): a burst finds nothing to evict", p.Kept, human.Percent(p.KeptShare))
	}
	return ""
}

// fullFinding writes the summary and the evidence.
func (a *Analyzer) fullFinding(t timeline, fu fullness, sev rules.Severity, why []string) *Finding {
	var lead []string
	p := fu.now
	if pin := fu.pin; pin != nil {
		s := fmt.Sprintf("the table was full: pinned at %.0f entries", pin.size)
		if pin.limit > 0 {
			s += " (its limit then)"
		}
		s += fmt.Sprintf(" from %s to %s", t.at(pin.from), t.at(pin.to))
		if at := t.s[pin.to]; at.meta.HasTable && at.entries > 0 {
			s += fmt.Sprintf(", %s of them entries the kernel never evicts (ASSURED, not closing)", human.Percent(at.share(at.nonEvictable)))
		}
		if pin.laterMax > 0 {
			s += fmt.Sprintf("; the limit read last is %d, so it was raised since", pin.laterMax)
		}
		lead = append(lead, s)
	} else if fu.peak != nil {
		lead = append(lead, fmt.Sprintf("%d of %d entries (%s) at %s", fu.peak.Pressure.Count, fu.peak.Pressure.Max,
			human.Percent(fu.peak.Pressure.Utilisation), t.at(fu.peak.Sample)))
	}
	if p.HasMax && p.Max > 0 {
		lead = append(lead, fmt.Sprintf("%d of %d entries (%s) now", p.Count, p.Max, human.Percent(p.Utilisation)))
	} else if t.last().meta.HasTable || t.last().meta.HasCount {
		lead = append(lead, fmt.Sprintf("%d entries now, the limit not read", p.Count))
	}
	if fu.forecast {
		s := fmt.Sprintf("growing %s, full in %s at this rate", human.Rate(p.GrowthPerSec), human.Seconds(p.FullInSeconds))
		if fu.accumulating {
			s += fmt.Sprintf(" (it keeps what it gains: %.0f entries left while %.0f came since the previous sample)", fu.gone, fu.arrived)
		}
		size := t.rise(func(s *sample) float64 { return s.tableSize() })
		if kept := t.rise(func(s *sample) float64 { return float64(s.nonEvictable) }); size.total() > 0 && kept.total() >= size.total()/2 {
			s += fmt.Sprintf("; %s of that growth is entries the kernel never evicts (ASSURED, not closing)", human.Percent(math.Min(1, kept.total()/size.total())))
		}
		lead = append(lead, s)
	}
	summary := strings.Join(append(lead, why...), "; ")
	summary = strings.ToUpper(summary[:1]) + summary[1:]

	l := t.last()
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{Series: t.seriesOf("entries", func(s *sample) float64 { return s.tableSize() })},
	}
	fig := func(name, value string) { f.Evidence.Figures = append(f.Evidence.Figures, Figure{name, value}) }
	fig("entries", strconv.FormatUint(p.Count, 10))
	if p.HasMax {
		fig("nf_conntrack_max", strconv.FormatUint(p.Max, 10))
	}
	if p.HasHeadroom {
		fig("utilisation", human.Percent(p.Utilisation))
		fig("headroom", fmt.Sprintf("%d new entries before drops (%d evictable: not ASSURED, or closing)", p.Headroom, l.entries-l.nonEvictable))
	}
	if fu.pin != nil {
		fig("pinned at", fmt.Sprintf("%.0f entries, %s to %s", fu.pin.size, t.at(fu.pin.from), t.at(fu.pin.to)))
	}
	if fu.dropOK {
		fig("drop between samples (failed insertions left out)", strconv.FormatUint(fu.drop, 10))
	}
	if fu.earlyOK {
		fig("early_drop between samples", strconv.FormatUint(fu.early, 10))
	}
	if fu.totalsOnly {
		if _, ok := t.counterTotal(track.CounterDrop); ok {
			fig("drop since the counters started (one reading, failed insertions left out)", strconv.FormatUint(fu.dropTotal, 10))
			fig("early_drop since the counters started (one reading)", strconv.FormatUint(fu.earlyTotal, 10))
		}
	}
	if fu.klog > 0 {
		fig("kernel log \"table full\" lines", fmt.Sprintf("%d (netns %s)", fu.klog, strings.Join(fu.klogNetns, ", ")))
	}
	if p.HasGrowth {
		fig("recent growth", human.Rate(p.GrowthPerSec))
	}
	if p.HasFullIn && p.FullInSeconds > 0 {
		fig("time to full", human.Seconds(p.FullInSeconds))
	}
	if l.meta.HasTable {
		src, dst, port := a.talkers(l, a.opts.Top)
		f.Evidence.Top = append(append(src, dst...), port...)
	}
	return f
}

// fullRemedies sizes the remedies from what was measured: the largest
// size the table reached and the size it was pinned at. Without either the
// limit cannot be priced, and the remedy says how to read it instead.
func (a *Analyzer) fullRemedies(t timeline, sum *Summary, fu fullness) []Remedy {
	l := t.last()
	data := map[string]any{}
	var ids []string
	base := fu.peakSize
	reason := fmt.Sprintf("twice the %.0f entries the table reached", base)
	if fu.pin != nil && fu.pin.size >= base {
		base = fu.pin.size
		reason = fmt.Sprintf("twice the %.0f entries the table was pinned at (it would have held more)", base)
	}
	if base <= 0 {
		ids = append(ids, "measure")
	} else {
		suggested := roundUp(uint64(2*base), 65536)
		bytesPer := a.entryBytes(t, rules.TableFull)
		data["SuggestedMax"] = suggested
		data["SuggestedReason"] = reason + ", rounded up to a multiple of 65536"
		data["SuggestedMaxMiB"] = int(math.Ceil(float64(suggested) * bytesPer / (1 << 20)))
		data["BytesPerEntry"] = int(bytesPer)
		max, hasMax := t.maxOf()
		switch {
		case fu.pin != nil && fu.pin.laterMax >= suggested:
			data["Max"], data["Plateau"] = fu.pin.laterMax, int(fu.pin.size)
			data["Covers"] = fmt.Sprintf("twice the %.0f entries the table reached", fu.peakSize)
			ids = append(ids, "raised")
		case !hasMax || max < suggested:
			ids = append(ids, "raise")
			if buckets, ok := t.sysctls().Int("nf_conntrack_buckets"); ok && uint64(buckets) < suggested/2 {
				data["SuggestedBuckets"] = roundUp(suggested/2, 512)
				data["BucketsReason"] = fmt.Sprintf("nf_conntrack_buckets is %d; with the limit at %d, half as many buckets keeps hash chains short.", buckets, suggested)
				ids = append(ids, "buckets")
			}
		}
	}
	if l.meta.HasTable {
		src, dst, port := a.talkers(l, a.opts.Top)
		var top Top
		for _, c := range [][]Top{src, dst, port} {
			if len(c) > 0 && c[0].Share > top.Share {
				top = c[0]
			}
		}
		if top.Share >= namedShare {
			data["TopDimension"], data["TopKey"], data["TopCount"], data["TopShare"], data["TopFilter"] =
				top.Dimension, top.Key, top.Count, human.Percent(top.Share), filterFor(top)
			ids = append(ids, "who")
		}
		if len(port) > 0 && port[0].Share >= 0.2 && strings.HasPrefix(port[0].Key, "udp/") {
			_, p, _ := strings.Cut(port[0].Key, "/")
			n := mustPort(p)
			data["PortShare"] = human.Percent(port[0].Share)
			rs, _ := t.ruleset()
			// Never for a port already NOTRACKed, nor one whose entries are translated.
			if l.nat == nil || l.nat.portNAT(track.ProtoUDP, n) == 0 {
				if id := notrackRemedyID(rs, "notrack", l.ipv6 == l.entries, track.ProtoUDP, n, data); id != "" {
					ids = append(ids, id)
				}
			}
		}
		if tw := l.share(l.tcpCount(track.TCPTimeWait)); tw >= 0.3 {
			if w, ok := l.whatIf.result("nf_conntrack_tcp_timeout_time_wait"); ok {
				data["SuggestedTimeout"], data["TimeWaitShare"] = int(w.value.Seconds()), human.Percent(tw)
				data["Timeout"] = int(l.timeouts.TCP(track.TCPTimeWait).Seconds())
				data["WhatIf"] = w.sentence(a.whatIfSource(l, w.sysctl))
				ids = append(ids, "timewait")
			}
		}
		if len(sum.States) > 0 {
			d := sum.States[0]
			// Point at the dominant state's rule only when it fired and its
			// own entries (stuck, idle, closing) are a real part of the table.
			if ruleID := dominantRule(d.Name); ruleID != "" && a.fired[ruleID] && l.share(l.ruleGroup(ruleID)) >= 0.1 {
				data["Dominant"], data["DominantShare"], data["DominantRule"] = d.Name, human.Percent(d.Share), ruleID
				ids = append(ids, "shorten")
			}
		}
	}
	return a.remedies(rules.TableFull, data, ids...)
}

// ruleGroup is how many entries of the sample a state rule is about.
func (s *sample) ruleGroup(ruleID string) int {
	switch ruleID {
	case rules.SynSentGrowth:
		return s.syn.count
	case rules.HalfAssured:
		return s.half2.count
	case rules.StuckEstablished:
		return max(s.idle.count, s.silent.count)
	case rules.CloseGrowth:
		n := 0
		for k := range s.closing {
			n += s.closing[k].count
		}
		return n
	}
	return 0
}

// dominantRule names the rule that explains a state dominating the table.
func dominantRule(state string) string {
	switch state {
	case "tcp SYN_SENT":
		return rules.SynSentGrowth
	case "tcp SYN_RECV":
		return rules.HalfAssured
	case "tcp ESTABLISHED":
		return rules.StuckEstablished
	case "tcp CLOSE", "tcp CLOSE_WAIT", "tcp FIN_WAIT", "tcp LAST_ACK":
		return rules.CloseGrowth
	}
	return ""
}
