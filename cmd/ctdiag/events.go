package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctdiag/ctdiag/collector"
	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

type eventsOptions struct {
	output    string
	events    string
	duration  time.Duration
	maxEvents int
	bufSize   int
	quiet     bool
	connlabel string
	filter    *filter.Flags
	live      *liveFlags
}

func newEventsCmd(e env) *cobra.Command {
	opts := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Follow conntrack events like conntrack -E, with the list filters and counted losses",
		Long: `Print the live table's conntrack events as conntrack -E does, one line per
event, until interrupted (Ctrl-C), --duration has passed or --max-events
were shown:

      [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.1.1 sport=40000 dport=443 [UNREPLIED] src=10.0.1.1 ...
   [UPDATE] tcp      6 60 SYN_RECV src=10.0.0.1 ...
  [DESTROY] tcp      6 src=10.0.0.1 ... [USERSPACE] portid=3208341707 progname=conntrack

-e NEW,UPDATE,DESTROY (or ALL; abbreviations as conntrack takes them)
subscribes to those kinds only; the options of ctdiag list (-p, -s, --state,
-u, -m, -w, --src-nat ...) select events by the entry they are about, as
conntrack -E does. -o timestamp puts conntrack's [seconds.micros] in front,
-o extended adds the family columns, -o id the entry id, -o xml writes
conntrack's XML (<when> with timestamp), -o save conntrack's -A/-U/-D lines.

What ctdiag adds: a kernel that cannot deliver events fast enough drops them
for this reader (conntrack warns once per overrun and keeps going). ctdiag
counts every overrun and says on stderr when it happened, doubles the socket
buffer (up to 256 MiB), and sums up on exit: "N flow events have been shown;
events were lost M times". (ctdiag record keeps events with their losses in
a bundle, and re-reads the table after each.)

Events come over netlink only: they need CAP_NET_ADMIN (sudo). --netns and
--netns-pid follow another namespace.`,
		Example: `  sudo ctdiag events
  sudo ctdiag events -e NEW,DESTROY -p tcp --dport 443 -o timestamp
  sudo ctdiag events --netns web -u '!ASSURED' --duration 30s
  sudo ctdiag events -o xml,timestamp > events.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(e, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "conntrack", "output: conntrack (default), extended, xml or save, with conntrack's timestamp and id, e.g. extended,timestamp")
	f.StringVarP(&opts.events, "event-mask", "e", "ALL", "event kinds: NEW, UPDATE(S), DESTROY or ALL, comma-separated")
	f.DurationVar(&opts.duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.IntVar(&opts.maxEvents, "max-events", 0, "stop after this many events are shown (0: no limit)")
	f.IntVarP(&opts.bufSize, "buffer-size", "b", 0, "netlink socket buffer in bytes, kept as given (default 32 MiB, doubled after each overrun up to 256 MiB)")
	f.BoolVar(&opts.quiet, "quiet", false, "do not name the source or sum up on stderr")
	f.StringVar(&opts.connlabel, "connlabel", defaultConnlabel, "the file naming connection-label bits (-l NAME must be in it)")
	opts.live = registerLiveFlags(f)
	completeLiveFlags(cmd)
	opts.filter = filter.Register(f)
	_ = cmd.RegisterFlagCompletionFunc("event-mask", cobra.FixedCompletions([]string{"ALL", "NEW", "UPDATE", "DESTROY", "NEW,DESTROY"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"conntrack", "extended", "timestamp", "extended,timestamp", "id", "xml", "save"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runEvents(e env, opts *eventsOptions) error {
	flt, err := opts.filter.Filter()
	if err != nil {
		return usageError("%v", err)
	}
	spec, err := parseOutputSpec(opts.output)
	if err != nil {
		return usageError("%v", err)
	}
	if spec.keepsAll() || spec.format == parser.FormatProc {
		return usageError("-o %s: events are written as conntrack (default), extended, xml or save", opts.output)
	}
	mask, err := filter.ParseEventMask(opts.events)
	if err != nil {
		return usageError("%v", err)
	}
	if err := checkLabels(flt, opts.connlabel); err != nil {
		return err
	}
	if opts.duration < 0 || opts.maxEvents < 0 || opts.bufSize < 0 {
		return usageError("--duration, --max-events and --buffer-size cannot be negative")
	}
	cfg, err := opts.live.config()
	if err != nil {
		return usageError("%v", err)
	}
	cfg.LabelFile = opts.connlabel
	if cfg.Source == collector.SourceProcfs {
		return usageError("events come over netlink only; drop --source proc")
	}
	cfg.Source = collector.SourceNetlink
	c, err := collector.Open(cfg)
	if err != nil {
		var xe *exitError
		errors.As(liveError(err), &xe)
		xe.err = fmt.Errorf("%w\n  events come over netlink only (conntrack -E needs the same privilege)", xe.err)
		return xe
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	p := &eventPrinter{flt: flt, mask: mask, spec: spec, max: opts.maxEvents, done: cancel,
		w: bufio.NewWriter(e.stdout), stderr: e.stderr, hide: spec.liveHidden()}
	if spec.format == parser.FormatXML {
		p.xml = parser.NewXMLWriter(e.stdout)
	}
	var kinds []track.EventType
	for _, k := range []track.EventType{track.EventNew, track.EventUpdate, track.EventDestroy} {
		if mask.Has(k) {
			kinds = append(kinds, k)
		}
	}
	evOpts := collector.EventOptions{Kinds: kinds, SkipResync: true, ReadBuffer: opts.bufSize, MaxReadBuffer: opts.bufSize, Ready: func() {
		if !opts.quiet {
			describeSource(e.stderr, c, ", following events ("+mask.String()+")")
		}
	}}
	st, err := c.Events(ctx, evOpts, p)
	if cerr := p.close(); cerr != nil && err == nil {
		err = cerr
	}
	if !opts.quiet {
		sum := fmt.Sprintf("ctdiag: %d flow events have been shown.", p.shown)
		if len(st.Losses) > 0 {
			sum = fmt.Sprintf("ctdiag: %d flow events have been shown; events were lost %d times (the kernel does not say how many; the socket buffer grew to %d bytes).",
				p.shown, len(st.Losses), st.ReadBuffer/2)
		}
		fmt.Fprintln(e.stderr, sum)
	}
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.Is(err, errOutput):
		return &exitError{code: exitFailure, err: err}
	}
	return liveError(err)
}

// errOutput marks a failure to write the events out.
var errOutput = errors.New("writing output")

// eventPrinter is the collector.EventSink of ctdiag events: it filters
// and writes each event as it comes, flushed, as conntrack -E does.
type eventPrinter struct {
	flt    *filter.Filter
	mask   filter.EventMask
	spec   outputSpec
	hide   track.Fields
	max    int
	done   context.CancelFunc
	w      *bufio.Writer
	xml    *parser.XMLWriter
	stderr interface{ Write([]byte) (int, error) }
	buf    []byte
	shown  int
}

// Event implements collector.EventSink.
func (p *eventPrinter) Event(ev *track.Event) error {
	if !p.mask.Has(ev.Type) || p.flt.Judge(&ev.Flow, filter.ViewAll) != filter.Yes {
		return nil
	}
	if p.max > 0 && p.shown >= p.max {
		return nil
	}
	e := *ev
	e.Flow.Fields &^= p.hide
	when := time.Time{}
	if p.spec.timestamp {
		when = e.Time
	}
	var err error
	switch {
	case p.xml != nil:
		if err = p.xml.WriteEvent(&e, when); err == nil {
			err = p.xml.Flush()
		}
	case p.spec.save:
		p.buf = parser.AppendSave(p.buf[:0], &e.Flow, e.Type)
		err = p.write(p.buf)
	default:
		e.Time = when
		style := parser.StyleConntrack
		if p.spec.format == parser.FormatExtended {
			style = parser.StyleExtended
		}
		p.buf = parser.AppendEvent(p.buf[:0], &e, style)
		err = p.write(p.buf)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errOutput, err)
	}
	p.shown++
	if p.max > 0 && p.shown >= p.max {
		p.done()
	}
	return nil
}

func (p *eventPrinter) write(b []byte) error {
	if _, err := p.w.Write(b); err != nil {
		return err
	}
	return p.w.Flush()
}

// Expect implements collector.EventSink: expectations are not printed.
func (p *eventPrinter) Expect(track.EventType, time.Time, *track.Expectation) error { return nil }

// Resync implements collector.EventSink: events are printed, not kept.
func (p *eventPrinter) Resync(*track.Flow) error { return nil }

// Lost implements collector.EventSink: the loss is said on stderr when it
// happens (the events before and after it are printed as they came).
func (p *eventPrinter) Lost(loss track.EventLoss) error {
	fmt.Fprintf(p.stderr, "ctdiag: events lost at %s (overrun %d): the kernel dropped events for this reader, how many is unknown\n",
		loss.Time.Format("15:04:05.000000"), loss.Total)
	return nil
}

// close ends the output (XML's closing tag).
func (p *eventPrinter) close() error {
	var err error
	if p.xml != nil {
		err = p.xml.Close()
	} else {
		err = p.w.Flush()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errOutput, err)
	}
	return nil
}
