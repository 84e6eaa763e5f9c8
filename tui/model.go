package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/findings"
	"github.com/ctdiag/ctdiag/tui/flows"
	"github.com/ctdiag/ctdiag/tui/header"
	"github.com/ctdiag/ctdiag/tui/overview"
	"github.com/ctdiag/ctdiag/tui/states"
	"github.com/ctdiag/ctdiag/tui/talkers"
)

// Options configure the TUI.
type Options struct {
	Source Source
	// Renderer decides colours (NO_COLOR, the terminal's profile, a light
	// or dark background); nil uses lipgloss's default for stdout.
	Renderer *lipgloss.Renderer
	Analyzer analyzer.Options
	// Now is the clock the header shows; nil is time.Now.
	Now func() time.Time
	// Clipboard receives copied remedy commands; nil writes OSC 52 to
	// Output (terminals and tmux put it on the clipboard).
	Clipboard func(string) error
	// Output is where the program draws; nil is os.Stdout.
	Output io.Writer
	Speed  float64 // a recording's initial speed (1 = as captured)
	Paused bool    // start paused on the first sample
	Filter string  // initial flows filter, as typed at the / prompt
	Pane   int     // initial pane, 1–5
}

// Panes, in key order.
const (
	paneOverview = iota
	paneStates
	paneFindings
	paneTalkers
	paneFlows
	numPanes
)

var speeds = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32}

// Model is the root model: layout, focus, playback and the refresh loop.
// The panes own their content.
type Model struct {
	c    common.Common
	opts Options
	pipe *pipeline
	ctx  context.Context
	stop context.CancelFunc

	header   *header.Model
	overview *overview.Model
	states   *states.Model
	findings *findings.Model
	talkers  *talkers.Model
	flows    *flows.Model
	panes    [numPanes]common.Component
	focus    int

	width, height int
	frame         *common.Frame
	busy          bool
	inflight      int  // the seek being read
	pending       *int // a seek asked for while a refresh ran
	paused, atEnd bool
	speed         float64
	tickGen       int

	// tick makes the timer of the next refresh (tea.Tick; tests replace
	// it to tick by hand).
	tick func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	status    string
	statusErr bool
	help      help.Model
	showHelp  bool
}

// frameMsg is a refresh's result.
type frameMsg struct {
	frame  *common.Frame
	report ReadReport
	err    error
}

// tickMsg asks for the next refresh; stale generations are ignored.
type tickMsg struct{ gen int }

