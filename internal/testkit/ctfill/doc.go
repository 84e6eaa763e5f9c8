// Package ctfill fills a conntrack table fast, for kernel tests and
// benchmarks: it creates deterministic entries over ctnetlink in batches
// (hundreds per sendmsg, no acknowledgement per entry), which is the only
// practical way to reach 200,000 or 1,000,000 entries in seconds.
//
// It changes kernel state, so it lives under internal/ and only tests,
// benchmark scripts and internal/cmd/ctfill may import it; ctdiag itself
// must not (the collector's read-only guard test checks that no production
// package does). Use it only in a network namespace made for the purpose.
// It imports track, mdlayher/netlink and x/sys.
package ctfill
