// Package filter selects conntrack entries the way `conntrack -L` options
// do: -p, -s, -d, -r, -q (addresses or CIDRs), --sport, --dport, --state,
// -u/--status (with "!" negation and UNREPLIED), -m mark[/mask], -w zone,
// -f family, --src-nat, --dst-nat, --any-nat and -l labels.
//
// A Filter is a pure predicate over track.Flow. It is built from
// command-line flags (Register adds them to a pflag.FlagSet, so the CLI and
// the TUI's filter prompt share one definition) or from a string.
//
// filter depends only on track and pflag; it must not import parser,
// collector, analyzer or tui.
package filter