// New builds the root model. Call Close when done with it.
func New(opts Options) *Model {
	if opts.Renderer == nil {
		opts.Renderer = lipgloss.DefaultRenderer()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	cfg := opts.Analyzer.Config
	if cfg == nil {
		cfg = rules.DefaultConfig()
		opts.Analyzer.Config = cfg
	}
	c := common.Common{Styles: common.NewStyles(opts.Renderer), Keys: common.NewKeyMap(), Config: cfg, Now: opts.Now}
	ctx, stop := context.WithCancel(context.Background())
	m := &Model{c: c, opts: opts, ctx: ctx, stop: stop, speed: opts.Speed, paused: opts.Paused,
		pipe: newPipeline(opts.Source, opts.Analyzer, opts.Now), tick: tea.Tick}
	m.header = header.New(c)
	m.overview, m.states, m.findings = overview.New(c), states.New(c), findings.New(c)
	m.talkers, m.flows = talkers.New(c), flows.New(c)
	m.panes = [numPanes]common.Component{m.overview, m.states, m.findings, m.talkers, m.flows}
	m.focus = paneStates
	if opts.Pane >= 1 && opts.Pane <= numPanes {
		m.focus = opts.Pane - 1
	}
	if opts.Filter != "" {
		m.flows.SetFilter(opts.Filter)
	}
	m.help = help.New()
	m.help.Styles.ShortKey, m.help.Styles.FullKey = c.Styles.HelpKey, c.Styles.HelpKey
	m.help.Styles.ShortDesc, m.help.Styles.FullDesc = c.Styles.HelpDesc, c.Styles.HelpDesc
	m.help.Styles.ShortSeparator, m.help.Styles.FullSeparator = c.Styles.HelpSep, c.Styles.HelpSep
	return m
}

// Close stops any read in flight and closes the source.
func (m *Model) Close() error {
	m.stop()
	return m.opts.Source.Close()
}

// Init implements tea.Model: take the alternate screen (left again on
// every exit) and read the first sample.
func (m *Model) Init() tea.Cmd {
	seek := -1
	if m.pipe.rec != nil {
		seek = 0
	}
	return tea.Batch(tea.EnterAltScreen, m.refresh(seek))
}

// refresh asks the pipeline for a sample (a recording's index, or -1 for
// the next) unless one is being read; then it is queued.
func (m *Model) refresh(seek int) tea.Cmd {
	if m.busy {
		m.pending = &seek
		return nil
	}
	m.busy, m.inflight = true, seek
	match, query, order := m.flows.Query()
	next := 1
	if m.frame != nil {
		next = m.frame.Seq + 1
	}
	req := request{seek: seek, match: match, query: query, order: order,
		talkers: m.talkers.Dimension(), ranking: m.talkersVisible() && m.talkers.Wants(next, m.pipe.rec == nil), topN: talkers.TopN}
	p, ctx := m.pipe, m.ctx
	return func() tea.Msg {
		f, rep, err := p.refresh(ctx, req)
		return frameMsg{frame: f, report: rep, err: err}
	}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case frameMsg:
		cmds = append(cmds, m.onFrame(msg))
	case tickMsg:
		if msg.gen == m.tickGen && !m.paused && !m.atEnd {
			cmds = append(cmds, m.refresh(m.nextSeek()))
		}
	case common.ShowFlowsMsg:
		m.focus = paneFlows
		cmds = append(cmds, m.flows.SetFilter(msg.Filter))
		m.setStatus("flows: "+msg.Filter, false)
	case common.StatusMsg:
		m.setStatus(msg.Text, msg.Err)
	case common.CopyMsg:
		cmds = append(cmds, m.copy(msg))
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.capturing() {
			// Keys typed faster than the terminal is read arrive together
			// ("..", "2."): take them one by one.
			for _, r := range msg.Runes {
				_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
				cmds = append(cmds, cmd)
			}
			return m, tea.Batch(cmds...)
		}
		if cmd, handled := m.globalKey(msg); handled {
			cmds = append(cmds, cmd)
			break
		}
		_, cmd := m.panes[m.focus].Update(msg)
		cmds = append(cmds, cmd)
	default:
		// Pane-internal results (rankings, selections) go to every pane;
		// each ignores what is not its own.
		for _, p := range m.panes {
			_, cmd := p.Update(msg)
			cmds = append(cmds, cmd)
		}
	}
	m.layout()
	cmds = append(cmds, m.talkers.SetVisible(m.talkersVisible(), m.focus == paneTalkers))
	return m, tea.Batch(cmds...)
}

// onFrame takes a refresh's result and schedules the next one.
func (m *Model) onFrame(msg frameMsg) tea.Cmd {
	m.busy = false
	var cmds []tea.Cmd
	if msg.err != nil {
		if errors.Is(msg.err, context.Canceled) {
			return nil
		}
		m.setStatus("source: "+msg.err.Error()+" (keeps the last sample; retrying)", true)
	} else {
		m.frame = msg.frame
		if m.statusErr {
			m.status, m.statusErr = "", false
		}
		switch {
		case msg.report.Warning != "":
			m.setStatus(msg.report.Warning, false)
		case msg.report.Malformed > 0:
			first := ""
			if len(msg.report.Problems) > 0 {
				first = ": " + msg.report.Problems[0]
			}
			m.setStatus(fmt.Sprintf("%d malformed lines in this sample%s", msg.report.Malformed, first), true)
		}
		for _, p := range m.panes {
			_, cmd := p.Update(common.FrameMsg{Frame: msg.frame})
			cmds = append(cmds, cmd)
		}
		if m.pipe.rec != nil {
			m.atEnd = msg.frame.Sample >= msg.frame.Samples-1 && !m.paused
		}
	}
	if m.pending != nil {
		seek := *m.pending
		m.pending = nil
		return tea.Batch(append(cmds, m.refresh(seek))...)
	}
	return tea.Batch(append(cmds, m.schedule())...)
}

