package flows

import (
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/tui/common"
)

// TestFilterPromptIsTheCLIFilter: the / prompt reads a filter with
// filter.ParseString, the CLI's one tokenizer, and nothing else: it refuses
// exactly what ParseString refuses, with ParseString's words, and keeps
// exactly what it accepts (cmd/ctdiag checks ParseString against the CLI).
func TestFilterPromptIsTheCLIFilter(t *testing.T) {
	m := New(common.Common{Styles: common.NewStyles(lipgloss.DefaultRenderer()), Keys: common.NewKeyMap(true)})
	for _, text := range []string{
		"", "-p tcp --dport 443", "-u SEEN_REPLY,'!ASSURED'", `-u "SEEN_REPLY,!ASSURED" -s 10.0.0.0/8`,
		"--dst-nat 3.3.3.3", "-g3.3.3.3", "--orig-src 10.0.0.1", "--protonum 17", "-p esp", "-m +16", "-w 0xa",
		"-p icmp --icmp-id 5", "-s 10.0.0.0 --mask-src 255.0.0.255", "-u seen", `-l a\ b`,
		"-p tcp 'unterminated", "tcp", "--dport x", "--nope", "-u S", "--icmp-type 8", "-m 4294967296", "-g 1.1.1.1:70000",
	} {
		m.SetFilter(text)
		_, err := filter.ParseString(text)
		switch {
		case err != nil && m.parseErr != err.Error():
			t.Errorf("%q: the prompt says %q, ParseString %q", text, m.parseErr, err)
		case err == nil && (m.parseErr != "" || m.query != text):
			t.Errorf("%q: the prompt refused it (%q) or kept %q", text, m.parseErr, m.query)
		}
	}
}
