package report

// Commands returns a remedy's command lines as the text and Markdown
// reports print them (after "$ " in text, in a code block in Markdown):
// exactly what a person pastes. The terminal UI copies the same lines.
func Commands(remedyText string) []string {
	var out []string
	for _, blk := range remedyBlocks(remedyText) {
		if blk.command {
			out = append(out, blk.text)
		}
	}
	return out
}

// IsCommand reports whether a line of a remedy is a command the reports
// print as one (the rest is prose).
func IsCommand(line string) bool { return looksLikeCommand(line) }
