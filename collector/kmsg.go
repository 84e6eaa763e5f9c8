package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// kernelLogSyslog names the syslog(2) buffer in Config.KernelLog.
const kernelLogSyslog = "syslog(2)"

// maxLogTail bounds how much of a log file is read: its end.
const maxLogTail = 4 << 20

// kernelLog remembers the source it found and what it has returned, so each
// call returns only lines that are new.
type kernelLog struct {
	src      string
	kmsg     int       // /dev/kmsg stays open (fd > 0): it returns each record once
	after    time.Time // for the other sources: lines up to this are old
	afterDur time.Duration
}

func (k *kernelLog) close() error {
	if k.kmsg > 0 {
		return unix.Close(k.kmsg)
	}
	return nil
}

// KernelLog returns the conntrack lines of the kernel log that appeared
// since the previous call (all of the buffer on the first): table full,
// expectation table full, rate-limit summaries, MASQUERADE's "ate my IP
// address", invalid-packet logs. Each line's Time is wall-clock (from the
// kernel's monotonic stamp), and Raw is rewritten in journalctl
// short-iso-precise form so it keeps that time when written out. The first
// readable of Config.KernelLog is used; Source().Name says nothing about it
// but a note names the source or why none was readable.
func (c *Collector) KernelLog() ([]track.KernelLogLine, error) {
	if c.cfg.replay() {
		c.note("kernel log: not read for a --proc-root replay (pass a dmesg capture as a file)")
		return nil, nil
	}
	if c.klog == nil {
		c.klog = c.openKernelLog()
		if c.klog == nil {
			return nil, nil
		}
	}
	k := c.klog
	var text []byte
	var err error
	switch {
	case k.kmsg > 0:
		text, err = readKmsg(k.kmsg)
	case k.src == kernelLogSyslog:
		text, err = readSyslogBuffer()
	default:
		text, err = readTail(k.src, maxLogTail)
	}
	if err != nil {
		return nil, fmt.Errorf("kernel log %s: %w", k.src, err)
	}
	lines, err := c.parseKernelLog(text, k.src)
	if err != nil {
		return nil, err
	}
	lines = c.ownTableFull(lines)
	if k.kmsg > 0 {
		return lines, nil
	}
	// Sources read whole each time: keep what is newer than last time.
	fresh := lines[:0]
	for _, l := range lines {
		if l.Time.After(k.after) || (l.Time.IsZero() && l.Since > k.afterDur) {
			fresh = append(fresh, l)
		}
	}
	for _, l := range lines {
		if l.Time.After(k.after) {
			k.after = l.Time
		}
		if l.Since > k.afterDur {
			k.afterDur = l.Since
		}
	}
	return fresh, nil
}

// ownTableFull leaves out the "table full" lines of other network
// namespaces: the kernel log is the machine's, the table is one namespace's.
// For a namespace other than the initial one, lines from before the
// collector opened are left out too: its inode number may have named an
// earlier, deleted namespace.
// Init-namespace lines name no namespace ("table full, dropping packet"),
// the others name theirs by inode. Lines that name no namespace and are not
// about a full table (MASQUERADE's "ate my IP address") cannot be told apart
// and are kept.
func (c *Collector) ownTableFull(lines []track.KernelLogLine) []track.KernelLogLine {
	own, init := c.NetnsInode(), c.initNetnsInode()
	if own == 0 || init == 0 {
		return lines // which namespace is which is unknown: keep everything
	}
	kept, other := lines[:0], 0
	for _, l := range lines {
		if l.Kind == track.KernelLogTableFull {
			mine := l.Netns == own || l.Netns == 0 && own == init
			// The kernel reuses the inode numbers of deleted namespaces:
			// before ctdiag opened this one, a line naming its number may
			// have been about an earlier namespace.
			if own != init && !l.Time.IsZero() && l.Time.Before(c.opened) {
				mine = false
			}
			if !mine {
				other++
				continue
			}
		}
		kept = append(kept, l)
	}
	if other > 0 && !c.otherNetnsNoted {
		c.otherNetnsNoted = true
		c.note("kernel log: \"table full\" lines of other network namespaces (and, for a namespace other than the initial one, from before ctdiag started: its inode number may have been an earlier namespace's) are left out (%d so far)", other)
	}
	return kept
}

// initNetnsInode is the initial network namespace's inode, 0 if unknown:
// kthreadd's (pid 2 on the host, always in it), else pid 1's (whose
// namespace links may be closed to root in some sandboxes).
func (c *Collector) initNetnsInode() uint64 {
	if c.initNetns == 0 {
		c.initNetns = c.readInitNetnsInode()
	}
	return c.initNetns
}

