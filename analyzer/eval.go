package analyzer

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// Result evaluates every enabled rule over the samples read so far.
func (a *Analyzer) Result() *Result {
	res := &Result{}
	if len(a.done) == 0 {
		res.Summary.Notes = []string{"no samples: nothing was read"}
		return res
	}
	t := a.timeline()
	t.last().prepareRankings()
	res.Summary = a.summary(t)
	for i, s := range t.s {
		info := SampleInfo{Offset: t.offsets[i], Source: s.meta.Source.Name, Format: s.meta.Source.Format,
			Entries: s.entries, Count: s.meta.Count, HasCount: s.meta.HasCount, Max: s.meta.Max, HasMax: s.meta.HasMax}
		info.Time = s.meta.Time
		res.Samples = append(res.Samples, info)
	}
	evals := map[string]func(timeline, *Summary) *Finding{
		rules.SynSentGrowth:     a.synSentGrowth,
		rules.HalfAssured:       a.halfAssured,
		rules.StuckEstablished:  a.stuckEstablished,
		rules.CloseGrowth:       a.closeGrowth,
		rules.TableFull:         a.tableFull,
		rules.InvalidStaleTuple: a.invalidStaleTuple,
		rules.InsertFailed:      a.insertFailed,
		rules.StaleUDP:          a.staleUDP,
		rules.TopTalker:         a.topTalker,
		rules.SysctlRisk:        a.sysctlRisk,
	}
	for _, r := range a.cfg.Rules() {
		if !a.cfg.Enabled(r.ID) {
			continue
		}
		check := Check{Rule: r.ID, Title: r.Title}
		if f := evals[r.ID](t, &res.Summary); f != nil {
			f.Rule, f.Title = r.ID, r.Title
			f.Severity = a.cfg.Severity(r.ID, f.Severity)
			f.Explanation, f.References = r.Explanation, r.References
			check.Fired, check.Severity = true, f.Severity
			res.Findings = append(res.Findings, *f)
		}
		res.Checked = append(res.Checked, check)
	}
	order := map[string]int{}
	for i, r := range rules.Catalog() {
		order[r.ID] = i
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		if res.Findings[i].Severity != res.Findings[j].Severity {
			return res.Findings[i].Severity > res.Findings[j].Severity
		}
		return order[res.Findings[i].Rule] < order[res.Findings[j].Rule]
	})
	return res
}

func (a *Analyzer) param(rule, name string) float64 { return a.cfg.Param(rule, name) }

// remedies fills the rule's remedy templates whose ids are listed.
func (a *Analyzer) remedies(ruleID string, data map[string]any, ids ...string) []Remedy {
	r, _ := rules.Lookup(ruleID)
	var out []Remedy
	for _, id := range ids {
		for _, m := range r.Remedies {
			if m.ID != id {
				continue
			}
			var buf bytes.Buffer
			tm, err := template.New(m.ID).Option("missingkey=error").Parse(m.Template)
			if err == nil {
				err = tm.Execute(&buf, data)
			}
			if err != nil {
				// A missing figure is a bug the tests catch; never hide the remedy.
				buf.Reset()
				buf.WriteString(m.Unfilled())
			}
			out = append(out, Remedy{Title: m.Title, Text: buf.String()})
		}
	}
	return out
}

// entryLines prints examples as conntrack -L lines.
func entryLines(ex []example) []string {
	var out []string
	var buf []byte
	for _, e := range ex {
		buf = parser.AppendFlow(buf[:0], &e.flow, parser.StyleConntrack)
		out = append(out, strings.TrimSuffix(string(buf), "\n"))
	}
	return out
}

func addrPortText(k netip.AddrPort) string {
	if k.Port() == 0 {
		return k.Addr().String()
	}
	return k.String()
}

// groupTop ranks a group's destinations and sources.
func (a *Analyzer) groupTop(g *group) []Top {
	var out []Top
	for _, r := range g.dst.top(a.opts.Top) {
		out = append(out, Top{Dimension: "destination", Key: addrPortText(r.key.addrPort()), Count: r.count, Share: float64(r.count) / float64(g.count)})
	}
	for _, r := range g.src.top(a.opts.Top) {
		out = append(out, Top{Dimension: "source", Key: r.key.addr().String(), Count: r.count, Share: float64(r.count) / float64(g.count)})
	}
	return out
}

// topDst is a group's most frequent destination.
func topDst(g *group) (addr, port string) {
	r := g.dst.top(1)
	if len(r) == 0 {
		return "ADDR", "PORT"
	}
	k := r[0].key.addrPort()
	return k.Addr().String(), strconv.Itoa(int(k.Port()))
}

func topSrc(g *group) string {
	r := g.src.top(1)
	if len(r) == 0 {
		return "ADDR"
	}
	return r[0].key.addr().String()
}

