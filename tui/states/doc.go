// Package states is the TUI pane that counts entries by protocol state,
// with each state's share, its history over the session as a sparkline, and
// the [UNREPLIED] / half-assured / [ASSURED] split.
//
// states depends on tui/common and track. It does no I/O and must not import
// the root tui package.
package states