// schedule sets the timer for the next refresh: a live source's interval,
// or a recording's own pace divided by the speed.
func (m *Model) schedule() tea.Cmd {
	if m.paused || m.atEnd {
		return nil
	}
	m.tickGen++
	gen := m.tickGen
	d := m.opts.Source.Describe().Interval
	if m.pipe.rec != nil {
		d = time.Second
		if m.frame != nil {
			if gap, ok := m.pipe.rec.Gap(m.frame.Sample + 1); ok {
				d = gap
			}
		}
		d = time.Duration(float64(d) / m.speed)
	}
	d = max(50*time.Millisecond, min(d, time.Minute))
	return m.tick(d, func(time.Time) tea.Msg { return tickMsg{gen: gen} })
}

func (m *Model) nextSeek() int {
	if m.pipe.rec == nil {
		return -1
	}
	if m.frame == nil {
		return 0
	}
	return m.frame.Sample + 1
}

// globalKey handles the keys that mean the same in every pane.
func (m *Model) globalKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	k := m.c.Keys
	if msg.Type == tea.KeyCtrlC {
		return m.quit(), true
	}
	if m.capturing() {
		return nil, false
	}
	if m.showHelp {
		if key.Matches(msg, k.Quit) {
			return m.quit(), true
		}
		m.showHelp = false // any other key closes the help
		return nil, true
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit(), true
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Pause):
		return m.togglePause(), true
	case key.Matches(msg, k.NextPane, k.Right):
		m.focus = (m.focus + 1) % numPanes
	case key.Matches(msg, k.PrevPane, k.Left):
		m.focus = (m.focus + numPanes - 1) % numPanes
	case key.Matches(msg, k.Pane1, k.Pane2, k.Pane3, k.Pane4, k.Pane5):
		m.focus = int(msg.Runes[0] - '1')
	case key.Matches(msg, k.NextSample):
		return m.step(+1), true
	case key.Matches(msg, k.PrevSample):
		return m.step(-1), true
	case key.Matches(msg, k.Faster):
		m.setSpeed(+1)
	case key.Matches(msg, k.Slower):
		m.setSpeed(-1)
	default:
		return nil, false
	}
	return nil, true
}

// capturing reports whether the focused pane takes every key (a prompt).
func (m *Model) capturing() bool {
	c, ok := m.panes[m.focus].(common.Capturer)
	return ok && c.Capturing()
}

func (m *Model) quit() tea.Cmd {
	m.stop()
	return tea.Quit
}

func (m *Model) togglePause() tea.Cmd {
	if m.atEnd {
		m.atEnd, m.paused = false, false
		m.setStatus("replaying from the first sample", false)
		return m.refresh(0)
	}
	m.paused = !m.paused
	if m.paused {
		m.tickGen++ // drop the tick in flight
		return nil
	}
	return m.refresh(m.nextSeek())
}

// step shows the next or previous sample of a recording, and pauses.
func (m *Model) step(d int) tea.Cmd {
	if m.pipe.rec == nil {
		m.setStatus("stepping between samples needs a recording (ctdiag top FILE|DIR)", false)
		return nil
	}
	if m.frame == nil {
		return nil
	}
	target := m.frame.Sample + d
	switch {
	case m.pending != nil:
		target = *m.pending + d
	case m.busy && m.inflight >= 0:
		target = m.inflight + d
	}
	if target < 0 || target >= m.pipe.rec.Len() {
		m.setStatus(fmt.Sprintf("no sample %d: the recording has %d", target+1, m.pipe.rec.Len()), false)
		return nil
	}
	m.paused, m.atEnd = true, false
	m.tickGen++
	return m.refresh(target)
}

