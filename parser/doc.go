// Package parser reads and writes every text form of conntrack data:
// /proc/net/nf_conntrack (and the old ip_conntrack), conntrack -L with any
// of -o extended,id,ktimestamp,labels, conntrack -E events,
// /proc/net/stat/nf_conntrack, conntrack -S and -C, sysctl -a and
// /proc/sys files (the old ip_conntrack names too), kernel logs, expectation
// tables, and ctdiag's JSON and JSON Lines; also as people paste them
// (indented, behind a syslog header or a selftest's "# ", wrapped, with a
// router kernel's vendor fields).
//
// A Decoder detects an input's format from its content (gzip transparently),
// streams its records without holding the input in memory, and counts every
// malformed line with its file, line and what was expected. What it cannot
// believe is a format (binary data, lines that only look like records) it
// refuses with the reason; an over-long line or a cut gzip is a problem
// reported like a malformed line, never the end of the reading. Large flow dumps
// are parsed in parallel. Writers print flows back so that a kernel dump
// round-trips byte for byte (see docs/ARCHITECTURE.md).
//
// parser depends on track, and on ruleset for firewall rulesets (detected
// like every other format, read by package ruleset into Snapshot.Ruleset). It must not know about netlink, the live
// collector, the analyzer or the TUI.
package parser
