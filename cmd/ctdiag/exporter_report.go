package main

import (
	"strings"

	"github.com/ctdiag/ctdiag/exporter"
	"github.com/ctdiag/ctdiag/report"
)

// promNetns is the netns label of report -o prometheus: the exporter's
// label of the live namespace read ("host", an ip netns name, "pid:N"), or
// none for a report of files, which may come from anywhere.
func promNetns(opts *reportOptions, doc *report.Document) string {
	if !strings.HasPrefix(doc.Timing.Source, "live") {
		return ""
	}
	cfg, err := opts.live.config()
	if err != nil {
		return ""
	}
	return exporter.LabelFor(cfg, cfg.Netns)
}
