package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/findings"
	"github.com/ctdiag/ctdiag/tui/flows"
	"github.com/ctdiag/ctdiag/tui/header"
	"github.com/ctdiag/ctdiag/tui/overview"
	rulesetpane "github.com/ctdiag/ctdiag/tui/ruleset"
	"github.com/ctdiag/ctdiag/tui/states"
	"github.com/ctdiag/ctdiag/tui/talkers"
)

// Model is the root model: it composes the panes, routes keys and
// messages to them, and runs the refresh loop; playback (player) and
// placement (layout) are its parts.
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
	ruleset  *rulesetpane.Model
	panes    [numPanes]common.Component
	focus    int

	layout layout
	play   player
	frame  *common.Frame
	best   *telling // the most telling sample scanned so far

	// tick makes the timer of the next refresh (tea.Tick; tests replace
	// it to tick by hand).
	tick func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	status       status
	help         help.Model
	showHelp     bool
	showMessages bool
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
	_, recording := opts.Source.(Recording)
	if recording && opts.Open != OpenFirst {
		opts.Paused = true
	}
	c := common.Common{Styles: common.NewStyles(opts.Renderer), Keys: common.NewKeyMap(recording), Config: cfg, Now: opts.Now}
	ctx, stop := context.WithCancel(context.Background())
	m := &Model{c: c, opts: opts, ctx: ctx, stop: stop, play: newPlayer(opts.Source, opts.Speed, opts.Paused),
		pipe: newPipeline(opts.Source, opts.Analyzer, opts.Now), tick: tea.Tick}
	m.header = header.New(c)
	m.layout.header = m.header.Height()
	m.overview, m.states, m.findings = overview.New(c), states.New(c), findings.New(c)
	m.talkers, m.flows, m.ruleset = talkers.New(c), flows.New(c), rulesetpane.New(c)
	m.panes = [numPanes]common.Component{m.overview, m.states, m.findings, m.talkers, m.flows, m.ruleset}
	m.focus = paneStates
	if opts.Pane >= 1 && opts.Pane <= numPanes {
		m.focus = opts.Pane - 1
	}
	if opts.Filter != "" {
		m.flows.SetFilter(opts.Filter)
	}
	m.help = newHelp(c.Styles)
	return m
}

// Close stops any read in flight and closes the source.
func (m *Model) Close() error {
	m.stop()
	return m.opts.Source.Close()
}

// Init implements tea.Model: take the alternate screen (left again on
// every exit) and read the first sample to show: a live source's next, or
// where a recording opens.
func (m *Model) Init() tea.Cmd {
	first := m.play.next(nil)
	switch rec := m.play.rec; {
	case rec != nil && m.opts.Open == OpenWorst && rec.Len() > 1:
		m.play.start(-1)
		m.play.scanning = true
		m.status.progress(fmt.Sprintf("analysing every sample to open the most telling: 0 of %d…", rec.Len()))
		return tea.Batch(tea.EnterAltScreen, m.scan())
	case rec != nil && m.opts.Open == OpenLast:
		first = rec.Len() - 1
	}
	return tea.Batch(tea.EnterAltScreen, m.refresh(first))
}

// refresh asks the pipeline for a sample (a recording's index, or -1 for
// the next) unless one is being read; then it is queued.
func (m *Model) refresh(seek int) tea.Cmd {
	if !m.play.start(seek) {
		return nil
	}
	match, query, order := m.flows.Query()
	next := 1
	if m.frame != nil {
		next = m.frame.Seq + 1
	}
	req := request{seek: seek, match: match, query: query, order: order,
		talkers: m.talkers.Dimension(), ranking: m.talkersVisible() && m.talkers.Wants(next, m.play.rec == nil), topN: talkers.TopN}
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
		m.layout.width, m.layout.height = msg.Width, msg.Height
	case frameMsg:
		cmds = append(cmds, m.onFrame(msg))
	case scanMsg:
		cmds = append(cmds, m.onScan(msg))
	case tickMsg:
		if m.play.due(msg.gen) {
			cmds = append(cmds, m.refresh(m.play.next(m.frame)))
		}
	case common.ShowFlowsMsg:
		m.focus = paneFlows
		cmds = append(cmds, m.flows.SetFilter(msg.Filter))
		m.status.set("flows: "+msg.Filter, false)
	case common.StatusMsg:
		m.status.set(msg.Text, msg.Err)
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
	m.resize()
	cmds = append(cmds, m.talkers.SetVisible(m.talkersVisible(), m.focus == paneTalkers))
	return m, tea.Batch(cmds...)
}