// stuckFinding is the common shape of syn-sent-growth and half-assured:
// entries older than a round trip, many or growing.
func (a *Analyzer) stuckFinding(t timeline, ruleID string, g func(*sample) *group, all func(*sample) int, what string, state track.TCPState) *Finding {
	l := t.last()
	gr := g(l)
	n := gr.count
	gw := t.growth(func(s *sample) float64 { return float64(g(s).count) })
	minEntries := a.param(ruleID, "min_entries")
	growing := t.timed && gw.rising && gw.perSec >= a.param(ruleID, "min_growth") && n > 0
	if float64(n) < minEntries && !growing {
		return nil
	}
	sev := rules.SeverityWarning
	if float64(n) >= a.param(ruleID, "critical_entries") {
		sev = rules.SeverityCritical
	}
	dst, port := topDst(gr)
	summary := fmt.Sprintf("%s %s for more than %s (oldest %s), most to %s:%s", human.Plural(n, "TCP connection", "TCP connections"), what,
		human.Seconds(a.param(ruleID, "min_age")), human.Seconds(gr.oldest), dst, port)
	if t.timed && len(t.s) > 1 {
		summary += fmt.Sprintf("; %+.0f since the first sample (%s)", gw.end-gw.first, human.Rate(gw.perSec))
	}
	T := l.timeouts.TCP(state).Seconds()
	suggested := 30.0
	if state == track.TCPSynRecv {
		suggested = 10
	}
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{
				{"stuck entries", strconv.Itoa(n)},
				{"all " + state.String() + " entries", strconv.Itoa(all(l))},
				{"oldest", human.Seconds(gr.oldest)},
				{"mean age", human.Seconds(gr.meanAge())},
				{"share of the table", human.Percent(float64(n) / math.Max(1, float64(l.entries)))},
			},
			Series:  []Series{t.series("stuck entries", func(s *sample) float64 { return float64(g(s).count) })},
			Top:     a.groupTop(gr),
			Entries: entryLines(gr.examples),
		},
	}
	if t.timed {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"growth", human.Rate(gw.perSec)})
	}
	data := map[string]any{
		"Dst": dst, "DstPort": port, "Src": topSrc(gr), "Count": n,
		"Timeout": T, "SuggestedTimeout": suggested,
		"PredictedEntries": int(math.Ceil(float64(n) * suggested / math.Max(T, 1))),
	}
	ids := []string{"show", "confirm"}
	if state == track.TCPSynSent {
		ids = append(ids, "path")
	} else {
		ids = append(ids, "flood")
	}
	if T > suggested {
		ids = append(ids, "timeout")
	}
	f.Remedies = a.remedies(ruleID, data, ids...)
	return f
}

func (a *Analyzer) synSentGrowth(t timeline, _ *Summary) *Finding {
	return a.stuckFinding(t, rules.SynSentGrowth, func(s *sample) *group { return &s.syn },
		func(s *sample) int { return s.synAll }, "waiting for a SYN-ACK", track.TCPSynSent)
}

func (a *Analyzer) halfAssured(t timeline, _ *Summary) *Finding {
	f := a.stuckFinding(t, rules.HalfAssured, func(s *sample) *group { return &s.half2 },
		func(s *sample) int { return s.tcp[track.TCPSynRecv][classHalf] }, "answered but never completed", track.TCPSynRecv)
	if f == nil {
		return nil
	}
	// Which states the half-assured TCP entries are in.
	l := t.last()
	var parts []string
	for st := range l.tcp {
		if n := l.tcp[st][classHalf]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", track.TCPState(st), n))
		}
	}
	f.Evidence.Figures = append(f.Evidence.Figures, Figure{"half-assured TCP by state", strings.Join(parts, ", ")})
	return f
}

