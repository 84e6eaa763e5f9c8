package parser

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Kernel-log lines come in several wrappers around the same message
// (docs/KERNEL.md §4.4 for the messages):
//
//	[ 1400.936197] nf_conntrack: nf_conntrack: table full, dropping packet   dmesg
//	<4>[ 1400.936197] ...                                                     dmesg -r
//	[Sat Nov 21 13:00:29 2026] ...                                          dmesg -T
//	4,1234,1400936197,-;nf_conntrack: ...                                   /dev/kmsg
//	Nov 21 13:00:29 host kernel: ...                                        journalctl -k, syslog
//	Nov 21 13:00:29.123456 host kernel: ...                                 journalctl -o short-precise
//	2026-11-21T13:00:29+0000 host kernel: ...                               journalctl -o short-iso
//	nf_conntrack: ...                                                       dmesg -t (no stamp)

const (
	dmesgTLayout    = "Mon Jan _2 15:04:05 2006"
	syslogLayout    = "Jan _2 15:04:05"
	syslogUsLayout  = "Jan _2 15:04:05.000000"
	isoLayout       = "2006-01-02T15:04:05-0700"
	isoColonLayout  = "2006-01-02T15:04:05-07:00"
	isoFracLayout   = "2006-01-02T15:04:05.000000-0700"
	isoFracColonLay = "2006-01-02T15:04:05.000000-07:00"
)

// splitKernelLog strips any known wrapper. hasStamp reports whether a
// wrapper was found (a bare message is only a kernel-log line if it is
// about conntrack). Copies pasted into issues and mails add indentation, cut
// the syslog prefix short ("obs kernel: [...]", "kernel: [...]") or redact
// the stamp ("[00]"); those are read too.
func (p *lineParser) splitKernelLog(line []byte) (kl track.KernelLogLine, msg []byte, hasStamp bool) {
	rest := bytes.TrimLeft(line, " \t")
	// <prio> from dmesg -r / syslog raw.
	if len(rest) > 2 && rest[0] == '<' {
		if end := bytes.IndexByte(rest, '>'); end > 1 && end < 5 && isDigits(rest[1:end]) {
			rest = rest[end+1:]
			hasStamp = true
		}
	}
	// /dev/kmsg: "prio,seq,usec,flags;message".
	if semi := bytes.IndexByte(rest, ';'); semi > 0 && !hasStamp {
		parts := bytes.Split(rest[:semi], []byte{','})
		if len(parts) >= 4 && isDigits(parts[0]) && isDigits(parts[1]) && isDigits(parts[2]) {
			if us, ok := parseUint(parts[2], 1<<62); ok {
				kl.Since, kl.HasSince = time.Duration(us)*time.Microsecond, true
				return kl, rest[semi+1:], true
			}
		}
	}
	// journalctl / syslog: "<date> <host> kernel: ", or a copy of it whose
	// start was cut off.
	if i := bytes.Index(rest, []byte("kernel: ")); i == 0 || i > 0 && rest[i-1] == ' ' {
		after := rest[i+len("kernel: "):]
		head := bytes.TrimRight(rest[:i], " ")
		if sp := bytes.LastIndexByte(head, ' '); sp > 0 {
			if t, ok := p.syslogTime(head[:sp]); ok {
				kl.Time = t
				rest, hasStamp = after, true
			}
		}
		// Cut short: at most a piece of the host name is left. Then what
		// follows must be a dmesg stamp or a conntrack message.
		if !hasStamp && !bytes.ContainsAny(head, " \t") {
			if _, ok := p.bracketStamp(after); ok || isBareKernelMessage(after) {
				rest, hasStamp = after, true
			}
		}
	}
	// [ 1400.936197], [Sat Nov 21 13:00:29 2026], or a redacted [00]
	if st, ok := p.bracketStamp(rest); ok {
		kl.Since, kl.HasSince = st.since, st.hasSince
		if !st.time.IsZero() {
			kl.Time = st.time
		}
		rest, hasStamp = st.rest, true
	}
	return kl, rest, hasStamp
}

