package rules

import (
	"fmt"
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

// Parse reads a value written for this parameter.
func (p Param) Parse(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch p.Unit {
	case UnitShare:
		if v, ok := strings.CutSuffix(s, "%"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 100 {
				return 0, fmt.Errorf("want a share like 30%% or 0.3, got %q", s)
			}
			return f / 100, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("want a share like 30%% or 0.3, got %q", s)
		}
		return f, nil
	case UnitDuration:
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return d.Seconds(), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("want a duration like 90s or 3h, got %q", s)
		}
		return f, nil
	case UnitRate:
		s = strings.TrimSuffix(s, "/s")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("want a number ≥ 0, got %q", s)
	}
	return f, nil
}

// Remedy is one thing to do about a finding. Template is Go text/template
// text whose {{.Name}} placeholders the analyzer fills with figures it
// computed from the table (the rule's documentation lists them).
type Remedy struct {
	ID       string
	Title    string
	Template string
}

// Rule is one pattern of the catalog.
type Rule struct {
	ID          string // stable, kebab-case: scripts and configs use it
	Title       string
	Severity    Severity // default base severity
	Pattern     string   // what the kernel table shows
	Explanation string   // what it means on the wire, in plain language
	Params      []Param
	Remedies    []Remedy
	References  []string
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

// Placeholders lists the {{.Name}} placeholders a remedy template uses.
func (m Remedy) Placeholders() []string {
	var out []string
	for _, g := range regexp.MustCompile(placeholderPattern).FindAllStringSubmatch(m.Template, -1) {
		out = append(out, g[1])
	}
	return out
}

// Unfilled shows a template with its placeholders as <Name>, for
// `ctdiag rules explain`.
func (m Remedy) Unfilled() string {
	return regexp.MustCompile(placeholderPattern).ReplaceAllString(m.Template, "<$1>")
}
