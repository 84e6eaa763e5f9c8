// Package collector reads conntrack from the running kernel: the table,
// per-CPU statistics, count and max, expectation statistics, events, the
// conntrack sysctls, conntrack's kernel-log lines and the memory one entry
// takes, in the caller's network namespace or another one.
//
// The table, statistics and events come over ctnetlink (decoded by
// collector/netlinkct, streamed: a dump is never held whole). When netlink
// is not usable (no CAP_NET_ADMIN, ctnetlink not built) the collector falls
// back to the /proc files, read under a configurable proc root so a copied
// /proc tree replays; it always says which source it used and why.
// Expectations are decoded with github.com/ti-mo/conntrack.
//
// collector never changes kernel state: every netlink request passes
// netlinkct.Check (get, dump, statistics, subscribe only), sysctls are only
// opened for reading, and tests guard both. It decides nothing about what is
// wrong (that is the analyzer's). It imports track, parser (for the text
// formats of /proc and of record bundles), filter (to hand the kernel the
// part of a filter it can apply), netlinkct, and ruleset (a record bundle
// carries each sample's firewall ruleset); it must not import
// analyzer, rules, the TUI or the CLI, nor internal/testkit/ctfill (which writes).
package collector
