package parser

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"

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

// eventStart returns the index of the "[NEW]"/"[UPDATE]"/"[DESTROY]" token
// and the time from an optional timestamp prefix; ok is false if line is not
// an event line.
func eventStart(line []byte) (typ track.EventType, t time.Time, hasTime bool, body []byte, ok bool) {
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

// isEventLine reports whether line looks like a conntrack -E line.
func isEventLine(line []byte) bool {
	_, _, _, _, ok := eventStart(line)
	return ok
}

// parseEvent parses one conntrack -E line into ev.
func (p *lineParser) parseEvent(line []byte, ev *track.Event) error {
	typ, t, hasTime, body, ok := eventStart(line)
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
			if !ok || !utf8.Valid(name) || len(name) == 0 {
				return syntaxErr("progname=NAME after portid=", rest)
			}
			ev.Progname = string(name)
		}
	}
	return p.parseFlow(body, &ev.Flow)
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
			dst = append(dst, ev.Progname...)
		}
		dst = append(dst, '\n')
	}
	return dst
}