func (m *Model) setSpeed(d int) {
	if m.pipe.rec == nil {
		m.setStatus("speed applies to recordings; a live source refreshes every "+common.Dur(m.opts.Source.Describe().Interval), false)
		return
	}
	i := 0
	for j, s := range speeds {
		if s <= m.speed {
			i = j
		}
	}
	m.speed = speeds[max(0, min(i+d, len(speeds)-1))]
	m.setStatus(fmt.Sprintf("speed %g×", m.speed), false)
}

func (m *Model) setStatus(s string, isErr bool) { m.status, m.statusErr = s, isErr }

// copy puts text on the clipboard off the UI goroutine.
func (m *Model) copy(msg common.CopyMsg) tea.Cmd {
	clip := m.opts.Clipboard
	if clip == nil {
		out := m.opts.Output
		clip = func(s string) error {
			if out == nil {
				return errors.New("no terminal to copy through")
			}
			_, err := osc52.New(s).WriteTo(out)
			return err
		}
	}
	return func() tea.Msg {
		if err := clip(msg.Text); err != nil {
			return common.StatusMsg{Text: "copy failed: " + err.Error(), Err: true}
		}
		return common.StatusMsg{Text: fmt.Sprintf("copied %s (%d bytes) to the clipboard (OSC 52)", msg.What, len(msg.Text))}
	}
}

// wide reports whether the terminal is large enough to show every pane.
func (m *Model) wide() bool { return m.width >= 120 && m.height >= 36 }

func (m *Model) talkersVisible() bool {
	return m.wide() || m.focus == paneTalkers
}

func (m *Model) zoomed() bool {
	z, ok := m.panes[m.focus].(common.Zoomer)
	return ok && z.Zoomed()
}

// region is where a pane is drawn.
type region struct{ w, h int }

// regions lays the panes out: in a wide terminal every pane has a box (the
// left column overview, states and talkers; the right findings and flows);
// otherwise the focused pane fills the body.
func (m *Model) regions() [numPanes]region {
	var r [numPanes]region
	body := m.height - m.header.Height() - 1
	if !m.wide() {
		for i := range r {
			r[i] = region{m.width, body - 1} // the tab bar
		}
		return r
	}
	if m.zoomed() {
		r[m.focus] = region{m.width, body}
		return r
	}
	left := max(44, min(70, m.width*36/100))
	right := m.width - left
	ov := 13
	st := (body - ov) / 2
	r[paneOverview] = region{left, ov}
	r[paneStates] = region{left, st}
	r[paneTalkers] = region{left, body - ov - st}
	fi := max(8, min(16, body*35/100))
	r[paneFindings] = region{right, fi}
	r[paneFlows] = region{right, body - fi}
	return r
}

// layout gives each pane its size (content inside its box in wide mode).
func (m *Model) layout() {
	if m.width == 0 {
		return
	}
	m.header.SetWidth(m.width)
	m.help.Width = m.width
	for i, r := range m.regions() {
		if m.wide() {
			m.panes[i].SetSize(max(0, r.w-2), max(0, r.h-2))
		} else {
			m.panes[i].SetSize(r.w, r.h)
		}
	}
}

// View implements tea.Model.
func (m *Model) View() string {
	if m.width == 0 {
		return ""
	}
	var b strings.Builder
	pb := header.Playback{Paused: m.paused, Speed: m.speed, AtEnd: m.atEnd}
	b.WriteString(m.header.View(m.frame, pb, m.opts.Source.Describe()))
	b.WriteByte('\n')
	body := m.height - m.header.Height() - 1
	switch {
	case m.showHelp:
		b.WriteString(strings.Join(common.Lines(m.fullHelp(), m.width, body), "\n"))
	case !m.wide():
		b.WriteString(m.tabs() + "\n")
		b.WriteString(m.panes[m.focus].View())
	default:
		b.WriteString(m.grid())
	}
	b.WriteByte('\n')
	b.WriteString(m.statusLine())
	return b.String()
}

