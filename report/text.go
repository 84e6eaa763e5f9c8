package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
)

// TextOptions tune the text rendering.
type TextOptions struct {
	// Color turns on ANSI colours (the caller decides: a terminal, and
	// NO_COLOR unset).
	Color bool
	// Width wraps prose; 0 means 80.
	Width int
}

// textStyles are the text report's styles, built for one output.
type textStyles struct {
	title, label, dim, command, ok lipgloss.Style
	severity                       map[rules.Severity]lipgloss.Style
}

func newTextStyles(w io.Writer, color bool) textStyles {
	r := lipgloss.NewRenderer(w)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return textStyles{
		title:   r.NewStyle().Bold(true),
		label:   r.NewStyle().Bold(true),
		dim:     r.NewStyle().Faint(true),
		command: r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "25", Dark: "117"}),
		ok:      r.NewStyle().Bold(true).Foreground(lipgloss.Color("2")),
		severity: map[rules.Severity]lipgloss.Style{
			rules.SeverityCritical: r.NewStyle().Bold(true).Reverse(true).Foreground(lipgloss.Color("1")),
			rules.SeverityWarning:  r.NewStyle().Bold(true).Foreground(lipgloss.Color("3")),
			rules.SeverityInfo:     r.NewStyle().Bold(true).Foreground(lipgloss.Color("6")),
		},
	}
}

