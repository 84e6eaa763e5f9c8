package analyzer

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/ctdiag/ctdiag/rules"
)

// Remedy is a rule's remedy with the figures filled in, and its commands
// made right for the namespace the table was read in.
type Remedy struct {
	Title    string
	Commands []string // shell commands, one per entry, to paste as they are
	Note     string
}

// Text is the remedy as reports print it and the terminal UI copies it:
// the commands, then the note.
func (r Remedy) Text() string {
	parts := append([]string(nil), r.Commands...)
	if r.Note != "" {
		parts = append(parts, r.Note)
	}
	return strings.Join(parts, "\n")
}

// remedies fills the rule's remedies whose ids are listed. A remedy whose
// template needs a figure data does not have is left out (and recorded in
// Result.RemedyErrors, which the tests require empty): a command is never
// printed with a value that was not known.
func (a *Analyzer) remedies(ruleID string, data map[string]any, ids ...string) []Remedy {
	r, _ := rules.Lookup(ruleID)
	var out []Remedy
	for _, id := range ids {
		for _, m := range r.Remedies {
			if m.ID != id {
				continue
			}
			cmds, err := fill(m.ID, m.Commands, data)
			var note string
			if err == nil {
				note, err = fill(m.ID, m.Note, data)
			}
			if err != nil {
				a.remedyErrors = append(a.remedyErrors, fmt.Sprintf("%s/%s: %v", ruleID, m.ID, err))
				continue
			}
			rem := Remedy{Title: m.Title, Note: note}
			for _, c := range strings.Split(cmds, "\n") {
				if c = strings.TrimSpace(c); c != "" {
					rem.Commands = append(rem.Commands, c)
				}
			}
			a.opts.Target.scope(&rem)
			out = append(out, rem)
		}
	}
	return out
}

func fill(name, text string, data map[string]any) (string, error) {
	if text == "" {
		return "", nil
	}
	tm, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := tm.Execute(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// readsNetns says whether a ctdiag subcommand reads a namespace's table
// (and so takes --netns).
func readsNetns(sub string) bool {
	switch sub {
	case "list", "report", "top", "record", "stats", "count", "events", "ruleset", "exporter":
		return true
	}
	return false
}

// scope makes a remedy's commands run where the table was read: in its
// network namespace, except for the settings that are global (the table's
// limit and hash size, and the host's sysctl.d), which are said to be run
// in the host's namespace.
func (t Target) scope(r *Remedy) {
	if t.Netns == "" && t.NetnsPID == 0 {
		return
	}
	global := false
	for i, c := range r.Commands {
		switch {
		case isGlobalCommand(c):
			global = true
		case strings.HasPrefix(c, "ctdiag "):
			r.Commands[i] = t.ctdiagCommand(c)
		case t.Netns != "":
			r.Commands[i] = "ip netns exec " + t.Netns + " " + c
		default:
			r.Commands[i] = "nsenter -t " + strconv.Itoa(t.NetnsPID) + " -n " + c
		}
	}
	if global {
		note := "nf_conntrack_max and the hash size are global: set them in the host's own namespace (not in the namespace this table is from); the limit counts each namespace's entries apart."
		if r.Note != "" {
			note = r.Note + "\n" + note
		}
		r.Note = note
	}
}

func (t Target) ctdiagCommand(c string) string {
	fields := strings.SplitN(c, " ", 3)
	if len(fields) < 2 || !readsNetns(fields[1]) {
		return c
	}
	flag := "--netns " + t.Netns
	if t.Netns == "" {
		flag = "--netns-pid " + strconv.Itoa(t.NetnsPID)
	}
	rest := ""
	if len(fields) == 3 {
		rest = " " + fields[2]
	}
	return fields[0] + " " + fields[1] + " " + flag + rest
}

// isGlobalCommand: the command changes what is shared by all namespaces.
func isGlobalCommand(c string) bool {
	for _, g := range []string{"nf_conntrack_max", "nf_conntrack_buckets", "/sys/module/nf_conntrack/parameters/hashsize", "/etc/sysctl.d/", "nf_log_all_netns"} {
		if strings.Contains(c, g) {
			return true
		}
	}
	return false
}

// ScopeRemedy returns a remedy with its commands made right for the
// target namespace, as the analyzer makes its findings' remedies.
func ScopeRemedy(r Remedy, t Target) Remedy {
	r.Commands = append([]string(nil), r.Commands...)
	t.scope(&r)
	return r
}
