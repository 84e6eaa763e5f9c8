// Package overview is the TUI pane with the whole picture in figures: the
// source, the table's pressure, every statistics counter with its rate, the
// timeouts in force and what the analysis could not judge.
//
// overview depends on tui/common, analyzer and track. It does no I/O and
// must not import the root tui package.
package overview