// dmesgStamp is what a leading "[...]" of a dmesg line said.
type dmesgStamp struct {
	since    time.Duration // since boot, when hasSince
	hasSince bool
	time     time.Time // dmesg -T
	rest     []byte    // the message after the stamp
}

// bracketStamp reads a leading dmesg stamp: "[ 1400.936197]" (since boot),
// "[Sat Nov 21 13:00:29 2026]" (dmesg -T), or a stamp the poster redacted
// ("[00]", "[xxxx.xxxxxx]"), which is taken only before a conntrack
// message: a numbered list item is not a kernel log.
func (p *lineParser) bracketStamp(b []byte) (dmesgStamp, bool) {
	if len(b) < 3 || b[0] != '[' {
		return dmesgStamp{}, false
	}
	end := bytes.IndexByte(b, ']')
	if end < 0 {
		return dmesgStamp{}, false
	}
	inner := bytes.TrimSpace(b[1:end])
	st := dmesgStamp{rest: bytes.TrimPrefix(b[end+1:], []byte(" "))}
	if d, ok := parseSecondsStamp(inner); ok {
		st.since, st.hasSince = d, true
		return st, true
	}
	if len(inner) == len(dmesgTLayout) {
		if t, err := time.ParseInLocation(dmesgTLayout, string(inner), p.location()); err == nil {
			st.time = t
			return st, true
		}
	}
	if isRedactedStamp(inner) && isBareKernelMessage(st.rest) {
		return st, true
	}
	return dmesgStamp{}, false
}

// isRedactedStamp: digits, dots, x's or stars only, with at least one that
// is not a dot ("[...]" is an ellipsis, not a stamp).
func isRedactedStamp(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	mark := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c == 'x', c == 'X', c == '*':
			mark = true
		case c == '.', c == ' ':
		default:
			return false
		}
	}
	return mark
}

// location is the zone of stamps printed without one: the Options'
// Location, else the machine's, as the C tools assume.
func (p *lineParser) location() *time.Location {
	if p.loc == nil {
		return time.Local
	}
	return p.loc
}