func (a *Analyzer) stuckEstablished(t timeline, _ *Summary) *Finding {
	l := t.last()
	g := &l.idle
	n := g.count
	if float64(n) < a.param(rules.StuckEstablished, "min_entries") {
		return nil
	}
	sev := rules.SeverityInfo
	max, hasMax := t.maxOf()
	if hasMax && max > 0 && float64(n) >= a.param(rules.StuckEstablished, "critical_share")*float64(max) {
		sev = rules.SeverityCritical
	}
	minIdle := a.param(rules.StuckEstablished, "min_idle")
	dst, port := topDst(g)
	T := l.timeouts.TCP(track.TCPEstablished).Seconds()
	summary := fmt.Sprintf("%d ESTABLISHED entries idle for more than %s (oldest %s), %s of the table, most to %s:%s",
		n, human.Seconds(minIdle), human.Seconds(g.oldest), human.Percent(float64(n)/math.Max(1, float64(l.entries))), dst, port)
	if !a.sysctlsKnown(t) {
		summary += fmt.Sprintf(" (idle ages assume the default %s established timeout: no sysctls were read)", human.Seconds(T))
	}
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{
				{"idle entries", strconv.Itoa(n)},
				{"ESTABLISHED [ASSURED] entries", strconv.Itoa(l.estAll)},
				{"oldest idle", human.Seconds(g.oldest)},
				{"mean idle", human.Seconds(g.meanAge())},
			},
			Series:  []Series{t.series("idle entries", func(s *sample) float64 { return float64(s.idle.count) })},
			Top:     a.groupTop(g),
			Entries: entryLines(g.examples),
		},
	}
	if l.idleChecked > 0 {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"counters unchanged since the previous sample",
			fmt.Sprintf("%d of %d idle entries with accounting", l.idleUnchanged, l.idleChecked)})
		f.Summary += fmt.Sprintf("; %d of them saw no packet between samples", l.idleUnchanged)
	}
	suggested, over := idleCandidates(minIdle)[0], l.idleOver[0]
	if T <= suggested {
		suggested, over = minIdle, l.idleOver[1]
	}
	data := map[string]any{
		"Dst": dst, "DstPort": port, "Count": n, "OldestIdle": human.Seconds(g.oldest),
		"SuggestedTimeout": int(suggested), "ExpireAtSuggested": over,
	}
	ids := []string{"show"}
	if T > suggested {
		ids = append(ids, "timeout")
	}
	f.Remedies = a.remedies(rules.StuckEstablished, data, append(ids, "keepalive")...)
	return f
}

var closingStates = []track.TCPState{track.TCPTimeWait, track.TCPClose, track.TCPCloseWait, track.TCPFinWait, track.TCPLastAck}

func (s *sample) tcpCount(st track.TCPState) int {
	return s.tcp[st][0] + s.tcp[st][1] + s.tcp[st][2]
}

func (a *Analyzer) closeGrowth(t timeline, _ *Summary) *Finding {
	l := t.last()
	n := l.closing.count
	max, hasMax := t.maxOf()
	share := 0.0
	if hasMax && max > 0 {
		share = float64(n) / float64(max)
	}
	gw := t.growth(func(s *sample) float64 { return float64(s.closing.count) })
	byShare := hasMax && max > 0 && share >= a.param(rules.CloseGrowth, "min_share")
	byGrowth := t.timed && gw.rising && gw.perSec >= a.param(rules.CloseGrowth, "min_growth") && float64(n) >= a.param(rules.CloseGrowth, "min_entries")
	if !byShare && !byGrowth {
		return nil
	}
	sev := rules.SeverityWarning
	if hasMax && share >= a.param(rules.CloseGrowth, "critical_share") {
		sev = rules.SeverityCritical
	}
	var parts []string
	dominant, domN := track.TCPTimeWait, -1
	for _, st := range closingStates {
		c := l.tcpCount(st)
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, c))
		}
		if c > domN {
			dominant, domN = st, c
		}
	}
	dst, port := topDst(&l.closing)
	summary := fmt.Sprintf("%d TCP entries in closing states (%s)", n, strings.Join(parts, ", "))
	if hasMax {
		summary += fmt.Sprintf(", %s of nf_conntrack_max", human.Percent(share))
	}
	if byGrowth {
		summary += fmt.Sprintf(", growing %s", human.Rate(gw.perSec))
	}
	tw := l.tcpCount(track.TCPTimeWait)
	Ttw := l.timeouts.TCP(track.TCPTimeWait).Seconds()
	closeRate := float64(tw) / math.Max(Ttw, 1) // steady state: TIME_WAIT holds rate × timeout
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{
				{"closing entries", strconv.Itoa(n)},
				{"by state", strings.Join(parts, ", ")},
				{"closes per second (TIME_WAIT / its timeout)", human.Rate(closeRate)},
			},
			Series:  []Series{t.series("closing entries", func(s *sample) float64 { return float64(s.closing.count) })},
			Top:     a.groupTop(&l.closing),
			Entries: entryLines(l.closing.examples),
		},
	}
	data := map[string]any{
		"State": dominant.String(), "Dst": dst, "DstPort": port,
		"TimeWait": tw, "TimeWaitTimeout": Ttw, "CloseRate": human.Rate(closeRate),
		"SuggestedTimeWait": 60, "PredictedTimeWait": int(math.Ceil(closeRate * 60)),
		"CloseWait": l.tcpCount(track.TCPCloseWait), "LastAck": l.tcpCount(track.TCPLastAck),
	}
	ids := []string{"show"}
	if Ttw > 60 && tw > 0 {
		ids = append(ids, "timewait")
	}
	if l.tcpCount(track.TCPCloseWait)+l.tcpCount(track.TCPLastAck) > 0 {
		ids = append(ids, "closewait")
	}
	f.Remedies = a.remedies(rules.CloseGrowth, data, append(ids, "notrack")...)
	return f
}

