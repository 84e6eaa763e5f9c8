package kerneldiff

import (
	"container/heap"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/capture"
	"github.com/ctdiag/ctdiag/track"
)

// Step is one packet of a sequence, sent Delay after the previous one.
type Step struct {
	Delay  time.Duration
	Packet track.Packet // Time is set when it is sent
	Note   string       // narration, for scripted scenarios
}

// Sequence is a list of packets on tuples no other sequence uses.
type Sequence struct {
	Name  string
	Steps []Step
	// RandomPorts says NAT may pick random ports for this sequence's
	// entries: reply ports are compared as "some port", not exactly.
	RandomPorts bool
}

// Options tune a Runner.
type Options struct {
	// Concurrency is how many sequences are in flight at once.
	Concurrency int
	// CheckDelay is how long after a packet its sequence is compared, at
	// the earliest.
	CheckDelay time.Duration
	// ReadInterval spaces the readings of the kernel's table: checks wait
	// for the next reading. Each reading walks the kernel's whole hash
	// table (262144 buckets by default), so they are batched.
	ReadInterval time.Duration
	// Margin keeps packets and checks this far from the engine's expiry and
	// UDP-stream boundaries, where the kernel's jiffies and the test's
	// clock could disagree about which side a packet falls on.
	Margin time.Duration
	// Logf receives progress and disagreements (t.Logf).
	Logf func(format string, args ...any)
	// MaxReports bounds how many disagreements are logged in full.
	MaxReports int
	// Trace logs every checkpoint (for scripted scenarios and debugging).
	Trace bool
}

// Result summarises a run.
type Result struct {
	Sequences, Packets int
	Checkpoints        int // sequence comparisons made
	Agreeing           int // sequences with no disagreement at any checkpoint
	Disagreements      []Disagreement
	StatChecks         int // statistics comparisons during the run
	StatAgree          int
	StatDiffs          []string
	// FinalStats is the kernel's and the engine's statistics after the
	// run, with the kernel's counted from its start. During the run a
	// reading can catch a looped-back packet between its two hooks; the
	// totals at the end must be equal.
	FinalKernel, FinalEngine map[string]uint64
	Deferred                 int // packets or checks moved away from a timing boundary
	Elapsed                  time.Duration
}

// Agreement is the share of sequences that agreed everywhere.
func (r *Result) Agreement() float64 {
	if r.Sequences == 0 {
		return 0
	}
	return float64(r.Agreeing) / float64(r.Sequences)
}

// Disagreement is one sequence whose entries differed.
type Disagreement struct {
	Sequence  string
	AfterStep int
	Diffs     []string
	History   []string
}

func (d Disagreement) String() string {
	return fmt.Sprintf("sequence %s, after step %d:\n  %s\n  packets:\n    %s",
		d.Sequence, d.AfterStep, strings.Join(d.Diffs, "\n  "), strings.Join(d.History, "\n    "))
}

// Runner plays sequences against the kernel and an engine in lockstep.
type Runner struct {
	ns     *Namespace
	sender *Sender
	engine *track.Engine
	opts   Options
	start  time.Time
}

// NewRunner returns a runner sending into ns and mirroring into e.
func NewRunner(ns *Namespace, sender *Sender, e *track.Engine, opts Options) *Runner {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.CheckDelay <= 0 {
		opts.CheckDelay = 30 * time.Millisecond
	}
	if opts.ReadInterval <= 0 {
		opts.ReadInterval = 250 * time.Millisecond
	}
	if opts.Margin <= 0 {
		opts.Margin = 150 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.MaxReports <= 0 {
		opts.MaxReports = 20
	}
	return &Runner{ns: ns, sender: sender, engine: e, opts: opts}
}

// seqState is a sequence in flight.
type seqState struct {
	seq      *Sequence
	next     int // next step to send
	lastSent time.Time
	checkDue bool // a check is scheduled
	disagree bool
	history  []string
	tuples   []track.Tuple
	done     bool
	// pendingDiff holds differences found when sending (a drop one side
	// saw and the other did not), reported at the next check.
	pendingDiff []string
}

type eventKind uint8

const (
	evSend eventKind = iota
	evCheck
)

type event struct {
	at   time.Time
	kind eventKind
	s    *seqState
	idx  int
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].kind < h[j].kind
}
func (h eventHeap) Swap(i, j int)  { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *eventHeap) Push(x any)    { e := x.(*event); e.idx = len(*h); *h = append(*h, e) }
func (h *eventHeap) Pop() any      { old := *h; e := old[len(old)-1]; *h = old[:len(old)-1]; return e }
func (h *eventHeap) add(e *event)  { heap.Push(h, e) }
func (h *eventHeap) first() *event { return (*h)[0] }

