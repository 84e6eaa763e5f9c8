package tui

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/internal/bench/gendump"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// The benchmarks read a 1,000,000-entry /proc dump made by gendump (the
// mix of the real 100k capture), written once per run to a temporary
// directory (CTDIAG_BENCH_DUMP names an existing one instead).

var benchDump = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("CTDIAG_BENCH_DUMP"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "ctdiag-tui-bench")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "nf_conntrack.1m.txt")
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, _ := parser.NewFlowWriter(bw, parser.FormatProc)
	err = gendump.Generate(gendump.Options{N: 1_000_000, Seed: 1, AcctShare: 0.1}, func(fl *track.Flow) error { return w.Write(fl) })
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return p, err
})

func dump1M(b *testing.B) string {
	b.Helper()
	p, err := benchDump()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// replay1M is a recording of n samples, each the 1M dump, a second apart.
func replay1M(b *testing.B, n int) *Replay {
	p := dump1M(b)
	var in []parser.Input
	for range n {
		in = append(in, parser.Input{Path: p})
	}
	r, err := NewReplay(in, ReplayOptions{Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkCollect1M reads one 1M-entry sample into the TUI's table: the
// collection part of a refresh (parsing /proc text, as the procfs source
// does), without analysis.
func BenchmarkCollect1M(b *testing.B) {
	p := dump1M(b)
	for b.Loop() {
		s := &sink{table: flowtable.New(1_000_000)}
		if _, err := parser.WalkSamples([]parser.Input{{Path: p}}, parser.Options{}, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyze1M adds the analyzer: one sample streamed through it
// and its Result.
func BenchmarkAnalyze1M(b *testing.B) {
	p := dump1M(b)
	for b.Loop() {
		a := analyzer.New(analyzer.Options{})
		s := &sink{table: flowtable.New(1_000_000), an: a}
		if _, err := parser.WalkSamples([]parser.Input{{Path: p}}, parser.Options{}, s); err != nil {
			b.Fatal(err)
		}
		a.Result()
	}
}

// BenchmarkRefresh1M is a whole refresh as the UI asks for it: collect,
// analyse (the second sample of a timeline), states, pressure, rates, the
// flows pane's selection and a talkers ranking.
func BenchmarkRefresh1M(b *testing.B) {
	for _, analyse := range []bool{false, true} {
		b.Run(fmt.Sprintf("analyse=%v", analyse), func(b *testing.B) {
			r := replay1M(b, 2)
			p := newPipeline(r, analyzer.Options{}, fixedNow)
			req := request{seek: 0, ranking: true, talkers: flowtable.ByDestPort, topN: 50}
			if _, _, err := p.refresh(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			req.seek = 1
			for b.Loop() {
				if !analyse {
					p.next = 2 // sample 1 counts as analysed: read only
				} else {
					p.an, p.next, p.inAn = analyzer.New(analyzer.Options{}), 0, 0
					p.results = map[int]*analyzer.Result{}
				}
				if _, _, err := p.refresh(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// model1M is a model showing a 1M-entry sample at w×h.
func model1M(b *testing.B, w, h int) *driver {
	d := newDriver(b, replay1M(b, 1), w, h)
	if d.m.frame == nil || d.m.frame.Table.Len() != 1_000_000 {
		b.Fatal("no 1M frame")
	}
	return d
}

// BenchmarkFrame1M renders the whole screen (View) with 1M entries, each
// pane focused, at 80×24 and 160×48: the budget is 16 ms a frame.
func BenchmarkFrame1M(b *testing.B) {
	for _, sz := range goldenSizes {
		d := model1M(b, sz.w, sz.h)
		for pane := 1; pane <= numPanes; pane++ {
			d.keys(fmt.Sprint(pane))
			b.Run(fmt.Sprintf("%dx%d/pane=%d", sz.w, sz.h, pane), func(b *testing.B) {
				for b.Loop() {
					_ = d.m.View()
				}
			})
		}
	}
}

// BenchmarkKey1M answers a key press with 1M entries: Update, then the
// frame it shows (the budget is 50 ms). Sorting and filtering a million
// entries is started by the key and finishes off the UI goroutine (see
// BenchmarkSelect1M in tui/flowtable for how long that takes).
func BenchmarkKey1M(b *testing.B) {
	d := model1M(b, 160, 48)
	d.keys("5")
	cases := []struct {
		name string
		msg  tea.Msg
	}{
		{"down", keyMsg("down")},
		{"pgdown", keyMsg("pgdown")},
		{"tab", keyMsg("tab")},
		{"reverse", keyMsg("r")},
		{"sort", keyMsg("s")},
		{"filter-keystroke", keyMsg("p")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.name == "filter-keystroke" {
				d.keys("5", "/")
			}
			for b.Loop() {
				d.m.Update(c.msg) // the command it returns is the async work
				_ = d.m.View()
			}
			if c.name == "filter-keystroke" {
				d.keys("esc")
			}
		})
	}
}

// liveFile is a live-shaped source that reads the same dump at every
// refresh, as the procfs source reads /proc/net/nf_conntrack.
type liveFile struct {
	path string
	n    int
}

func (s *liveFile) Describe() Description {
	return Description{Kind: track.SourceProcfs, Name: s.path, Interval: time.Second}
}

func (s *liveFile) Read(ctx context.Context, sink track.SampleSink) (ReadReport, error) {
	s.n++
	_, err := parser.WalkSamples([]parser.Input{{Path: s.path, Time: fixedNow().Add(time.Duration(s.n) * time.Second)}}, parser.Options{}, sink)
	return ReadReport{}, err
}

func (s *liveFile) Close() error { return nil }

// BenchmarkLiveSession1M runs a live session on a 1M-entry table: refresh
// after refresh as a 1 s timer would ask for them (without the waiting),
// with the analysis cadence adapting to its cost, and the talkers pane on
// screen but not focused (ranked every 5th sample, as the UI asks). cores@1s is the CPU a
// refresh costs on average over its interval (budget: below 1), peak-MB
// the process's peak resident memory (budget: 400 MB).
func BenchmarkLiveSession1M(b *testing.B) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(memoryLimit)) // as Run sets it
	src := &liveFile{path: dump1M(b)}
	p := newPipeline(src, analyzer.Options{}, fixedNow)
	req := request{seek: -1, ranking: true, talkers: flowtable.BySource, topN: 50}
	const warm, n = 4, 16
	var cpu time.Duration
	analysed := 0
	for b.Loop() {
		for i := range warm + n {
			req.ranking = i%5 == 0
			c0 := cpuTime()
			f, _, err := p.refresh(context.Background(), req)
			if err != nil {
				b.Fatal(err)
			}
			if i >= warm {
				cpu += cpuTime() - c0
				if f.ResultSample == f.Sample {
					analysed++
				}
			}
		}
	}
	b.ReportMetric(cpu.Seconds()/float64(n*b.N), "cores@1s")
	b.ReportMetric(float64(analysed)/float64(n*b.N), "analysed/refresh")
	b.ReportMetric(peakRSSMB(), "peak-MB")
}

// peakRSSMB reads the process's peak resident set (VmHWM).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb float64
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Sscanf(strings.TrimPrefix(l, "VmHWM:"), "%f", &kb)
		}
	}
	return kb / 1024
}
