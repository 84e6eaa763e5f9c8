package parser

import (
	"testing"
)

// FuzzTimeFromName: any file name gives a time or none, never a panic, and
// a time read from a name is a real calendar time.
func FuzzTimeFromName(f *testing.F) {
	for _, s := range []string{"nf_conntrack.t05.txt", "ct.1700000000.txt", "ct-20261121T125834.txt", "ct_2026-11-21T12:58:34.txt", "t9999999", "20260230T250000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		nt := timeFromName(name, nil) // the command line's zone: the machine's
		if nt.ok && nt.t.IsZero() {
			t.Fatalf("%q: zero time", name)
		}
	})
}
