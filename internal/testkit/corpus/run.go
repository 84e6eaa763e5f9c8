package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// Run is one scenario being played at one size: the hosts it samples, its
// clock (sample k is read k×Interval after the start), the scenario log and
// the capture folder it writes.
type Run struct {
	T        testing.TB
	Scenario *Scenario
	Size     int
	Dir      string
	Interval time.Duration
	Rand     *rand.Rand

	viewOnly bool
	gzip     bool
	start    time.Time
	kmsg     *Kmsg
	hosts    []*Host
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	samples  []string // README lines: "snapshot t05 cli: 300 entries"
	lastSec  int      // the last sample's second, -1 before the first
	summary  bytes.Buffer

	mu  sync.Mutex
	log bytes.Buffer
}

// Host is one machine of a scenario: a namespace and the folder its view
// is written to.
type Host struct {
	Name string // cli, srv, rtr
	NS   *netnstest.NS
	// Sampled hosts get a table file at every sample; the others only
	// their end-of-run files.
	Sampled bool

	bulk *Bulk
}

// Options set how a scenario is captured.
type Options struct {
	// Interval between samples, whole seconds (default 5 s, as the issue's
	// captures were taken).
	Interval time.Duration
	// ViewOnly samples and finishes only the scenario's view host (the
	// scorecard reads nothing else); the other hosts' folders stay empty.
	ViewOnly bool
	// Gzip writes the table samples gzipped (nf_conntrack.tNN.txt.gz),
	// for captures that are committed.
	Gzip bool
}

func (o Options) interval() time.Duration {
	if o.Interval <= 0 {
		return 5 * time.Second
	}
	return o.Interval.Truncate(time.Second)
}

// Logf appends a line to the scenario log, stamped with the time since the
// start.
func (r *Run) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var since float64
	if !r.start.IsZero() {
		since = time.Since(r.start).Seconds()
	}
	fmt.Fprintf(&r.log, "[%6.1fs] %s\n", since, fmt.Sprintf(format, args...))
}

// AddHost registers a namespace as one of the scenario's machines.
func (r *Run) AddHost(name string, ns *netnstest.NS, sampled bool) *Host {
	h := &Host{Name: name, NS: ns, Sampled: sampled && (!r.viewOnly || name == r.Scenario.View)}
	r.hosts = append(r.hosts, h)
	if err := os.MkdirAll(filepath.Join(r.Dir, name), 0o755); err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
	return h
}

// Bulk returns the host's netlink bulk maker (made on first use, closed in
// t.Cleanup). Its classes age from Begin on, every half second.
func (r *Run) Bulk(h *Host) *Bulk {
	r.T.Helper()
	if h.bulk == nil {
		b, err := NewBulk("/run/netns/"+h.NS.Name, rand.New(rand.NewPCG(r.Rand.Uint64(), r.Rand.Uint64())))
		if err != nil {
			r.T.Fatalf("corpus: %s: %v", h.Name, err)
		}
		r.T.Cleanup(func() { b.Close() })
		h.bulk = b
	}
	return h.bulk
}

// Background primes the host's table with classes (their state at the
// start) and keeps them going until the run finishes.
func (r *Run) Background(h *Host, classes ...*Class) {
	r.T.Helper()
	b := r.Bulk(h)
	before := b.Created
	if err := b.Prime(classes...); err != nil {
		r.T.Fatalf("corpus: %s: %v", h.Name, err)
	}
	r.Logf("%s: %d background entries over netlink (%s; with the TIME_WAIT their recent closes left)", h.Name, b.Created-before, classNames(classes))
}

func classNames(cs []*Class) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.N))
	}
	return strings.Join(parts, ", ")
}

// Begin starts the clock: t=0, the first sample is due now. Background
// classes age from here on.
func (r *Run) Begin() {
	// Registered after the namespaces, so it runs before they go: a
	// scenario that failed midway stops its goroutines first.
	r.T.Cleanup(r.halt)
	var bulks []*Bulk
	for _, h := range r.hosts {
		if h.bulk != nil {
			bulks = append(bulks, h.bulk)
		}
	}
	// Catch up with the time priming took (see Bulk.Prime), before the
	// first sample.
	for _, b := range bulks {
		b.Tick()
	}
	r.start = time.Now()
	r.Logf("t=0")
	if len(bulks) > 0 {
		r.Every(500*time.Millisecond, func() {
			for _, b := range bulks {
				b.Tick()
			}
		})
	}
}

// Go runs fn in the background until the run finishes (stop is closed
// then, and Finish waits for fn to return).
func (r *Run) Go(fn func(stop <-chan struct{})) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn(r.stop)
	}()
}

// Every runs fn every d in the background until the run finishes.
func (r *Run) Every(d time.Duration, fn func()) {
	r.Go(func(stop <-chan struct{}) {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn()
			}
		}
	})
}