// WriteText writes the report for people: key figures first, then each
// finding with its evidence, explanation and remedies, then notes.
func WriteText(w io.Writer, d *Document, opts TextOptions) error {
	if opts.Width <= 0 {
		opts.Width = 80
	}
	st := newTextStyles(w, opts.Color)
	var b strings.Builder
	writeHeaderText(&b, st, d)
	switch {
	case len(d.Findings) == 0 && !d.Incomplete:
		fmt.Fprintf(&b, "%s\n\n", st.ok.Render(fmt.Sprintf("No problems found: %d rules checked, none fired.", len(d.Checks))))
	case len(d.Findings) == 0:
		fmt.Fprintf(&b, "%s\n", st.label.Render(fmt.Sprintf("Incomplete: nothing fired, but %s could not be judged from what was read.", notJudgedPhrase(d))))
		writeNotJudged(&b, st, d, opts.Width)
		b.WriteString("\n")
	}
	if ev := d.Summary.EventLog; ev != nil {
		writeEventLogText(&b, st, ev)
	}
	for i := range d.Findings {
		writeFindingText(&b, st, &d.Findings[i], opts.Width)
		b.WriteString("\n")
	}
	writeFooterText(&b, st, d, opts.Width)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHeaderText writes the key figures.
func writeHeaderText(b *strings.Builder, st textStyles, d *Document) {
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	line("%s", st.title.Render("ctdiag report")+" "+st.dim.Render("· "+samplesPhrase(d)))
	if len(d.Input.Sources) > 0 {
		line("%s %s", st.label.Render("Source "), strings.Join(d.Input.Sources, ", "))
	}
	line("%s %s", st.label.Render("Table  "), tableLine(d))
	if states := statesLine(d.Summary.States, 6); states != "" {
		line("%s %s", st.label.Render("States "), states)
	}
	if d.Summary.Entries > 0 {
		line("%s ASSURED %d · half-assured %d · UNREPLIED %d", st.label.Render("Flags  "), d.Summary.Assured, d.Summary.HalfAssured, d.Summary.Unreplied)
	}
	if churn := churnLine(d); churn != "" {
		line("%s %s", st.label.Render("Churn  "), churn)
	}
	if counters := countersLine(d.Summary.Counters); counters != "" {
		line("%s %s", st.label.Render("Stats  "), counters)
	}
	line("")
}

// writeFooterText writes the rules checked, the notes and the input's
// problems.
func writeFooterText(b *strings.Builder, st textStyles, d *Document, width int) {
	fmt.Fprintf(b, "%s %s\n", st.label.Render("Checked"), checksLine(d))
	if d.Incomplete && len(d.Findings) > 0 {
		writeNotJudged(b, st, d, width)
	}
	for _, n := range append(append([]string(nil), d.Input.Notes...), d.Summary.Notes...) {
		wrap(b, "note: "+n, "  ", width)
	}
	for _, s := range d.Input.Skipped {
		wrap(b, "skipped "+s, "  ", width)
	}
	if d.Input.MalformedLines > 0 {
		fmt.Fprintf(b, "%d malformed input lines (counted, not used):\n", d.Input.MalformedLines)
		for _, p := range d.Input.Problems {
			fmt.Fprintf(b, "  %s\n", p)
		}
	}
}

// writeFindingText writes one finding: title, summary, evidence,
// explanation, remedies.
func writeFindingText(b *strings.Builder, st textStyles, f *Finding, width int) {
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	sev := st.severity[f.Severity].Render(strings.ToUpper(f.Severity.String()))
	line("%s %s %s", sev, st.title.Render(f.Title), st.dim.Render("("+f.Rule+")"))
	wrap(b, f.Summary, "  ", width)
	writeEvidenceText(b, st, f.Evidence, width)
	if f.Explanation != "" {
		line("  %s", st.label.Render("Why"))
		wrap(b, unwrap(f.Explanation), "    ", width)
	}
	if len(f.Remedies) > 0 {
		line("  %s", st.label.Render("What to do")+st.dim.Render(" (ctdiag never applies these)"))
		for j, r := range f.Remedies {
			line("    %d. %s", j+1, r.Title)
			for _, c := range r.Commands {
				line("       %s", st.command.Render("$ "+c))
			}
			for _, blk := range remedyBlocks(strings.TrimSpace(r.Note)) {
				if blk.command {
					line("       %s", st.command.Render("$ "+blk.text))
				} else {
					wrap(b, blk.text, "       ", width)
				}
			}
		}
	}
	line("  %s", st.dim.Render("More: ctdiag rules explain "+f.Rule))
}

func writeEvidenceText(b *strings.Builder, st textStyles, e Evidence, width int) {
	if len(e.Figures)+len(e.Series)+len(e.Top)+len(e.Entries)+len(e.Rules) == 0 {
		return
	}
	fmt.Fprintf(b, "  %s\n", st.label.Render("Evidence"))
	var figs []string
	for _, f := range e.Figures {
		figs = append(figs, f.Name+" "+f.Value)
	}
	if len(figs) > 0 {
		wrap(b, strings.Join(figs, " · "), "    ", width)
	}
	for _, s := range e.Series {
		if len(s.Points) < 2 {
			continue
		}
		fmt.Fprintf(b, "    %s: %s  %s\n", s.Name, seriesValues(s), Sparkline(seriesFloats(s)))
	}
	for _, g := range groupTop(e.Top) {
		var parts []string
		for _, t := range g {
			parts = append(parts, fmt.Sprintf("%s %d (%s)", t.Key, t.Count, human.Percent(t.Share)))
		}
		wrap(b, "top "+g[0].Dimension+": "+strings.Join(parts, ", "), "    ", width)
	}
	for _, l := range e.Entries {
		fmt.Fprintf(b, "    %s\n", st.dim.Render("e.g. "+l))
	}
	for _, r := range e.Rules {
		wrap(b, "rule "+r.Name()+" ("+r.Role+"): "+r.Text+rulePackets(r), "    ", width)
	}
}

// rulePackets says what a rule's counter holds, when it has one.
func rulePackets(r Rule) string {
	if r.Packets == nil {
		return ""
	}
	return fmt.Sprintf(" [%d packets]", *r.Packets)
}

// groupTop splits a ranking by dimension, keeping their order.
func groupTop(top []Top) [][]Top {
	var out [][]Top
	for _, t := range top {
		if n := len(out); n > 0 && out[n-1][0].Dimension == t.Dimension {
			out[n-1] = append(out[n-1], t)
			continue
		}
		out = append(out, []Top{t})
	}
	return out
}

// samplesPhrase says how many samples over what span, and where their
// times came from.
func samplesPhrase(d *Document) string {
	n := len(d.Samples)
	switch {
	case n == 0:
		return "no samples"
	case n == 1:
		return "1 sample"
	case d.Timing.SpanSeconds > 0:
		return fmt.Sprintf("%d samples over %s (times from %s)", n, human.Seconds(d.Timing.SpanSeconds), d.Timing.Source)
	}
	return fmt.Sprintf("%d samples, untimed", n)
}

func tableLine(d *Document) string {
	s := d.Summary
	out := human.Plural(s.Entries, "entry", "entries")
	switch {
	case !s.TableRead && s.Count != nil:
		out = fmt.Sprintf("not read; nf_conntrack_count %d", *s.Count)
	case !s.TableRead:
		out = "not read"
	case s.Count != nil && *s.Count != uint64(s.Entries):
		out += fmt.Sprintf(" listed, nf_conntrack_count %d", *s.Count)
	}
	if s.Max != nil {
		if *s.Max == 0 {
			out += " · nf_conntrack_max 0 (no limit)"
		} else {
			out += fmt.Sprintf(" · max %d", *s.Max)
		}
	}
	if s.Utilisation != nil {
		out += fmt.Sprintf(" (%s used)", human.Percent(*s.Utilisation))
	}
	if s.Headroom != nil {
		out += fmt.Sprintf(" · headroom %d", *s.Headroom)
	}
	if s.FullInSeconds != nil {
		if *s.FullInSeconds == 0 {
			out += " · full"
		} else {
			out += " · full in " + human.Seconds(*s.FullInSeconds)
		}
	}
	if pk := s.Peak; pk != nil {
		at := fmt.Sprintf("sample %d", pk.Sample+1)
		if pk.OffsetSeconds != nil {
			at = "t+" + human.Seconds(*pk.OffsetSeconds)
		}
		out += fmt.Sprintf(" · peak %d of %d (%s) at %s", pk.Entries, pk.Max, human.Percent(pk.Utilisation), at)
	}
	if s.IPv6 > 0 {
		out += fmt.Sprintf(" · IPv6 %d", s.IPv6)
	}
	return out
}

func statesLine(states []StateCount, n int) string {
	var parts []string
	for i, s := range states {
		if i == n {
			parts = append(parts, fmt.Sprintf("+%d more", len(states)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d (%s)", s.Name, s.Count, human.Percent(s.Share)))
	}
	return strings.Join(parts, " · ")
}

func churnLine(d *Document) string {
	s := d.Summary
	var parts []string
	if s.GrowthPerSecond != nil {
		parts = append(parts, fmt.Sprintf("growth %s", human.Rate(*s.GrowthPerSecond)))
	}
	if ev := s.Events; ev != nil {
		at := ""
		if ev.Lost > 0 {
			at = "at least " // events were lost
		}
		p := fmt.Sprintf("%s%d created, %s%d destroyed between the last two samples (conntrack events", at, ev.Created, at, ev.Destroyed)
		if ev.CreatedPerSecond != nil {
			p += fmt.Sprintf(": %s created, %s destroyed", human.Rate(*ev.CreatedPerSecond), human.Rate(*ev.DestroyedPerSecond))
		}
		if ev.Lost > 0 {
			p += fmt.Sprintf("; lost %s", human.Plural(ev.Lost, "time", "times"))
		}
		parts = append(parts, p+")")
	}
	if s.NewBetween != nil {
		p := fmt.Sprintf("%d new, %d gone between the last two samples", *s.NewBetween, *s.GoneBetween)
		if s.Events != nil {
			p = fmt.Sprintf("tuples: %d new, %d gone", *s.NewBetween, *s.GoneBetween)
		}
		if s.NewPerSecond != nil {
			p += fmt.Sprintf(" (%s new, %s gone)", human.Rate(*s.NewPerSecond), human.Rate(*s.DestroyPerSecond))
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " · ")
}

func countersLine(cs []Counter) string {
	var parts []string
	for _, c := range cs {
		p := fmt.Sprintf("%s %d", c.Name, c.Total)
		if c.Delta != nil {
			p += fmt.Sprintf(" (+%d", *c.Delta)
			if c.PerSecond != nil {
				p += ", " + human.Rate(*c.PerSecond)
			}
			p += ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " · ")
}

func checksLine(d *Document) string {
	count := map[rules.Severity]int{}
	judged := 0
	for _, c := range d.Checks {
		if c.Fired {
			count[c.Severity]++
		}
		if c.Judged {
			judged++
		}
	}
	out := human.Plural(len(d.Checks), "rule", "rules")
	if judged < len(d.Checks) {
		out = fmt.Sprintf("%d of %s (%d could not be judged)", judged, out, len(d.Checks)-judged)
	}
	var fired []string
	for _, s := range []rules.Severity{rules.SeverityCritical, rules.SeverityWarning, rules.SeverityInfo} {
		if count[s] > 0 {
			fired = append(fired, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	if len(fired) == 0 {
		return out + ", none fired"
	}
	return out + ": " + strings.Join(fired, ", ")
}

// block is a command line of a remedy, or a paragraph of prose.
type block struct {
	command bool
	text    string
}

// remedyBlocks splits a remedy into its command lines and paragraphs of
// prose (joined, so they can be wrapped again).
func remedyBlocks(text string) []block {
	var out []block
	if text == "" {
		return nil
	}
	for _, l := range strings.Split(text, "\n") {
		switch {
		case looksLikeCommand(l):
			out = append(out, block{command: true, text: l})
		case strings.TrimSpace(l) == "":
			out = append(out, block{})
		case len(out) > 0 && !out[len(out)-1].command && out[len(out)-1].text != "":
			out[len(out)-1].text += " " + strings.TrimSpace(l)
		default:
			out = append(out, block{text: strings.TrimSpace(l)})
		}
	}
	return out
}

// looksLikeCommand: a line of a remedy's note that is a command to type
// elsewhere (on another host), kept on a line of its own.
func looksLikeCommand(l string) bool {
	for _, w := range []string{"sysctl ", "conntrack ", "ctdiag ", "nft ", "tcpdump ", "ip ", "ss ", "echo ", "dmesg ", "iptables "} {
		if strings.HasPrefix(l, w) {
			return true
		}
	}
	return false
}

// notJudgedPhrase counts the rules not judged: "2 rules (insert-failed, sysctl-risk)".
func notJudgedPhrase(d *Document) string {
	var ids []string
	for _, c := range d.Checks {
		if !c.Judged {
			ids = append(ids, c.Rule)
		}
	}
	return fmt.Sprintf("%s (%s)", human.Plural(len(ids), "rule", "rules"), strings.Join(ids, ", "))
}

// writeNotJudged lists each rule not judged with what it needed.
func writeNotJudged(b *strings.Builder, st textStyles, d *Document, width int) {
	for _, c := range d.Checks {
		if !c.Judged {
			wrap(b, fmt.Sprintf("%s needs %s", c.Rule, c.Missing), "  ", width)
		}
	}
}

// writeEventLogText summarises an event log read without a table.
func writeEventLogText(b *strings.Builder, st textStyles, ev *EventLog) {
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	span := ""
	if ev.First != nil && ev.Last.After(*ev.First) {
		span = fmt.Sprintf(" over %s", human.Seconds(ev.Last.Sub(*ev.First).Seconds()))
	}
	line("%s %d NEW, %d DESTROY, %d UPDATE events%s (an event log: the table itself was not read)", st.label.Render("Events "), ev.New, ev.Destroy, ev.Update, span)
	if ev.Lost > 0 {
		line("        events were lost %s: the counts are lower bounds", human.Plural(ev.Lost, "time", "times"))
	}
	if s := statesLine(ev.ByState, 6); s != "" {
		line("        new by state: %s", s)
	}
	for _, g := range [][]Top{ev.TopDestinations, ev.TopSources} {
		var parts []string
		for _, t := range g {
			parts = append(parts, fmt.Sprintf("%s %d (%s)", t.Key, t.Count, human.Percent(t.Share)))
		}
		if len(parts) > 0 {
			line("        new by %s: %s", g[0].Dimension, strings.Join(parts, ", "))
		}
	}
	line("")
}

// unwrap joins a paragraph hard-wrapped in the catalog, so it can be
// wrapped again at the output's width.
func unwrap(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// wrap writes s as lines of at most width columns, each indented.
func wrap(b *strings.Builder, s, indent string, width int) {
	if s == "" {
		b.WriteString("\n")
		return
	}
	max := width - len(indent)
	if max < 20 {
		max = 20
	}
	col := 0
	b.WriteString(indent)
	for i, word := range strings.Fields(s) {
		n := len([]rune(word))
		if i > 0 && col+1+n > max {
			b.WriteString("\n" + indent)
			col = 0
		} else if i > 0 {
			b.WriteString(" ")
			col++
		}
		b.WriteString(word)
		col += n
	}
	b.WriteString("\n")
}

func seriesFloats(s Series) []float64 {
	out := make([]float64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.Value
	}
	return out
}

// seriesValues lists a series' values, eliding the middle of long ones.
func seriesValues(s Series) string {
	vals := seriesFloats(s)
	str := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	var parts []string
	for i, v := range vals {
		if len(vals) > 8 && i == 3 {
			parts = append(parts, "…")
		}
		if len(vals) > 8 && i >= 3 && i < len(vals)-3 {
			continue
		}
		parts = append(parts, str(v))
	}
	return strings.Join(parts, " → ")
}

// Sparkline draws values as block characters, lowest to highest.
func Sparkline(vals []float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	runes := []rune(bars)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if hi > lo {
			i = int((v - lo) / (hi - lo) * float64(len(runes)-1))
		}
		b.WriteRune(runes[i])
	}
	return b.String()
}