// talkers ranks the sample's sources, destinations and destination ports.
func (a *Analyzer) talkers(s *sample, n int) (src, dst, port []Top) {
	total := float64(max(1, s.entries))
	addrTop := func(b *addrTally, dim string) []Top {
		var out []Top
		for _, r := range b.top(n) {
			out = append(out, Top{Dimension: dim, Key: r.key.addr().String(), Count: r.count, Share: float64(r.count) / total})
		}
		return out
	}
	src = addrTop(&s.srcs, "source")
	dst = addrTop(&s.dsts, "destination")
	ports := map[string]int{}
	for p, c := range s.tcpPort {
		if c > 0 {
			ports["tcp/"+strconv.Itoa(p)] = int(c)
		}
	}
	for p, c := range s.udpPort {
		if c > 0 {
			ports["udp/"+strconv.Itoa(p)] = int(c)
		}
	}
	for _, r := range topN(ports, n, lessString, countOf[int]) {
		port = append(port, Top{Dimension: "destination port", Key: r.key, Count: r.count, Share: float64(r.count) / total})
	}
	return src, dst, port
}

// filterFor writes the list filter that selects a ranking's key.
func filterFor(t Top) string {
	switch t.Dimension {
	case "source":
		return "-s " + t.Key
	case "destination":
		return "-d " + t.Key
	}
	proto, port, _ := strings.Cut(t.Key, "/")
	return "-p " + proto + " --dport " + port
}

// roundDown rounds n down to a multiple of m, at least m.
func roundDown(n, m uint64) uint64 { return max(m, n/m*m) }

// roundUp rounds n up to a multiple of m.
func roundUp(n, m uint64) uint64 { return (n + m - 1) / m * m }

