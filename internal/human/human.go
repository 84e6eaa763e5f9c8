// Package human writes numbers the way ctdiag shows them to people: shares
// as percentages with the precision they deserve, seconds as 45s, 12m,
// 3h 20m or 4d 23h, rates per second, counted nouns. The analyzer's
// findings, the reports and the terminal UI all use it, so a figure reads
// the same everywhere.
//
// It imports only the standard library.
package human

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Percent writes a share (0..1): 42%, 4.2%, 0.42%, 0%.
func Percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f >= 0.1:
		return fmt.Sprintf("%.0f%%", f*100)
	case f >= 0.001:
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

// Seconds writes a duration in seconds: 45s, 12m, 3h 20m, 4d 23h.
func Seconds(sec float64) string {
	s := int64(math.Round(sec))
	switch {
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 7200:
		return fmt.Sprintf("%dm", s/60)
	case s < 2*86400:
		return strings.TrimSuffix(fmt.Sprintf("%dh %dm", s/3600, s%3600/60), " 0m")
	}
	return strings.TrimSuffix(fmt.Sprintf("%dd %dh", s/86400, s%86400/3600), " 0h")
}

// Rate writes a rate per second: 0/s, 0.25/s, 3.1/s, 12/s.
func Rate(r float64) string {
	if math.Abs(r) >= 10 || r == 0 {
		return fmt.Sprintf("%.0f/s", r)
	}
	return fmt.Sprintf("%.2g/s", r)
}

// Plural writes a count with its noun: "1 entry", "2 entries".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
