// Package common holds what the TUI's panes share: the component interface,
// the frame of data a refresh produces, the key map and styles (built by
// constructors), and formatting helpers. It is soft-serve's pkg/ui/common
// in shape.
//
// common depends on track, analyzer, rules and tui/flowtable. It must not
// import the root tui package or any pane, and does no I/O.
package common