// Run plays every sequence and compares as it goes.
func (r *Runner) Run(seqs []Sequence) (*Result, error) {
	res := &Result{Sequences: len(seqs)}
	r.start = time.Now()
	var q eventHeap
	nextSeq := 0
	inFlight := 0
	startOne := func(at time.Time) {
		s := &seqState{seq: &seqs[nextSeq]}
		nextSeq++
		inFlight++
		q.add(&event{at: at.Add(s.seq.Steps[0].Delay), kind: evSend, s: s})
	}
	now := time.Now()
	for nextSeq < len(seqs) && inFlight < r.opts.Concurrency {
		startOne(now.Add(time.Duration(nextSeq) * 2 * time.Millisecond))
	}
	base, err := ReadStats(r.ns.NS)
	if err != nil {
		return res, err
	}
	var lastSend time.Time
	lastProgress := time.Now()

	for q.Len() > 0 {
		ev := q.first()
		if d := time.Until(ev.at); d > 0 {
			time.Sleep(d)
		}
		if ev.kind == evSend {
			heap.Pop(&q)
			s := ev.s
			step := &s.seq.Steps[s.next]
			p := step.Packet
			if shift := r.boundaryShift(&p, time.Now()); shift > 0 {
				res.Deferred++
				q.add(&event{at: time.Now().Add(shift), kind: evSend, s: s})
				continue
			}
			v, sentAt, dropped, err := r.send(&p)
			if err != nil {
				return res, fmt.Errorf("sequence %s step %d: %w", s.seq.Name, s.next, err)
			}
			if dropped != (v.Action == track.ActionDropped) {
				s.pendingDiff = append(s.pendingDiff, fmt.Sprintf("step %d: kernel dropped the packet: %v, engine: %s (%s)", s.next+1, dropped, v.Action, v.Reason))
			}
			lastSend = sentAt
			res.Packets++
			s.tuples = append(s.tuples, packetTuples(&p)...)
			note := ""
			if step.Note != "" {
				note = step.Note + ": "
			}
			s.history = append(s.history, fmt.Sprintf("%7.3fs %s%s -> %s/%s %s", sentAt.Sub(r.start).Seconds(), note, describePacket(&p), v.State, v.Action, v.Reason))
			s.next++
			s.lastSent = sentAt
			if !s.checkDue {
				s.checkDue = true
				q.add(&event{at: r.readSlot(sentAt.Add(r.opts.CheckDelay)), kind: evCheck, s: s})
			}
			if s.next < len(s.seq.Steps) {
				q.add(&event{at: sentAt.Add(s.seq.Steps[s.next].Delay), kind: evSend, s: s})
			}
			continue
		}

		// Checks: take every check due now (and in the next few
		// milliseconds) and compare them against one reading of the table.
		horizon := time.Now().Add(5 * time.Millisecond)
		var batch []*seqState
		for q.Len() > 0 && q.first().kind == evCheck && !q.first().at.After(horizon) {
			batch = append(batch, heap.Pop(&q).(*event).s)
		}
		if len(batch) == 0 {
			continue // a send is due first
		}
		// Let looped-back packets finish PRE_ROUTING before reading.
		if d := 3*time.Millisecond - time.Since(lastSend); d > 0 {
			time.Sleep(d)
		}
		r0 := time.Now()
		kflows, err := ReadTable(r.ns.NS)
		if err != nil {
			return res, err
		}
		kstats, err := ReadStats(r.ns.NS)
		if err != nil {
			return res, err
		}
		r1 := time.Now()
		at := r0.Add(r1.Sub(r0) / 2)
		half := r1.Sub(r0)/2 + r.opts.Margin

		res.StatChecks++
		if diff := statDiff(base, kstats, EngineStats(r.engine)); diff == "" {
			res.StatAgree++
		} else if len(res.StatDiffs) < r.opts.MaxReports {
			res.StatDiffs = append(res.StatDiffs, fmt.Sprintf("at %.3fs: %s", at.Sub(r.start).Seconds(), diff))
		}

		kidx := indexFlows(kflows)
		eidx := indexFlows(r.engine.Table(at))
		for _, s := range batch {
			s.checkDue = false
			if later := r.checkShift(s, at, half); later > 0 {
				res.Deferred++
				s.checkDue = true
				q.add(&event{at: r.readSlot(time.Now().Add(later)), kind: evCheck, s: s})
				continue
			}
			res.Checkpoints++
			if r.opts.Trace {
				r.opts.Logf("%s after step %d (%s): kernel {%s} engine {%s}", s.seq.Name, s.next, s.history[len(s.history)-1],
					summaries(entriesOf(s, kidx)), summaries(entriesOf(s, eidx)))
			}
			diffs := append(s.pendingDiff, compare(s, kidx, eidx)...)
			s.pendingDiff = nil
			if len(diffs) > 0 {
				if !s.disagree && len(res.Disagreements) < r.opts.MaxReports {
					d := Disagreement{Sequence: s.seq.Name, AfterStep: s.next, Diffs: diffs, History: append([]string(nil), s.history...)}
					res.Disagreements = append(res.Disagreements, d)
					r.opts.Logf("disagreement: %s", d)
				}
				s.disagree = true
			}
			if s.next == len(s.seq.Steps) && !s.done {
				s.done = true
				inFlight--
				if !s.disagree {
					res.Agreeing++
				}
				if nextSeq < len(seqs) {
					startOne(time.Now())
				}
			}
		}
		if time.Since(lastProgress) > 30*time.Second {
			lastProgress = time.Now()
			r.opts.Logf("progress: %d/%d sequences started, %d packets, %d checkpoints, %.0fs", nextSeq, len(seqs), res.Packets, res.Checkpoints, time.Since(r.start).Seconds())
		}
	}
	time.Sleep(20 * time.Millisecond)
	final, err := ReadStats(r.ns.NS)
	if err != nil {
		return res, err
	}
	res.FinalKernel, res.FinalEngine = map[string]uint64{}, EngineStats(r.engine)
	for k := range res.FinalEngine {
		res.FinalKernel[k] = final[k] - base[k]
	}
	res.Elapsed = time.Since(r.start)
	return res, nil
}

