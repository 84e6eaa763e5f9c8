package report_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/report"
	"github.com/ctdiag/ctdiag/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const captures = "../testdata/kernel-6.18"

// fixed is the report time of every golden file.
var fixed = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

// document analyses real captures as ctdiag report does.
func document(t *testing.T, paths ...string) *report.Document {
	t.Helper()
	var args []string
	for _, p := range paths {
		args = append(args, filepath.Join(captures, p))
	}
	inputs, err := parser.ExpandPaths(args)
	if err != nil {
		t.Fatal(err)
	}
	a := analyzer.New(analyzer.Options{})
	w, err := parser.WalkSamples(inputs, parser.Options{}, a)
	if err != nil {
		t.Fatal(err)
	}
	a.SetTiming(w.Timing.String())
	in := report.Input{Sources: args, Skipped: w.Skipped, MalformedLines: w.Problems()}
	for _, d := range w.Decoders {
		in.Read = append(in.Read, report.ReadInput{Name: d.Name(), Format: d.Format().String(), Entries: d.Counts().Flows})
	}
	return report.Build(a.Result(), report.Meta{Tool: "ctdiag test", Generated: fixed, Timing: w.Timing.String(), Relative: w.RelativeTimes, Input: in})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it after review):\n%s", name, got)
	}
}

func TestGoldenReports(t *testing.T) {
	for _, c := range []struct {
		name  string
		paths []string
	}{
		{"syn-sent-growth", []string{"syn-sent-growth/cli"}},
		{"healthy", []string{"healthy-baseline/srv"}},
		{"table-full", []string{"table-full/srv/nf_conntrack.t00.txt", "table-full/srv/nf_conntrack.t01.txt",
			"table-full/srv/nf_conntrack.t05.txt", "table-full/srv/nf_conntrack.t10.txt",
			"table-full/srv/while-full.txt", "table-full/srv/sysctl-nf_conntrack.while-full.txt", "table-full/dmesg.txt",
			"table-full/srv/iptables.txt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := document(t, c.paths...)
			var text, md, junit, js bytes.Buffer
			if err := report.WriteText(&text, d, report.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := report.WriteMarkdown(&md, d); err != nil {
				t.Fatal(err)
			}
			if err := report.WriteJUnit(&junit, d, rules.SeverityWarning); err != nil {
				t.Fatal(err)
			}
			if err := report.WriteJSON(&js, d); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".txt", text.Bytes())
			golden(t, c.name+".md", md.Bytes())
			golden(t, c.name+".junit.xml", junit.Bytes())
			golden(t, c.name+".json", js.Bytes())
			if bytes.Contains(text.Bytes(), []byte("\x1b[")) {
				t.Error("colour escapes without Color")
			}
		})
	}
}

// The JSON document reads back to an equal value.
func TestJSONRoundTrip(t *testing.T) {
	for _, p := range []string{"syn-sent-growth/cli", "healthy-baseline/srv"} {
		d := document(t, p)
		var buf bytes.Buffer
		if err := report.WriteJSON(&buf, d); err != nil {
			t.Fatal(err)
		}
		back, err := report.ReadJSON(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d, back) {
			t.Errorf("%s: JSON did not round-trip", p)
		}
	}
	if _, err := report.ReadJSON(strings.NewReader(`{"schema":"ctdiag.report/v0"}`)); err == nil {
		t.Error("another schema must be refused")
	}
}

