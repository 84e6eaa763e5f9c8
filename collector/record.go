package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// RecordOptions tune Record.
type RecordOptions struct {
	Samples  int           // at least 1
	Interval time.Duration // from the start of one sample to the next
	// Events logs conntrack events between samples (netlink only; with
	// /proc there are none and a note says so).
	Events       bool
	EventOptions EventOptions
	// Tool names the program in the manifest ("ctdiag v1.2.3").
	Tool string
	// Progress, when set, is called after each sample.
	Progress func(n, entries int)
}

// Record samples the live source into a bundle at out (see parser's
// bundle format): per sample the table in /proc format, per-CPU
// statistics in /proc/net/stat format, sysctls, new kernel-log lines,
// the slab cache, and the events since the previous sample with a marker
// wherever events were lost; plus a manifest with times, host, kernel and
// source. Files are written into a hidden staging directory next to out
// first (the table can be large), then packed, manifest first, and renamed
// into place; the staging directory is removed on every return, and one
// left by a run that was killed (SIGKILL) is removed by the next run in the
// same directory. If ctx ends after at least one sample, the bundle is still
// written with what was taken, and the error says so. The manifest is nil
// when no bundle was written: out then does not exist.
func Record(ctx context.Context, cfg Config, out string, opts RecordOptions) (*parser.Manifest, error) {
	if err := checkSampling(opts.Samples, opts.Interval); err != nil {
		return nil, err
	}
	c, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dir := filepath.Dir(out)
	for _, n := range cleanStaleStaging(dir) {
		c.note("%s", n)
	}
	tmp, err := os.MkdirTemp(dir, stagingPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer os.RemoveAll(tmp)

	src := c.Source()
	m := &parser.Manifest{Tool: opts.Tool, Host: src.Host, Kernel: src.Kernel, Source: src.Kind.String(),
		Netns: src.Netns, Started: c.cfg.Now()}
	if opts.Samples > 1 {
		m.Interval = opts.Interval.String()
	}

	var ev *eventLog
	var evRun *eventRun
	if opts.Events {
		if c.kind != track.SourceNetlink {
			c.note("events not recorded: the %s source has none (they need ctnetlink)", c.kind)
		} else if ev, evRun, err = startEventLog(ctx, cfg, tmp, opts.EventOptions); err != nil {
			c.note("events not recorded: %v", err)
			ev = nil
		} else {
			defer evRun.stop()
		}
	}

	var runErr error
	for i := 1; i <= opts.Samples; i++ {
		if i > 1 {
			if runErr = sleepUntil(ctx, m.Started.Add(time.Duration(i-1)*opts.Interval), c.cfg.Now); runErr != nil {
				break
			}
		}
		s, err := recordSample(ctx, c, tmp, i, ev)
		if err != nil {
			runErr = fmt.Errorf("sample %d: %w", i, err)
			break
		}
		m.Samples = append(m.Samples, s)
		if opts.Progress != nil {
			opts.Progress(i, s.Entries)
		}
	}
	if ev != nil {
		st, err := evRun.stop()
		if err != nil {
			c.note("event log: %v", err)
		}
		m.Events = &parser.BundleEvents{Received: st.Events, Expectations: st.Expectations,
			Losses: parser.LossesOf(st.Losses), ReadBuffer: st.ReadBuffer}
	}
	m.Finished = c.cfg.Now()
	if len(m.Samples) == 0 {
		if runErr == nil {
			runErr = errors.New("no sample taken")
		}
		return nil, runErr
	}
	if runErr != nil {
		c.note("stopped after %d of %d samples: %v", len(m.Samples), opts.Samples, runErr)
	}
	m.Notes = c.Notes()
	if err := packBundle(out, tmp, m); err != nil {
		return nil, fmt.Errorf("%w (nothing was written: the %d samples taken are lost)", err, len(m.Samples))
	}
	return m, runErr
}

// stagingPrefix starts the name of Record's staging directory, followed by
// the recording process's id.
const stagingPrefix = ".ctdiag-record-"

// cleanStaleStaging removes the staging directories in dir that runs killed
// outright (SIGKILL, a crash) left behind: those whose process is gone. It
// returns a note for each it removed or had to leave.
func cleanStaleStaging(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var notes []string
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, stagingPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			notes = append(notes, fmt.Sprintf("%s: a staging directory of an earlier ctdiag record (which process, unknown): remove it once no ctdiag record writes into %s", path, dir))
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // that run is still going
		}
		if err := os.RemoveAll(path); err != nil {
			notes = append(notes, fmt.Sprintf("%s: staging directory of a ctdiag record that was killed (process %d): could not remove it: %v", path, pid, err))
			continue
		}
		notes = append(notes, fmt.Sprintf("removed %s, the staging directory of a ctdiag record that was killed (process %d)", path, pid))
	}
	return notes
}

// Bundle member names.
const (
	memberTable  = "nf_conntrack"
	memberStats  = "stat_nf_conntrack"
	memberSysctl = "sysctl.txt"
	memberKlog   = "kernel-log.txt"
	memberEvents = parser.BundleEventsFile
	memberSlab   = "slabinfo"
)