func (a *Analyzer) tableFull(t timeline, sum *Summary) *Finding {
	l := t.last()
	max, hasMax := t.maxOf()
	size := l.tableSize()
	util := 0.0
	if hasMax && max > 0 {
		util = size / float64(max)
	}
	drop, _, dropOK := t.counterDelta(track.CounterDrop)
	early, _, earlyOK := t.counterDelta(track.CounterEarlyDrop)
	dropTotal, dropKnown := t.counterTotal(track.CounterDrop)
	klog, netns := 0, map[uint64]bool{}
	for _, s := range t.s {
		kt := s.meta.KernelLogCounts()
		klog += kt.Kinds[track.KernelLogTableFull]
		for n := range kt.TableFullNetns {
			netns[n] = true
		}
	}
	gw := t.growth(func(s *sample) float64 { return s.tableSize() })
	ttf := math.Inf(1)
	if hasMax && max > 0 && gw.perSec > 0 {
		ttf = (float64(max) - size) / gw.perSec
	}
	var why []string
	sev := rules.SeverityNone
	raise := func(s rules.Severity, reason string) {
		if reason != "" {
			why = append(why, reason)
		}
		if s > sev {
			sev = s
		}
	}
	if dropOK && drop > 0 {
		raise(rules.SeverityCritical, fmt.Sprintf("%d packets dropped between samples", drop))
	}
	if earlyOK && early > 0 {
		raise(rules.SeverityCritical, fmt.Sprintf("%d entries evicted by early drop", early))
	}
	if klog > 0 {
		raise(rules.SeverityCritical, fmt.Sprintf("%d \"table full, dropping packet\" kernel-log lines", klog))
	}
	if hasMax && max > 0 {
		// The summary starts with the utilisation: no reason text needed.
		switch {
		case util >= a.param(rules.TableFull, "critical_utilisation"):
			raise(rules.SeverityCritical, "")
		case util >= a.param(rules.TableFull, "warn_utilisation"):
			raise(rules.SeverityWarning, "")
		}
		// Projecting is only meaningful for a table already well filled and
		// rising sample after sample: a burst on an empty table says nothing.
		if util < 1 && ttf < a.param(rules.TableFull, "warn_time_to_full") &&
			util >= a.param(rules.TableFull, "projection_min_utilisation") && len(t.s) >= 3 && gw.rising {
			raise(rules.SeverityWarning, fmt.Sprintf("full in %s at the current growth", human.Seconds(ttf)))
		}
	}
	if !dropOK && dropKnown && dropTotal > 0 {
		raise(rules.SeverityWarning, fmt.Sprintf("%d packets dropped since the counters started (one reading of the statistics: whether it still drops is unknown)", dropTotal))
	}
	if sev == rules.SeverityNone {
		return nil
	}
	src, dst, port := a.talkers(l, a.opts.Top)
	summary := strings.Join(why, "; ")
	if hasMax {
		summary = strings.TrimSuffix(fmt.Sprintf("%.0f of %d entries (%s); %s", size, max, human.Percent(util), summary), "; ")
	}
	evictable := l.entries - l.assured
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Series: []Series{t.series("entries", func(s *sample) float64 { return s.tableSize() })},
			Top:    append(append(src, dst...), port...),
		},
	}
	fig := func(name, value string) { f.Evidence.Figures = append(f.Evidence.Figures, Figure{name, value}) }
	fig("entries", strconv.Itoa(int(size)))
	if hasMax {
		fig("nf_conntrack_max", strconv.FormatUint(max, 10))
		fig("utilisation", human.Percent(util))
		fig("headroom (ASSURED entries are never evicted)", fmt.Sprintf("%d new entries before drops (%d evictable, non-ASSURED)", sum.Headroom, evictable))
	}
	if dropOK {
		fig("drop between samples", strconv.FormatUint(drop, 10))
	}
	if earlyOK {
		fig("early_drop between samples", strconv.FormatUint(early, 10))
	}
	for _, c := range []track.Counter{track.CounterDrop, track.CounterEarlyDrop} {
		if _, _, ok := t.counterDelta(c); !ok {
			if total, known := t.counterTotal(c); known {
				fig(c.String()+" since the counters started (one reading)", strconv.FormatUint(total, 10))
			}
		}
	}
	if klog > 0 {
		ns := make([]string, 0, len(netns))
		for n := range netns {
			if n == 0 {
				ns = append(ns, "init")
			} else {
				ns = append(ns, strconv.FormatUint(n, 10))
			}
		}
		sort.Strings(ns)
		fig("kernel log \"table full\" lines", fmt.Sprintf("%d (netns %s)", klog, strings.Join(ns, ", ")))
	}
	if t.timed {
		fig("growth", human.Rate(gw.perSec))
		if !math.IsInf(ttf, 1) && ttf > 0 && util < 1 {
			fig("time to full", human.Seconds(ttf))
		}
	}
	bytesPer := a.entryBytes(t, rules.TableFull)
	peak := uint64(0)
	for _, s := range t.s {
		peak = maxU(peak, uint64(s.tableSize()))
	}
	base := maxU(peak, max)
	suggested := roundUp(2*base, 65536)
	data := map[string]any{
		"SuggestedMax":     suggested,
		"SuggestedReason":  fmt.Sprintf("twice the %d entries the table reached (or its limit), rounded up to a multiple of 65536", base),
		"SuggestedMaxMiB":  int(math.Ceil(float64(suggested) * bytesPer / (1 << 20))),
		"BytesPerEntry":    int(bytesPer),
		"SuggestedBuckets": roundUp(suggested/2, 512),
	}
	ids := []string{"raise"}
	if len(src) > 0 {
		top := src[0]
		for _, c := range [][]Top{dst, port} {
			if len(c) > 0 && c[0].Count > top.Count {
				top = c[0]
			}
		}
		data["TopDimension"], data["TopKey"], data["TopCount"], data["TopShare"], data["TopFilter"] =
			top.Dimension, top.Key, top.Count, human.Percent(top.Share), filterFor(top)
		ids = append(ids, "who")
	}
	if len(port) > 0 && port[0].Share >= 0.2 && strings.HasPrefix(port[0].Key, "udp/") {
		proto, p, _ := strings.Cut(port[0].Key, "/")
		data["TopPortProto"], data["TopPort"], data["TopPortShare"] = proto, p, human.Percent(port[0].Share)
		ids = append(ids, "notrack")
	}
	if len(sum.States) > 0 {
		d := sum.States[0]
		// Point at the dominant state's rule only when that rule's own
		// entries (stuck, idle, closing) are a real part of the table.
		if ruleID := dominantRule(d.Name); ruleID != "" && float64(l.ruleGroup(ruleID)) >= 0.1*math.Max(1, float64(l.entries)) {
			data["Dominant"], data["DominantShare"], data["DominantRule"] = d.Name, human.Percent(d.Share), ruleID
			ids = append(ids, "shorten")
		}
	}
	f.Remedies = a.remedies(rules.TableFull, data, ids...)
	return f
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// ruleGroup is how many entries of the sample a state rule is about.
func (s *sample) ruleGroup(ruleID string) int {
	switch ruleID {
	case rules.SynSentGrowth:
		return s.syn.count
	case rules.HalfAssured:
		return s.half2.count
	case rules.StuckEstablished:
		return s.idle.count
	case rules.CloseGrowth:
		return s.closing.count
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
	case "tcp TIME_WAIT", "tcp CLOSE", "tcp CLOSE_WAIT", "tcp FIN_WAIT", "tcp LAST_ACK":
		return rules.CloseGrowth
	}
	return ""
}

