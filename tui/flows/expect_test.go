package flows

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// TestExpect reads the tracker's next step off real entries: every entry of
// the captures gets an answer, and the answers follow docs/KERNEL.md's rules.
func TestExpect(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/kernel-6.18/*/*/nf_conntrack.t*.txt")
	paths = append(paths, "../../testdata/kernel-6.18/formats/proc-nf_conntrack.txt")
	tm := track.NewTimeouts(nil)
	seen := map[string]string{}
	for _, p := range paths {
		s, err := parser.ReadSamples([]parser.Input{{Path: p}}, parser.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, snap := range s.Snapshots {
			for i := range snap.Flows {
				f := &snap.Flows[i]
				e := Expect(f, flowtable.IdleAge(f, tm))
				if e == "" {
					t.Fatalf("%s: no answer for %v", p, f.Orig)
				}
				key := f.Orig.Proto.String() + " " + f.StateName() + " " + flagWords(f)
				seen[key] = e
			}
		}
	}
	want := map[string]string{
		"tcp SYN_SENT [UNREPLIED]":                    "a SYN-ACK from",
		"tcp ESTABLISHED [ASSURED]":                   "a FIN → FIN_WAIT, an RST → CLOSE",
		"tcp TIME_WAIT [ASSURED]":                     "re-opens it as a fresh entry",
		"udp  [UNREPLIED]":                            "a reply from",
		"udp  (half-assured: replied, not [ASSURED])": "2-second mark",
	}
	for k, w := range want {
		got, ok := seen[k]
		if !ok {
			t.Errorf("no %s entry in the captures", k)
			continue
		}
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q, want it to say %q", k, got, w)
		}
	}
}