func TestHealthyReportSaysSo(t *testing.T) {
	d := document(t, "healthy-baseline/srv")
	var buf bytes.Buffer
	if err := report.WriteText(&buf, d, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{fmt.Sprintf("No problems found: %d rules checked, none fired.", len(rules.Catalog())), "305 entries", "tcp TIME_WAIT 200"} {
		if !strings.Contains(out, want) {
			t.Errorf("healthy report lacks %q:\n%s", want, out)
		}
	}
	if d.Status != "ok" || d.Worst.String() != "none" || d.Fails(rules.SeverityInfo) {
		t.Errorf("status %s worst %s", d.Status, d.Worst)
	}
}

// JUnit: one test case per rule; a finding is a failure only at or above
// --fail-on, so CI's red and the exit status agree.
func TestJUnitFailOn(t *testing.T) {
	d := document(t, "syn-sent-growth/cli")
	for _, c := range []struct {
		failOn   rules.Severity
		failures int
	}{{rules.SeverityInfo, 1}, {rules.SeverityWarning, 1}, {rules.SeverityCritical, 0}, {rules.SeverityNone, 0}} {
		var buf bytes.Buffer
		if err := report.WriteJUnit(&buf, d, c.failOn); err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Suites   []struct {
				Cases []struct {
					Name    string `xml:"name,attr"`
					Failure *struct {
						Message string `xml:"message,attr"`
					} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(buf.Bytes(), &parsed); err != nil {
			t.Fatalf("not XML: %v", err)
		}
		if n := len(rules.Catalog()); parsed.Tests != n || parsed.Failures != c.failures || len(parsed.Suites[0].Cases) != n {
			t.Errorf("fail-on %v: %d tests, %d failures", c.failOn, parsed.Tests, parsed.Failures)
		}
		if c.failures > 0 && (parsed.Suites[0].Cases[0].Failure == nil || !strings.HasPrefix(parsed.Suites[0].Cases[0].Failure.Message, "warning: 900 TCP connections")) {
			t.Errorf("first case %+v", parsed.Suites[0].Cases[0])
		}
		if d.Fails(c.failOn) != (c.failures > 0) {
			t.Errorf("Fails(%v) disagrees with JUnit", c.failOn)
		}
	}
}

func TestColourOnRequest(t *testing.T) {
	d := document(t, "syn-sent-growth/cli")
	var buf bytes.Buffer
	if err := report.WriteText(&buf, d, report.TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("\x1b[")) {
		t.Error("no colour escapes with Color")
	}
}

func TestSparkline(t *testing.T) {
	if got := report.Sparkline([]float64{0, 300, 600, 900, 900}); got != "▁▃▅██" {
		t.Errorf("%q", got)
	}
	if got := report.Sparkline([]float64{5, 5}); got != "▁▁" {
		t.Errorf("flat %q", got)
	}
}

// TestEventChurnInReport: with events followed over the last interval the
// report gives the kernel's counts (lower bounds after a loss) beside the
// tuple comparison, in text, markdown and JSON, and JSON reads back.
func TestEventChurnInReport(t *testing.T) {
	d := document(t, "syn-sent-growth/cli")
	if d.Summary.Events != nil {
		t.Fatalf("no events were recorded, yet: %+v", d.Summary.Events)
	}
	res := &analyzer.Result{Summary: analyzer.Summary{Samples: 2, SpanSeconds: 10, NewBetween: 12, GoneBetween: 3, NewPerSec: 1.2, GonePerSec: 0.3,
		EventsFollowed: true, EventsCreated: 4000, EventsDestroyed: 3900, CreatedPerSec: 400, DestroyedPerSec: 390, EventsLost: 2}}
	d = report.Build(res, report.Meta{Tool: "ctdiag test", Generated: fixed})
	var text, md, js bytes.Buffer
	if err := report.WriteText(&text, d, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	want := "at least 4000 created, at least 3900 destroyed between the last two samples (conntrack events: 400/s created, 390/s destroyed; lost 2 times) · tuples: 12 new, 3 gone"
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("%s lacks %q:\n%s", name, want, out)
		}
	}
	if err := report.WriteJSON(&js, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"events": {`) || !strings.Contains(js.String(), `"created": 4000`) || !strings.Contains(js.String(), `"lost": 2`) {
		t.Errorf("JSON lacks the event churn:\n%s", js.String())
	}
	back, err := report.ReadJSON(&js)
	if err != nil || !reflect.DeepEqual(back.Summary.Events, d.Summary.Events) {
		t.Errorf("event churn did not round-trip: %+v, %v", back.Summary.Events, err)
	}
}
