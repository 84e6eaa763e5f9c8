package common

import (
	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/rules"
)

// Styles are the TUI's looks. Colours adapt to light and dark backgrounds;
// with NO_COLOR (or a terminal without colours) the renderer drops every
// attribute, so nothing may depend on colour alone: the focused pane, the
// selected row and severities also carry a text mark.
type Styles struct {
	r *lipgloss.Renderer

	Title, Dim, Label, Value, Bold lipgloss.Style
	Border, BorderFocused          lipgloss.Style
	PaneTitle, PaneTitleFocused    lipgloss.Style
	Tab, TabActive                 lipgloss.Style
	Selected                       lipgloss.Style
	Header                         lipgloss.Style
	Status, StatusError            lipgloss.Style
	Good, Warn, Crit, Info         lipgloss.Style
	Spark                          lipgloss.Style
	Command                        lipgloss.Style
	Prompt, PromptError            lipgloss.Style
	HelpKey, HelpDesc, HelpSep     lipgloss.Style
}

// NewStyles builds the styles for a renderer (its colour profile and
// background decide what is drawn).
func NewStyles(r *lipgloss.Renderer) *Styles {
	c := func(light, dark string) lipgloss.AdaptiveColor {
		return lipgloss.AdaptiveColor{Light: light, Dark: dark}
	}
	accent := c("#5A3FC0", "#A48CFF")
	subtle := c("#6B6B6B", "#8A8A8A")
	green := c("#1E7B34", "#5FD37A")
	yellow := c("#8A6100", "#E5C15A")
	red := c("#B3261E", "#FF6B6B")
	blue := c("#1F5FA8", "#6CB6FF")
	ns := r.NewStyle
	return &Styles{
		r:                r,
		Title:            ns().Bold(true).Foreground(accent),
		Dim:              ns().Foreground(subtle),
		Label:            ns().Foreground(subtle),
		Value:            ns().Bold(true),
		Bold:             ns().Bold(true),
		Border:           ns().Foreground(subtle),
		BorderFocused:    ns().Foreground(accent),
		PaneTitle:        ns().Foreground(subtle),
		PaneTitleFocused: ns().Bold(true).Foreground(accent),
		Tab:              ns().Foreground(subtle),
		TabActive:        ns().Bold(true).Foreground(accent),
		Selected:         ns().Reverse(true),
		Header:           ns(),
		Status:           ns().Foreground(subtle),
		StatusError:      ns().Bold(true).Foreground(red),
		Good:             ns().Foreground(green),
		Warn:             ns().Bold(true).Foreground(yellow),
		Crit:             ns().Bold(true).Foreground(red),
		Info:             ns().Foreground(blue),
		Spark:            ns().Foreground(blue),
		Command:          ns().Foreground(accent),
		Prompt:           ns().Bold(true),
		PromptError:      ns().Foreground(red),
		HelpKey:          ns().Bold(true),
		HelpDesc:         ns().Foreground(subtle),
		HelpSep:          ns().Foreground(subtle),
	}
}

// Renderer is the renderer the styles were built for.
func (s *Styles) Renderer() *lipgloss.Renderer { return s.r }

// Severity styles a severity.
func (s *Styles) Severity(sev rules.Severity) lipgloss.Style {
	switch sev {
	case rules.SeverityCritical:
		return s.Crit
	case rules.SeverityWarning:
		return s.Warn
	case rules.SeverityInfo:
		return s.Info
	}
	return s.Dim
}

// Pressure styles a utilisation: below warn good, below crit a warning,
// above critical.
func (s *Styles) Pressure(util, warn, crit float64) lipgloss.Style {
	switch {
	case util >= crit:
		return s.Crit
	case util >= warn:
		return s.Warn
	}
	return s.Good
}
