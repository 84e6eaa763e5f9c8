// Package header draws the three lines at the top of the TUI: where the
// data comes from, how full the table is, and what is moving.
//
// header depends on tui/common only. It does no I/O and must not import the
// root tui package.
package header
