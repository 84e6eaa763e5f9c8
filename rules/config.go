package rules

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrConfig wraps every error about rule configuration.
var ErrConfig = errors.New("bad rule configuration")

// Config is the catalog with the user's overrides: per rule, whether it is
// enabled, a fixed severity, and parameter values.
type Config struct {
	rules map[string]*ruleConfig
}

type ruleConfig struct {
	rule     Rule
	disabled bool
	severity Severity // SeverityNone: the analyzer decides from the rule's default
	params   map[string]float64
}

// DefaultConfig is the catalog as shipped.
func DefaultConfig() *Config {
	c := &Config{rules: map[string]*ruleConfig{}}
	for _, r := range Catalog() {
		rc := &ruleConfig{rule: r, params: map[string]float64{}}
		for _, p := range r.Params {
			rc.params[p.Name] = p.Default
		}
		c.rules[r.ID] = rc
	}
	return c
}

// Rules lists the catalog's rules in catalog order.
func (c *Config) Rules() []Rule {
	out := make([]Rule, 0, len(c.rules))
	for _, r := range Catalog() {
		out = append(out, c.rules[r.ID].rule)
	}
	return out
}

// Enabled reports whether rule id runs.
func (c *Config) Enabled(id string) bool {
	rc, ok := c.rules[id]
	return ok && !rc.disabled
}

// Param returns a parameter's value in force.
func (c *Config) Param(id, name string) float64 {
	if rc, ok := c.rules[id]; ok {
		return rc.params[name]
	}
	return 0
}

// Severity returns the severity a finding of rule id gets, given what the
// analyzer judged (base or escalated): a severity the user fixed wins.
func (c *Config) Severity(id string, judged Severity) Severity {
	if rc, ok := c.rules[id]; ok && rc.severity != SeverityNone {
		return rc.severity
	}
	return judged
}

// Set applies one override written RULE.PARAM=VALUE, where PARAM may also
// be "severity" or "enabled" (e.g. top-talker.min_share=30%,
// table-full.severity=critical, sysctl-risk.enabled=false).
func (c *Config) Set(expr string) error {
	lhs, value, ok := strings.Cut(expr, "=")
	id, name, ok2 := strings.Cut(lhs, ".")
	if !ok || !ok2 || id == "" || name == "" {
		return fmt.Errorf("%w: %q: want RULE.PARAM=VALUE (e.g. syn-sent-growth.min_entries=50)", ErrConfig, expr)
	}
	return c.set(id, name, value)
}

func (c *Config) set(id, name, value string) error {
	rc, ok := c.rules[id]
	if !ok {
		return fmt.Errorf("%w: unknown rule %q (ctdiag rules lists them)", ErrConfig, id)
	}
	switch name {
	case "severity":
		s, err := ParseSeverity(value)
		if err != nil {
			return err
		}
		rc.severity = s
		return nil
	case "enabled":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%w: %s.enabled: want true or false, got %q", ErrConfig, id, value)
		}
		rc.disabled = !b
		return nil
	}
	p, ok := rc.rule.Param(name)
	if !ok {
		var names []string
		for _, p := range rc.rule.Params {
			names = append(names, p.Name)
		}
		return fmt.Errorf("%w: rule %s has no parameter %q (it has: %s, severity, enabled)", ErrConfig, id, name, strings.Join(names, ", "))
	}
	v, err := p.Parse(value)
	if err != nil {
		return fmt.Errorf("%w: %s.%s: %v", ErrConfig, id, name, err)
	}
	rc.params[name] = v
	return nil
}

// LoadFile applies a YAML configuration file:
//
//	rules:
//	  syn-sent-growth:
//	    min_entries: 50
//	    severity: critical
//	  sysctl-risk:
//	    enabled: false
//
// Errors name the file and line. A file over MaxConfigSize is refused
// unread (--config /dev/zero once grew without bound).
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	if len(b) > MaxConfigSize {
		return fmt.Errorf("%w: %s: larger than %d KiB, which no rule settings file is (the whole catalog with every parameter set is under 4 KiB)", ErrConfig, path, MaxConfigSize>>10)
	}
	return c.Load(path, b)
}

// MaxConfigSize bounds a rule settings file.
const MaxConfigSize = 1 << 20

// Load applies YAML configuration text; name is used in errors.
func (c *Config) Load(name string, text []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, name, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file changes nothing
	}
	root := doc.Content[0]
	at := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%w: %s:%d: %s", ErrConfig, name, n.Line, fmt.Sprintf(format, args...))
	}
	if root.Kind != yaml.MappingNode {
		return at(root, "expected a mapping with a rules: key")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if key.Value != "rules" {
			return at(key, "unknown key %q (expected rules:)", key.Value)
		}
		if val.Kind != yaml.MappingNode {
			return at(val, "rules: expected a mapping of rule ids")
		}
		for j := 0; j+1 < len(val.Content); j += 2 {
			idNode, body := val.Content[j], val.Content[j+1]
			if body.Kind != yaml.MappingNode {
				return at(body, "%s: expected a mapping of parameters", idNode.Value)
			}
			for k := 0; k+1 < len(body.Content); k += 2 {
				pn, pv := body.Content[k], body.Content[k+1]
				if pv.Kind != yaml.ScalarNode {
					return at(pv, "%s.%s: expected a single value", idNode.Value, pn.Value)
				}
				if err := c.set(idNode.Value, pn.Value, pv.Value); err != nil {
					return at(pn, "%s", strings.TrimPrefix(err.Error(), ErrConfig.Error()+": "))
				}
			}
		}
	}
	return nil
}

// Overrides lists what differs from the shipped catalog, as RULE.PARAM=VALUE
// lines in a stable order (reports show them so a result can be reproduced).
func (c *Config) Overrides() []string {
	var out []string
	def := DefaultConfig()
	for id, rc := range c.rules {
		if rc.disabled {
			out = append(out, id+".enabled=false")
		}
		if rc.severity != SeverityNone {
			out = append(out, id+".severity="+rc.severity.String())
		}
		for _, p := range rc.rule.Params {
			if v := rc.params[p.Name]; v != def.rules[id].params[p.Name] {
				out = append(out, id+"."+p.Name+"="+p.Format(v))
			}
		}
	}
	sort.Strings(out)
	return out
}
