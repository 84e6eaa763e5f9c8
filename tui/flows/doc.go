// Package flows is the TUI pane that lists the table's entries: a
// virtualised list (only the rows on screen are rebuilt from the compact
// table), sortable by any column, filtered with the options of `ctdiag
// list` typed at a / prompt, and a detail view of one entry.
//
// flows depends on tui/common, tui/flowtable, filter, parser and track.
// Filtering and sorting a million entries runs in tea.Cmds, never in
// Update; it does no I/O and must not import the root tui package.
package flows
