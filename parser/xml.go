package parser

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctdiag/ctdiag/track"
)

// conntrack -o xml (libnetfilter_conntrack's snprintf_xml.c), written by
// conntrack -L -o xml (a table) and conntrack -E -o xml (events):
//
//	<?xml version="1.0" encoding="utf-8"?>
//	<conntrack>
//	<flow type="new"><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>…</src><dst>…</dst></layer3>
//	  <layer4 protonum="6" protoname="tcp"><sport>…</sport><dport>…</dport></layer4>[<zone>][<counters>…]</meta>
//	  <meta direction="reply">…</meta>
//	  <meta direction="independent"><state>…</state><timeout>…</timeout><mark>…</mark>[<labels>][<secmark>][<secctx>]
//	  [<zone>]<use>…</use><id>…</id>[<assured/>][<unreplied/>][<timestamp>][<deltatime>]</meta>[<when>…</when>][<helper>…</helper>]</flow>
//	</conntrack>
//
// One <flow> per line, the root closed only when conntrack ends normally (a
// killed conntrack -E leaves it open). Other programs pretty-print it and
// drop the header and root; all of that is read. What the format leaves
// out stays out: ICMP type, code and id (layer4 is empty for ICMP) and every
// status bit but ASSURED and SEEN_REPLY. libnetfilter_conntrack names the
// states of SCTP and DCCP entries with TCP's state names, by number; they
// are read back the same way.

// xmlMaxDepth and xmlMaxNodes bound one <flow>: flow/meta/layer3/src is 4
// deep and a full entry has about 40 elements.
const (
	xmlMaxDepth = 6
	xmlMaxNodes = 256
)

var utf8BOM = []byte("\xef\xbb\xbf")

// sniffXML recognises conntrack's XML by its start: the XML declaration,
// the <conntrack> root or a <flow> element. Events carry type= on <flow>.
func sniffXML(peek []byte) (Format, bool) {
	t := bytes.TrimLeft(bytes.TrimPrefix(peek, utf8BOM), " \t\r\n")
	if bytes.HasPrefix(t, []byte("<?xml")) {
		end := bytes.Index(t, []byte("?>"))
		if end < 0 {
			return FormatUnknown, false
		}
		t = bytes.TrimLeft(t[end+2:], " \t\r\n")
		if len(t) == 0 {
			return FormatXML, true // a declaration and nothing yet
		}
	}
	if !bytes.HasPrefix(t, []byte("<conntrack>")) && !bytes.HasPrefix(t, []byte("<flow>")) && !bytes.HasPrefix(t, []byte("<flow ")) &&
		!bytes.HasPrefix(t, []byte("<flow\n")) && !bytes.HasPrefix(t, []byte("<conntrack\n")) && !bytes.HasPrefix(t, []byte("<conntrack ")) {
		return FormatUnknown, false
	}
	i := bytes.Index(t, []byte("<flow"))
	if i < 0 {
		return FormatXML, true
	}
	rest := t[i+len("<flow"):]
	if end := bytes.IndexByte(rest, '>'); end >= 0 && bytes.Contains(rest[:end], []byte("type=")) {
		return FormatXMLEvents, true
	}
	return FormatXML, true
}

// xmlNode is one element of a <flow>, kept whole until the flow ends: a
// flow is small, and its size is bounded by xmlMaxDepth and xmlMaxNodes.
type xmlNode struct {
	name  string
	attrs []xml.Attr
	text  string
	kids  []*xmlNode
}

