package main

import "github.com/ctdiag/ctdiag/filter"

// parseFilterText reads a filter written as ctdiag list options in one
// string, with the one tokenizer the TUI's / prompt uses too.
func parseFilterText(s string) (*filter.Filter, error) { return filter.ParseString(s) }
