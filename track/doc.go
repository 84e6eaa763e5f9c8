// Package track is ctdiag's model of the Linux connection tracking table.
//
// It owns the value types every other package speaks: Tuple (one direction of
// a connection), Flow (a table entry with both tuples, protocol state, timeout,
// status bits and optional extensions), the protocol state names (TCPState,
// SCTPState, DCCPState), Status (the kernel's IPS_* bitset), Stats (per-CPU
// counters by name), Event (a ctnetlink event) and Snapshot (one reading of a
// table with its statistics, sysctls and kernel-log lines), and the seam
// between what reads samples and what takes them (SampleSink and the optional
// SampleCounter, EventSink and SysctlHinter): a reader's consumers import
// track, not the reader.
//
// Names and numbers follow the kernel (include/uapi/linux/netfilter/*.h) and
// docs/KERNEL.md §1.1, §3 and §5.
//
// track does no I/O and never reads the clock: time is always an argument.
// It must not import parser, collector, analyzer, rules or tui.
package track
