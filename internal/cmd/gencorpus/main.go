// Command gencorpus makes calibration captures: a diagnosis rule's pattern
// (or a healthy workload) played with real traffic in network namespaces
// at any size, written as a capture folder like those in
// testdata/kernel-6.18/ (internal/testkit/corpus says how each is made).
// It needs root; it changes nothing outside the namespaces it makes, and
// removes them when it is done.
//
//	gencorpus -list
//	gencorpus -scenario stuck-established -scale 50000 -out /tmp/corpus
//	gencorpus -scenario all -scale S -gzip -out testdata/kernel-6.18/calibration
//	ctdiag report /tmp/corpus/stuck-established/srv
//
// -scale is S, M, L or a number of entries (the view's table at its
// largest, roughly). The capture goes to OUT/SCENARIO.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/corpus"
	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

func main() {
	name := flag.String("scenario", "", "scenario name, or all")
	scale := flag.String("scale", "S", "S, M, L or a number of entries")
	out := flag.String("out", "", "output directory (the capture goes to OUT/SCENARIO)")
	interval := flag.Duration("interval", 5*time.Second, "time between samples (whole seconds)")
	list := flag.Bool("list", false, "list the scenarios")
	gz := flag.Bool("gzip", false, "write the table samples gzipped (nf_conntrack.tNN.txt.gz), as the committed corpus is")
	viewOnly := flag.Bool("view-only", false, "sample only the host the diagnosis reads (faster; the other hosts' folders stay empty)")
	flag.Parse()
	if *list {
		for _, sc := range corpus.Scenarios() {
			rule := sc.Rule
			if rule == "" {
				rule = "(healthy)"
			}
			fmt.Printf("%-26s %-20s view %s: %s\n", sc.Name, rule, sc.View, sc.Shows)
		}
		return
	}
	size, err := parseScale(*scale)
	if err != nil || *name == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gencorpus -scenario NAME|all -scale S|M|L|N -out DIR [-interval 5s]")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
	var todo []*corpus.Scenario
	if *name == "all" {
		todo = corpus.Scenarios()
	} else {
		sc, ok := corpus.Lookup(*name)
		if !ok {
			fmt.Fprintf(os.Stderr, "gencorpus: no scenario %q (gencorpus -list)\n", *name)
			os.Exit(2)
		}
		todo = []*corpus.Scenario{sc}
	}
	code := 0
	for _, sc := range todo {
		if !sc.Plays(size) {
			fmt.Fprintf(os.Stderr, "gencorpus: %s at S is the committed capture %s, not played\n", sc.Name, sc.Committed)
			continue
		}
		dir := filepath.Join(*out, sc.Name)
		start := time.Now()
		if err := play(sc, size, dir, corpus.Options{Interval: *interval, ViewOnly: *viewOnly, Gzip: *gz}); err != nil {
			fmt.Fprintf(os.Stderr, "gencorpus: %s: %v\n", sc.Name, err)
			code = 1
			continue
		}
		fmt.Fprintf(os.Stderr, "gencorpus: %s at %s in %s (%v)\n", sc.Name, corpus.ScaleLabel(size), dir, time.Since(start).Round(100*time.Millisecond))
	}
	os.Exit(code)
}

func parseScale(s string) (int, error) {
	switch strings.ToUpper(s) {
	case "S":
		return corpus.S, nil
	case "M":
		return corpus.M, nil
	case "L":
		return corpus.L, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 {
		return 0, fmt.Errorf("-scale %q: want S, M, L or a number of entries ≥ 100", s)
	}
	return n, nil
}

// play runs one scenario with a command-line stand-in for testing.TB,
// then its cleanups (namespaces removed), whatever happened.
func play(sc *corpus.Scenario, size int, dir string, opts corpus.Options) (err error) {
	t := &runner{name: sc.Name}
	defer func() {
		if v := recover(); v != nil && v != errStop {
			err = fmt.Errorf("panic: %v", v)
		}
		t.runCleanups()
		if err == nil {
			err = t.err()
		}
	}()
	netnstest.Require(t)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	corpus.Play(t, sc, size, dir, opts)
	return nil
}

// errStop unwinds a play on Fatal or Skip, as runtime.Goexit does in a test.
var errStop = errors.New("stop")

// runner is the part of testing.TB the corpus kit and netnstest use, for a
// command: messages go to standard error, Fatal and Skip stop the play.
// Methods it does not define are those of the nil embedded TB: never
// called by the kit.
type runner struct {
	testing.TB
	name string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  string
}

func (r *runner) Helper() {}

// Name says what the scenario is to the namespace kit, which serves only
// kernel tests (named TestKernel…): playing a scenario is one.
func (r *runner) Name() string { return "TestKernelCorpus/" + r.name }
func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}
func (r *runner) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (r *runner) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (r *runner) Error(args ...any)               { r.Log(args...); r.Fail() }
func (r *runner) Errorf(format string, args ...any) {
	r.Logf(format, args...)
	r.Fail()
}
func (r *runner) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}
func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *runner) FailNow()                          { r.Fail(); panic(errStop) }
func (r *runner) Fatal(args ...any)                 { r.Error(args...); panic(errStop) }
func (r *runner) Fatalf(format string, args ...any) { r.Errorf(format, args...); panic(errStop) }
func (r *runner) Skip(args ...any)                  { r.skip(fmt.Sprint(args...)) }
func (r *runner) Skipf(format string, args ...any)  { r.skip(fmt.Sprintf(format, args...)) }
func (r *runner) SkipNow()                          { r.skip("skipped") }
func (r *runner) skip(why string) {
	r.mu.Lock()
	r.skipped = why
	r.mu.Unlock()
	panic(errStop)
}
func (r *runner) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped != ""
}
func (r *runner) TempDir() string {
	d, err := os.MkdirTemp("", "gencorpus-")
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// runCleanups runs the cleanups last first, as testing does.
func (r *runner) runCleanups() {
	for {
		r.mu.Lock()
		if len(r.cleanups) == 0 {
			r.mu.Unlock()
			return
		}
		f := r.cleanups[len(r.cleanups)-1]
		r.cleanups = r.cleanups[:len(r.cleanups)-1]
		r.mu.Unlock()
		func() {
			defer func() {
				if v := recover(); v != nil && v != errStop {
					fmt.Fprintf(os.Stderr, "gencorpus: cleanup: %v\n", v)
				}
			}()
			f()
		}()
	}
}

func (r *runner) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.failed:
		return errors.New("failed (see above)")
	case r.skipped != "":
		return errors.New(r.skipped)
	}
	return nil
}
