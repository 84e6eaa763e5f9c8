// Package ruleset is the TUI pane that shows the firewall ruleset read
// with the sample: the hooks in the order a packet meets them, each with
// its base chains by priority and conntrack's own place, the rules that
// concern conntrack with their counters and how they moved since the
// previous reading, and which findings point at which rule. Enter opens a
// rule: its whole text, its place, and what the findings say of it.
//
// ruleset depends on tui/common and track (the outline is made by the
// refresh pipeline, off the UI goroutine). It must not import the root tui
// package or another pane, and does no I/O.
package ruleset
