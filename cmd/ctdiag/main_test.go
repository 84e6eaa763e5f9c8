package main

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets eight of the scorecard's scenarios, which spend most of
// their time waiting between samples, run at once: go test runs only
// GOMAXPROCS parallel subtests by default (2 here), which would play them
// two by two (S and M: 165 s instead of 50 s). More than eight at once on
// two cores starve the scenarios that need both CPUs at the same moment
// (the insert race). Only the scorecard's plays call t.Parallel in this
// package; a -parallel given on the command line wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
