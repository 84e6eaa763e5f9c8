package rules

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
)

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{SeverityNone, SeverityInfo, SeverityWarning, SeverityCritical} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%s: %q read back as %s (%v)", s, b, back, err)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("loud")); !errors.Is(err, ErrConfig) {
		t.Errorf("loud: %v", err)
	}
}

func TestJudged(t *testing.T) {
	r, _ := Lookup(InvalidStaleTuple)
	if r.Judged(InputTable) || !r.Judged(InputStats) || !r.Judged(InputTable|InputSamples) {
		t.Error("invalid-stale-tuple: judged with statistics, or with two samples of the table")
	}
	if got := r.Missing(InputTable); !strings.Contains(got, "statistics") || !strings.Contains(got, "two or more samples") || strings.Contains(got, "the table (") {
		t.Errorf("Missing = %q", got)
	}
}

func TestCatalogIsComplete(t *testing.T) {
	want := []string{SynSentGrowth, HalfAssured, StuckEstablished, CloseGrowth, TableFull, InvalidStaleTuple, InsertFailed, StaleUDP, TopTalker, SysctlRisk,
		SNATPortExhaustion, NATPortRangeOverlap, InvalidDropped, NotrackConflict, NotrackCandidate, ConntrackUnneeded}
	var got []string
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	for _, r := range Catalog() {
		got = append(got, r.ID)
		if !kebab.MatchString(r.ID) {
			t.Errorf("%s: not kebab-case", r.ID)
		}
		if r.Title == "" || r.Pattern == "" || len(r.Explanation) < 100 || r.Severity == SeverityNone || len(r.Remedies) == 0 || len(r.References) == 0 || len(r.Needs) == 0 {
			t.Errorf("%s: incomplete rule", r.ID)
		}
		// The severity model names every level a finding can reach, lowest
		// first, starting at the rule's own severity, and speaks of the
		// rule's parameters by name.
		if len(r.Levels) == 0 || r.Levels[0].Severity != r.Severity {
			t.Errorf("%s: levels %v do not start at the rule's severity %s", r.ID, r.Levels, r.Severity)
		}
		for i, l := range r.Levels {
			if i > 0 && l.Severity <= r.Levels[i-1].Severity || len(l.When) < 20 {
				t.Errorf("%s: level %d (%s) out of order or unexplained", r.ID, i, l.Severity)
			}
		}
		for _, p := range r.Params {
			used := false
			for _, l := range r.Levels {
				used = used || strings.Contains(l.When, p.Name)
			}
			if !used && p.Unit != UnitBytes && p.Name != "min_age" && p.Name != "min_idle" {
				t.Errorf("%s.%s: no level of the severity model uses it", r.ID, p.Name)
			}
		}
		for _, text := range []string{r.Pattern, r.Explanation} {
			if strings.Contains(text, "spec §") || strings.Contains(text, "../shared") {
				t.Errorf("%s: cites a document users do not have: %q", r.ID, text)
			}
		}
		for _, p := range r.Params {
			if len(p.Doc) < 40 {
				t.Errorf("%s.%s: every default needs its reason", r.ID, p.Name)
			}
		}
		for _, m := range r.Remedies {
			for _, text := range []string{m.Commands, m.Note} {
				if _, err := template.New(m.ID).Option("missingkey=error").Parse(text); err != nil {
					t.Errorf("%s/%s: %v", r.ID, m.ID, err)
				}
			}
			if m.Commands == "" && m.Note == "" {
				t.Errorf("%s/%s: empty remedy", r.ID, m.ID)
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
