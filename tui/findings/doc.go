// Package findings is the TUI pane that lists the analyzer's findings,
// worst first, and opens one with its explanation, evidence and remedies
// (whose commands can be copied: the lines ctdiag report prints as
// commands, report.Commands).
//
// findings depends on tui/common, analyzer, rules and report. It does no I/O (the
// root puts copied text on the clipboard) and must not import the root tui
// package.
package findings
