package main

import (
	"flag"
	"os"
	"testing"
)

// TestRulesDocIsCurrent: docs/RULES.md is what ctdiag rules --markdown
// writes from the catalog (go test ./cmd/ctdiag -run RulesDoc -update
// rewrites it), so the severity models and thresholds documented are the
// ones in force.
func TestRulesDocIsCurrent(t *testing.T) {
	out, errOut, code := ctdiag(t, "", "rules", "--markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	const path = "../../docs/RULES.md"
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != out {
		t.Errorf("%s is stale: go test ./cmd/ctdiag -run RulesDoc -update", path)
	}
}