// FinalStatsEqual reports whether the statistics ended equal, and how not.
func (r *Result) FinalStatsEqual() (bool, string) {
	d := statDiff(map[string]uint64{}, r.FinalKernel, r.FinalEngine)
	return d == "", d
}

// readSlot is the first reading time at or after t.
func (r *Runner) readSlot(t time.Time) time.Time {
	n := (t.Sub(r.start) + r.opts.ReadInterval - 1) / r.opts.ReadInterval
	return r.start.Add(n * r.opts.ReadInterval)
}

// send encodes p, sends it, and runs the same bytes through the engine.
// dropped says the kernel dropped it on the way out (sendto's EPERM).
func (r *Runner) send(p *track.Packet) (v track.Verdict, at time.Time, dropped bool, err error) {
	b, err := capture.Encode(p)
	if err != nil {
		return v, at, false, err
	}
	var q track.Packet
	if err := capture.DecodeIP(b, &q); err != nil {
		return v, at, false, fmt.Errorf("decoding our own packet: %w", err)
	}
	q.Zone, q.Mark = p.Zone, p.Mark
	t0 := time.Now()
	if err := r.sender.Send(b, p.Dst); errors.Is(err, unix.EPERM) {
		dropped = true
	} else if err != nil {
		return v, at, false, fmt.Errorf("send %s: %w", describePacket(p), err)
	}
	t1 := time.Now()
	q.Time = t0.Add(t1.Sub(t0) / 2)
	return r.engine.Process(&q), q.Time, dropped, nil
}

// boundaryShift says how long to hold a packet back so that it does not
// arrive within Margin of a moment where its fate depends on the exact
// jiffy: its entry's expiry, or the UDP 2-second stream mark.
func (r *Runner) boundaryShift(p *track.Packet, now time.Time) time.Duration {
	m := r.opts.Margin
	for _, t := range lookupTuples(p) {
		info, ok := r.engine.Lookup(t, p.Zone, now)
		if !ok {
			continue
		}
		if d := info.Expires.Sub(now); d > -m && d < m {
			return d + m
		}
		if p.Proto == track.ProtoUDP && !info.Expired && info.Flow.Status.SeenReply() {
			mark := info.Created.Add(2 * time.Second)
			if d := mark.Sub(now); d > -m && d < m {
				return d + m
			}
		}
	}
	return 0
}