func (n *xmlNode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// xmlGuard fails a read once the text between two tags (or one tag) grows
// past maxLineLen, so encoding/xml never buffers an unbounded token.
type xmlGuard struct {
	r   io.Reader
	run int
}

var errXMLTooLong = errors.New("an XML tag or text longer than 1 MiB")

func (g *xmlGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	for i, c := range p[:n] {
		if c == '<' || c == '>' {
			g.run = 0
			continue
		}
		if g.run++; g.run > maxLineLen {
			return i, errXMLTooLong
		}
	}
	return n, err
}

// xmlFlows streams the entries of an XML table.
func (d *Decoder) xmlFlows(fn func(*track.Flow) error) error {
	return d.xmlRecords(fn, nil)
}

// xmlRecords reads every <flow>: as an entry (fn) in a table, as an event
// (ev) in an event stream. A flow that does not read is reported at its
// line and skipped; an XML syntax error ends the input (XML cannot be
// resynchronised) and is reported at its line.
func (d *Decoder) xmlRecords(fn func(*track.Flow) error, ev func(*track.Event) error) error {
	dec := xml.NewDecoder(&xmlGuard{r: d.br})
	loc := d.lp.loc
	if loc == nil {
		loc = time.Local
	}
	var (
		flow  track.Flow
		event track.Event
		root  bool
		// pending is an event read but not yet handed on: conntrack 1.4.7
		// writes " [USERSPACE] portid=N progname=NAME" after the </flow>
		// of an event a process caused, and that text belongs to it.
		pending bool
	)
	defer func() {
		line, _ := dec.InputPos()
		d.counts.Lines = line
	}()
	flush := func() error {
		if !pending {
			return nil
		}
		pending = false
		d.counts.Events++
		if ev != nil {
			return ev(&event)
		}
		return nil
	}
	for {
		before, _ := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return d.xmlSyntax(dec, err, root)
		}
		line, _ := dec.InputPos()
		if cd, ok := tok.(xml.CharData); ok && pending {
			if rest := bytes.TrimSpace(cd); len(rest) > 0 {
				if err := parseUserspace(rest, &event); err != nil {
					d.bad(textLine(before, cd), rest, err)
				}
				if err := flush(); err != nil {
					return err
				}
				continue
			}
		}
		if err := flush(); err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "conntrack":
				if root {
					d.bad(line, nil, syntaxErr("<flow> inside <conntrack>", []byte("<conntrack>")))
					continue
				}
				root = true
			case "flow":
				n, err := readXMLElement(dec, t)
				var lim *xmlLimitError
				if errors.As(err, &lim) {
					d.bad(line, nil, &lim.SyntaxError)
					// Close what is open of this flow so the next one reads.
					for range lim.depth {
						if err := dec.Skip(); err != nil {
							return d.xmlSyntax(dec, err, root)
						}
					}
					continue
				}
				if err != nil {
					return d.xmlSyntax(dec, err, root)
				}
				isEvent, err := d.xmlFlow(n, line, loc, &flow, &event, fn)
				if err != nil {
					return err
				}
				pending = isEvent
			default:
				d.bad(line, nil, syntaxErr("<flow> or <conntrack>", []byte("<"+t.Name.Local+">")))
				if err := dec.Skip(); err != nil {
					return d.xmlSyntax(dec, err, root)
				}
			}
		case xml.EndElement:
			root = false
		case xml.CharData:
			if s := bytes.TrimSpace(t); len(s) > 0 {
				d.bad(textLine(before, t), s, syntaxErr("an XML element", s))
			}
		}
		// The declaration, comments and directives carry nothing.
	}
}

// textLine is the line text starts on, given the line its token began on.
func textLine(before int, text []byte) int {
	lead := len(text) - len(bytes.TrimLeft(text, " \t\r\n"))
	return before + bytes.Count(text[:lead], []byte("\n"))
}

// xmlFlow turns one <flow> into an entry, handed on, or an event, left in
// event for the caller (isEvent) to hand on once it knows what follows.
func (d *Decoder) xmlFlow(n *xmlNode, line int, loc *time.Location, flow *track.Flow, event *track.Event,
	fn func(*track.Flow) error) (isEvent bool, err error) {
	typ, err := xmlEventType(n)
	if err == nil {
		err = flowFromXML(n, flow)
	}
	switch {
	case err == nil && typ == 0 && d.format == FormatXMLEvents:
		err = syntaxErr(`an event (<flow type="new|update|destroy">)`, []byte("<flow>"))
	case err == nil && typ != 0 && d.format == FormatXML:
		err = syntaxErr("a table entry (<flow> without type=)", []byte(`<flow type="`+strings.ToLower(typ.String())+`">`))
	}
	if err != nil {
		d.bad(line, nil, err)
		return false, nil
	}
	if typ == 0 {
		d.counts.Flows++
		if fn != nil {
			return false, fn(flow)
		}
		return false, nil
	}
	*event = track.Event{Type: typ, Flow: *flow}
	if w := xmlChild(n, "when"); w != nil {
		t, err := xmlWhen(w, loc)
		if err != nil {
			d.bad(line, nil, err)
			return false, nil
		}
		event.Time = t
	}
	return true, nil
}

