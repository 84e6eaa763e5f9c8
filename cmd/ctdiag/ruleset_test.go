package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/parser"
)

const rulesetData = "../../ruleset/testdata/"

// TestRulesetFiles: iptables-save and ip6tables-save files make one
// ruleset, shown hook by hook with conntrack's place, NAT port ranges,
// NOTRACK and INVALID drops; -o json reads back to the same text.
func TestRulesetFiles(t *testing.T) {
	out, errOut, code := ctdiag(t, "", "ruleset", rulesetData+"iptables-nft-save-c.txt", rulesetData+"ip6tables-nft-save-c.txt")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"PREROUTING\n  -300 raw",
		"-200        ── conntrack: look up or create the entry",
		"[NOTRACK] -A PREROUTING -p udp -m udp --dport 123 -j CT --notrack",
		"[MASQUERADE ports 30000-30019 fully-random] -A POSTROUTING -o veth0 -p tcp -j MASQUERADE --to-ports 30000-30019 --random-fully",
		"MASQUERADE source ports 30000-30019 (20 ports) in ip nat POSTROUTING #1 fully-random",
		"INVALID packets dropped by ip6 filter INPUT #1",
		"[→ KUBE-X] -A OUTPUT -j KUBE-X",
		"    #1  ", // KUBE-X's rule under the jump, indented
		"last        ── conntrack: confirm new entries into the table",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	js, _, code := ctdiag(t, "", "ruleset", "-o", "json", rulesetData+"iptables-nft-save-c.txt", rulesetData+"ip6tables-nft-save-c.txt")
	if code != 0 {
		t.Fatal(code)
	}
	again, errOut, code := ctdiag(t, js, "ruleset", "-")
	if code != 0 {
		t.Fatalf("reading -o json back: exit %d %s", code, errOut)
	}
	if strings.SplitN(again, "\n", 2)[1] != strings.SplitN(out, "\n", 2)[1] {
		t.Errorf("json read back shows differently:\n%s\n----\n%s", again, out)
	}
}

func TestRulesetBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "rules.txt")
	os.WriteFile(bad, []byte("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state NOPE -j DROP\nCOMMIT\n"), 0o644)
	_, errOut, code := ctdiag(t, "", "ruleset", bad)
	if code != 0 || !strings.Contains(errOut, "rules.txt:3: expected conntrack states") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, _, code = ctdiag(t, "", "ruleset", "--strict", bad); code != exitParameter {
		t.Errorf("--strict: exit %d", code)
	}
	if _, errOut, code = ctdiag(t, "hello\n", "ruleset", "-"); code != exitParameter || !strings.Contains(errOut, "not a ruleset") {
		t.Errorf("not a ruleset: exit %d %q", code, errOut)
	}
	if _, _, code = ctdiag(t, "", "ruleset", "--netns", "x", bad); code != exitParameter {
		t.Errorf("--netns with files: exit %d", code)
	}
}

// TestRulesetInCaptureFolder: a capture folder's ruleset file is detected
// by the parser like every other format and joins the sample.
func TestRulesetInCaptureFolder(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o644)
	}
	copyFile("../../testdata/kernel-6.18/nat-masquerade/rtr/nf_conntrack.t00.txt", "nf_conntrack.t00.txt")
	copyFile(rulesetData+"nft-j-list-ruleset.json", "ruleset.json")
	inputs, err := parser.ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := parser.ReadSamples(inputs, parser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const rules = 31 // the rules of nft-j-list-ruleset.json
	if len(s.Snapshots) != 1 || s.Snapshots[0].Ruleset == nil || s.Snapshots[0].Ruleset.RuleCount() != rules {
		t.Fatalf("samples %d, skipped %v", len(s.Snapshots), s.Skipped)
	}
	for _, d := range s.Decoders {
		if strings.HasSuffix(d.Name(), "ruleset.json") && (d.Format() != parser.FormatRuleset || d.Counts().Rules != rules) {
			t.Errorf("%s: format %v, %d rules", d.Name(), d.Format(), d.Counts().Rules)
		}
	}
}
