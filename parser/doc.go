// Package parser reads and writes every text form of conntrack data:
// /proc/net/nf_conntrack (and the old ip_conntrack), conntrack -L with any
// of -o extended,id,ktimestamp,labels, conntrack -E events,
// /proc/net/stat/nf_conntrack, conntrack -S and -C, sysctl -a and
// /proc/sys files, kernel logs, and ctdiag's JSON and JSON Lines.
//
// A Decoder detects an input's format from its content (gzip transparently),
// streams its records without holding the input in memory, and counts every
// malformed line with its file, line and what was expected. Large flow dumps
// are parsed in parallel. Writers print flows back so that a kernel dump
// round-trips byte for byte (see docs/ARCHITECTURE.md).
//
// parser depends on track, and on ruleset for firewall rulesets (detected
// like every other format, read by package ruleset into Snapshot.Ruleset). It must not know about netlink, the live
// collector, the analyzer or the TUI.
package parser
