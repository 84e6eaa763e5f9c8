// Package kerneldiff is the harness that checks ctdiag's reference
// conntrack engine (track.Engine) against the real kernel.
//
// It crafts IPv4 and IPv6 TCP, UDP, UDPLITE, ICMP, GRE and generic packets
// (capture.Encode), sends them on raw sockets inside a network namespace the test
// created (Sender), where conntrack is switched on by an nft ct rule and an
// input drop keeps the local stack from answering (docs/KERNEL.md §9). The same
// bytes, decoded by package capture, go through an engine configured like
// the namespace. A Runner plays many packet sequences concurrently on
// distinct tuples in real time and compares, at checkpoints, each
// sequence's entries in /proc/net/nf_conntrack (read inside the namespace
// and parsed by package parser) with the engine's: state, flags, timeout
// (±1 s), tuples, counters, and the statistics.
//
// Sequences come from scripted scenarios and from a seeded random
// generator (Generator).
//
// Only tests import kerneldiff. It imports track, capture, parser and
// internal/testkit/netnstest.
package kerneldiff
