package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/ctdiag/ctdiag/rules"
)

// The JUnit XML schema as CI systems read it (Jenkins, GitLab, GitHub
// test reporters): a suite of test cases, each passed, failed or skipped.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
	SystemOut string      `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Skipped   *junitSkipped `xml:"skipped"`
	Failure   *junitFailure `xml:"failure"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes one test case per enabled rule. A rule that fired at
// or above failOn is a failure carrying the finding's summary, evidence and
// remedies; one that fired below it passes with the finding in its output,
// so that `--fail-on` and the CI's red/green agree.
func WriteJUnit(w io.Writer, d *Document, failOn rules.Severity) error {
	findings := map[string]*Finding{}
	for i := range d.Findings {
		findings[d.Findings[i].Rule] = &d.Findings[i]
	}
	suite := junitSuite{Name: "ctdiag report", Tests: len(d.Checks)}
	for _, c := range d.Checks {
		if !c.Judged {
			suite.Skipped++
		}
	}
	if !d.Generated.IsZero() {
		suite.Timestamp = d.Generated.UTC().Format("2006-01-02T15:04:05")
	}
	var out strings.Builder
	plain := newTextStyles(&out, false)
	writeHeaderText(&out, plain, d)
	writeFooterText(&out, plain, d, 100)
	suite.SystemOut = out.String()
	for _, c := range d.Checks {
		tc := junitCase{Name: c.Rule + ": " + c.Title, Classname: "ctdiag.rules"}
		if !c.Judged {
			tc.Skipped = &junitSkipped{Message: "not judged: needs " + c.Missing}
		}
		if f, ok := findings[c.Rule]; ok {
			body := findingText(f)
			if failOn != rules.SeverityNone && f.Severity >= failOn {
				tc.Failure = &junitFailure{Message: f.Severity.String() + ": " + f.Summary, Type: f.Severity.String(), Text: body}
				suite.Failures++
			} else {
				tc.SystemOut = fmt.Sprintf("%s (below --fail-on %s): %s", f.Severity, failOn, body)
			}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	doc := junitSuites{Name: "ctdiag", Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// findingText is one finding in plain text, for places that take no
// markup (a JUnit failure).
func findingText(f *Finding) string {
	var b strings.Builder
	writeFindingText(&b, newTextStyles(&b, false), f, 100)
	return b.String()
}
