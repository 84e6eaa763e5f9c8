package tui

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ctdiag/ctdiag/track"
)

// header returns the screen's first line.
func headerLine(screen string) string { return strings.SplitN(screen, "\n", 2)[0] }

// statusLine returns the screen's last line.
func statusLine(screen string) string {
	lines := strings.Split(screen, "\n")
	return lines[len(lines)-1]
}

// TestOpensOnTheWorstSample: a recording opens paused on its most telling
// sample and says which; g and G (Home, End) go to the first and the last.
func TestOpensOnTheWorstSample(t *testing.T) {
	for _, c := range []struct {
		name   string
		src    func(testing.TB) Source
		sample int
		says   string
	}{
		// t05 and t10 are both pinned at the limit of 1,000 with the
		// critical finding: the later of equals.
		{"demo", func(t testing.TB) Source { return demoReplay(t) }, 3, "at the worst sample, 4 of 5: CRITICAL table-full"},
		{"syn-sent-growth", func(t testing.TB) Source {
			return dirReplay(t, filepath.Join("..", "testdata", "kernel-6.18", "syn-sent-growth", "cli"))
		}, 5, "at the worst sample, 6 of 6: WARNING syn-sent-growth"},
		{"healthy", func(t testing.TB) Source {
			return dirReplay(t, filepath.Join("..", "testdata", "kernel-6.18", "healthy-baseline", "srv"))
		}, -1, "(no findings in any)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDriverWith(t, Options{Source: c.src(t)}, 120, 36)
			m := d.m
			if c.sample >= 0 && m.frame.Sample != c.sample {
				t.Errorf("opened at sample %d, want %d", m.frame.Sample+1, c.sample+1)
			}
			if !m.play.paused {
				t.Error("a recording opened on its worst sample should be paused there")
			}
			if s := statusLine(m.View()); !strings.Contains(s, c.says) {
				t.Errorf("status line %q, want %q", s, c.says)
			}
			n := m.play.rec.Len()
			d.keys("G")
			if m.frame.Sample != n-1 {
				t.Errorf("G: sample %d, want the last (%d)", m.frame.Sample+1, n)
			}
			d.keys("g")
			if m.frame.Sample != 0 {
				t.Errorf("g: sample %d, want the first", m.frame.Sample+1)
			}
			d.send(tea.KeyMsg{Type: tea.KeyEnd})
			if m.frame.Sample != n-1 {
				t.Errorf("End: sample %d, want the last (%d)", m.frame.Sample+1, n)
			}
			d.send(tea.KeyMsg{Type: tea.KeyHome})
			if m.frame.Sample != 0 || !m.play.paused {
				t.Errorf("Home: sample %d (paused %v), want the first, paused", m.frame.Sample+1, m.play.paused)
			}
		})
	}
}

// TestRecordingNeverShowsTheClock: a capture timed by its file names shows
// where a sample is (t+35s), never today's clock as if it were the
// sample's time; a recording with real times shows the sample's own.
func TestRecordingNeverShowsTheClock(t *testing.T) {
	now := fixedNow().UTC().Format("15:04:05")
	d := newDriverWith(t, Options{Source: dirReplay(t, filepath.Join("..", "testdata", "kernel-6.18", "table-full", "srv")), Open: OpenLast}, 200, 60)
	h := headerLine(d.m.View())
	if strings.Contains(h, now) || !strings.Contains(h, "sample 6/6 t+35s") {
		t.Errorf("file-name times: header %q shows the clock (%s) or lacks the offset", h, now)
	}
	d = newDriverWith(t, Options{Source: demoReplay(t), Open: OpenLast}, 200, 60)
	if h := headerLine(d.m.View()); strings.Contains(h, now) || !strings.Contains(h, "2026-11-21 13:01:04Z") {
		t.Errorf("manifest times: header %q should show the sample's own time", h)
	}
}

// TestSysctlsReadOnceApplyToEverySample: sysctls read once at the end of
// a capture (joining its last sample) apply to the samples before it, as
// in ctdiag report: the timeouts entries are read with, the analysis's
// timeouts, and nf_conntrack_max (marked as read with another sample).
func TestSysctlsReadOnceApplyToEverySample(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "testdata", "kernel-6.18", "table-full", "srv")
	for _, name := range []string{"nf_conntrack.t05.txt", "nf_conntrack.t10.txt"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sysctls := "net.netfilter.nf_conntrack_max = 2000\nnet.netfilter.nf_conntrack_tcp_timeout_established = 3600\n"
	if err := os.WriteFile(filepath.Join(dir, "sysctl-nf_conntrack.txt"), []byte(sysctls), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newDriverWith(t, Options{Source: dirReplay(t, dir), Open: OpenFirst, Paused: true, Pane: 1}, 80, 40)
	m := d.m
	if m.frame.Sample != 0 {
		t.Fatalf("sample %d, want the first", m.frame.Sample+1)
	}
	screen := m.View()
	flat := strings.Join(strings.Fields(screen), " ") // wrapped lines joined
	for _, want := range []string{"entries 1,000/2,000*", "established 60m00s", "the max (*) was read with another sample of the recording"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the first sample lacks %q:\n%s", want, screen)
		}
	}
	if tm := m.frame.Table.Timeouts(); tm.Get("nf_conntrack_tcp_timeout_established").Seconds() != 3600 {
		t.Errorf("entries read with the default established timeout, not the capture's")
	}
	for _, n := range m.frame.Result.Summary.Notes {
		if strings.Contains(n, "no timeout sysctls read") {
			t.Errorf("the first sample's analysis did not get the capture's sysctls: %q", n)
		}
	}
	d.keys("G")
	if h := m.View(); !strings.Contains(h, "entries 1,000/2,000 ") {
		t.Errorf("the last sample read the max itself (no *):\n%s", h)
	}
}

