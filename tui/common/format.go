package common

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// Int writes n with thousands separators: 1,048,576.
func Int[T ~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64](n T) string {
	neg := n < 0
	s := strconv.FormatUint(uint64(n), 10)
	if neg {
		s = strconv.FormatInt(int64(n), 10)[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Num writes a rate or count compactly: 0, 0.4, 12, 1.2k, 3.4M.
func Num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a < 10:
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	case a < 10_000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a < 10_000_000:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	}
	return strconv.FormatFloat(v/1e6, 'f', 0, 64) + "M"
}

// Dur writes a duration as a person reads it: 45s, 12m, 3h20m, 4d23h.
func Dur(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 120:
		return strconv.FormatInt(s, 10) + "s"
	case s < 7200:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 2*86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// FullIn says when the table is full at its recent growth, from
// analyzer.Pressure.FullInSeconds: "full now", "full in 3m20s".
func FullIn(seconds float64) string {
	if seconds <= 0 {
		return "full now"
	}
	return "full in " + Dur(time.Duration(seconds*float64(time.Second)))
}

// DurShort writes a duration in at most 5 cells, for columns: 45s, 12m,
// 47h, 4d23h.
func DurShort(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 120:
		return strconv.FormatInt(s, 10) + "s"
	case s < 7200:
		return strconv.FormatInt(s/60, 10) + "m"
	case s < 2*86400:
		return strconv.FormatInt(s/3600, 10) + "h"
	case s < 100*86400:
		return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
	}
	return strconv.FormatInt(s/86400, 10) + "d"
}

// Bytes writes a byte count: 512B, 1.2K, 34M, 5.6G.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	v, suffix := float64(n), "KMGTPE"
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + suffix[i:i+1]
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + suffix[i:i+1]
}

const sparkRunes = "▁▂▃▄▅▆▇█"

// Sparkline draws the last width values, scaled from 0 to their maximum;
// missing history is blank on the left.
func Sparkline(vals []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(vals) > width {
		vals = vals[len(vals)-width:]
	}
	hi := 0.0
	for _, v := range vals {
		hi = max(hi, v)
	}
	runes := []rune(sparkRunes)
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(vals)))
	for _, v := range vals {
		switch {
		case v <= 0 || hi == 0:
			b.WriteRune(' ')
		default:
			i := int(math.Ceil(v/hi*float64(len(runes)))) - 1
			b.WriteRune(runes[max(0, min(i, len(runes)-1))])
		}
	}
	return b.String()
}

// Bar draws a share of width cells: filled blocks then light shade.
func Bar(share float64, width int) string {
	if width <= 0 {
		return ""
	}
	share = max(0, min(share, 1))
	full := int(math.Round(share * float64(width)))
	if share > 0 && full == 0 {
		full = 1
	}
	return strings.Repeat("█", full) + strings.Repeat("░", width-full)
}

// Fit pads or cuts s (which may hold ANSI styling) to exactly width cells.
func Fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "…")
	}
	return s + strings.Repeat(" ", width-w)
}

// FitLeft pads s on the left (numbers in columns).
func FitLeft(s string, width int) string {
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "…")
	}
	return strings.Repeat(" ", width-w) + s
}

// trailingSpace is spaces at the end of a line, before any closing
// styling.
var trailingSpace = regexp.MustCompile(`[ ]+((?:\x1b\[[0-9;]*m)*)$`)

// Wrap breaks s (which may hold ANSI styling) into lines of at most width
// cells, between words where it can: no line is ever wider, so nothing is
// cut when it is drawn.
func Wrap(s string, width int) []string {
	lines := strings.Split(ansi.Wrap(s, max(1, width), ""), "\n")
	for i, l := range lines {
		lines[i] = trailingSpace.ReplaceAllString(l, "$1")
	}
	return lines
}

// Lines pads or cuts text to exactly height lines of width cells.
func Lines(text string, width, height int) []string {
	if height <= 0 {
		return nil
	}
	var in []string
	if text != "" {
		in = strings.Split(text, "\n")
	}
	out := make([]string, height)
	for i := range out {
		if i < len(in) {
			out[i] = Fit(in[i], width)
		} else {
			out[i] = strings.Repeat(" ", width)
		}
	}
	return out
}

// Box draws content inside a rounded border of exactly width×height cells,
// the title set into the top edge. A focused box says so with a ▸ before
// its title, so it shows without colour too.
func Box(st *Styles, title, content string, width, height int, focused bool) string {
	if width < 4 || height < 2 {
		return strings.Join(Lines(content, max(width, 0), max(height, 0)), "\n")
	}
	border, titleStyle, mark := st.Border, st.PaneTitle, " "
	if focused {
		border, titleStyle, mark = st.BorderFocused, st.PaneTitleFocused, "▸"
	}
	title = ansi.Truncate(mark+title+" ", width-4, "…")
	fill := width - 3 - ansi.StringWidth(title)
	var b strings.Builder
	b.WriteString(border.Render("╭─") + titleStyle.Render(title) + border.Render(strings.Repeat("─", fill)+"╮"))
	side := border.Render("│")
	for _, l := range Lines(content, width-2, height-2) {
		b.WriteString("\n" + side + l + side)
	}
	b.WriteString("\n" + border.Render("╰"+strings.Repeat("─", width-2)+"╯"))
	return b.String()
}

// JoinColumns places blocks side by side (each a rendered box).
func JoinColumns(blocks ...string) string {
	return lipgloss.JoinHorizontal(lipgloss.Top, blocks...)
}