func (a *Analyzer) invalidStaleTuple(t timeline, _ *Summary) *Finding {
	delta, perSec, ok := t.counterDelta(track.CounterInvalid)
	if !ok {
		return nil
	}
	fires := t.timed && perSec >= a.param(rules.InvalidStaleTuple, "min_rate") ||
		!t.timed && float64(delta) >= a.param(rules.InvalidStaleTuple, "min_delta")
	if !fires {
		return nil
	}
	reused := 0
	var example *track.Flow
	for _, s := range t.s {
		reused += s.reused
		if example == nil && s.reusedExample != nil {
			example = s.reusedExample
		}
	}
	summary := fmt.Sprintf("%d INVALID packets between samples", delta)
	if t.timed {
		summary += fmt.Sprintf(" (%s)", human.Rate(perSec))
	}
	if reused > 0 {
		summary += fmt.Sprintf("; %d tuples came back as new handshakes while their old TIME_WAIT/CLOSE entry lingered", reused)
	} else {
		summary += "; no tuple reuse visible in the table between samples, so other causes are as likely (out-of-window packets, rejected flag combinations): let the kernel log them"
	}
	f := &Finding{
		Severity: rules.SeverityWarning,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{{"invalid between samples", strconv.FormatUint(delta, 10)}, {"tuples reused", strconv.Itoa(reused)}},
			Series: []Series{t.series("invalid (cumulative)", func(s *sample) float64 {
				return float64(s.meta.Stats.Total(track.CounterInvalid))
			})},
		},
	}
	if t.timed {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"invalid rate", human.Rate(perSec)})
	}
	l := t.last()
	dst, port := topDst(&l.closing)
	ex := "none seen"
	if example != nil {
		dst, port = example.Orig.Dst.String(), strconv.Itoa(int(example.Orig.DstPort))
		line := strings.TrimSuffix(string(parser.AppendFlow(nil, example, parser.StyleConntrack)), "\n")
		f.Evidence.Entries = []string{line}
		ex = example.Orig.String()
	}
	data := map[string]any{
		"Dst": dst, "DstPort": port, "Reused": reused, "Example": ex,
		"TimeWaitTimeout": l.timeouts.TCP(track.TCPTimeWait).Seconds(),
	}
	ids := []string{"log", "show"}
	if reused > 0 {
		ids = append(ids, "ports", "timewait")
	}
	f.Remedies = a.remedies(rules.InvalidStaleTuple, data, ids...)
	return f
}

func (a *Analyzer) insertFailed(t timeline, sum *Summary) *Finding {
	l := t.last()
	ins, insRate, insOK := t.counterDelta(track.CounterInsertFailed)
	clash, clashRate, clashOK := t.counterDelta(track.CounterClashResolve)
	chain, _, _ := t.counterDelta(track.CounterChainTooLong)
	minClash := a.param(rules.InsertFailed, "min_clash_rate")
	sev := rules.SeverityNone
	switch {
	case insOK && float64(ins) >= a.param(rules.InsertFailed, "min_insert_failed"):
		sev = rules.SeverityWarning
	case clashOK && (t.timed && clashRate >= minClash || !t.timed && float64(clash) >= 60*minClash):
		sev = rules.SeverityInfo
	}
	if sev == rules.SeverityNone {
		total, known := t.counterTotal(track.CounterInsertFailed)
		if insOK || !known || total == 0 {
			return nil
		}
		sev = rules.SeverityInfo // one sample of statistics: only a total since the start
		ins = total
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("insert_failed +%d", ins))
	if clashOK {
		parts = append(parts, fmt.Sprintf("clash_resolve +%d", clash))
	}
	if chain > 0 {
		parts = append(parts, fmt.Sprintf("chaintoolong +%d", chain))
	}
	summary := strings.Join(parts, ", ")
	if t.timed && insOK {
		summary += fmt.Sprintf(" (%s insert failures)", human.Rate(insRate))
	}
	if sum.HasMax {
		summary += fmt.Sprintf("; the table is %s full, so this is not a full table", human.Percent(sum.Utilisation))
	}
	if l.dns > 0 {
		summary += fmt.Sprintf("; %d UDP/53 entries: the DNS A/AAAA race is the usual cause", l.dns)
	} else if l.snat > 0 {
		summary += fmt.Sprintf("; %d source-NATed entries: SNAT port collisions are likely", l.snat)
	}
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{
			Figures: []Figure{
				{"insert_failed", strconv.FormatUint(ins, 10)},
				{"clash_resolve", strconv.FormatUint(clash, 10)},
				{"chaintoolong", strconv.FormatUint(chain, 10)},
				{"UDP/53 entries", strconv.Itoa(l.dns)},
				{"source-NATed entries", strconv.Itoa(l.snat)},
			},
			Series: []Series{t.series("insert_failed (cumulative)", func(s *sample) float64 {
				return float64(s.meta.Stats.Total(track.CounterInsertFailed))
			})},
		},
	}
	data := map[string]any{"InsertFailed": ins, "ClashResolve": clash, "DNSEntries": l.dns}
	ids := []string{"show"}
	if l.dns > 0 {
		ids = append(ids, "dns")
	}
	if l.snat > 0 {
		ids = append(ids, "snat")
	}
	f.Remedies = a.remedies(rules.InsertFailed, data, ids...)
	return f
}

