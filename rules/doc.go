// Package rules is ctdiag's catalog of conntrack trouble patterns: for each,
// a stable id, a title, a default severity, tunable thresholds (each default
// explained), what the pattern means on the wire, remedies as templates with
// exact commands and sysctls, and references. It also holds the user's
// overrides (a YAML file, --set RULE.PARAM=VALUE).
//
// rules evaluates nothing: the analyzer decides when a rule fires and fills
// the remedy templates with figures computed from the table. It must not
// import parser, collector, analyzer or tui.
package rules