// recordSample writes one sample's files into tmp/sample-NNN.
func recordSample(ctx context.Context, c *Collector, tmp string, i int, ev *eventLog) (parser.BundleSample, error) {
	s := parser.BundleSample{Time: c.cfg.Now()}
	dir := fmt.Sprintf("sample-%03d", i)
	if err := os.Mkdir(filepath.Join(tmp, dir), 0o755); err != nil {
		return s, err
	}
	add := func(name string, write func(w *bufio.Writer) error) error {
		f, err := os.Create(filepath.Join(tmp, dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 256<<10)
		err = write(w)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s/%s: %w", dir, name, err)
		}
		s.Files = append(s.Files, dir+"/"+name)
		return nil
	}
	err := add(memberTable, func(w *bufio.Writer) error {
		fw, err := parser.NewFlowWriter(w, parser.FormatProc)
		if err != nil {
			return err
		}
		_, err = c.Flows(ctx, DumpFilter{}, func(f *track.Flow) error {
			s.Entries++
			f.Fields &^= track.FieldID // /proc has no ids
			return fw.Write(f)
		})
		if cerr := fw.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return s, err
	}
	x, err := c.Extra(ctx)
	if err != nil {
		return s, err
	}
	if len(x.Stats.CPUs) > 0 {
		if err := add(memberStats, func(w *bufio.Writer) error { return parser.WriteProcStat(w, &x.Stats, x.Count) }); err != nil {
			return s, err
		}
	}
	if len(x.Sysctls) > 0 {
		if err := add(memberSysctl, func(w *bufio.Writer) error { return parser.WriteSysctls(w, x.Sysctls) }); err != nil {
			return s, err
		}
	}
	if err := add(memberKlog, func(w *bufio.Writer) error { return parser.WriteKernelLog(w, x.KernelLog) }); err != nil {
		return s, err
	}
	if ev != nil {
		if err := ev.rotate(filepath.Join(tmp, dir, memberEvents)); err != nil {
			return s, err
		}
		s.Files = append(s.Files, dir+"/"+memberEvents)
	}
	if x.HasSlab {
		if err := add(memberSlab, func(w *bufio.Writer) error { return parser.WriteSlabinfo(w, []track.Slab{x.Slab}) }); err != nil {
			return s, err
		}
	}
	if x.Ruleset != nil {
		if err := add(memberRuleset, func(w *bufio.Writer) error { return ruleset.WriteJSON(w, x.Ruleset) }); err != nil {
			c.note("ruleset not recorded: %v", err)
		}
	}
	return s, nil
}

// packBundle writes the manifest and the sample files into out, via a
// temporary file renamed into place.
func packBundle(out, tmp string, m *parser.Manifest) error {
	part := out + ".part"
	f, err := os.Create(part)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer os.Remove(part)
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(out), ".gz"), ".tar")
	name = strings.TrimSuffix(name, ".tgz")
	w := bufio.NewWriterSize(f, 1<<20)
	bw, err := parser.NewBundleWriter(w, name, m)
	if err == nil {
		err = addSampleFiles(bw, tmp, m)
	}
	if err == nil {
		err = bw.Close()
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(part, out)
	}
	if err != nil {
		return fmt.Errorf("record: writing %s: %w", out, err)
	}
	return nil
}

func addSampleFiles(bw *parser.BundleWriter, tmp string, m *parser.Manifest) error {
	for _, s := range m.Samples {
		for _, name := range s.Files {
			f, err := os.Open(filepath.Join(tmp, name))
			if err != nil {
				return err
			}
			st, err := f.Stat()
			if err == nil {
				err = bw.Add(name, s.Time, st.Size(), bufio.NewReaderSize(f, 1<<20))
			}
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// eventLog writes events, as conntrack -E -o timestamp,extended,id prints
// them, into the current sample's file; rotate moves it into place.
type eventLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer
	buf  []byte
	err  error
}

// startEventLog subscribes and logs into tmp until the run is stopped.
func startEventLog(ctx context.Context, cfg Config, tmp string, opts EventOptions) (*eventLog, *eventRun, error) {
	l := &eventLog{path: filepath.Join(tmp, "events.current")}
	if err := l.open(); err != nil {
		return nil, nil, err
	}
	run, err := startEvents(ctx, cfg, opts, l)
	if err != nil {
		l.f.Close()
		return nil, nil, err
	}
	return l, run, nil
}

func (l *eventLog) open() error {
	f, err := os.Create(l.path)
	if err != nil {
		return err
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

// rotate closes the current file as dst and starts a new one.
func (l *eventLog) rotate(dst string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.err
	if ferr := l.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(l.path, dst)
	}
	if oerr := l.open(); err == nil {
		err = oerr
	}
	return err
}

func (l *eventLog) write(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(b); err != nil && l.err == nil {
		l.err = err
	}
	return nil
}

func (l *eventLog) Event(ev *track.Event) error {
	l.buf = parser.AppendEvent(l.buf[:0], ev, parser.StyleExtended)
	return l.write(l.buf)
}

func (l *eventLog) Expect(typ track.EventType, t time.Time, e *track.Expectation) error {
	l.buf = parser.AppendExpectEvent(l.buf[:0], typ, t, e)
	return l.write(l.buf)
}

// Resync entries are not logged: the next sample's table is a full dump.
func (l *eventLog) Resync(*track.Flow) error { return nil }

func (l *eventLog) Lost(loss track.EventLoss) error {
	l.buf = parser.AppendEventLoss(l.buf[:0], &loss)
	return l.write(l.buf)
}