// parseUserspace reads conntrack 1.4.7's "[USERSPACE] portid=N[
// progname=NAME]" after an XML event (later versions leave it out of XML).
func parseUserspace(b []byte, ev *track.Event) error {
	bad := syntaxErr("[USERSPACE] portid=N[ progname=NAME] after an XML event, or an XML element", b)
	rest, ok := bytes.CutPrefix(b, []byte("[USERSPACE] portid="))
	if !ok {
		return bad
	}
	num, name, hasName := bytes.Cut(rest, []byte(" progname="))
	pid, ok := parseUint(num, 1<<32-1)
	if !ok || hasName && (len(name) == 0 || !utf8.Valid(name)) {
		return bad
	}
	ev.Userspace, ev.PortID, ev.Progname = true, uint32(pid), string(name)
	return nil
}

// xmlSyntax reports a syntax error at its line; the input ends there. A
// stream cut between two flows (conntrack -E killed before it closed its
// root) is complete as far as it goes.
func (d *Decoder) xmlSyntax(dec *xml.Decoder, err error, root bool) error {
	line, _ := dec.InputPos()
	var se *xml.SyntaxError
	switch {
	case errors.As(err, &se) && se.Msg == "unexpected EOF" && root && !errInFlow(err):
		return nil
	case errors.Is(err, errXMLTooLong):
		d.bad(line, nil, syntaxErr("an XML tag or text shorter than 1 MiB", nil))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &se) && se.Msg == "unexpected EOF":
		d.bad(line, nil, &truncatedError{cause: syntaxErr("the rest of the <flow> element (the input ends inside it)", nil)})
	case errors.As(err, &se):
		d.bad(se.Line, nil, syntaxErr("well-formed XML", []byte(se.Msg)))
	default:
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}

// errInFlowMarker marks EOF errors raised while a <flow> was being read.
type errInFlowMarker struct{ error }

func (e errInFlowMarker) Unwrap() error { return e.error }

func errInFlow(err error) bool {
	var m errInFlowMarker
	return errors.As(err, &m)
}

// xmlLimitError is a <flow> deeper or larger than any conntrack writes;
// depth elements of it are open.
type xmlLimitError struct {
	SyntaxError
	depth int
}

// readXMLElement reads the element start opened, children included.
func readXMLElement(dec *xml.Decoder, start xml.StartElement) (*xmlNode, error) {
	nodes := 0
	var read func(start xml.StartElement, depth int) (*xmlNode, error)
	read = func(start xml.StartElement, depth int) (*xmlNode, error) {
		if nodes++; nodes > xmlMaxNodes || depth > xmlMaxDepth {
			return nil, &xmlLimitError{SyntaxError: SyntaxError{Expected: fmt.Sprintf("a <flow> of at most %d elements, %d deep", xmlMaxNodes, xmlMaxDepth), Got: "<" + start.Name.Local + ">"}, depth: depth}
		}
		n := &xmlNode{name: start.Name.Local, attrs: start.Attr}
		var text []byte
		for {
			tok, err := dec.Token()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return nil, errInFlowMarker{err}
			}
			switch t := tok.(type) {
			case xml.StartElement:
				kid, err := read(t, depth+1)
				if err != nil {
					return nil, err
				}
				n.kids = append(n.kids, kid)
			case xml.CharData:
				if len(text)+len(t) <= maxLineLen {
					text = append(text, t...)
				}
			case xml.EndElement:
				n.text = strings.TrimSpace(string(text))
				return n, nil
			}
		}
	}
	return read(start, 1)
}