// checkShift says how long to postpone a check whose entries expire too
// close to the reading.
func (r *Runner) checkShift(s *seqState, at time.Time, half time.Duration) time.Duration {
	for _, t := range s.tuples {
		info, ok := r.engine.Lookup(t, 0, at)
		if !ok {
			continue
		}
		if d := info.Expires.Sub(at); d > -half && d < half {
			return d + half
		}
	}
	return 0
}

// lookupTuples are the tuples whose entries decide p's fate.
func lookupTuples(p *track.Packet) []track.Tuple {
	if (p.Proto == track.ProtoICMP || p.Proto == track.ProtoICMPv6) && p.ICMP.Inner != nil {
		in := p.ICMP.Inner
		return []track.Tuple{{Family: p.Family, Proto: in.Proto, Src: in.Src, Dst: in.Dst, SrcPort: in.SrcPort, DstPort: in.DstPort,
			Type: in.Type, Code: in.Code, ID: in.ID}}
	}
	return packetTuples(p)
}

// packetTuples is the packet's own tuple.
func packetTuples(p *track.Packet) []track.Tuple {
	t := track.Tuple{Family: p.Family, Proto: p.Proto, Src: p.Src, Dst: p.Dst}
	switch p.Proto {
	case track.ProtoTCP, track.ProtoUDP, track.ProtoUDPLite:
		t.SrcPort, t.DstPort = p.SrcPort, p.DstPort
	case track.ProtoICMP, track.ProtoICMPv6:
		t.Type, t.Code, t.ID = p.ICMP.Type, p.ICMP.Code, p.ICMP.ID
	case track.ProtoGRE:
		if p.GRE.Version == 1 {
			t.DstKey = p.GRE.CallID
		}
	}
	return []track.Tuple{t}
}

// flowIndex finds flows by either of their tuples.
type flowIndex map[track.Tuple]*track.Flow

func indexFlows(flows []track.Flow) flowIndex {
	idx := make(flowIndex, 2*len(flows))
	for i := range flows {
		f := &flows[i]
		idx[f.Orig] = f
		idx[f.Reply] = f
	}
	return idx
}

// entriesOf collects a sequence's entries from an index, by original tuple.
func entriesOf(s *seqState, idx flowIndex) map[track.Tuple]*track.Flow {
	out := map[track.Tuple]*track.Flow{}
	for _, t := range s.tuples {
		for _, k := range []track.Tuple{t, t.Reply()} {
			if f := idx[k]; f != nil {
				out[f.Orig] = f
			}
		}
	}
	return out
}

