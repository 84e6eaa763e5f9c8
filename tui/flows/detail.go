package flows

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

func (m *Model) renderDetail() {
	if !m.open || m.frame == nil {
		return
	}
	m.detail.SetContent(RenderFlow(m.c, &m.entry, m.frame, m.entryOK, m.entryAt, m.width))
}

// RenderFlow writes everything about one entry: both tuples, flags,
// counters, mark and zone, idle age, what the tracker expects next, its
// events, and the line conntrack -L prints.
func RenderFlow(c common.Common, f *track.Flow, fr *common.Frame, current bool, seenAt int, width int) string {
	st := c.Styles
	w := max(30, width)
	var b []string
	field := func(name, value string) {
		lines := common.Wrap(value, w-12)
		b = append(b, st.Label.Render(common.Fit(name, 11))+" "+lines[0])
		for _, l := range lines[1:] {
			b = append(b, strings.Repeat(" ", 12)+l)
		}
	}
	title := f.Orig.Proto.String()
	if s := f.StateName(); s != "" {
		title += " " + s
	}
	title += " " + flagWords(f)
	b = append(b, st.Title.Render(title))
	if !current {
		b = append(b, st.Warn.Render(fmt.Sprintf("gone: not in the table since sample %d; shown as last seen", seenAt+1)))
	}
	b = append(b, "")
	field("original", tupleText(&f.Orig))
	reply := tupleText(&f.Reply)
	switch {
	case f.SrcNAT() && f.DstNAT():
		reply += "  (source and destination NAT)"
	case f.SrcNAT():
		reply += fmt.Sprintf("  (source NAT: replies go to %s)", endpoint(f.Reply.Dst, f.Reply.DstPort, f.Reply.Proto))
	case f.DstNAT():
		reply += fmt.Sprintf("  (destination NAT: served by %s)", endpoint(f.Reply.Src, f.Reply.SrcPort, f.Reply.Proto))
	default:
		reply += "  (no NAT: the inverse of the original)"
	}
	field("reply", reply)
	field("status", strings.Join(f.Status.Names(), " "))
	age := flowtable.IdleAge(f, fr.Table.Timeouts())
	if f.Fields.Has(track.FieldTimeout) {
		t := fmt.Sprintf("%d s left", f.Timeout)
		if age.Full > 0 {
			t += fmt.Sprintf(" of %s (%s)", common.Dur(age.Full), age.Sysctl)
		}
		field("timeout", t)
	} else {
		field("timeout", "none (offloaded)")
	}
	switch {
	case age.Known && age.Capped:
		field("idle", "≈"+common.Dur(age.Idle)+" since the last packet, counted from the 300 s cap on unacknowledged data")
	case age.Known:
		field("idle", "≈"+common.Dur(age.Idle)+" since the last packet that refreshed it (full timeout − remaining)")
	default:
		field("idle", "unknown (the remaining timeout exceeds the state's timeout: a sysctl changed or a timeout policy applies)")
	}
	if f.Fields.Has(track.FieldDeltaTime) {
		field("age", common.Dur(time.Duration(f.DeltaTime)*time.Second)+" since it was confirmed (delta-time)")
	}
	if f.Fields.Has(track.FieldOrigCounters) {
		field("counters", fmt.Sprintf("original %s packets, %s · reply %s packets, %s",
			common.Int(f.OrigCounters.Packets), common.Bytes(f.OrigCounters.Bytes),
			common.Int(f.ReplyCounters.Packets), common.Bytes(f.ReplyCounters.Bytes)))
	} else {
		field("counters", "none: accounting (nf_conntrack_acct) was off when the entry was created")
	}
	var ids []string
	ids = append(ids, "mark "+markText(f))
	ids = append(ids, "zone "+strconv.Itoa(int(f.Zone)))
	if f.Fields.Has(track.FieldZoneOrig) || f.Fields.Has(track.FieldZoneReply) {
		ids = append(ids, fmt.Sprintf("zone-orig %d zone-reply %d", f.ZoneOrig, f.ZoneReply))
	}
	if f.Fields.Has(track.FieldUse) {
		ids = append(ids, "use "+strconv.Itoa(int(f.Use)))
	}
	if f.Fields.Has(track.FieldID) {
		ids = append(ids, "id "+strconv.FormatUint(uint64(f.ID), 10))
	}
	if f.Ext != nil && f.Ext.Helper != "" {
		ids = append(ids, "helper "+f.Ext.Helper)
	}
	if f.Ext != nil && len(f.Ext.Labels) > 0 {
		ids = append(ids, "labels "+strings.Join(f.Ext.Labels, ","))
	}
	field("ids", strings.Join(ids, " · "))
	field("expects", Expect(f, age))
	b = append(b, "", st.Bold.Render("EVENTS"))
	evs := eventsOf(f, fr.Events)
	switch {
	case len(evs) > 0:
		for _, e := range evs {
			when := "          "
			if !e.Time.IsZero() {
				when = e.Time.UTC().Format("15:04:05.000")
			}
			state := e.Flow.StateName()
			b = append(b, fmt.Sprintf("  %s  %-7s %s %s", when, e.Type, state, flagWords(&e.Flow)))
		}
	case fr.Source.Events:
		b = append(b, st.Dim.Render("  none seen for this entry since the session began"))
	default:
		b = append(b, st.Dim.Render("  not followed: this source reads the table, not its events"))
	}
	b = append(b, "", st.Bold.Render("AS CONNTRACK -L PRINTS IT"))
	line := strings.TrimSuffix(string(parser.AppendFlow(nil, f, parser.StyleConntrack)), "\n")
	for _, l := range strings.Split(ansi.Hardwrap(line, w-2, true), "\n") {
		b = append(b, "  "+st.Command.Render(l))
	}
	return strings.Join(b, "\n")
}

// eventsOf picks the events about f's tuple (either direction's).
func eventsOf(f *track.Flow, evs []track.Event) []track.Event {
	var out []track.Event
	for i := range evs {
		e := &evs[i]
		if e.Flow.Orig == f.Orig || e.Flow.Orig == f.Reply && e.Flow.Reply == f.Orig {
			out = append(out, *e)
		}
	}
	return out
}

func tupleText(t *track.Tuple) string {
	switch {
	case t.Proto.HasPorts():
		return netip.AddrPortFrom(t.Src, t.SrcPort).String() + " → " + netip.AddrPortFrom(t.Dst, t.DstPort).String()
	case t.Proto.IsICMP():
		return fmt.Sprintf("%s → %s  type %d code %d id %d", t.Src, t.Dst, t.Type, t.Code, t.ID)
	case t.Proto == track.ProtoGRE:
		return fmt.Sprintf("%s → %s  keys 0x%x/0x%x", t.Src, t.Dst, t.SrcKey, t.DstKey)
	}
	return t.Src.String() + " → " + t.Dst.String()
}

func flagWords(f *track.Flow) string {
	switch {
	case f.Status.Assured():
		return "[ASSURED]"
	case f.Status.SeenReply():
		return "(half-assured: replied, not [ASSURED])"
	}
	return "[UNREPLIED]"
}

func markText(f *track.Flow) string {
	if !f.Fields.Has(track.FieldMark) {
		return "-"
	}
	return fmt.Sprintf("%d (0x%x)", f.Mark, f.Mark)
}
