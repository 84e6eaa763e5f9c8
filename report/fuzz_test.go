package report_test

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/ctdiag/ctdiag/report"
)

// FuzzReadJSON: reading never panics, and a document that reads is written
// and read back to an equal value.
func FuzzReadJSON(f *testing.F) {
	for _, name := range []string{"syn-sent-growth.json", "healthy.json", "table-full.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"ctdiag.report/v1","findings":null}`))
	f.Add([]byte(`{"schema":"ctdiag.report/v1","samples":[{"time":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := report.ReadJSON(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := report.WriteJSON(&out, d); err != nil {
			t.Fatalf("write: %v", err)
		}
		back, err := report.ReadJSON(&out)
		if err != nil {
			t.Fatalf("reread: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(d, back) {
			t.Fatalf("round trip differs:\n%+v\n%+v", d, back)
		}
		// Whatever reads must also render.
		var sink bytes.Buffer
		for _, write := range []func() error{
			func() error { return report.WriteText(&sink, d, report.TextOptions{}) },
			func() error { return report.WriteMarkdown(&sink, d) },
		} {
			if err := write(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