func xmlChild(n *xmlNode, name string) *xmlNode {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func xmlEventType(n *xmlNode) (track.EventType, error) {
	v, ok := n.attr("type")
	if !ok {
		return 0, nil
	}
	switch v {
	case "new":
		return track.EventNew, nil
	case "update":
		return track.EventUpdate, nil
	case "destroy":
		return track.EventDestroy, nil
	}
	return 0, syntaxErr(`type="new", "update" or "destroy" on <flow>`, []byte(v))
}

func xmlUint(n *xmlNode, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(n.text, 10, 64)
	if err != nil || v > max {
		return 0, syntaxErr(fmt.Sprintf("a number 0-%d in <%s>", max, n.name), []byte(n.text))
	}
	return v, nil
}

// flowFromXML reads a <flow> element into f.
func flowFromXML(n *xmlNode, f *track.Flow) error {
	*f = track.Flow{Fields: track.FieldZone}
	status := track.StatusSeenReply | track.StatusConfirmed
	var haveOrig, haveReply bool
	for _, m := range n.kids {
		switch m.name {
		case "meta":
			dir, _ := m.attr("direction")
			var err error
			switch dir {
			case "original":
				if haveOrig {
					return syntaxErr(`one <meta direction="original">`, []byte(dir))
				}
				haveOrig = true
				err = xmlTupleMeta(m, f, &f.Orig, track.FieldZoneOrig, &f.ZoneOrig, track.FieldOrigCounters, &f.OrigCounters)
			case "reply":
				if haveReply {
					return syntaxErr(`one <meta direction="reply">`, []byte(dir))
				}
				haveReply = true
				err = xmlTupleMeta(m, f, &f.Reply, track.FieldZoneReply, &f.ZoneReply, track.FieldReplyCounters, &f.ReplyCounters)
			case "independent":
				err = xmlIndependent(m, f, &status)
			default:
				return syntaxErr(`<meta direction="original|reply|independent">`, []byte(dir))
			}
			if err != nil {
				return err
			}
		case "helper":
			if m.text == "" {
				return syntaxErr("a helper name in <helper>", nil)
			}
			f.SetHelper(m.text)
		case "when":
			// The time an event was printed; xmlFlow reads it.
		default:
			return syntaxErr("<meta>, <when> or <helper> in <flow>", []byte("<"+m.name+">"))
		}
	}
	if !haveOrig || !haveReply {
		return syntaxErr(`<meta direction="original"> and <meta direction="reply">`, nil)
	}
	if f.Orig.Family != f.Reply.Family || f.Orig.Proto != f.Reply.Proto {
		return syntaxErr("the same layer 3 and layer 4 protocols in both directions", nil)
	}
	if f.HasState() && !f.Orig.Proto.HasPorts() {
		return syntaxErr("<state> only on TCP, SCTP or DCCP entries", nil)
	}
	f.Status = status
	return nil
}

// xmlTupleMeta reads <meta direction="original|reply">.
func xmlTupleMeta(m *xmlNode, f *track.Flow, t *track.Tuple, zoneField track.Fields, zone *uint16, ctrField track.Fields, ctr *track.Counters) error {
	var l3, l4 *xmlNode
	for _, k := range m.kids {
		switch k.name {
		case "layer3":
			l3 = k
		case "layer4":
			l4 = k
		case "zone":
			v, err := xmlUint(k, 0xffff)
			if err != nil {
				return err
			}
			*zone = uint16(v)
			f.Fields |= zoneField
		case "counters":
			p, b := xmlChild(k, "packets"), xmlChild(k, "bytes")
			if p == nil || b == nil {
				return syntaxErr("<packets> and <bytes> in <counters>", nil)
			}
			var err error
			if ctr.Packets, err = xmlUint(p, 1<<64-1); err != nil {
				return err
			}
			if ctr.Bytes, err = xmlUint(b, 1<<64-1); err != nil {
				return err
			}
			f.Fields |= ctrField
		default:
			return syntaxErr("<layer3>, <layer4>, <zone> or <counters> in a direction's <meta>", []byte("<"+k.name+">"))
		}
	}
	if l3 == nil || l4 == nil {
		return syntaxErr("<layer3> and <layer4> in each direction", nil)
	}
	fam, _ := l3.attr("protonum")
	switch fam {
	case "2":
		t.Family = track.FamilyIPv4
	case "10":
		t.Family = track.FamilyIPv6
	default:
		return syntaxErr(`<layer3 protonum="2"> or "10"`, []byte(fam))
	}
	for _, which := range []string{"src", "dst"} {
		k := xmlChild(l3, which)
		if k == nil {
			return syntaxErr("<src> and <dst> in <layer3>", nil)
		}
		a, err := netip.ParseAddr(k.text)
		if err != nil || a.Zone() != "" || a.Is4() != (t.Family == track.FamilyIPv4) {
			return syntaxErr("an "+t.Family.String()+" address in <"+which+">", []byte(k.text))
		}
		if which == "src" {
			t.Src = a
		} else {
			t.Dst = a
		}
	}
	pn, _ := l4.attr("protonum")
	p, err := strconv.ParseUint(pn, 10, 8)
	if err != nil {
		return syntaxErr(`<layer4 protonum="0-255">`, []byte(pn))
	}
	t.Proto = track.Proto(p)
	for _, k := range l4.kids {
		var err error
		var v uint64
		switch {
		case k.name == "sport" && t.Proto.HasPorts(), k.name == "dport" && t.Proto.HasPorts(),
			k.name == "id" && t.Proto.IsICMP():
			v, err = xmlUint(k, 0xffff)
		case k.name == "type" && t.Proto.IsICMP(), k.name == "code" && t.Proto.IsICMP():
			v, err = xmlUint(k, 0xff)
		case k.name == "srckey" && t.Proto == track.ProtoGRE, k.name == "dstkey" && t.Proto == track.ProtoGRE:
			h, ok := strings.CutPrefix(k.text, "0x")
			v, err = strconv.ParseUint(h, 16, 16)
			if !ok || err != nil {
				err = syntaxErr("a GRE key 0x0-0xffff in <"+k.name+">", []byte(k.text))
			}
		default:
			return syntaxErr("the "+t.Proto.String()+" identifiers in <layer4>", []byte("<"+k.name+">"))
		}
		if err != nil {
			return err
		}
		switch k.name {
		case "sport":
			t.SrcPort = uint16(v)
		case "dport":
			t.DstPort = uint16(v)
		case "type":
			t.Type = uint8(v)
		case "code":
			t.Code = uint8(v)
		case "id":
			t.ID = uint16(v)
		case "srckey":
			t.SrcKey = uint16(v)
		case "dstkey":
			t.DstKey = uint16(v)
		}
	}
	if t.Proto.HasPorts() && (xmlChild(l4, "sport") == nil || xmlChild(l4, "dport") == nil) {
		return syntaxErr("<sport> and <dport> in a "+t.Proto.String()+" <layer4>", nil)
	}
	return nil
}

// xmlIndependent reads <meta direction="independent">.
func xmlIndependent(m *xmlNode, f *track.Flow, status *track.Status) error {
	for _, k := range m.kids {
		var err error
		var v uint64
		switch k.name {
		case "state":
			// TCP's names, also for SCTP and DCCP (see the package comment).
			s, ok := track.ParseTCPState(k.text)
			if !ok {
				return syntaxErr("a state name in <state>", []byte(k.text))
			}
			f.State = uint8(s)
			f.Fields |= track.FieldState
		case "timeout":
			v, err = xmlUint(k, 1<<32-1)
			f.Timeout, f.Fields = uint32(v), f.Fields|track.FieldTimeout
		case "mark":
			v, err = xmlUint(k, 1<<32-1)
			f.Mark, f.Fields = uint32(v), f.Fields|track.FieldMark
		case "secmark":
			v, err = xmlUint(k, 1<<32-1)
			f.SetSecmark(uint32(v))
		case "secctx":
			f.SetSecctx(k.text)
		case "zone":
			v, err = xmlUint(k, 0xffff)
			f.Zone = uint16(v)
		case "use":
			v, err = xmlUint(k, 1<<32-1)
			f.Use, f.Fields = uint32(v), f.Fields|track.FieldUse
		case "id":
			v, err = xmlUint(k, 1<<32-1)
			f.ID, f.Fields = uint32(v), f.Fields|track.FieldID
		case "assured":
			*status |= track.StatusAssured
		case "unreplied":
			*status &^= track.StatusSeenReply
		case "deltatime":
			v, err = xmlUint(k, 1<<64-1)
			f.DeltaTime, f.Fields = v, f.Fields|track.FieldDeltaTime
		case "labels":
			var names []string
			for _, l := range k.kids {
				if l.name != "label" || l.text == "" {
					return syntaxErr("<label>NAME</label> in <labels>", []byte("<"+l.name+">"))
				}
				names = append(names, l.text)
			}
			f.SetLabels(names)
		case "timestamp":
			for _, ts := range k.kids {
				ns, err := xmlUint(ts, 1<<63-1)
				if err != nil {
					return err
				}
				t := time.Unix(0, int64(ns)).UTC()
				switch ts.name {
				case "start":
					f.SetStart(t)
				case "stop":
					f.SetStop(t)
				default:
					return syntaxErr("<start> or <stop> in <timestamp>", []byte("<"+ts.name+">"))
				}
			}
		default:
			return syntaxErr("an element of the independent <meta> (state, timeout, mark, use, id, assured, ...)", []byte("<"+k.name+">"))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// xmlWhen reads <when>: the local time conntrack printed an event at, to
// the second.
func xmlWhen(w *xmlNode, loc *time.Location) (time.Time, error) {
	var v [6]int
	for i, name := range []string{"year", "month", "day", "hour", "min", "sec"} {
		k := xmlChild(w, name)
		if k == nil {
			return time.Time{}, syntaxErr("<year>, <month>, <day>, <hour>, <min> and <sec> in <when>", nil)
		}
		n, err := xmlUint(k, 9999)
		if err != nil {
			return time.Time{}, err
		}
		v[i] = int(n)
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, loc)
	if t.Month() != time.Month(v[1]) || t.Day() != v[2] || v[3] > 23 || v[4] > 59 || v[5] > 60 {
		return time.Time{}, syntaxErr("a valid date and time in <when>", nil)
	}
	return t, nil
}
