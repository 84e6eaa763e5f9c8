package human

import "testing"

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Percent(0), "0%"}, {Percent(1), "100%"}, {Percent(0.123), "12%"}, {Percent(0.0123), "1.2%"}, {Percent(0.000123), "0.01%"},
		{Seconds(0), "0s"}, {Seconds(119.4), "119s"}, {Seconds(125), "2m"}, {Seconds(3*3600 + 20*60), "3h 20m"}, {Seconds(7200), "2h"},
		{Seconds(432000 - 3600), "4d 23h"}, {Seconds(2 * 86400), "2d"},
		{Rate(0), "0/s"}, {Rate(0.25), "0.25/s"}, {Rate(3.14), "3.1/s"}, {Rate(12.4), "12/s"}, {Rate(-15), "-15/s"},
		{Plural(1, "entry", "entries"), "1 entry"}, {Plural(0, "entry", "entries"), "0 entries"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
