// Package exporter is ctdiag's Prometheus exporter: it owns the HTTP
// endpoint (/metrics, /findings, /healthz), an in-memory model of each
// watched namespace's conntrack table, and the schedule on which the rule
// catalog is evaluated over it.
//
// Per network namespace, a watcher subscribes to the conntrack events
// (collector.Collector.Events, with its overrun handling and resync) and
// applies them to a Model; it re-reads the whole table periodically
// (a streamed dump, applied as a Resync) so the model cannot drift; it reads
// the count, max and per-CPU statistics every read interval; and every
// evaluation interval it streams the model's entries, with the statistics,
// sysctls and kernel-log lines of that moment, as one sample into the
// analyzer. Every figure a scrape serves comes from a snapshot the watcher
// keeps: a scrape never dumps the table, never reads the kernel and never
// waits for the model.
//
// Labels carry namespace names, protocols, states, flags, rule ids and
// severities only: never addresses, ports or tuples. --top-netns bounds the
// namespaces that get their own label; the rest are summed as
// netns="other".
//
// exporter imports collector (the live source), analyzer (the rules, and
// analyzer.PressureOf for headroom and time to full), report (the /findings
// document and the metric vocabulary shared with report -o prometheus),
// rules and track, and github.com/prometheus/client_golang. It must not
// import tui, parser (beyond what those packages use) or internal/testkit/ctfill,
// and it never writes to the kernel.
package exporter