// onFrame takes a refresh's result and schedules the next one.
func (m *Model) onFrame(msg frameMsg) tea.Cmd {
	var cmds []tea.Cmd
	next, queued := m.play.done()
	if msg.err != nil {
		if errors.Is(msg.err, context.Canceled) {
			return nil
		}
		m.status.set("source: "+msg.err.Error()+" (keeps the last sample; retrying)", true)
	} else {
		m.frame = msg.frame
		if m.status.err {
			m.status.set("", false)
		}
		switch {
		case msg.report.Warning != "":
			m.status.set(msg.report.Warning, false)
		case msg.report.Malformed > 0:
			first := ""
			if len(msg.report.Problems) > 0 {
				first = ": " + msg.report.Problems[0]
			}
			m.status.set(fmt.Sprintf("%d malformed lines in this sample%s", msg.report.Malformed, first), true)
		}
		for _, p := range m.panes {
			_, cmd := p.Update(common.FrameMsg{Frame: msg.frame})
			cmds = append(cmds, cmd)
		}
		m.play.shown(msg.frame)
	}
	if queued {
		return tea.Batch(append(cmds, m.refresh(next))...)
	}
	return tea.Batch(append(cmds, m.schedule())...)
}

// schedule sets the timer for the next refresh, if one is due.
func (m *Model) schedule() tea.Cmd {
	d, gen, ok := m.play.delay(m.frame)
	if !ok {
		return nil
	}
	return m.tick(d, func(time.Time) tea.Msg { return tickMsg{gen: gen} })
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
	m.status.key()
	if m.showHelp || m.showMessages {
		if key.Matches(msg, k.Quit) {
			return m.quit(), true
		}
		m.showHelp, m.showMessages = false, false // any other key closes them
		return nil, true
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit(), true
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Messages):
		m.showMessages, m.status.behind = true, 0
	case key.Matches(msg, k.Pause):
		seek, ok, status := m.play.togglePause(m.frame)
		if status != "" {
			m.status.set(status, false)
		}
		if ok {
			return m.refresh(seek), true
		}
	case key.Matches(msg, k.NextPane, k.Right):
		m.focus = (m.focus + 1) % numPanes
	case key.Matches(msg, k.PrevPane, k.Left):
		m.focus = (m.focus + numPanes - 1) % numPanes
	case key.Matches(msg, k.Pane1, k.Pane2, k.Pane3, k.Pane4, k.Pane5, k.Pane6):
		m.focus = int(msg.Runes[0] - '1')
	case key.Matches(msg, k.NextSample):
		return m.step(+1), true
	case key.Matches(msg, k.PrevSample):
		return m.step(-1), true
	case key.Matches(msg, k.FirstSample):
		return m.goTo(0), true
	case key.Matches(msg, k.LastSample):
		return m.goTo(m.play.rec.Len() - 1), true
	case key.Matches(msg, k.Faster):
		m.status.set(m.play.setSpeed(+1), false)
	case key.Matches(msg, k.Slower):
		m.status.set(m.play.setSpeed(-1), false)
	default:
		return nil, false
	}
	return nil, true
}

// step shows the next or previous sample of a recording, and pauses.
func (m *Model) step(d int) tea.Cmd {
	seek, ok, status := m.play.step(m.frame, d)
	if status != "" {
		m.status.set(status, false)
	}
	if !ok {
		return nil
	}
	return m.refresh(seek)
}

// goTo shows sample i of a recording, and pauses.
func (m *Model) goTo(i int) tea.Cmd {
	seek, ok, status := m.play.goTo(i)
	if status != "" {
		m.status.set(status, false)
	}
	if !ok {
		return nil
	}
	return m.refresh(seek)
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

func (m *Model) talkersVisible() bool {
	return m.layout.wide() || m.focus == paneTalkers
}

func (m *Model) zoomed() bool {
	z, ok := m.panes[m.focus].(common.Zoomer)
	return ok && z.Zoomed()
}

// resize gives the header and each pane their sizes.
func (m *Model) resize() {
	if m.layout.width == 0 {
		return
	}
	m.header.SetWidth(m.layout.width)
	m.help.Width = m.layout.width
	m.layout.size(m.panes, m.focus, m.zoomed())
}

// View implements tea.Model: the header, the panes (or the help), the
// status line.
func (m *Model) View() string {
	l := m.layout
	if l.width == 0 {
		return ""
	}
	var b strings.Builder
	pb := header.Playback{Paused: m.play.paused, Speed: m.play.speed, AtEnd: m.play.atEnd}
	b.WriteString(m.header.View(m.frame, pb, m.opts.Source.Describe()))
	b.WriteByte('\n')
	switch {
	case m.showHelp:
		b.WriteString(strings.Join(common.Lines(m.fullHelp(), l.width, l.body()), "\n"))
	case m.showMessages:
		b.WriteString(strings.Join(common.Lines(m.status.messages(m.c.Styles, l.width, l.body()), l.width, l.body()), "\n"))
	default:
		b.WriteString(l.view(m.c.Styles, m.panes, m.focus, m.zoomed()))
	}
	b.WriteByte('\n')
	b.WriteString(m.status.view(m.c.Styles, m.help, m.panes[m.focus].ShortHelp(), m.c.Keys, l.width, m.frame == nil, m.capturing()))
	return b.String()
}
