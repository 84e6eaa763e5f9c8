package rules

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Severity ranks findings. The zero value is SeverityNone (nothing fires).
type Severity int

// Severities, lowest first.
const (
	SeverityNone Severity = iota
	SeverityInfo
	SeverityWarning
	SeverityCritical
)

// MarshalText writes the severity's name, so documents keep it typed.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name (none included).
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "none"
}

// ParseSeverity accepts info, warning, critical (and none/never for "no
// severity", which is what --fail-on never means).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "info":
		return SeverityInfo, nil
	case "warning", "warn":
		return SeverityWarning, nil
	case "critical", "crit":
		return SeverityCritical, nil
	case "none", "never":
		return SeverityNone, nil
	}
	return SeverityNone, fmt.Errorf("%w: severity %q: want info, warning or critical", ErrConfig, s)
}

// Unit says how a parameter is written and read.
type Unit int

// Parameter units.
const (
	UnitCount    Unit = iota // entries, events
	UnitShare                // a fraction, written 0.3 or 30%
	UnitDuration             // seconds, written 90s, 5m, 3h
	UnitRate                 // per second
	UnitBytes                // bytes
	UnitRatio                // a plain number
)

// Param is one tunable threshold of a rule.
type Param struct {
	Name    string
	Unit    Unit
	Default float64 // seconds for durations
	Doc     string  // what it means and why the default is what it is
}

