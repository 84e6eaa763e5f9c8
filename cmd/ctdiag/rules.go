package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/rules"
)

type rulesOptions struct {
	config   string
	sets     []string
	markdown bool
}

func newRulesCmd(e env) *cobra.Command {
	opts := &rulesOptions{}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the diagnosis rules, or explain one (ctdiag rules explain ID)",
		Long: `List the rules ctdiag report checks: id, default severity and title.
"ctdiag rules explain ID" prints what a rule looks for, what it means on the
wire, its thresholds with why each default is what it is, the remedies it
prints (with <placeholders> filled from the table at report time) and
references.

Thresholds can be changed with a YAML file (--config) or --set, the same
flags ctdiag report takes:

  rules:
    syn-sent-growth:
      min_entries: 50
      severity: critical
    sysctl-risk:
      enabled: false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := ruleConfig(opts.config, opts.sets)
			if err != nil {
				return usageError("%v", err)
			}
			if opts.markdown {
				return rulesMarkdown(e.stdout, cfg)
			}
			return listRules(e.stdout, cfg)
		},
	}
	cmd.Flags().BoolVar(&opts.markdown, "markdown", false, "write every rule in full as Markdown (docs/RULES.md is this output)")
	cmd.PersistentFlags().StringVar(&opts.config, "config", "", "rule settings file (YAML)")
	cmd.PersistentFlags().StringArrayVar(&opts.sets, "set", nil, "override a rule setting: RULE.PARAM=VALUE (repeatable)")
	explain := &cobra.Command{
		Use:   "explain ID",
		Short: "Explain one rule: pattern, meaning, thresholds, remedies, references",
		Args:  cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var ids []string
			for _, r := range rules.Catalog() {
				ids = append(ids, r.ID)
			}
			return ids, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := ruleConfig(opts.config, opts.sets)
			if err != nil {
				return usageError("%v", err)
			}
			r, ok := rules.Lookup(args[0])
			if !ok {
				var ids []string
				for _, r := range rules.Catalog() {
					ids = append(ids, r.ID)
				}
				return usageError("no rule %q; the rules are: %s", args[0], strings.Join(ids, ", "))
			}
			return explainRule(e.stdout, cfg, r)
		},
	}
	cmd.AddCommand(explain)
	return cmd
}

func listRules(w io.Writer, cfg *rules.Config) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tTITLE")
	for _, r := range cfg.Rules() {
		sev := severityRange(cfg, r)
		if !cfg.Enabled(r.ID) {
			sev = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, sev, r.Title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nctdiag rules explain ID tells more about one.")
	return err
}

func explainRule(w io.Writer, cfg *rules.Config, r rules.Rule) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("%s: %s", r.ID, r.Title)
	sev := severityRange(cfg, r)
	if !cfg.Enabled(r.ID) {
		sev += " (disabled by your settings)"
	}
	p("Severity: %s", sev)
	p("")
	p("What the table shows")
	p("  %s", r.Pattern)
	p("")
	p("What it means")
	for _, l := range strings.Split(r.Explanation, "\n") {
		p("  %s", l)
	}
	p("")
	p("When it is info, warning or critical")
	for _, l := range r.Levels {
		p("  %-8s %s", l.Severity.String()+":", l.When)
	}
	p("")
	p("What it needs to be judged (a report says so when it was not read)")
	for _, n := range r.Needs {
		p("  - %s", n)
	}
	if len(r.Params) > 0 {
		p("")
		p("Thresholds (change with --set %s.NAME=VALUE)", r.ID)
		for _, prm := range r.Params {
			cur := prm.Format(cfg.Param(r.ID, prm.Name))
			def := prm.Format(prm.Default)
			if cur != def {
				cur += " (default " + def + ")"
			}
			p("  %s = %s", prm.Name, cur)
			p("      %s", prm.Doc)
		}
	}
	p("")
	p("Remedies (printed with figures from the table; ctdiag never applies them)")
	for i, m := range r.Remedies {
		p("  %d. %s", i+1, m.Title)
		for _, l := range strings.Split(m.Unfilled(), "\n") {
			p("     %s", l)
		}
	}
	p("")
	p("References")
	for _, ref := range r.References {
		p("  - %s", ref)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// severityRange is the severities a rule's findings can have ("warning–
// critical"), or the one the user fixed.
func severityRange(cfg *rules.Config, r rules.Rule) string {
	if fixed := cfg.Severity(r.ID, rules.SeverityNone); fixed != rules.SeverityNone {
		return fixed.String() + " (fixed)"
	}
	if len(r.Levels) == 0 {
		return r.Severity.String()
	}
	lo, hi := r.Levels[0].Severity, r.Levels[len(r.Levels)-1].Severity
	if lo == hi {
		return lo.String()
	}
	return lo.String() + "–" + hi.String()
}

// rulesMarkdown writes the whole catalog as a Markdown document: every
// rule's pattern, meaning, severity model, inputs, thresholds with their
// reasons, and remedies. docs/RULES.md is this output (a test keeps it so).
func rulesMarkdown(w io.Writer, cfg *rules.Config) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# The rules")
	p("")
	p("Written by `ctdiag rules --markdown` from the catalog the binary carries;")
	p("`ctdiag rules explain ID` prints one rule the same way. Each rule says what")
	p("makes a finding info, warning or critical (its severity model), what it needs")
	p("to be judged (a report says which rules it could not judge, and why), and why")
	p("each default threshold is what it is. The calibration corpus behind the")
	p("defaults and the resulting scorecard are in [SCORECARD.md](SCORECARD.md).")
	p("")
	p("| id | severity | title |")
	p("|---|---|---|")
	for _, r := range cfg.Rules() {
		p("| [`%s`](#%s) | %s | %s |", r.ID, r.ID, severityRange(cfg, r), r.Title)
	}
	for _, r := range cfg.Rules() {
		p("")
		p("## %s", r.ID)
		p("")
		p("**%s.** %s", r.Title, r.Pattern)
		p("")
		p("%s", strings.Join(strings.Fields(r.Explanation), " "))
		p("")
		p("| severity | when |")
		p("|---|---|")
		for _, l := range r.Levels {
			p("| %s | %s |", l.Severity, l.When)
		}
		p("")
		p("Judged with: %s.", needsPhrase(r))
		if len(r.Params) > 0 {
			p("")
			p("| threshold | default | why |")
			p("|---|---|---|")
			for _, prm := range r.Params {
				p("| `%s` | %s | %s |", prm.Name, prm.Format(prm.Default), strings.ReplaceAll(prm.Doc, "|", "\\|"))
			}
		}
		p("")
		p("Remedies (figures filled from the table at report time):")
		p("")
		for i, m := range r.Remedies {
			p("%d. %s", i+1, m.Title)
			p("")
			p("   ```sh")
			for _, l := range strings.Split(m.Unfilled(), "\n") {
				p("   %s", l)
			}
			p("   ```")
		}
		p("")
		p("References: %s.", strings.Join(r.References, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// needsPhrase lists a rule's alternatives of inputs.
func needsPhrase(r rules.Rule) string {
	var alts []string
	for _, n := range r.Needs {
		alts = append(alts, n.String())
	}
	return strings.Join(alts, "; or ")
}
