package common

import (
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Int(0), "0"}, {Int(999), "999"}, {Int(1000), "1,000"}, {Int(-1234567), "-1,234,567"}, {Int(uint64(1 << 40)), "1,099,511,627,776"},
		{DurShort(45 * time.Second), "45s"}, {DurShort(119 * time.Second), "119s"}, {DurShort(12 * time.Minute), "12m"},
		{DurShort(47 * time.Hour), "47h"}, {DurShort(5 * 24 * time.Hour), "5d0h"}, {DurShort(431999 * time.Second), "4d23h"},
		{Dur(3*time.Hour + 20*time.Minute), "3h20m"},
		{Bytes(512), "512B"}, {Bytes(1536), "1.5K"}, {Num(1480), "1480"}, {Num(2.25), "2.2"},
		{Sparkline([]float64{0, 1, 2, 4}, 6), "   ▂▄█"}, {Bar(0.5, 4), "██░░"}, {Bar(0.001, 4), "█░░░"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	styled := "\x1b[1mbold text\x1b[0m"
	if w := ansi.StringWidth(Fit(styled, 4)); w != 4 {
		t.Errorf("Fit cut a styled string to %d cells", w)
	}
	if w := ansi.StringWidth(Fit(styled, 12)); w != 12 {
		t.Errorf("Fit padded a styled string to %d cells", w)
	}
}
