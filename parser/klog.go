package parser

import (
	"bytes"
	"io"
	"strconv"
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
// about conntrack).
func splitKernelLog(line []byte, loc *time.Location) (kl track.KernelLogLine, msg []byte, hasStamp bool) {
	rest := line
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
	// journalctl / syslog: "<date> <host> kernel: ".
	if i := bytes.Index(rest, []byte(" kernel: ")); i > 0 {
		head := rest[:i]
		if sp := bytes.LastIndexByte(head, ' '); sp > 0 {
			if t, ok := parseSyslogTime(head[:sp], loc); ok {
				kl.Time = t
				rest = rest[i+len(" kernel: "):]
				hasStamp = true
			}
		}
	}
	// [ 1400.936197] or [Sat Nov 21 13:00:29 2026]
	if len(rest) > 2 && rest[0] == '[' {
		if end := bytes.IndexByte(rest, ']'); end > 0 {
			inner := bytes.TrimSpace(rest[1:end])
			if d, ok := parseSecondsStamp(inner); ok {
				kl.Since, kl.HasSince = d, true
				rest = bytes.TrimPrefix(rest[end+1:], []byte(" "))
				hasStamp = true
			} else if t, err := time.ParseInLocation(dmesgTLayout, string(inner), loc); err == nil {
				kl.Time = t
				rest = bytes.TrimPrefix(rest[end+1:], []byte(" "))
				hasStamp = true
			}
		}
	}
	return kl, rest, hasStamp
}

func parseSyslogTime(b []byte, loc *time.Location) (time.Time, bool) {
	s := string(b)
	for _, layout := range []string{syslogLayout, syslogUsLayout} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	for _, layout := range []string{isoLayout, isoColonLayout, isoFracLayout, isoFracColonLay} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
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
func parseKernelLog(line []byte, loc *time.Location) (kl track.KernelLogLine, relevant, stamped bool) {
	kl, msg, stamped := splitKernelLog(line, loc)
	relevant = classifyKernelMessage(&kl, msg)
	kl.Raw = string(line)
	kl.Text = string(msg)
	return kl, relevant, stamped
}

// isKernelLogLine: a stamped line of any content, or a bare line that is
// one of the kernel's own conntrack messages (dmesg -t).
func isKernelLogLine(line []byte, loc *time.Location) bool {
	_, msg, stamped := splitKernelLog(line, loc)
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
