package track

import (
	"strconv"
	"strings"
	"time"
)

// SourceKind says where a snapshot came from.
type SourceKind uint8

// Kinds of sources.
const (
	SourceUnknown SourceKind = iota
	SourceFile               // a captured text dump or bundle
	SourceNetlink            // live ctnetlink
	SourceProcfs             // live /proc files
	SourceEngine             // ctdiag's reference engine (a replayed capture)
)

func (k SourceKind) String() string {
	switch k {
	case SourceFile:
		return "file"
	case SourceNetlink:
		return "netlink"
	case SourceProcfs:
		return "procfs"
	case SourceEngine:
		return "engine"
	}
	return "unknown"
}

// Source describes where a snapshot's data came from.
type Source struct {
	Kind   SourceKind
	Name   string // file path, "-" for stdin, or a description of the live source
	Format string // detected text format, when read from text
	Host   string
	Kernel string
	Netns  string
}

// Sysctls holds sysctl values by their dotted name
// ("net.netfilter.nf_conntrack_max"), as `sysctl -a` prints them. Use Set
// and LayerSysctls to write them: a name is stored under one spelling, so
// which value wins never depends on how a name was spelled.
type Sysctls map[string]string

// netfilterPrefix is where conntrack's per-netns sysctls live.
const netfilterPrefix = "net.netfilter."

// SysctlKey is a sysctl's one spelling: its full dotted name; a bare name
// ("nf_conntrack_max", as command-line flags take it) is conntrack's, under
// net.netfilter.
func SysctlKey(name string) string {
	if !strings.Contains(name, ".") {
		return netfilterPrefix + name
	}
	return name
}

// Set stores a value under the name's one spelling.
func (s Sysctls) Set(name, value string) { s[SysctlKey(name)] = value }

// LayerSysctls merges sysctls, a later layer's value winning over an
// earlier one's for the same sysctl, however each spelled it. ctdiag layers
// them in one order everywhere: the kernel's defaults, then values found
// elsewhere in the inputs (a capture's sysctl file read for every sample),
// then a sample's own, then what the command line says (--sysctl).
func LayerSysctls(layers ...Sysctls) Sysctls {
	out := Sysctls{}
	for _, l := range layers {
		for k, v := range l {
			out.Set(k, v)
		}
	}
	return out
}

// Get returns a value by full dotted name, or by the bare name under
// net.netfilter ("nf_conntrack_max").
func (s Sysctls) Get(name string) (string, bool) {
	if v, ok := s[SysctlKey(name)]; ok {
		return v, true
	}
	v, ok := s[name] // a map built by hand with a bare name
	return v, ok
}