// Format writes a value of this parameter as a person would.
func (p Param) Format(v float64) string {
	switch p.Unit {
	case UnitShare:
		return strconv.FormatFloat(v*100, 'f', -1, 64) + "%"
	case UnitDuration:
		return (time.Duration(v * float64(time.Second))).String()
	case UnitRate:
		return strconv.FormatFloat(v, 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Range is the values a parameter of this unit may take: beyond them a
// threshold means nothing (a share over 100 %, a table of more entries than
// the kernel can count) and the arithmetic done with it overflows.
func (u Unit) Range() (lo, hi float64) {
	switch u {
	case UnitShare:
		return 0, 1
	case UnitDuration:
		return 0, 366 * 24 * 3600 // a year: rules look at hours, not ages
	case UnitCount:
		return 0, 1<<32 - 1 // nf_conntrack_max is a 32-bit count
	case UnitRate:
		return 0, 1e9
	case UnitBytes:
		return 1, 1 << 20 // an entry takes hundreds of bytes, not megabytes
	}
	return 0, 1e6
}

// Parse reads a value written for this parameter. Values that are not
// finite numbers in the unit's Range are refused, naming the range.
func (p Param) Parse(s string) (float64, error) {
	s = strings.TrimSpace(s)
	lo, hi := p.Unit.Range()
	bad := func() (float64, error) {
		want := map[Unit]string{
			UnitShare:    "a share like 30% or 0.3",
			UnitDuration: "a duration like 90s or 3h",
			UnitCount:    "a whole number",
			UnitRate:     "a rate like 5 or 5/s",
			UnitBytes:    "a whole number of bytes",
		}[p.Unit]
		if want == "" {
			want = "a number"
		}
		return 0, fmt.Errorf("want %s from %s to %s, got %q", want, p.Format(lo), p.Format(hi), s)
	}
	var f float64
	var err error
	switch p.Unit {
	case UnitShare:
		if v, ok := strings.CutSuffix(s, "%"); ok {
			f, err = strconv.ParseFloat(v, 64)
			f /= 100
		} else {
			f, err = strconv.ParseFloat(s, 64)
		}
	case UnitDuration:
		if d, derr := time.ParseDuration(s); derr == nil {
			f = d.Seconds()
		} else {
			f, err = strconv.ParseFloat(s, 64)
		}
	case UnitRate:
		f, err = strconv.ParseFloat(strings.TrimSuffix(s, "/s"), 64)
	default:
		f, err = strconv.ParseFloat(s, 64)
	}
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
		return bad()
	}
	if (p.Unit == UnitCount || p.Unit == UnitBytes) && f != math.Trunc(f) {
		return bad()
	}
	return f, nil
}

// Remedy is one thing to do about a finding. Commands are shell commands,
// one per line, that a person pastes as they are (the analyzer prefixes
// them for the network namespace they concern); Note is prose. Both are Go
// text/template text whose {{.Name}} placeholders the analyzer fills with
// figures it computed from the table; a remedy whose figures are not known
// is left out, never printed half-filled.
type Remedy struct {
	ID       string
	Title    string
	Commands string
	Note     string
}

// Level says what makes a finding of a rule reach one severity.
type Level struct {
	Severity Severity
	When     string
}

// Input is something a rule needs to be judged, as a bit set.
type Input uint8

// Inputs a rule can need.
const (
	InputTable     Input = 1 << iota // the table's entries (one sample)
	InputSamples                     // two or more samples of the table
	InputStats                       // per-CPU statistics (conntrack -S)
	InputLimit                       // nf_conntrack_max (and the count, or the entries)
	InputSysctls                     // sysctls
	InputKernelLog                   // kernel-log lines about conntrack
	InputRuleset                     // the firewall ruleset (nft, iptables)
)

// name says what one input is and where to get it.
func (in Input) name() string {
	switch in {
	case InputTable:
		return "the table (conntrack -L or /proc/net/nf_conntrack; live, root)"
	case InputSamples:
		return "two or more samples of the table"
	case InputStats:
		return "statistics (conntrack -S or /proc/net/stat/nf_conntrack)"
	case InputLimit:
		return "nf_conntrack_max (sysctl -a or /proc/sys/net/netfilter/nf_conntrack_max)"
	case InputSysctls:
		return "the conntrack sysctls (sysctl -a | grep conntrack)"
	case InputKernelLog:
		return "the kernel log (dmesg, journalctl -k)"
	case InputRuleset:
		return "the firewall ruleset (nft list ruleset, iptables-save -c or iptables -nvL; live, root)"
	}
	return ""
}

// String names the inputs in the set, joined with "and".
func (in Input) String() string {
	var parts []string
	for b := Input(1); b != 0 && b <= InputRuleset; b <<= 1 {
		if in&b != 0 {
			parts = append(parts, b.name())
		}
	}
	return strings.Join(parts, " and ")
}

// Rule is one pattern of the catalog.
type Rule struct {
	ID          string // stable, kebab-case: scripts and configs use it
	Title       string
	Severity    Severity // the lowest severity a finding of it has
	Pattern     string   // what the kernel table shows
	Explanation string   // what it means on the wire, in plain language
	// Levels is the rule's severity model: what makes each severity, in
	// terms of its parameters.
	Levels []Level
	// Needs lists alternatives: the rule is judged when every input of
	// one of them was read. A report says which rules could not be judged
	// and why, rather than "no problems" about what it could not see.
	Needs      []Input
	Params     []Param
	Remedies   []Remedy
	References []string
}

// Judged reports whether the inputs read (have) let the rule be judged.
func (r *Rule) Judged(have Input) bool {
	for _, n := range r.Needs {
		if have&n == n {
			return true
		}
	}
	return len(r.Needs) == 0
}

// Missing says what the rule would need, for a rule that is not judged.
func (r *Rule) Missing(have Input) string {
	var alts []string
	for _, n := range r.Needs {
		alts = append(alts, (n &^ have).String())
	}
	return strings.Join(alts, ", or ")
}

// Param returns the parameter called name.
func (r *Rule) Param(name string) (Param, bool) {
	for _, p := range r.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// placeholderPattern matches {{.Name}}; compiled where used (rarely) so the
// package keeps no state.
const placeholderPattern = `{{\s*\.(\w+)\s*}}`

// Placeholders lists the {{.Name}} placeholders a remedy uses.
func (m Remedy) Placeholders() []string {
	var out []string
	for _, g := range regexp.MustCompile(placeholderPattern).FindAllStringSubmatch(m.Commands+"\n"+m.Note, -1) {
		out = append(out, g[1])
	}
	return out
}

// Unfilled shows a remedy with its placeholders as <Name>, for
// `ctdiag rules explain`: the commands, then the note.
func (m Remedy) Unfilled() string {
	re := regexp.MustCompile(placeholderPattern)
	text := re.ReplaceAllString(m.Commands, "<$1>")
	if m.Note != "" {
		if text != "" {
			text += "\n"
		}
		text += re.ReplaceAllString(m.Note, "<$1>")
	}
	return text
}
