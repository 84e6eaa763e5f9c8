package report

import (
	"strings"

	"github.com/ctdiag/ctdiag/analyzer"
)

// Commands returns a remedy's command lines as the text report prints them
// (after "$ "): its commands, then the lines of its note that are commands
// to type elsewhere. Exactly what a person pastes; the terminal UI's copy
// key copies the same lines.
func Commands(r analyzer.Remedy) []string {
	out := append([]string(nil), r.Commands...)
	for _, blk := range remedyBlocks(strings.TrimSpace(r.Note)) {
		if blk.command {
			out = append(out, blk.text)
		}
	}
	return out
}

// IsCommand reports whether a line of a remedy's note is a command the
// reports print as one (the rest is prose).
func IsCommand(line string) bool { return looksLikeCommand(line) }
