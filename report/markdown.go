package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
)

// severityMark prefixes a severity in Markdown, so a job summary reads at a
// glance without colours.
func severityMark(s rules.Severity) string {
	switch s {
	case rules.SeverityCritical:
		return "🔴 critical"
	case rules.SeverityWarning:
		return "🟠 warning"
	case rules.SeverityInfo:
		return "🔵 info"
	}
	return s.String()
}

// WriteMarkdown writes the report as GitHub-flavoured Markdown: fit for a
// CI job summary ($GITHUB_STEP_SUMMARY) or a pull-request comment. Evidence
// sits in collapsed <details> blocks so the summary stays short.
func WriteMarkdown(w io.Writer, d *Document) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	switch {
	case len(d.Findings) == 0 && !d.Incomplete:
		p("## ctdiag: no problems found")
	case len(d.Findings) == 0:
		p("## ctdiag: incomplete, %s could not be judged", notJudgedPhrase(d))
	default:
		p("## ctdiag: %s", checksLine(d))
	}
	p("")
	p("%s. %s.", capitalise(samplesPhrase(d)), tableLine(d))
	p("")
	p("| figure | value |")
	p("|---|---|")
	if states := statesLine(d.Summary.States, 6); states != "" {
		p("| states | %s |", mdCell(states))
	}
	p("| flags | ASSURED %d · half-assured %d · UNREPLIED %d |", d.Summary.Assured, d.Summary.HalfAssured, d.Summary.Unreplied)
	if churn := churnLine(d); churn != "" {
		p("| churn | %s |", mdCell(churn))
	}
	if c := countersLine(d.Summary.Counters); c != "" {
		p("| statistics | %s |", mdCell(c))
	}
	p("")
	if len(d.Findings) > 0 {
		p("| severity | rule | summary |")
		p("|---|---|---|")
		for _, f := range d.Findings {
			p("| %s | `%s` | %s |", severityMark(f.Severity), f.Rule, mdCell(f.Summary))
		}
		p("")
	}
	for _, f := range d.Findings {
		p("### %s: %s (`%s`)", severityMark(f.Severity), f.Title, f.Rule)
		p("")
		p("%s", f.Summary)
		p("")
		if hasEvidence(f.Evidence) {
			p("<details><summary>Evidence</summary>")
			p("")
			for _, fig := range f.Evidence.Figures {
				p("- %s: %s", fig.Name, fig.Value)
			}
			for _, s := range f.Evidence.Series {
				if len(s.Points) > 1 {
					p("- %s: %s `%s`", s.Name, seriesValues(s), Sparkline(seriesFloats(s)))
				}
			}
			for _, g := range groupTop(f.Evidence.Top) {
				var parts []string
				for _, t := range g {
					parts = append(parts, fmt.Sprintf("`%s` %d (%s)", t.Key, t.Count, human.Percent(t.Share)))
				}
				p("- top %s: %s", g[0].Dimension, strings.Join(parts, ", "))
			}
			for _, r := range f.Evidence.Rules {
				p("- rule %s (%s): `%s`%s", r.Name(), r.Role, r.Text, rulePackets(r))
			}
			if len(f.Evidence.Entries) > 0 {
				p("")
				p("```")
				for _, e := range f.Evidence.Entries {
					p("%s", e)
				}
				p("```")
			}
			p("")
			p("</details>")
			p("")
		}
		p("<details><summary>Why</summary>")
		p("")
		p("%s", unwrap(f.Explanation))
		p("")
		p("</details>")
		p("")
		if len(f.Remedies) > 0 {
			p("**What to do** (ctdiag never applies these):")
			p("")
			for i, r := range f.Remedies {
				p("%d. %s", i+1, r.Title)
				p("")
				p("   ```sh")
				for _, c := range r.Commands {
					p("   %s", c)
				}
				for _, blk := range remedyBlocks(r.Note) {
					if blk.command {
						p("   %s", blk.text)
					} else if blk.text != "" {
						p("   # %s", blk.text)
					}
				}
				p("   ```")
				p("")
			}
		}
	}
	if d.Incomplete {
		p("<details><summary>Not judged</summary>")
		p("")
		for _, c := range d.Checks {
			if !c.Judged {
				p("- `%s` needs %s", c.Rule, c.Missing)
			}
		}
		p("")
		p("</details>")
		p("")
	}
	if len(d.Input.Notes)+len(d.Summary.Notes)+len(d.Input.Skipped) > 0 || d.Input.MalformedLines > 0 {
		p("<details><summary>Notes</summary>")
		p("")
		for _, n := range append(append([]string(nil), d.Input.Notes...), d.Summary.Notes...) {
			p("- %s", n)
		}
		for _, s := range d.Input.Skipped {
			p("- skipped %s", s)
		}
		if d.Input.MalformedLines > 0 {
			p("- %d malformed input lines (counted, not used)", d.Input.MalformedLines)
			for _, pr := range d.Input.Problems {
				p("  - `%s`", strings.ReplaceAll(pr, "`", "'"))
			}
		}
		p("")
		p("</details>")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func hasEvidence(e Evidence) bool {
	return len(e.Figures)+len(e.Series)+len(e.Top)+len(e.Entries)+len(e.Rules) > 0
}

// mdCell makes text safe inside a table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