func (a *Analyzer) staleUDP(t timeline, _ *Summary) *Finding {
	l := t.last()
	type hit struct {
		key             netip.AddrPort
		svc             *service
		refreshed, seen int
	}
	var hits []hit
	total, refreshedTotal := 0, 0
	unreplied, _ := l.timeouts.UDP()
	for k, svc := range l.services {
		if svc.translated == 0 || svc.untranslated == 0 {
			continue
		}
		h := hit{key: k.addrPort(), svc: svc}
		for _, hash := range svc.stale {
			rec, ok := a.staleSeen[hash]
			if ok && rec.first < len(t.s)-1 && t.timed && !rec.since.IsZero() &&
				l.meta.Time.Sub(rec.since).Seconds() > unreplied.Seconds() {
				h.refreshed++ // outlived its timeout: something keeps refreshing it
			}
			h.seen++
		}
		total += svc.untranslated
		refreshedTotal += h.refreshed
		hits = append(hits, h)
	}
	if float64(total) < a.param(rules.StaleUDP, "min_entries") || len(hits) == 0 {
		return nil
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].svc.untranslated != hits[j].svc.untranslated {
			return hits[i].svc.untranslated > hits[j].svc.untranslated
		}
		return hits[i].key.String() < hits[j].key.String()
	})
	top := hits[0]
	summary := fmt.Sprintf("%d UDP entries to %s were never translated while %d others to it are", top.svc.untranslated, top.key, top.svc.translated)
	if len(hits) > 1 {
		summary += fmt.Sprintf(" (and %d more services)", len(hits)-1)
	}
	if refreshedTotal > 0 {
		summary += fmt.Sprintf("; %d of them outlived the %s UDP timeout: their clients keep them alive", refreshedTotal, human.Seconds(unreplied.Seconds()))
	}
	f := &Finding{Severity: rules.SeverityWarning, Summary: summary}
	for _, h := range hits {
		if len(f.Evidence.Top) >= a.opts.Top {
			break
		}
		f.Evidence.Top = append(f.Evidence.Top, Top{Dimension: "service (untranslated)", Key: h.key.String(), Count: h.svc.untranslated,
			Share: float64(h.svc.untranslated) / float64(h.svc.untranslated+h.svc.translated)})
	}
	var ex []example
	for _, fl := range top.svc.examples {
		ex = append(ex, example{flow: fl})
	}
	f.Evidence.Entries = entryLines(ex)
	f.Evidence.Figures = []Figure{
		{"untranslated entries", strconv.Itoa(total)},
		{"outlived the UDP timeout", strconv.Itoa(refreshedTotal)},
	}
	data := map[string]any{"Dst": top.key.Addr().String(), "DstPort": strconv.Itoa(int(top.key.Port()))}
	f.Remedies = a.remedies(rules.StaleUDP, data, "show", "delete", "prevent")
	return f
}

func (a *Analyzer) topTalker(t timeline, sum *Summary) *Finding {
	l := t.last()
	if float64(l.entries) < a.param(rules.TopTalker, "min_entries") {
		return nil
	}
	src, dst, port := a.talkers(l, a.opts.Top)
	var best Top
	for _, c := range [][]Top{src, dst, port} {
		if len(c) > 0 && c[0].Share > best.Share {
			best = c[0]
		}
	}
	if best.Share < a.param(rules.TopTalker, "min_share") {
		return nil
	}
	sev := rules.SeverityInfo
	if sum.HasMax && sum.Utilisation >= a.param(rules.TableFull, "warn_utilisation") {
		sev = rules.SeverityWarning
	}
	f := &Finding{
		Severity: sev,
		Summary:  fmt.Sprintf("%s %s holds %d of %d entries (%s)", best.Dimension, best.Key, best.Count, l.entries, human.Percent(best.Share)),
		Evidence: Evidence{Top: append(append(src, dst...), port...)},
	}
	limit := 1000
	if best.Dimension == "source" && len(src) > 1 {
		limit = max(limit, 2*src[1].Count)
	}
	data := map[string]any{"Filter": filterFor(best), "Key": best.Key, "Limit": limit}
	ids := []string{"show"}
	if best.Dimension == "source" {
		ids = append(ids, "limit")
	}
	f.Remedies = a.remedies(rules.TopTalker, data, ids...)
	return f
}