// tabs is the narrow layout's pane bar.
func (m *Model) tabs() string {
	st := m.c.Styles
	var parts []string
	for i, p := range m.panes {
		if i == m.focus {
			parts = append(parts, st.TabActive.Render("["+p.Title()+"]"))
		} else {
			parts = append(parts, st.Tab.Render(" "+p.Title()+" "))
		}
	}
	return common.Fit(strings.Join(parts, ""), m.width)
}

// grid is the wide layout: every pane in its box.
func (m *Model) grid() string {
	st := m.c.Styles
	r := m.regions()
	box := func(i int) string {
		return common.Box(st, m.panes[i].Title(), m.panes[i].View(), r[i].w, r[i].h, i == m.focus)
	}
	if m.zoomed() {
		return box(m.focus)
	}
	left := lipgloss.JoinVertical(lipgloss.Left, box(paneOverview), box(paneStates), box(paneTalkers))
	right := lipgloss.JoinVertical(lipgloss.Left, box(paneFindings), box(paneFlows))
	return lipgloss.JoinHorizontal(lipgloss.Top, left, right)
}

// statusLine: the message of the moment on the left, the keys on the
// right; a message pushes the keys down to "? help • q quit", then out.
func (m *Model) statusLine() string {
	st := m.c.Styles
	msg := m.status
	style := st.Status
	if m.statusErr {
		style = st.StatusError
	}
	if msg == "" && m.frame == nil {
		msg = "reading…"
	}
	keys := m.help.ShortHelpView(m.ShortHelp())
	if msg == "" {
		return common.FitLeft(keys, m.width)
	}
	k := m.c.Keys
	for _, keys := range []string{keys, m.help.ShortHelpView([]key.Binding{k.Help, k.Quit})} {
		if room := m.width - lipgloss.Width(keys) - 2; lipgloss.Width(msg) <= room {
			return common.Fit(style.Render(msg), room) + "  " + keys
		}
	}
	return common.Fit(style.Render(msg), m.width)
}

// ShortHelp implements help.KeyMap: the focused pane's keys, then the
// global ones.
func (m *Model) ShortHelp() []key.Binding {
	k := m.c.Keys
	out := m.panes[m.focus].ShortHelp()
	if m.capturing() {
		return out
	}
	return append(out, k.Help, k.Quit)
}

// FullHelp implements help.KeyMap: the global keys, then the focused
// pane's.
func (m *Model) FullHelp() [][]key.Binding {
	return append(m.globalHelp(), m.panes[m.focus].FullHelp()...)
}

func (m *Model) globalHelp() [][]key.Binding {
	k := m.c.Keys
	return [][]key.Binding{
		{k.NextPane, k.PrevPane, k.Left, k.Right},
		{k.Pane1, k.Pane2, k.Pane3, k.Pane4, k.Pane5},
		{k.Pause, k.NextSample, k.PrevSample, k.Faster, k.Slower},
		{k.Help, k.Quit},
	}
}

// fullHelp draws the global keys and the focused pane's in two blocks, so
// both fit at 80 columns.
func (m *Model) fullHelp() string {
	st := m.c.Styles
	pane := strings.TrimLeft(m.panes[m.focus].Title(), "12345 ")
	return st.Title.Render("Keys") + st.Dim.Render("  (any key closes this)") + "\n\n" +
		m.help.FullHelpView(m.globalHelp()) + "\n\n" +
		st.Title.Render(pane) + "\n\n" + m.help.FullHelpView(m.panes[m.focus].FullHelp())
}
