package parser

import (
	"bytes"
	"io"
	"strconv"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Record bundles (ctdiag record) write two things no conntrack tool
// prints: where an event reader lost events, and the kernel's slab cache of
// conntrack entries. Both stay readable by people and other tools: the loss
// marker is a '#' comment line, the slab cache is /proc/slabinfo's own
// format.

// eventLossPrefix starts an event-loss marker:
//
//	# ctdiag: events lost: time=2026-11-21T13:00:29.123456789Z total=1 resynced=3000 (...)
var eventLossPrefix = []byte("# ctdiag: events lost:")

// parseEventLoss parses a loss marker's key=value fields; the text in
// parentheses is for people.
func parseEventLoss(line []byte) (track.EventLoss, error) {
	var l track.EventLoss
	rest := bytes.TrimSpace(line)[len(eventLossPrefix):]
	if i := bytes.IndexByte(rest, '('); i >= 0 {
		rest = rest[:i]
	}
	var hasTime, hasTotal bool
	for {
		var kv []byte
		kv, rest = nextField(rest)
		if len(kv) == 0 {
			break
		}
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			return l, syntaxErr("key=value after \"# ctdiag: events lost:\"", kv)
		}
		switch string(k) {
		case "time":
			t, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil {
				return l, syntaxErr("an RFC 3339 time", v)
			}
			l.Time, hasTime = t, true
		case "total":
			n, ok := parseUint(v, 1<<31)
			if !ok {
				return l, syntaxErr("a count of overruns", v)
			}
			l.Total, hasTotal = int(n), true
		case "resynced":
			if string(v) == "failed" {
				l.Resynced = -1
				continue
			}
			n, ok := parseUint(v, 1<<31)
			if !ok {
				return l, syntaxErr("a number of entries or \"failed\"", v)
			}
			l.Resynced = int(n)
		}
	}
	if !hasTime || !hasTotal {
		return l, syntaxErr("time= and total= in an event-loss marker", line)
	}
	return l, nil
}

// AppendEventLoss appends a loss marker line for an event log.
func AppendEventLoss(dst []byte, l *track.EventLoss) []byte {
	dst = append(dst, eventLossPrefix...)
	dst = append(dst, " time="...)
	dst = l.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, " total="...)
	dst = strconv.AppendInt(dst, int64(l.Total), 10)
	dst = append(dst, " resynced="...)
	if l.Resynced < 0 {
		dst = append(dst, "failed"...)
	} else {
		dst = strconv.AppendInt(dst, int64(l.Resynced), 10)
	}
	return append(dst, " (the kernel dropped events for this reader, how many is unknown; the table was re-read)\n"...)
}

// isExpectEventLine recognises conntrack -E expect lines: the event type,
// then the timeout and proto= ("[NEW] 300 proto=6 src=...").
func (p *lineParser) isExpectEventLine(line []byte) bool {
	_, _, _, body, ok := p.eventStart(line)
	if !ok {
		return false
	}
	first, rest := nextField(body)
	return isDigits(first) && bytes.HasPrefix(bytes.TrimLeft(rest, " "), []byte("proto="))
}

// AppendExpectEvent appends an expectation event as conntrack -E expect
// prints it (with the -o timestamp prefix when t is set).
func AppendExpectEvent(dst []byte, typ track.EventType, t time.Time, e *track.Expectation) []byte {
	if !t.IsZero() {
		dst = appendEventStamp(dst, t)
	}
	name := "[" + typ.String() + "]"
	for i := len(name); i < 9; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(e.Timeout), 10)
	dst = append(dst, " proto="...)
	dst = strconv.AppendUint(dst, uint64(e.Tuple.Proto), 10)
	dst = append(dst, ' ')
	dst = appendExpectTuple(dst, "", &e.Tuple)
	dst = appendExpectTuple(dst, "mask-", &e.Mask)
	dst = appendExpectTuple(dst, "master-", &e.Master)
	dst = append(dst, "class="...)
	dst = strconv.AppendUint(dst, uint64(e.Class), 10)
	if e.Helper != "" {
		dst = append(dst, " helper="...)
		dst = appendPrintable(dst, e.Helper, false)
	}
	return append(dst, '\n')
}

