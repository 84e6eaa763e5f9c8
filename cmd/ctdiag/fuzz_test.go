package main

import (
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// FuzzSysctlFlag: any --sysctl value of replay and whatif is refused with a
// message naming the flag or builds an engine whose settings are the
// kernel's kind of number (whole seconds, 0 to 2^31-1).
func FuzzSysctlFlag(f *testing.F) {
	for _, s := range []string{"nf_conntrack_tcp_timeout_time_wait=30", "nf_conntrack_udp_timeout=NaN", "nf_conntrack_max=1e300",
		"nf_conntrack_max=-1", "net.netfilter.nf_conntrack_tcp_loose=0", "nf_conntrack_buckets= 7 ", "=", "x", "nf_conntrack_bogus=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o := engineFlags{sysctls: []string{s}}
		cfg, err := o.config(nil)
		if err != nil {
			if !strings.Contains(err.Error(), "--sysctl") && !strings.Contains(err.Error(), "sysctl ") {
				t.Fatalf("%q: %v does not name the setting", s, err)
			}
			return
		}
		if _, err := track.NewEngine(cfg); err != nil {
			t.Fatalf("%q: accepted, then %v", s, err)
		}
	})
}
