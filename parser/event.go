package parser

import (
	"bytes"
	"strconv"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// conntrack -E lines (conntrack.c event_cb):
//
//	[1795267352.133463]\t    [NEW] tcp      6 120 SYN_SENT src=... [UNREPLIED] src=...
//	[DESTROY] ipv4     2 icmp     1 29 src=... delta-time=0 [USERSPACE] portid=3208341707 progname=conntrack
//
// The timestamp (-o timestamp) is "[%-.8ld.%-.6ld]\t", the type "%9s ", and a
// request from userspace appends " [USERSPACE] portid=N[ progname=NAME]".

const userspaceMarker = " [USERSPACE] "

// eventStart returns the event type, the time from an optional timestamp
// prefix (-o timestamp, or the syslog header of a logger that wrapped the
// line: "Jan  1 00:00:00 host conntrack-logger[9]: [NEW] ..."), and the body
// after the type; ok is false if line is not an event line.
func (p *lineParser) eventStart(line []byte) (typ track.EventType, t time.Time, hasTime bool, body []byte, ok bool) {
	rest := line
	if len(rest) > 0 && rest[0] == '[' {
		end := bytes.IndexByte(rest, ']')
		if end > 0 && end+1 < len(rest) && rest[end+1] == '\t' {
			ts := rest[1:end]
			dot := bytes.IndexByte(ts, '.')
			if dot <= 0 {
				return 0, t, false, nil, false
			}
			sec, ok1 := parseUint(ts[:dot], 1<<62)
			usec, ok2 := parseUint(ts[dot+1:], 999999)
			if !ok1 || !ok2 || len(ts)-dot-1 != 6 {
				return 0, t, false, nil, false
			}
			t = time.Unix(int64(sec), int64(usec)*1000).UTC()
			hasTime = true
			rest = rest[end+2:]
		}
	} else if st, after, ok := p.syslogHeader(rest); ok {
		t, hasTime, rest = st, true, after
	}
	i := 0
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	rest = rest[i:]
	end := bytes.IndexByte(rest, ']')
	if len(rest) < 2 || rest[0] != '[' || end < 0 {
		return 0, t, false, nil, false
	}
	typ, ok = track.ParseEventType(string(rest[1:end]))
	if !ok {
		return 0, t, false, nil, false
	}
	return typ, t, hasTime, rest[end+1:], true
}

// syslogHeader reads a syslog header: a stamp ("Jul 16 12:54:54", with
// microseconds, or ISO 8601), an optional host, and a tag ending in ':'
// ("vyos-conntrack-logger[9387]:"). It returns the stamp and what follows.
func (p *lineParser) syslogHeader(line []byte) (time.Time, []byte, bool) {
	first, rest := nextField(line)
	if len(first) == 0 {
		return time.Time{}, nil, false
	}
	var stamp []byte
	if first[0] >= '0' && first[0] <= '9' {
		stamp = first // ISO 8601
	} else {
		day, r := nextField(rest)
		clock, r2 := nextField(r)
		if len(first) != 3 || len(day) == 0 || len(day) > 2 || !isDigits(day) || len(clock) < 8 {
			return time.Time{}, nil, false
		}
		rest = r2
		stamp = []byte(string(first) + " " + string(day) + " " + string(clock))
	}
	t, ok := p.syslogTime(stamp)
	if !ok {
		return time.Time{}, nil, false
	}
	for i := 0; i < 2; i++ { // [host] tag:
		var f []byte
		f, rest = nextField(rest)
		if len(f) > 1 && f[len(f)-1] == ':' {
			return t, rest, true
		}
	}
	return time.Time{}, nil, false
}

// isEventLine reports whether line looks like a conntrack -E line.
func (p *lineParser) isEventLine(line []byte) bool {
	_, _, _, _, ok := p.eventStart(line)
	return ok
}

// parseEvent parses one conntrack -E line into ev.
func (p *lineParser) parseEvent(line []byte, ev *track.Event) error {
	typ, t, hasTime, body, ok := p.eventStart(line)
	if !ok {
		return syntaxErr("an event line ([NEW], [UPDATE] or [DESTROY], optionally after a [seconds.micros] stamp)", line)
	}
	*ev = track.Event{Type: typ}
	if hasTime {
		ev.Time = t
	}
	if i := bytes.Index(body, []byte(userspaceMarker)); i >= 0 {
		suffix := body[i+len(userspaceMarker):]
		body = body[:i]
		ev.Userspace = true
		f, rest := nextField(suffix)
		if !bytes.HasPrefix(f, []byte("portid=")) {
			return syntaxErr("portid=N after [USERSPACE]", f)
		}
		pid, ok := parseUint(f[len("portid="):], 1<<32-1)
		if !ok {
			return syntaxErr("a netlink port id", f)
		}
		ev.PortID = uint32(pid)
		if len(rest) > 0 {
			// The program name may hold spaces (it comes from /proc/PID/stat).
			name, ok := bytes.CutPrefix(rest, []byte(" progname="))
			if !ok || len(name) == 0 || string(appendPrintable(nil, string(name), true)) != string(name) {
				return syntaxErr("progname=NAME after portid=", rest)
			}
			ev.Progname = string(name)
		}
	}
	// vyos-conntrack-logger (in syslog) prints the entry id after the type
	// and the entry's start and stop at the end, in nanoseconds.
	var id uint64
	hasID := false
	if f, r := nextField(body); isDigits(f) {
		if next, _ := nextField(r); l4Names[string(next)] || string(next) == "ipv4" || string(next) == "ipv6" {
			if id, hasID = parseUint(f, 1<<32-1); !hasID {
				return syntaxErr("an entry id 0-4294967295 after the event type", f)
			}
			body = r
		}
	}
	body, start, stop, err := cutLoggerTimes(body)
	if err != nil {
		return err
	}
	if err := p.parseFlow(body, &ev.Flow); err != nil {
		return err
	}
	if hasID {
		if ev.Flow.Fields.Has(track.FieldID) {
			return syntaxErr("one entry id", body)
		}
		ev.Flow.ID = uint32(id)
		ev.Flow.Fields |= track.FieldID
	}
	if !start.IsZero() {
		ev.Flow.SetStart(start)
	}
	if !stop.IsZero() {
		ev.Flow.SetStop(stop)
	}
	return nil
}

// cutLoggerTimes cuts vyos-conntrack-logger's "start=NS stop=NS
// delta=SECONDS" off the end of an event (delta is stop − start, not kept).
// Times keep whole seconds, as conntrack -o ktimestamp prints them.
func cutLoggerTimes(body []byte) (rest []byte, start, stop time.Time, err error) {
	for {
		t := bytes.TrimRight(body, " ")
		sp := bytes.LastIndexByte(t, ' ')
		if sp < 0 {
			return body, start, stop, nil
		}
		key, val, _ := bytes.Cut(t[sp+1:], []byte("="))
		switch string(key) {
		case "delta":
			if _, perr := strconv.ParseFloat(string(val), 64); perr != nil || !isDigits(val[:1]) {
				return body, start, stop, syntaxErr("seconds after delta=", val)
			}
		case "start", "stop":
			ns, ok := parseUint(val, 1<<63-1)
			if !ok {
				return body, start, stop, syntaxErr("nanoseconds since 1970 after "+string(key)+"=", val)
			}
			at := time.Unix(0, int64(ns)).Truncate(time.Second)
			if key[2] == 'a' {
				start = at
			} else {
				stop = at
			}
		default:
			return body, start, stop, nil
		}
		body = t[:sp]
	}
}

// AppendEvent appends ev as conntrack -E prints it (style StyleConntrack, or
// StyleExtended for -o extended), with its newline.
func AppendEvent(dst []byte, ev *track.Event, style Style) []byte {
	if !ev.Time.IsZero() {
		dst = appendEventStamp(dst, ev.Time)
	}
	name := "[" + ev.Type.String() + "]"
	for i := len(name); i < 9; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, name...)
	dst = append(dst, ' ')
	if style == StyleProc {
		style = StyleExtended // events never use the /proc shape
	}
	dst = AppendFlow(dst, &ev.Flow, style)
	if ev.Userspace {
		dst = dst[:len(dst)-1] // before the newline
		dst = append(dst, userspaceMarker...)
		dst = append(dst, "portid="...)
		dst = strconv.AppendUint(dst, uint64(ev.PortID), 10)
		if ev.Progname != "" {
			dst = append(dst, " progname="...)
			dst = appendPrintable(dst, ev.Progname, true)
		}
		dst = append(dst, '\n')
	}
	return dst
}
