package main

import (
	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/tui/flows"
)

// parseFilterText reads a filter written as ctdiag list options in one
// string (what the TUI's / prompt takes).
func parseFilterText(s string) (*filter.Filter, error) { return flows.ParseQuery(s) }