// compare lists how the kernel's entries for a sequence differ from the
// engine's.
func compare(s *seqState, kidx, eidx flowIndex) []string {
	k, e := entriesOf(s, kidx), entriesOf(s, eidx)
	var diffs []string
	keys := map[track.Tuple]bool{}
	for t := range k {
		keys[t] = true
	}
	for t := range e {
		keys[t] = true
	}
	sorted := make([]track.Tuple, 0, len(keys))
	for t := range keys {
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	for _, t := range sorted {
		kf, ef := k[t], e[t]
		switch {
		case kf == nil:
			diffs = append(diffs, fmt.Sprintf("%s: kernel has no entry, engine has %s", t, summary(ef)))
		case ef == nil:
			diffs = append(diffs, fmt.Sprintf("%s: engine has no entry, kernel has %s", t, summary(kf)))
		default:
			if d := flowDiff(kf, ef, s.seq.RandomPorts); d != "" {
				diffs = append(diffs, fmt.Sprintf("%s: kernel %s, engine %s (%s)", t, summary(kf), summary(ef), d))
			}
		}
	}
	return diffs
}

func flowDiff(k, e *track.Flow, randomPorts bool) string {
	var d []string
	if k.StateName() != e.StateName() {
		d = append(d, "state")
	}
	if k.Unreplied() != e.Unreplied() || k.Status.Assured() != e.Status.Assured() {
		d = append(d, "flags")
	}
	if diff := int64(k.Timeout) - int64(e.Timeout); diff > 1 || diff < -1 {
		d = append(d, "timeout")
	}
	if k.Mark != e.Mark || k.Zone != e.Zone {
		d = append(d, "mark/zone")
	}
	kr, er := k.Reply, e.Reply
	if randomPorts && kr.DstPort != k.Orig.SrcPort && er.DstPort != e.Orig.SrcPort {
		kr.DstPort, er.DstPort = 0, 0 // both remapped, to a port of their choice
	}
	if kr != er {
		d = append(d, "reply tuple")
	}
	if k.Fields.Has(track.FieldOrigCounters) && (k.OrigCounters != e.OrigCounters || k.ReplyCounters != e.ReplyCounters) {
		d = append(d, "counters")
	}
	return strings.Join(d, ", ")
}

func summaries(m map[track.Tuple]*track.Flow) string {
	var out []string
	for t, f := range m {
		out = append(out, t.String()+" "+summary(f))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func summary(f *track.Flow) string {
	var b []string
	if st := f.StateName(); st != "" {
		b = append(b, st)
	}
	b = append(b, fmt.Sprint(f.Timeout))
	if f.Unreplied() {
		b = append(b, "[UNREPLIED]")
	}
	if f.Status.Assured() {
		b = append(b, "[ASSURED]")
	}
	if f.Orig.Reply() != f.Reply {
		b = append(b, "reply="+f.Reply.String())
	}
	if f.Mark != 0 || f.Zone != 0 {
		b = append(b, fmt.Sprintf("mark=%d zone=%d", f.Mark, f.Zone))
	}
	if f.Fields.Has(track.FieldOrigCounters) {
		b = append(b, fmt.Sprintf("packets=%d/%d bytes=%d/%d", f.OrigCounters.Packets, f.ReplyCounters.Packets, f.OrigCounters.Bytes, f.ReplyCounters.Bytes))
	}
	return strings.Join(b, " ")
}

// statDiff compares the kernel's statistics, counted from base, with the
// engine's.
func statDiff(base, k, e map[string]uint64) string {
	var d []string
	for _, name := range []string{"invalid", "drop", "early_drop", "icmp_error", "insert_failed", "found"} {
		if kd := k[name] - base[name]; kd != e[name] {
			d = append(d, fmt.Sprintf("%s %d in the kernel, %d in the engine", name, kd, e[name]))
		}
	}
	return strings.Join(d, "; ")
}

// describePacket renders a packet like tcpdump's one-liners.
func describePacket(p *track.Packet) string {
	ends := func(a netip.Addr, port uint16) string {
		if p.Proto == track.ProtoTCP || p.Proto == track.ProtoUDP || p.Proto == track.ProtoUDPLite {
			return netip.AddrPortFrom(a, port).String()
		}
		return a.String()
	}
	s := fmt.Sprintf("%s %s > %s", p.Proto, ends(p.Src, p.SrcPort), ends(p.Dst, p.DstPort))
	switch p.Proto {
	case track.ProtoTCP:
		th := &p.TCP
		s += fmt.Sprintf(" [%s] seq=%d ack=%d win=%d len=%d", th.Flags, th.Seq, th.Ack, th.Window, p.L4Length-int(th.DataOffset)*4)
		if o := th.Options; o.Present {
			s += fmt.Sprintf(" opts(ws=%v/%d sackok=%v sack=%d)", o.HasWScale, o.WScale, o.SACKPerm, o.SACK)
		}
	case track.ProtoUDP, track.ProtoUDPLite:
		s += fmt.Sprintf(" len=%d ulen=%d csum=%d", p.L4Length, p.UDP.Length, p.UDP.Checksum)
	case track.ProtoICMP, track.ProtoICMPv6:
		s += fmt.Sprintf(" type=%d code=%d id=%d", p.ICMP.Type, p.ICMP.Code, p.ICMP.ID)
		if in := p.ICMP.Inner; in != nil {
			s += fmt.Sprintf(" about %s %s:%d > %s:%d", in.Proto, in.Src, in.SrcPort, in.Dst, in.DstPort)
		}
	case track.ProtoGRE:
		s += fmt.Sprintf(" v%d ppp=%v call=%d", p.GRE.Version, p.GRE.PPP, p.GRE.CallID)
	}
	if p.Zone != 0 || p.Mark != 0 {
		s += fmt.Sprintf(" zone=%d mark=%d", p.Zone, p.Mark)
	}
	return s
}
