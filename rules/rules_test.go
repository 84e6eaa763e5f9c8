package rules

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
)

func TestCatalogIsComplete(t *testing.T) {
	want := []string{SynSentGrowth, HalfAssured, StuckEstablished, CloseGrowth, TableFull, InvalidStaleTuple, InsertFailed, StaleUDP, TopTalker, SysctlRisk}
	var got []string
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	for _, r := range Catalog() {
		got = append(got, r.ID)
		if !kebab.MatchString(r.ID) {
			t.Errorf("%s: not kebab-case", r.ID)
		}
		if r.Title == "" || r.Pattern == "" || len(r.Explanation) < 100 || r.Severity == SeverityNone || len(r.Remedies) == 0 || len(r.References) == 0 {
			t.Errorf("%s: incomplete rule", r.ID)
		}
		for _, p := range r.Params {
			if len(p.Doc) < 40 {
				t.Errorf("%s.%s: every default needs its reason", r.ID, p.Name)
			}
		}
		for _, m := range r.Remedies {
			if _, err := template.New(m.ID).Option("missingkey=error").Parse(m.Template); err != nil {
				t.Errorf("%s/%s: %v", r.ID, m.ID, err)
			}
			if strings.Contains(m.Unfilled(), "{{") {
				t.Errorf("%s/%s: a placeholder is not a plain {{.Name}}", r.ID, m.ID)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("catalog %v", got)
	}
}

func TestOverrides(t *testing.T) {
	c := DefaultConfig()
	if c.Param(SynSentGrowth, "min_entries") != 20 || c.Param(StuckEstablished, "min_idle") != 10800 {
		t.Fatal("defaults")
	}
	for _, s := range []string{"syn-sent-growth.min_entries=50", "top-talker.min_share=30%", "stuck-established.min_idle=2h", "table-full.severity=critical", "sysctl-risk.enabled=false"} {
		if err := c.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if c.Param(SynSentGrowth, "min_entries") != 50 || c.Param(TopTalker, "min_share") != 0.3 || c.Param(StuckEstablished, "min_idle") != 7200 {
		t.Error("values not applied")
	}
	if c.Severity(TableFull, SeverityWarning) != SeverityCritical || c.Severity(SynSentGrowth, SeverityCritical) != SeverityCritical || c.Enabled(SysctlRisk) {
		t.Error("severity/enabled not applied")
	}
	want := []string{"stuck-established.min_idle=2h0m0s", "syn-sent-growth.min_entries=50", "sysctl-risk.enabled=false", "table-full.severity=critical", "top-talker.min_share=30%"}
	if got := c.Overrides(); !slices.Equal(got, want) {
		t.Errorf("Overrides() = %v", got)
	}
	for _, bad := range []string{"nope.min_entries=1", "syn-sent-growth.nope=1", "syn-sent-growth.min_entries=-3", "top-talker.min_share=150%", "x", "table-full.severity=loud"} {
		if err := c.Set(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestLoadYAMLWithLines(t *testing.T) {
	c := DefaultConfig()
	good := "rules:\n  syn-sent-growth:\n    min_entries: 5\n    severity: critical\n  sysctl-risk:\n    enabled: false\n"
	if err := c.Load("ok.yaml", []byte(good)); err != nil {
		t.Fatal(err)
	}
	if c.Param(SynSentGrowth, "min_entries") != 5 || c.Enabled(SysctlRisk) {
		t.Fatal("not applied")
	}
	bad := "rules:\n  syn-sent-growth:\n    min_entries: 5\n    min_age: soon\n"
	err := DefaultConfig().Load("bad.yaml", []byte(bad))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "bad.yaml:4:") || !strings.Contains(err.Error(), "min_age") {
		t.Fatalf("error %v", err)
	}
	if err := DefaultConfig().Load("x.yaml", []byte("other: 1\n")); err == nil || !strings.Contains(err.Error(), "x.yaml:1: unknown key") {
		t.Fatalf("error %v", err)
	}
}

// FuzzLoad: a settings file never panics the loader, and an error is always
// an ErrConfig naming the file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("rules:\n  syn-sent-growth:\n    min_entries: 5\n    severity: critical\n  sysctl-risk:\n    enabled: false\n"))
	f.Add([]byte("rules:\n  top-talker:\n    min_share: 30%\n"))
	f.Add([]byte("rules: [1, 2]\n"))
	f.Add([]byte("rules:\n  x:\n    - a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := DefaultConfig().Load("f.yaml", b)
		if err != nil && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "f.yaml")) {
			t.Fatalf("error %v", err)
		}
	})
}