// halt stops the background goroutines and waits for them.
func (r *Run) halt() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// Stopped reports whether the run is finishing.
func (r *Run) Stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// At sleeps until sec seconds after the start.
func (r *Run) At(sec float64) {
	if d := time.Until(r.start.Add(time.Duration(sec * float64(time.Second)))); d > 0 {
		time.Sleep(d)
	}
}

// SampleTime is when sample k is due, in seconds after the start.
func (r *Run) SampleTime(k int) float64 { return float64(k) * r.Interval.Seconds() }

// Sample waits until sample k is due and reads every sampled host's table
// into HOST/nf_conntrack.tNN.txt, NN the second it was read at (ctdiag
// reads the sample time from the name): the due second, or later when the
// machine was too busy to read it on time; and, for scenarios that follow
// rule counters, its ruleset into HOST/nft-ruleset.tNN.txt.
func (r *Run) Sample(k int) {
	r.T.Helper()
	r.At(r.SampleTime(k))
	sec := max(int(math.Round(time.Since(r.start).Seconds())), r.lastSec+1)
	if k == 0 && r.lastSec < 0 {
		sec = 0
	}
	r.lastSec = sec
	for _, h := range r.hosts {
		if !h.Sampled {
			continue
		}
		name := fmt.Sprintf("nf_conntrack.t%02d.txt", sec)
		if r.gzip {
			name += ".gz"
		}
		tally, err := readTable(h.NS, filepath.Join(r.Dir, h.Name, name), r.gzip)
		if err != nil {
			r.T.Fatalf("corpus: %s: %v", h.Name, err)
		}
		if r.Scenario.Rulesets {
			rs, err := h.NS.Output("nft", "list", "ruleset")
			if err != nil {
				r.T.Fatalf("corpus: %s: %v", h.Name, err)
			}
			r.write(filepath.Join(h.Name, fmt.Sprintf("nft-ruleset.t%02d.txt", sec)), rs)
		}
		line := fmt.Sprintf("snapshot t%02d %s: %d entries", sec, h.Name, tally.total)
		r.Logf("%s", line)
		r.samples = append(r.samples, line)
		fmt.Fprintf(&r.summary, "t%02d %s: %d entries  [%.1fs]\n", sec, h.Name, tally.total, time.Since(r.start).Seconds())
		tally.write(&r.summary)
	}
}

// readTable copies the namespace's /proc/net/nf_conntrack to path
// (gzipped with gz) and counts its entries by state and flags.
func readTable(ns *netnstest.NS, path string, gz bool) (*stateTally, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		out = zw
	}
	tally := newStateTally()
	err = ns.Do(func() error {
		in, err := os.Open("/proc/thread-self/net/nf_conntrack")
		if err != nil {
			return err
		}
		defer in.Close()
		w := bufio.NewWriterSize(out, 1<<20)
		// One large read per call: the kernel walks its hash from the start
		// to the read position on every read(2) of this file.
		sc := bufio.NewScanner(bufio.NewReaderSize(in, 32<<20))
		for sc.Scan() {
			tally.add(sc.Bytes())
			w.Write(sc.Bytes())
			w.WriteByte('\n')
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return w.Flush()
	})
	if err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return tally, f.Close()
}

// readProc reads a /proc file as the namespace sees it.
func readProc(ns *netnstest.NS, path string) ([]byte, error) {
	var b []byte
	err := ns.Do(func() (err error) {
		b, err = os.ReadFile(strings.Replace(path, "/proc/net/", "/proc/thread-self/net/", 1))
		return err
	})
	return b, err
}

// stateTally counts table lines by family, protocol, state and flags, as
// the summary of the captures in testdata/ does.
type stateTally struct {
	total  int
	counts map[string]int
}

func newStateTally() *stateTally { return &stateTally{counts: map[string]int{}} }

func (s *stateTally) add(line []byte) {
	// Fields 0 (family), 2 (protocol) and, for TCP, 5 (state), without
	// splitting the whole line: this runs on every entry of every sample.
	var field [6][]byte
	n, rest := 0, line
	for n < len(field) {
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		field[n], rest = rest[:end], rest[end:]
		n++
	}
	if n < 5 {
		return
	}
	s.total++
	key := make([]byte, 0, 48)
	key = append(append(append(key, field[0]...), ' '), field[2]...)
	if string(field[2]) == "tcp" && n > 5 {
		key = append(append(key, ' '), field[5]...)
	}
	if bytes.Contains(line, []byte("[UNREPLIED]")) {
		key = append(key, " [UNREPLIED]"...)
	}
	if bytes.Contains(line, []byte("[ASSURED]")) {
		key = append(key, " [ASSURED]"...)
	}
	s.counts[string(key)]++
}

func (s *stateTally) write(w io.Writer) {
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if s.counts[a] != s.counts[b] {
			return s.counts[b] - s.counts[a]
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %8d  %s\n", s.counts[k], k)
	}
}
