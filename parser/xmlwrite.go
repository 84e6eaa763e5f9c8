package parser

import (
	"bufio"
	"encoding/xml"
	"io"
	"strconv"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// xmlHeader is what conntrack prints before the first <flow>.
const xmlHeader = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n"

// AppendFlowXML appends f as one <flow> element as libnetfilter_conntrack
// prints it, with its newline: typ is 0 for a table entry, else the event
// kind; a non-zero when adds <when> (conntrack -E -o xml,timestamp) in when's
// location. Optional parts are printed when f.Fields says they are present.
func AppendFlowXML(dst []byte, f *track.Flow, typ track.EventType, when time.Time) []byte {
	switch typ {
	case track.EventNew:
		dst = append(dst, `<flow type="new">`...)
	case track.EventUpdate:
		dst = append(dst, `<flow type="update">`...)
	case track.EventDestroy:
		dst = append(dst, `<flow type="destroy">`...)
	default:
		dst = append(dst, "<flow>"...)
	}
	dst = appendXMLTuple(dst, f, &f.Orig, "original", f.Fields.Has(track.FieldZoneOrig), f.ZoneOrig, f.Fields.Has(track.FieldOrigCounters), f.OrigCounters)
	dst = appendXMLTuple(dst, f, &f.Reply, "reply", f.Fields.Has(track.FieldZoneReply), f.ZoneReply, f.Fields.Has(track.FieldReplyCounters), f.ReplyCounters)
	dst = append(dst, `<meta direction="independent">`...)
	if f.HasState() {
		// libnetfilter_conntrack names SCTP and DCCP states with TCP's
		// names too.
		dst = xmlElem(dst, "state", track.TCPState(f.State).String())
	}
	if f.Fields.Has(track.FieldTimeout) {
		dst = xmlUintElem(dst, "timeout", uint64(f.Timeout))
	}
	if f.Fields.Has(track.FieldMark) {
		dst = xmlUintElem(dst, "mark", uint64(f.Mark))
	}
	if f.Ext != nil {
		if f.Fields.Has(track.FieldLabels) && len(f.Ext.Labels) > 0 {
			dst = append(dst, "<labels>"...)
			for _, l := range f.Ext.Labels {
				dst = xmlElem(dst, "label", l)
			}
			dst = append(dst, "</labels>"...)
		}
		if f.Fields.Has(track.FieldSecmark) {
			dst = xmlUintElem(dst, "secmark", uint64(f.Ext.Secmark))
		}
		if f.Fields.Has(track.FieldSecctx) {
			dst = xmlElem(dst, "secctx", f.Ext.Secctx)
		}
	}
	if f.Zone != 0 {
		dst = xmlUintElem(dst, "zone", uint64(f.Zone))
	}
	if f.Fields.Has(track.FieldUse) {
		dst = xmlUintElem(dst, "use", uint64(f.Use))
	}
	if f.Fields.Has(track.FieldID) {
		dst = xmlUintElem(dst, "id", uint64(f.ID))
	}
	if f.Status.Assured() {
		dst = append(dst, "<assured/>"...)
	}
	if !f.Status.SeenReply() {
		dst = append(dst, "<unreplied/>"...)
	}
	if f.Ext != nil && (f.Fields.Has(track.FieldStart) || f.Fields.Has(track.FieldStop)) {
		dst = append(dst, "<timestamp>"...)
		if f.Fields.Has(track.FieldStart) {
			dst = xmlUintElem(dst, "start", uint64(f.Ext.Start.UnixNano()))
		}
		if f.Fields.Has(track.FieldStop) {
			dst = xmlUintElem(dst, "stop", uint64(f.Ext.Stop.UnixNano()))
		}
		dst = append(dst, "</timestamp>"...)
	}
	if f.Fields.Has(track.FieldDeltaTime) {
		dst = xmlUintElem(dst, "deltatime", f.DeltaTime)
	}
	dst = append(dst, "</meta>"...)
	if !when.IsZero() {
		dst = append(dst, "<when>"...)
		dst = xmlUintElem(dst, "hour", uint64(when.Hour()))
		dst = append(dst, "<min>"...)
		dst = append2(dst, when.Minute())
		dst = append(dst, "</min><sec>"...)
		dst = append2(dst, when.Second())
		dst = append(dst, "</sec>"...)
		dst = xmlUintElem(dst, "wday", uint64(when.Weekday())+1)
		dst = xmlUintElem(dst, "day", uint64(when.Day()))
		dst = xmlUintElem(dst, "month", uint64(when.Month()))
		dst = xmlUintElem(dst, "year", uint64(when.Year()))
		dst = append(dst, "</when>"...)
	}
	if f.Fields.Has(track.FieldHelper) && f.Ext != nil {
		dst = xmlElem(dst, "helper", f.Ext.Helper)
	}
	return append(dst, "</flow>\n"...)
}

// append2 is printf("%02d").
func append2(dst []byte, v int) []byte {
	if v < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(v), 10)
}

