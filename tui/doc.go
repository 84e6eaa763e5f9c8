// Package tui is ctdiag's terminal UI: a thin root model composing one
// model per pane (tui/overview, tui/states, tui/findings, tui/talkers,
// tui/flows, and tui/header on top), fed by a Source.
//
// A Source yields successive samples of one conntrack table: Replay steps
// through captured files (play, pause, next and previous sample, speed),
// and the live collector plugs in through the same interface. Reading a
// sample, analysing it and ranking or sorting a million entries run in
// tea.Cmds off the UI goroutine and arrive as typed messages; Update only
// moves state. Keymaps and styles are built by constructors (tui/common);
// there are no package globals.
//
// tui depends on analyzer, parser, track, filter, rules, report (for a
// remedy's command lines) and its own sub-packages. It must not import collector (the collector implements
// Source; cmd/ctdiag wires them) and never changes kernel state.
package tui
