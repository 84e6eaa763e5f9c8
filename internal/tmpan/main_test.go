package an

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/parser"
)

func TestDump(t *testing.T) {
	in, err := parser.ExpandPaths([]string{os.Getenv("SRC")})
	if err != nil {
		t.Fatal(err)
	}
	a := analyzer.New(analyzer.Options{})
	w, err := parser.WalkSamples(in, parser.Options{}, a)
	if err != nil {
		t.Fatal(err)
	}
	r := a.Result()
	b, _ := json.MarshalIndent(struct {
		W []string
		T string
		R *analyzer.Result
	}{w.Skipped, w.Timing.String(), r}, "", " ")
	os.Stdout.Write(b)
}
