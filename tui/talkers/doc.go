// Package talkers is the TUI pane that ranks who holds the table's entries:
// by source, destination, destination port, and state × peer, with shares.
// Enter lists a key's entries in the flows pane.
//
// talkers depends on tui/common and tui/flowtable. Rankings are computed in
// tea.Cmds (a million entries take tens of milliseconds), never in Update;
// it must not import the root tui package.
package talkers
