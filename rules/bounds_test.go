package rules

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParamValuesBounded: NaN, infinities and absurd magnitudes were once
// accepted (bytes_per_entry=1e300 printed "-9223372036854775808 MiB"); a
// value is refused with the parameter's name and its valid range.
func TestParamValuesBounded(t *testing.T) {
	cases := []struct{ set, want string }{
		{"table-full.bytes_per_entry=1e300", "table-full.bytes_per_entry: want a whole number of bytes from 1 to 1048576"},
		{"table-full.bytes_per_entry=NaN", "from 1 to 1048576"},
		{"table-full.bytes_per_entry=0", "from 1 to 1048576"},
		{"syn-sent-growth.min_entries=Inf", "syn-sent-growth.min_entries: want a whole number from 0 to 4294967295"},
		{"syn-sent-growth.min_entries=2.5", "want a whole number"},
		{"syn-sent-growth.min_entries=-1", "want a whole number"},
		{"invalid-stale-tuple.min_rate=+Inf/s", "invalid-stale-tuple.min_rate: want a rate like 5 or 5/s from 0/s to 1000000000/s"},
		{"syn-sent-growth.min_age=NaN", "syn-sent-growth.min_age: want a duration like 90s or 3h from 0s to 8784h0m0s"},
		{"syn-sent-growth.min_age=1e300", "from 0s to 8784h0m0s"},
		{"syn-sent-growth.min_age=-3s", "from 0s to 8784h0m0s"},
		{"top-talker.min_share=NaN%", "top-talker.min_share: want a share like 30% or 0.3 from 0% to 100%"},
		{"top-talker.min_share=101%", "from 0% to 100%"},
		{"sysctl-risk.max_per_bucket=1e300", "sysctl-risk.max_per_bucket: want a number from 0 to 1000000"},
	}
	for _, c := range cases {
		err := DefaultConfig().Set(c.set)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", c.set, err, c.want)
		}
	}
	for _, ok := range []string{"table-full.bytes_per_entry=512", "syn-sent-growth.min_age=1h", "top-talker.min_share=30%", "invalid-stale-tuple.min_rate=2.5/s"} {
		if err := DefaultConfig().Set(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestConfigFileBounded: --config /dev/zero once read without end.
func TestConfigFileBounded(t *testing.T) {
	for _, path := range []string{"/dev/zero", bigFile(t)} {
		err := DefaultConfig().LoadFile(path)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), path+": larger than 1024 KiB") {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func bigFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte("rules:\n"+strings.Repeat("# padding\n", 200000)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzSet: whatever --set says, it is refused with ErrConfig or accepted
// as a finite value within its parameter's range, which reads back from
// its written form.
func FuzzSet(f *testing.F) {
	for _, s := range []string{"syn-sent-growth.min_entries=50", "top-talker.min_share=30%", "top-talker.min_share=0.3",
		"syn-sent-growth.min_age=90s", "syn-sent-growth.min_age=1e300", "table-full.bytes_per_entry=NaN",
		"invalid-stale-tuple.min_rate=5/s", "table-full.severity=critical", "sysctl-risk.enabled=false", "x.y=z", "=", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := DefaultConfig()
		if err := c.Set(s); err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("%q: %v is not an ErrConfig", s, err)
			}
			return
		}
		lhs, _, _ := strings.Cut(s, "=")
		id, name, _ := strings.Cut(lhs, ".")
		rc := c.rules[id]
		p, ok := rc.rule.Param(name)
		if !ok {
			return // severity, enabled
		}
		v := c.Param(id, name)
		lo, hi := p.Unit.Range()
		if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
			t.Fatalf("%q accepted as %v, outside %v..%v", s, v, lo, hi)
		}
		back, err := p.Parse(p.Format(v))
		if err != nil || math.Abs(back-v) > 1e-9*math.Max(1, math.Abs(v)) {
			t.Fatalf("%q: %v written %q reads back %v, %v", s, v, p.Format(v), back, err)
		}
	})
}
