// Package filter selects conntrack entries the way `conntrack -L` options
// do, with conntrack's names, spellings and semantics: -p (a name, an
// /etc/protocols name or a number), -f, -s/-d (addresses, CIDRs, or with
// --mask-src/--mask-dst any mask), -r/-q, the ports and ICMP keys, --state,
// -u/--status (with "!" negation, UNREPLIED and conntrack's abbreviations),
// -m mark[/mask], -w/--orig-zone/--reply-zone, --src-nat/--dst-nat/--any-nat
// with their optional ADDR[:PORT], and -l labels. It also reads -e event
// masks.
//
// A Filter is a pure predicate over track.Flow. It is built from
// command-line flags (Register adds them to a pflag.FlagSet) or from one
// string (ParseString, the only tokenizer: the CLI's --filter and the TUI's
// filter prompt both use it, so they accept the same text). Judge answers
// for entries whose source shows only some status bits (text dumps):
// Unknown is not No.
//
// filter depends only on track and pflag; it must not import parser,
// collector, analyzer or tui, and does no I/O (the /etc/protocols names it
// knows are built in).
package filter
