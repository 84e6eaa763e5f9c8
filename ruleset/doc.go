// Package ruleset reads firewall rulesets, read-only, into track.Ruleset:
// live from a network namespace (nftables over netlink, which shows the
// rules nft and iptables-nft wrote, and iptables-legacy-save -c run in the
// namespace when legacy x_tables tables exist there), and from files:
// iptables-save [-c] and ip6tables-save output, nft list ruleset, nft -j
// list ruleset, and ctdiag's own JSON (ctdiag ruleset -o json, the member
// ctdiag record writes per sample).
//
// It owns the formats (detection, parsing, the JSON writer), the decoding
// of nftables netlink messages (native expressions and the x_tables
// match/target structures iptables-nft leaves in the kernel), and the
// picture of conntrack-relevant rules each of them becomes. Whatever is not
// decoded is counted (track.Ruleset.Unknown, Rule.Partial) and kept in the
// rule's text, never dropped silently; a malformed line is a Problem with
// its line number and what was expected.
//
// ruleset never changes a rule or any other kernel state: every netlink
// request passes Check (get and dump requests of the nftables subsystem
// only), and the only program it runs is iptables-legacy-save (and
// ip6tables-legacy-save). It decides nothing about what is wrong: that is
// the analyzer's. It imports track only (and google/nftables for the
// expression types); it must not import parser, collector, analyzer or the
// TUI.
package ruleset