// syslogTime parses a syslog or journalctl stamp. Syslog's classic stamp
// has no year: it is taken to be in the year that does not put it more than
// a day after the reference time (last December's log, read in January, is
// last year's).
func (p *lineParser) syslogTime(b []byte) (time.Time, bool) {
	s := string(b)
	for _, layout := range []string{syslogLayout, syslogUsLayout} {
		if t, err := time.ParseInLocation(layout, s, p.location()); err == nil {
			return p.withYear(t), true
		}
	}
	for _, layout := range []string{isoLayout, isoColonLayout, isoFracLayout, isoFracColonLay} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// withYear gives a yearless time the latest year that does not put it more
// than a day after the reference time.
func (p *lineParser) withYear(t time.Time) time.Time {
	now := p.now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.In(t.Location())
	at := func(year int) time.Time {
		return time.Date(year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	}
	y := at(now.Year())
	if y.After(now.Add(24 * time.Hour)) {
		y = at(now.Year() - 1)
	}
	return y
}

// parseSecondsStamp parses dmesg's "12345.678901".
func parseSecondsStamp(b []byte) (time.Duration, bool) {
	dot := bytes.IndexByte(b, '.')
	if dot <= 0 || len(b)-dot-1 != 6 {
		return 0, false
	}
	sec, ok1 := parseUint(b[:dot], 1<<32)
	us, ok2 := parseUint(b[dot+1:], 999999)
	if !ok1 || !ok2 {
		return 0, false
	}
	return time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond, true
}

// classifyKernelMessage sets Kind, Netns and Suppressed from the message and
// reports whether the line concerns conntrack at all.
func classifyKernelMessage(kl *track.KernelLogLine, msg []byte) bool {
	switch {
	case bytes.Contains(msg, []byte("table full in netns ")):
		kl.Kind = track.KernelLogTableFull
		i := bytes.Index(msg, []byte("table full in netns ")) + len("table full in netns ")
		j := i
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		kl.Netns, _ = parseUint(msg[i:j], 1<<64-1)
	case bytes.Contains(msg, []byte("table full, dropping packet")):
		kl.Kind = track.KernelLogTableFull
	case bytes.Contains(msg, []byte("expectation table full")):
		kl.Kind = track.KernelLogExpectTableFull
	case isWrapHead(string(msg)):
		kl.Kind = track.KernelLogTableFull // "table full," and the rest on the next line
	case bytes.Contains(msg, []byte("net_ratelimit: ")) && bytes.Contains(msg, []byte(" callbacks suppressed")):
		kl.Kind = track.KernelLogRateLimited
		i := bytes.Index(msg, []byte("net_ratelimit: ")) + len("net_ratelimit: ")
		f, _ := nextField(msg[i:])
		n, _ := strconv.Atoi(string(f))
		kl.Suppressed = n
	case bytes.Contains(msg, []byte(" ate my IP address")):
		kl.Kind = track.KernelLogAteMyIP
	case bytes.HasPrefix(msg, []byte("nf_ct_proto_")):
		kl.Kind = track.KernelLogInvalid
	case bytes.Contains(msg, []byte("conntrack")):
		kl.Kind = track.KernelLogOther
	default:
		return false
	}
	return true
}

// parseKernelLog returns the line as a KernelLogLine; relevant is false for
// kernel lines that do not concern conntrack; stamped is false when the line
// had no kernel-log wrapper.
func (p *lineParser) parseKernelLog(line []byte) (kl track.KernelLogLine, relevant, stamped bool) {
	kl, msg, stamped := p.splitKernelLog(line)
	relevant = classifyKernelMessage(&kl, msg)
	kl.Raw = string(line)
	kl.Text = string(msg)
	return kl, relevant, stamped
}

// isKernelLogLine: a stamped line of any content, or a bare line that is
// one of the kernel's own conntrack messages (dmesg -t).
func (p *lineParser) isKernelLogLine(line []byte) bool {
	_, msg, stamped := p.splitKernelLog(line)
	return stamped || isBareKernelMessage(msg)
}

// isBareKernelMessage recognises the kernel's conntrack messages by how they
// start, so prose that merely mentions conntrack is not taken for a log.
func isBareKernelMessage(msg []byte) bool {
	for _, p := range []string{"nf_conntrack: ", "nf_ct_proto_", "net_ratelimit: ", "nf_conntrack version "} {
		if bytes.HasPrefix(msg, []byte(p)) {
			return true
		}
	}
	f, rest := nextField(msg)
	return len(f) > 0 && bytes.Equal(rest, []byte(" ate my IP address"))
}

// A mail client or a poster may wrap "nf_conntrack: table full, dropping
// packet" after "table full,": the head is recognised on its own, and the
// tail, alone on the next line, is joined back to it.
const wrapTail = "dropping packet"

// isWrapHead: a table-full message cut after its comma.
func isWrapHead(msg string) bool {
	m := strings.TrimRight(msg, " ")
	return strings.HasSuffix(m, ",") && strings.Contains(m, "nf_conntrack: table full") && !strings.Contains(m, wrapTail)
}

// isWrapTail: the rest of a wrapped table-full message.
func isWrapTail(line []byte) bool {
	return string(bytes.TrimSpace(line)) == wrapTail
}

// WriteKernelLog writes lines as they were read.
func WriteKernelLog(w io.Writer, lines []track.KernelLogLine) error {
	var buf []byte
	for _, l := range lines {
		buf = append(buf, l.Raw...)
		buf = append(buf, '\n')
	}
	_, err := w.Write(buf)
	return err
}
