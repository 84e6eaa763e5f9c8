package findings

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/tui/common"
)

// A sample whose table could not be read is not "no findings": the pane
// says which rules were not judged and what each needs, as the report does.
func TestIncompleteIsNotNoFindings(t *testing.T) {
	c := common.Common{Styles: common.NewStyles(lipgloss.NewRenderer(nil)), Keys: common.NewKeyMap(false),
		Config: rules.DefaultConfig(), Now: func() time.Time { return time.Time{} }}
	m := New(c)
	m.SetSize(100, 20)
	res := &analyzer.Result{Incomplete: true, Checked: []analyzer.Check{
		{Rule: rules.TableFull, Judged: true},
		{Rule: rules.SynSentGrowth, Missing: "the table (conntrack -L or /proc/net/nf_conntrack; live, root)"},
	}}
	m.Update(common.FrameMsg{Frame: &common.Frame{Result: res}})
	v := m.View()
	if strings.Contains(v, "No findings") || !strings.Contains(v, "Incomplete: 1 of 2 rules judged") || !strings.Contains(v, "syn-sent-growth needs the table") {
		t.Errorf("view:\n%s", v)
	}
	res.Incomplete, res.Checked[1].Judged = false, true
	m.Update(common.FrameMsg{Frame: &common.Frame{Result: res}})
	if v := m.View(); !strings.Contains(v, "No findings: 2 rules checked") {
		t.Errorf("complete:\n%s", v)
	}
}
