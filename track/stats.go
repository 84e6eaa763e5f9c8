package track

// Counter names one per-CPU conntrack statistic.
type Counter uint8

// Per-CPU statistics, named as ctnetlink and `conntrack -S` name them. The
// /proc/net/stat/nf_conntrack header uses other names for some (clashres,
// chainlength, icmp_error) and old kernels had columns newer ones dropped or
// always print as 0 (searched, new, ignore, delete, delete_list); see docs/KERNEL.md §5.2.
const (
	CounterFound Counter = iota
	CounterInvalid
	CounterIgnore
	CounterInsert
	CounterInsertFailed
	CounterDrop
	CounterEarlyDrop
	CounterError // ICMP/ICMPv6 error-path failures ("icmp_error" in /proc)
	CounterSearchRestart
	CounterClashResolve // "clashres" in /proc
	CounterChainTooLong // "chainlength" in /proc
	CounterSearched     // pre-5.x kernels: hash chain entries searched
	CounterNew
	CounterDelete
	CounterDeleteList
	CounterExpectNew
	CounterExpectCreate
	CounterExpectDelete
	NumCounters
)

var counterNames = [NumCounters]string{
	"found", "invalid", "ignore", "insert", "insert_failed", "drop",
	"early_drop", "error", "search_restart", "clash_resolve", "chaintoolong",
	"searched", "new", "delete", "delete_list", "expect_new", "expect_create",
	"expect_delete",
}

// counterAliases maps the /proc/net/stat/nf_conntrack header names that
// differ from the netlink names.
var counterAliases = map[string]Counter{
	"icmp_error":  CounterError,
	"clashres":    CounterClashResolve,
	"chainlength": CounterChainTooLong,
}

// String is the netlink / conntrack -S name.
func (c Counter) String() string {
	if c < NumCounters {
		return counterNames[c]
	}
	return "counter?"
}

// ParseCounter accepts the netlink names and the /proc header names.
func ParseCounter(name string) (Counter, bool) {
	for i, n := range counterNames {
		if n == name {
			return Counter(i), true
		}
	}
	c, ok := counterAliases[name]
	return c, ok
}

// CounterSet is a set of Counters.
type CounterSet uint32

// Has reports whether c is in the set.
func (s CounterSet) Has(c Counter) bool { return s&(1<<c) != 0 }

// CPUStats holds one CPU's counters and which of them the source reported.
type CPUStats struct {
	CPU     int
	Values  [NumCounters]uint64
	Present CounterSet
}

// Set stores a counter's value and marks it present.
func (c *CPUStats) Set(k Counter, v uint64) {
	c.Values[k] = v
	c.Present |= 1 << k
}

// Get returns a counter and whether the source reported it.
func (c *CPUStats) Get(k Counter) (uint64, bool) {
	return c.Values[k], c.Present.Has(k)
}

// Stats is the per-CPU statistics of one network namespace at one time.
type Stats struct {
	CPUs []CPUStats
}

// Total sums a counter over all CPUs.
func (s *Stats) Total(k Counter) uint64 {
	var t uint64
	for i := range s.CPUs {
		t += s.CPUs[i].Values[k]
	}
	return t
}

// Has reports whether any CPU reported counter k; a kernel without
// clash_resolve, for instance, reports it nowhere.
func (s *Stats) Has(k Counter) bool {
	for i := range s.CPUs {
		if s.CPUs[i].Present.Has(k) {
			return true
		}
	}
	return false
}

// CPU returns the entry for cpu, adding it (in CPU order) if it is missing.
func (s *Stats) CPU(cpu int) *CPUStats {
	for i := range s.CPUs {
		if s.CPUs[i].CPU == cpu {
			return &s.CPUs[i]
		}
	}
	i := len(s.CPUs)
	for i > 0 && s.CPUs[i-1].CPU > cpu {
		i--
	}
	s.CPUs = append(s.CPUs, CPUStats{})
	copy(s.CPUs[i+1:], s.CPUs[i:])
	s.CPUs[i] = CPUStats{CPU: cpu}
	return &s.CPUs[i]
}

// Merge sets the counters c reported on its CPU, keeping the others.
func (s *Stats) Merge(c CPUStats) {
	dst := s.CPU(c.CPU)
	for k := Counter(0); k < NumCounters; k++ {
		if v, ok := c.Get(k); ok {
			dst.Set(k, v)
		}
	}
}