func (a *Analyzer) sysctlRisk(t timeline, sum *Summary) *Finding {
	sys := t.sysctls()
	for k, v := range a.opts.Sysctls {
		if _, ok := sys[k]; !ok {
			sys[k] = v
		}
	}
	if len(sys) == 0 {
		return nil
	}
	sev := rules.SeverityNone
	var why []string
	var ids []string
	data := map[string]any{}
	hit := func(s rules.Severity, id, reason string) {
		if s > sev {
			sev = s
		}
		why = append(why, reason)
		ids = append(ids, id)
	}
	max, hasMax := sys.Int("nf_conntrack_max")
	buckets, hasBuckets := sys.Int("nf_conntrack_buckets")
	bytesPer := a.entryBytes(t, rules.SysctlRisk)
	l := t.last()
	if hasMax && max == 0 {
		suggested := roundUp(maxU(uint64(2*l.entries), 65536), 65536)
		data["SuggestedMax"] = suggested
		hit(rules.SeverityWarning, "unlimited", "nf_conntrack_max=0: no limit at all")
	}
	if hasMax && hasBuckets && max > 0 && buckets > 0 {
		per := float64(max) / float64(buckets)
		data["Max"], data["Buckets"], data["PerBucket"] = max, buckets, strconv.FormatFloat(per, 'f', 1, 64)
		data["SuggestedBuckets"] = roundUp(uint64(max), 512)
		if per > a.param(rules.SysctlRisk, "max_per_bucket") {
			hit(rules.SeverityWarning, "buckets", fmt.Sprintf("nf_conntrack_max %d over %d buckets: %.1f entries per bucket", max, buckets, per))
		}
	}
	if est, ok := sys.Int("nf_conntrack_tcp_timeout_established"); ok && est >= 432000 {
		churn := l.closing.count > 0 || sum.NewBetween > 0 || sum.GoneBetween > 0
		if churn && l.idle.count > 0 {
			hit(rules.SeverityInfo, "established", fmt.Sprintf("established timeout %s with connection churn and %d long-idle entries", human.Seconds(float64(est)), l.idle.count))
		}
	}
	if v, ok := sys.Int("nf_conntrack_tcp_be_liberal"); ok && v != 0 {
		hit(rules.SeverityWarning, "liberal", "nf_conntrack_tcp_be_liberal=1: out-of-window packets are accepted")
	}
	// Accounting and timestamps off is the kernel default and harmless in
	// itself: it is a finding only when it leaves something unconfirmed
	// (idle connections that counters would prove dead); otherwise the
	// summary notes it.
	acct, _ := sys.Int("nf_conntrack_acct")
	ts, _ := sys.Int("nf_conntrack_timestamp")
	if _, ok := sys.Get("nf_conntrack_acct"); ok && (acct == 0 || ts == 0) && l.idle.count > 0 && l.acct == 0 {
		hit(rules.SeverityInfo, "evidence", fmt.Sprintf("accounting %s, timestamps %s: the %d idle ESTABLISHED entries cannot be confirmed dead from their counters", onOff(acct), onOff(ts), l.idle.count))
	}
	if entryBytes := a.entryBytes(t, rules.SysctlRisk); hasMax && max > 0 {
		if mem := t.memTotal(); mem > 0 {
			need := float64(max) * entryBytes
			data["MemTotalMiB"] = int(mem >> 20)
			data["FullTableMiB"] = int(math.Ceil(need / (1 << 20)))
			limit := a.param(rules.SysctlRisk, "max_memory_share") * float64(mem)
			data["SuggestedMaxForMemory"] = roundDown(uint64(limit/entryBytes), 1024)
			if need > limit {
				hit(rules.SeverityWarning, "memory", fmt.Sprintf("a full table (nf_conntrack_max %d × %.0f B) would take %s of the %d MiB of RAM", max, entryBytes, human.Percent(need/float64(mem)), mem>>20))
			}
		}
	}
	if sev == rules.SeverityNone {
		return nil
	}
	f := &Finding{Severity: sev, Summary: strings.Join(why, "; ")}
	if hasMax && max > 0 {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"kernel memory at nf_conntrack_max",
			fmt.Sprintf("%.0f MiB (%d entries × %.0f B)", float64(max)*bytesPer/(1<<20), max, bytesPer)})
	}
	for _, w := range why {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"check", w})
	}
	f.Remedies = a.remedies(rules.SysctlRisk, data, ids...)
	return f
}

func onOff(v int64) string {
	if v != 0 {
		return "on"
	}
	return "off"
}

// entryBytes is the kernel memory per entry: the nf_conntrack slab object
// the source read from /proc/slabinfo plus the extension area (a
// kmalloc-128 object with this kernel's extensions, measured), else the
// rule's parameter (both measured together on the development kernel).
func (a *Analyzer) entryBytes(t timeline, ruleID string) float64 {
	const extensionBytes = 128
	for i := len(t.s) - 1; i >= 0; i-- {
		if m := t.s[i].meta; m.HasSlab && m.Slab.ObjSize > 0 {
			return float64(m.Slab.ObjSize + extensionBytes)
		}
	}
	return a.param(ruleID, "bytes_per_entry")
}