func (c *Collector) readInitNetnsInode() uint64 {
	var st syscall.Stat_t
	if comm, err := os.ReadFile(c.procPath("2/comm")); err == nil && strings.TrimSpace(string(comm)) == "kthreadd" &&
		syscall.Stat(c.procPath("2/ns/net"), &st) == nil {
		return st.Ino
	}
	if syscall.Stat(c.procPath("1/ns/net"), &st) == nil {
		return st.Ino
	}
	return 0
}

// openKernelLog finds the first readable source and notes which.
func (c *Collector) openKernelLog() *kernelLog {
	var why []string
	for _, src := range c.cfg.KernelLog {
		switch src {
		case "/dev/kmsg":
			// A raw non-blocking fd: through os.File the runtime poller
			// would wait for the next record instead of returning EAGAIN.
			fd, err := unix.Open(src, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err == nil {
				return &kernelLog{src: src, kmsg: fd}
			}
			why = append(why, fmt.Sprintf("%s: %v", src, err))
		case kernelLogSyslog:
			if _, err := readSyslogBuffer(); err == nil {
				c.note("kernel log: read from the syslog(2) buffer (/dev/kmsg: %s)", joinWhy(why))
				return &kernelLog{src: src}
			} else {
				why = append(why, fmt.Sprintf("syslog(2): %v", err))
			}
		default:
			f, err := os.Open(src)
			if err == nil {
				f.Close()
				c.note("kernel log: read from %s (%s)", src, joinWhy(why))
				return &kernelLog{src: src}
			}
			why = append(why, fmt.Sprintf("%s: %v", src, errors.Unwrap(err)))
		}
	}
	c.note("kernel log: none readable (%s); run as root (dmesg_restrict), or pass a dmesg capture as a file", joinWhy(why))
	return nil
}

func joinWhy(why []string) string {
	var b bytes.Buffer
	for i, w := range why {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(w)
	}
	return b.String()
}

// readKmsg reads every record /dev/kmsg has for this reader. Each read
// returns one record, "prio,seq,usec,flags;text" plus continuation lines
// (" KEY=value") that are dropped here. EPIPE means records were
// overwritten before they were read: reading goes on after them.
func readKmsg(fd int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return out, nil
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return out, err
		case n == 0:
			return out, nil
		}
		out = appendKmsgRecord(out, buf[:n])
	}
}

// appendKmsgRecord appends one /dev/kmsg record as a line: its first line
// ("prio,seq,usec,flags;text"), without the continuation lines.
func appendKmsgRecord(out, rec []byte) []byte {
	if i := bytes.IndexByte(rec, '\n'); i >= 0 {
		rec = rec[:i]
	}
	out = append(out, rec...)
	return append(out, '\n')
}

// readSyslogBuffer reads the kernel's ring buffer through syslog(2)
// (SYSLOG_ACTION_READ_ALL), in dmesg -r form.
func readSyslogBuffer() ([]byte, error) {
	size, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// readTail reads at most max bytes from the end of a file, from a line start.
func readTail(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	b := make([]byte, st.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	b = b[:n]
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b, nil
}

// parseKernelLog keeps the conntrack lines of text (parsed by the parser)
// and gives each a wall-clock time and a self-contained Raw form.
func (c *Collector) parseKernelLog(text []byte, src string) ([]track.KernelLogLine, error) {
	if len(text) == 0 {
		return nil, nil
	}
	var snap track.Snapshot
	if err := c.parseText(io.NopCloser(bytes.NewReader(text)), src, parser.FormatKernelLog, &snap); err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	boot := bootTime(now)
	for i := range snap.KernelLog {
		l := &snap.KernelLog[i]
		if l.Time.IsZero() && l.HasSince && !boot.IsZero() {
			l.Time = boot.Add(l.Since)
		}
		if !l.Time.IsZero() && l.Time.Year() == 0 {
			// Syslog stamps have no year: this year's, unless that is ahead.
			l.Time = l.Time.AddDate(now.Year(), 0, 0)
			if l.Time.After(now.Add(24 * time.Hour)) {
				l.Time = l.Time.AddDate(-1, 0, 0)
			}
		}
		if !l.Time.IsZero() {
			l.Raw = journalLine(l.Time, c.source.Host, l.Text)
		}
	}
	return snap.KernelLog, nil
}

// bootTime is when the kernel's log clock (CLOCK_MONOTONIC, which stops
// during suspend) was zero, in wall-clock time.
func bootTime(now time.Time) time.Time {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return time.Time{}
	}
	return now.Add(-time.Duration(ts.Nano()))
}

// journalLine writes a kernel message as journalctl -k -o short-iso-precise
// does, which people, grep and ctdiag's parser all read with its time.
func journalLine(t time.Time, host, msg string) string {
	if host == "" {
		host = "localhost"
	}
	return t.Format("2006-01-02T15:04:05.000000-0700") + " " + host + " kernel: " + msg
}