func appendXMLTuple(dst []byte, f *track.Flow, t *track.Tuple, dir string, hasZone bool, zone uint16, hasCtr bool, c track.Counters) []byte {
	dst = append(dst, `<meta direction="`...)
	dst = append(dst, dir...)
	dst = append(dst, `"><layer3 protonum="`...)
	dst = strconv.AppendUint(dst, uint64(t.Family), 10)
	dst = append(dst, `" protoname="`...)
	dst = append(dst, t.Family.String()...)
	dst = append(dst, `"><src>`...)
	dst = appendXMLAddr(dst, t, true)
	dst = append(dst, "</src><dst>"...)
	dst = appendXMLAddr(dst, t, false)
	dst = append(dst, `</dst></layer3><layer4 protonum="`...)
	dst = strconv.AppendUint(dst, uint64(t.Proto), 10)
	dst = append(dst, `" protoname="`...)
	dst = append(dst, t.Proto.Name()...)
	dst = append(dst, `">`...)
	switch {
	case t.Proto.HasPorts():
		dst = xmlUintElem(dst, "sport", uint64(t.SrcPort))
		dst = xmlUintElem(dst, "dport", uint64(t.DstPort))
	case t.Proto == track.ProtoGRE:
		dst = append(dst, "<srckey>0x"...)
		dst = strconv.AppendUint(dst, uint64(t.SrcKey), 16)
		dst = append(dst, "</srckey><dstkey>0x"...)
		dst = strconv.AppendUint(dst, uint64(t.DstKey), 16)
		dst = append(dst, "</dstkey>"...)
	}
	dst = append(dst, "</layer4>"...)
	if hasZone {
		dst = xmlUintElem(dst, "zone", uint64(zone))
	}
	if hasCtr {
		dst = append(dst, "<counters>"...)
		dst = xmlUintElem(dst, "packets", c.Packets)
		dst = xmlUintElem(dst, "bytes", c.Bytes)
		dst = append(dst, "</counters>"...)
	}
	return append(dst, "</meta>"...)
}

func appendXMLAddr(dst []byte, t *track.Tuple, src bool) []byte {
	a := t.Dst
	if src {
		a = t.Src
	}
	switch {
	case !a.IsValid():
		return dst
	case a.Is4():
		return appendIPv4(dst, a)
	}
	return appendIPv6Compressed(dst, a)
}

func xmlUintElem(dst []byte, name string, v uint64) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = strconv.AppendUint(dst, v, 10)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// xmlElem writes text escaped (libnetfilter_conntrack does not escape;
// its values never need it, names read from files might).
func xmlElem(dst []byte, name, text string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	w := byteAppender{&dst}
	_ = xml.EscapeText(w, []byte(text))
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

type byteAppender struct{ b *[]byte }

func (a byteAppender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// XMLWriter writes a table or an event stream as conntrack -o xml does:
// the declaration and <conntrack> before the first flow, </conntrack> at
// Close (nothing at all when no flow was written, as conntrack).
type XMLWriter struct {
	w       *bufio.Writer
	buf     []byte
	started bool
}

// NewXMLWriter writes to w, buffered.
func NewXMLWriter(w io.Writer) *XMLWriter {
	return &XMLWriter{w: bufio.NewWriterSize(w, 256<<10)}
}

// Write writes a table entry.
func (x *XMLWriter) Write(f *track.Flow) error { return x.write(f, 0, time.Time{}) }

// WriteEvent writes an event; when is printed as <when> unless zero.
func (x *XMLWriter) WriteEvent(ev *track.Event, when time.Time) error {
	return x.write(&ev.Flow, ev.Type, when)
}

func (x *XMLWriter) write(f *track.Flow, typ track.EventType, when time.Time) error {
	b := x.buf[:0]
	if !x.started {
		b = append(b, xmlHeader...)
		x.started = true
	}
	b = AppendFlowXML(b, f, typ, when)
	x.buf = b
	_, err := x.w.Write(b)
	return err
}

// Flush writes what is buffered (an event stream flushes after each event).
func (x *XMLWriter) Flush() error { return x.w.Flush() }

// Close ends the document and flushes.
func (x *XMLWriter) Close() error {
	if x.started {
		x.w.WriteString("</conntrack>\n")
	}
	return x.w.Flush()
}