// TestStatesSayWhatIsHidden: when the states do not all fit, the pane says
// how many are hidden and names the largest (TIME_WAIT and udp of the 100k
// capture at 120×36).
func TestStatesSayWhatIsHidden(t *testing.T) {
	d := newDriverWith(t, Options{Source: dirReplay(t, filepath.Join("..", "testdata", "kernel-6.18", "table-100k"))}, 120, 36)
	screen := d.m.View()
	more := regexp.MustCompile(`\+(\d+) more \((\d+) below, ↑/↓\): udp 13,969`).FindStringSubmatch(screen)
	if more == nil {
		t.Fatalf("the states pane does not say what it hides:\n%s", screen)
	}
	states := d.m.frame.Table.States()
	shown := 0
	for _, sc := range states {
		if regexp.MustCompile(`│[ ›] ` + regexp.QuoteMeta(sc.Name) + `\s+[\d,]+\s+[\d.]+%`).MatchString(screen) {
			shown++
		}
	}
	if hidden := atoi(more[1]); shown+hidden != len(states) || hidden == 0 {
		t.Errorf("%d rows shown + %d said hidden != %d states:\n%s", shown, hidden, len(states), screen)
	}
	// Scrolling down brings the hidden ones on screen.
	for range states {
		d.keys("down")
	}
	if s := d.m.View(); !regexp.MustCompile(`udp\s+13,969`).MatchString(s) || !strings.Contains(s, "above") {
		t.Errorf("scrolled to the end, udp should show and the rows above be counted:\n%s", s)
	}
}

// TestOverviewNeverCutsSilently: on every capture and at every size, the
// overview shows all it has or says how much is hidden; at 200×60 every
// statistics counter a capture has is on screen, by name.
func TestOverviewNeverCutsSilently(t *testing.T) {
	for _, c := range goldenCaptures(t) {
		t.Run(c.name, func(t *testing.T) {
			d := newDriverWith(t, Options{Source: c.src(t), Open: OpenLast, Pane: 1}, 80, 24)
			for _, sz := range goldenSizes {
				d.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
				ov := d.m.overview
				r := d.m.layout.regions(d.m.panes, d.m.focus, d.m.zoomed())[paneOverview]
				w, h := r.w, r.h
				if d.m.layout.wide() {
					w, h = w-2, h-2
				}
				view := ov.View()
				if ov.Want(w) > h && !strings.Contains(view, "more lines (↑/↓ scroll)") {
					t.Errorf("%dx%d: %d lines in %d, and no word of the rest:\n%s", sz.w, sz.h, ov.Want(w), h, view)
				}
				if sz.w < 200 {
					continue
				}
				for _, name := range knownCounters(d.m) {
					if !regexp.MustCompile(`\b` + name + `\b`).MatchString(view) {
						t.Errorf("%dx%d: counter %s not on screen:\n%s", sz.w, sz.h, name, view)
					}
				}
			}
		})
	}
}

func knownCounters(m *Model) []string {
	var out []string
	for c, cr := range m.frame.Rates.Counters {
		if cr.Known {
			out = append(out, track.Counter(c).String())
		}
	}
	return out
}

// TestLongNoteKeepsTheKeys: a live source's long note (a kernel-log
// fallback, say) is cut with an ellipsis beside ? help and q quit, never
// over them, and m shows it whole.
func TestLongNoteKeepsTheKeys(t *testing.T) {
	note := "kernel log: /dev/kmsg is not readable (permission denied), reading syslog(2) instead; " +
		"lines from before ctdiag started are missed and table-full lines of other namespaces are left out"
	m := New(Options{Source: &noted{Source: &liveLike{clock: fixedNow()}, note: note}, Renderer: asciiRenderer(), Now: fixedNow})
	t.Cleanup(func() { m.Close() })
	m.tick = func(time.Duration, func(time.Time) tea.Msg) tea.Cmd { return nil }
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	d.run(m.Init())
	s := statusLine(m.View())
	if !strings.Contains(s, "? help • q quit") || !strings.Contains(s, "…") || !strings.HasPrefix(s, "kernel log: /dev/kmsg") {
		t.Errorf("status line %q: want the note cut with … and the keys kept", s)
	}
	d.keys("m")
	if screen := m.View(); !strings.Contains(strings.Join(strings.Fields(screen), " "), note) {
		t.Errorf("m should show the whole note:\n%s", screen)
	}
}

// noted is a source whose reads carry a note for the status line.
type noted struct {
	Source
	note string
}

func (n *noted) Read(ctx context.Context, sink track.SampleSink) (ReadReport, error) {
	rep, err := n.Source.Read(ctx, sink)
	rep.Warning = n.note
	return rep, err
}

// TestKeyDuringScanWins: g pressed while the samples are being analysed
// opens the first sample, not the worst.
func TestKeyDuringScanWins(t *testing.T) {
	m := New(Options{Source: demoReplay(t), Renderer: asciiRenderer(), Now: fixedNow})
	t.Cleanup(func() { m.Close() })
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	scan := m.Init()
	if !strings.Contains(statusLine(m.View()), "analysing every sample") {
		t.Errorf("the status line should say the samples are being analysed: %q", statusLine(m.View()))
	}
	d.keys("g")
	d.run(scan)
	if m.frame == nil || m.frame.Sample != 0 || !m.play.paused {
		t.Fatalf("g during the scan: want the first sample, paused")
	}
	if s := statusLine(m.View()); strings.Contains(s, "worst") {
		t.Errorf("status line %q speaks of the worst sample, not shown", s)
	}
}