// Int returns a value as an integer; ok is false if absent or not a number.
func (s Sysctls) Int(name string) (int64, bool) {
	v, ok := s.Get(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

// KernelLogKind classifies a kernel-log line about conntrack (docs/KERNEL.md §4.4).
type KernelLogKind uint8

// Kernel-log line kinds.
const (
	KernelLogOther           KernelLogKind = iota // any other line mentioning conntrack
	KernelLogTableFull                            // "table full, dropping packet" (init netns or "in netns N")
	KernelLogExpectTableFull                      // "expectation table full"
	KernelLogRateLimited                          // "net_ratelimit: N callbacks suppressed"
	KernelLogAteMyIP                              // MASQUERADE: "<if> ate my IP address"
	KernelLogInvalid                              // nf_ct_proto_N: ... (nf_conntrack_log_invalid)
)

func (k KernelLogKind) String() string {
	switch k {
	case KernelLogTableFull:
		return "table-full"
	case KernelLogExpectTableFull:
		return "expect-table-full"
	case KernelLogRateLimited:
		return "ratelimited"
	case KernelLogAteMyIP:
		return "ate-my-ip"
	case KernelLogInvalid:
		return "invalid-packet"
	}
	return "other"
}

// KernelLogLine is one kernel-log line relevant to conntrack.
type KernelLogLine struct {
	Kind KernelLogKind
	Raw  string // the line as read, for writing it back unchanged
	Text string // the message without timestamp or syslog prefix

	// Since is the time since boot from a dmesg "[  12.345678]" stamp or
	// /dev/kmsg; HasSince says whether the line had one.
	Since    time.Duration
	HasSince bool
	// Time is the wall-clock time when the source gave one (journalctl,
	// dmesg -T); zero otherwise.
	Time time.Time

	Netns      uint64 // "table full in netns N": the netns inode number
	Suppressed int    // "net_ratelimit: N callbacks suppressed"
}

// Snapshot is one reading of a conntrack table with what was read alongside.
type Snapshot struct {
	Time   time.Time
	Source Source

	// HasTable says the table's entries were read for this snapshot (there
	// may be none); a snapshot of statistics, events or logs alone has no
	// table, and nothing can be said about entries from it.
	HasTable bool
	Flows    []Flow
	Stats    Stats

	// Count is nf_conntrack_count (the netns's entries, which may include
	// entries /proc does not list yet or any more); Max is nf_conntrack_max.
	Count, Max       uint64
	HasCount, HasMax bool

	Sysctls Sysctls
	// KernelLog holds the first MaxKernelLogLines conntrack lines of the
	// kernel log; KernelLogTally counts all of them (AddKernelLog keeps both).
	KernelLog      []KernelLogLine
	KernelLogTally KernelLogTally
	// Events holds the latest events (at most 2×MaxEvents, AddEvent);
	// EventTotals counts all of them.
	Events []Event

	// Slab is the kernel's nf_conntrack slab cache (/proc/slabinfo): the
	// memory one entry takes. HasSlab is false when it was not readable.
	Slab    Slab
	HasSlab bool
	// EventLosses lists the times an event reader lost events (the kernel's
	// socket buffer overran) during the sample.
	EventLosses []EventLoss
	// EventTotals counts the entries events said were created and
	// destroyed over the sample's interval, when events were followed
	// (Events may then hold only the latest of them).
	EventTotals EventTotals

	// MemTotal is the machine's RAM in bytes (/proc/meminfo MemTotal), when
	// the source could read it; zero when unknown.
	MemTotal uint64

	// Ruleset is the namespace's firewall ruleset read with the sample
	// (nil when it was not read); see ruleset.go.
	Ruleset *Ruleset
}

// Merge adds what src holds (statistics, count, max, sysctls, kernel log,
// events and their losses, flows, memory figures, the ruleset) to s;
// values in src win.
func (s *Snapshot) Merge(src *Snapshot) {
	for _, c := range src.Stats.CPUs {
		s.Stats.Merge(c)
	}
	s.HasTable = s.HasTable || src.HasTable
	if src.HasCount {
		s.Count, s.HasCount = src.Count, true
	}
	if src.HasMax {
		s.Max, s.HasMax = src.Max, true
	}
	if len(src.Sysctls) > 0 {
		s.Sysctls = LayerSysctls(s.Sysctls, src.Sysctls)
	}
	s.KernelLogTally = s.KernelLogCounts()
	s.KernelLogTally.add(src.KernelLogCounts())
	if room := MaxKernelLogLines - len(s.KernelLog); room > 0 {
		s.KernelLog = append(s.KernelLog, src.KernelLog[:min(room, len(src.KernelLog))]...)
	}
	for i := range src.Events {
		s.keepEvent(&src.Events[i])
	}
	s.EventLosses = append(s.EventLosses, src.EventLosses...)
	s.EventTotals.Add(src.EventTotals)
	s.Flows = append(s.Flows, src.Flows...)
	if src.HasSlab {
		s.Slab, s.HasSlab = src.Slab, true
	}
	if src.MemTotal != 0 {
		s.MemTotal = src.MemTotal
	}
	s.Ruleset = MergeRulesets(s.Ruleset, src.Ruleset)
}

// MaxKernelLogLines is how many kernel-log lines a Snapshot keeps verbatim;
// a log of any length is counted whole in its KernelLogTally.
const MaxKernelLogLines = 10000

// maxTallyNetns bounds the namespaces a KernelLogTally tells apart.
const maxTallyNetns = 64

// KernelLogTally counts kernel-log lines about conntrack by kind, however
// many were read.
type KernelLogTally struct {
	Lines int // conntrack lines, kept in KernelLog or not
	// Kinds counts them by KernelLogKind.
	Kinds [KernelLogInvalid + 1]int
	// TableFullNetns counts "table full" lines by the namespace they name
	// (0: the initial one, which names none), for up to 64 namespaces;
	// TableFullOtherNetns counts the lines of any further ones.
	TableFullNetns      map[uint64]int
	TableFullOtherNetns int
}

// Count adds one line.
func (t *KernelLogTally) Count(l *KernelLogLine) {
	t.Lines++
	if int(l.Kind) < len(t.Kinds) {
		t.Kinds[l.Kind]++
	}
	if l.Kind == KernelLogTableFull {
		t.countNetns(l.Netns, 1)
	}
}

func (t *KernelLogTally) countNetns(netns uint64, n int) {
	if _, ok := t.TableFullNetns[netns]; !ok && len(t.TableFullNetns) >= maxTallyNetns {
		t.TableFullOtherNetns += n
		return
	}
	if t.TableFullNetns == nil {
		t.TableFullNetns = map[uint64]int{}
	}
	t.TableFullNetns[netns] += n
}

func (t *KernelLogTally) add(o KernelLogTally) {
	t.Lines += o.Lines
	for k, n := range o.Kinds {
		t.Kinds[k] += n
	}
	for ns, n := range o.TableFullNetns {
		t.countNetns(ns, n)
	}
	t.TableFullOtherNetns += o.TableFullOtherNetns
}

// AddKernelLog counts l and keeps it if fewer than MaxKernelLogLines are.
func (s *Snapshot) AddKernelLog(l KernelLogLine) {
	if s.KernelLogTally.Lines < len(s.KernelLog) {
		s.KernelLogTally = s.KernelLogCounts()
	}
	s.KernelLogTally.Count(&l)
	if len(s.KernelLog) < MaxKernelLogLines {
		s.KernelLog = append(s.KernelLog, l)
	}
}

// KernelLogCounts counts the snapshot's kernel-log lines: its tally, or,
// when KernelLog was filled without AddKernelLog, the lines it holds.
func (s *Snapshot) KernelLogCounts() KernelLogTally {
	if s.KernelLogTally.Lines >= len(s.KernelLog) {
		return s.KernelLogTally
	}
	var t KernelLogTally
	for i := range s.KernelLog {
		t.Count(&s.KernelLog[i])
	}
	return t
}

// MaxEvents is how many of the latest events a Snapshot is sure to keep
// (it may hold up to twice as many); EventTotals counts all.
const MaxEvents = 4096

// AddEvent counts e in EventTotals and keeps it among the latest events.
func (s *Snapshot) AddEvent(e *Event) {
	s.EventTotals.Count(e.Type)
	s.keepEvent(e)
}

// keepEvent appends e, dropping the oldest half when 2×MaxEvents are held:
// amortised, each event is copied at most twice.
func (s *Snapshot) keepEvent(e *Event) {
	if len(s.Events) >= 2*MaxEvents {
		n := copy(s.Events, s.Events[len(s.Events)-MaxEvents:])
		clear(s.Events[n:])
		s.Events = s.Events[:n]
	}
	s.Events = append(s.Events, *e)
}

// Slab is one /proc/slabinfo line: ObjSize bytes per object, ActiveObjs in
// use out of NumObjs allocated.
type Slab struct {
	Raw                      string // the line as read, for writing it back unchanged
	Name                     string
	ActiveObjs, NumObjs      uint64
	ObjSize                  uint64
	ObjPerSlab, PagesPerSlab uint64
}

// EventTotals counts NEW and DESTROY events. Followed says events were
// followed at all: a quiet interval then counts zero, where without
// events nothing is known.
type EventTotals struct {
	Followed           bool
	Created, Destroyed int
}

// Count adds one event.
func (t *EventTotals) Count(typ EventType) {
	t.Followed = true
	switch typ {
	case EventNew:
		t.Created++
	case EventDestroy:
		t.Destroyed++
	}
}

// Add adds o's counts, if o followed events.
func (t *EventTotals) Add(o EventTotals) {
	if !o.Followed {
		return
	}
	t.Followed = true
	t.Created += o.Created
	t.Destroyed += o.Destroyed
}

// EventLoss is one overrun of an event reader: the kernel could not queue
// events for it (ENOBUFS), so an unknown number were lost at Time. The
// reader then re-read the table (Resynced entries) to know the state again.
type EventLoss struct {
	Time time.Time
	// Resynced is the number of entries in the dump that followed; -1 when
	// that dump failed.
	Resynced int
	// Total counts the overruns of this reader so far, this one included.
	Total int
}
