// Package report turns an analysis into what people and machines read: the
// versioned JSON document (Document, schema "ctdiag.report/v1", documented
// in docs/REPORT.md), plain or coloured text for a terminal or a runbook,
// Markdown for a CI job summary or a pull-request comment, and JUnit XML
// where each rule of the catalog is a test case.
//
// report formats only: it reads no input and evaluates nothing (that is the
// analyzer's), and the caller passes the time a report is made. It depends
// on analyzer and rules, and must not import parser, collector or tui.
package report