func appendExpectTuple(dst []byte, prefix string, t *track.Tuple) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, "src="...)
	dst = appendAddr(dst, t, true, StyleConntrack)
	dst = append(dst, ' ')
	dst = append(dst, prefix...)
	dst = append(dst, "dst="...)
	dst = appendAddr(dst, t, false, StyleConntrack)
	dst = append(dst, ' ')
	if t.Proto.HasPorts() || t.Proto == 0 {
		dst = append(dst, "sport="...)
		dst = strconv.AppendUint(dst, uint64(t.SrcPort), 10)
		dst = append(dst, " dport="...)
		dst = strconv.AppendUint(dst, uint64(t.DstPort), 10)
		dst = append(dst, ' ')
	}
	return dst
}

// appendEventStamp is conntrack -o timestamp's "[%-.8ld.%-.6ld]\t".
func appendEventStamp(dst []byte, t time.Time) []byte {
	dst = append(dst, '[')
	s := strconv.FormatInt(t.Unix(), 10)
	for i := len(s); i < 8; i++ {
		dst = append(dst, '0')
	}
	dst = append(dst, s...)
	dst = append(dst, '.')
	us := strconv.Itoa(t.Nanosecond() / 1000)
	for i := len(us); i < 6; i++ {
		dst = append(dst, '0')
	}
	dst = append(dst, us...)
	return append(dst, "]\t"...)
}

// /proc/slabinfo (version 2.1):
//
//	slabinfo - version: 2.1
//	# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
//	nf_conntrack          32     32    256   16    1 : tunables    0    0    0 : slabdata      2      2      0
//
// Only the nf_conntrack cache is kept.
var slabinfoHeader = []byte("slabinfo - version:")

const (
	conntrackSlab   = "nf_conntrack"
	slabinfoHeader2 = "slabinfo - version: 2.1\n" +
		"# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n"
)

func isSlabLine(t []byte) bool {
	return bytes.Contains(t, []byte(" : tunables ")) && bytes.Contains(t, []byte(" : slabdata "))
}

func parseSlabLine(line []byte) (track.Slab, error) {
	sl := track.Slab{Raw: string(line)}
	name, rest := nextField(line)
	sl.Name = string(name)
	var v [5]uint64
	for i := range v {
		var f []byte
		f, rest = nextField(rest)
		n, ok := parseUint(f, 1<<63)
		if !ok {
			return sl, syntaxErr("a number in column "+strconv.Itoa(i+2)+" of a slabinfo line", f)
		}
		v[i] = n
	}
	sl.ActiveObjs, sl.NumObjs, sl.ObjSize, sl.ObjPerSlab, sl.PagesPerSlab = v[0], v[1], v[2], v[3], v[4]
	return sl, nil
}

// WriteSlabinfo writes the slabinfo header and the cache lines as read.
func WriteSlabinfo(w io.Writer, slabs []track.Slab) error {
	buf := []byte(slabinfoHeader2)
	for _, s := range slabs {
		if s.Raw != "" {
			buf = append(buf, s.Raw...)
		} else {
			buf = append(buf, s.Name...)
			for _, v := range []uint64{s.ActiveObjs, s.NumObjs, s.ObjSize, s.ObjPerSlab, s.PagesPerSlab} {
				buf = append(buf, ' ')
				buf = strconv.AppendUint(buf, v, 10)
			}
			// SLUB prints zero tunables; slab counts follow from objects.
			buf = append(buf, " : tunables 0 0 0 : slabdata"...)
			for _, objs := range []uint64{s.ActiveObjs, s.NumObjs} {
				slabs := uint64(0)
				if s.ObjPerSlab > 0 {
					slabs = (objs + s.ObjPerSlab - 1) / s.ObjPerSlab
				}
				buf = append(buf, ' ')
				buf = strconv.AppendUint(buf, slabs, 10)
			}
			buf = append(buf, " 0"...)
		}
		buf = append(buf, '\n')
	}
	_, err := w.Write(buf)
	return err
}
