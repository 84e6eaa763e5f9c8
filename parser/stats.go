package parser

import (
	"bytes"
	"io"
	"strconv"

	"github.com/ctdiag/ctdiag/track"
)

// /proc/net/stat/nf_conntrack (docs/KERNEL.md §5.2): a header naming the columns, then
// one row of 8-digit hex numbers per possible CPU. Columns are found by
// name because the header changed (searched became clashres, delete_list
// became chainlength). "entries" is the netns count, the same on every row.

// procStatColumn is one header column: a counter, the entries count, or a
// name this version does not know (its values are skipped).
type procStatColumn struct {
	counter track.Counter
	entries bool
	unknown bool
}

// modernProcStatHeader is the 6.x header, two spaces after "entries" and
// after "icmp_error" as ct_cpu_seq_show prints it.
const modernProcStatHeader = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart"

var modernProcStatCounters = []track.Counter{
	track.CounterClashResolve, track.CounterFound, track.CounterNew, track.CounterInvalid,
	track.CounterIgnore, track.CounterDelete, track.CounterChainTooLong, track.CounterInsert,
	track.CounterInsertFailed, track.CounterDrop, track.CounterEarlyDrop, track.CounterError,
	track.CounterExpectNew, track.CounterExpectCreate, track.CounterExpectDelete, track.CounterSearchRestart,
}

// isProcStatHeader recognises the header by its first column and a known
// counter name.
func isProcStatHeader(line []byte) bool {
	return bytes.HasPrefix(line, []byte("entries ")) && bytes.Contains(line, []byte(" found "))
}

func parseProcStatHeader(line []byte) ([]procStatColumn, error) {
	var cols []procStatColumn
	rest := line
	for {
		var name []byte
		name, rest = nextField(rest)
		if len(name) == 0 {
			break
		}
		if string(name) == "entries" {
			cols = append(cols, procStatColumn{entries: true})
			continue
		}
		c, ok := track.ParseCounter(string(name))
		cols = append(cols, procStatColumn{counter: c, unknown: !ok})
	}
	if len(cols) == 0 || !cols[0].entries {
		return nil, syntaxErr("the /proc/net/stat/nf_conntrack header starting with \"entries\"", line)
	}
	return cols, nil
}

// parseProcStatRow parses one CPU's row. entries is the netns count.
func parseProcStatRow(line []byte, cols []procStatColumn, cpu int) (st track.CPUStats, entries uint64, err error) {
	st.CPU = cpu
	rest := line
	for i := 0; ; i++ {
		var field []byte
		field, rest = nextField(rest)
		if len(field) == 0 {
			if i != len(cols) {
				return st, 0, syntaxErr(strconv.Itoa(len(cols))+" hex columns as in the header, found "+strconv.Itoa(i), line)
			}
			return st, entries, nil
		}
		if i >= len(cols) {
			return st, 0, syntaxErr(strconv.Itoa(len(cols))+" hex columns as in the header", line)
		}
		v, ok := parseHex(field)
		if !ok {
			return st, 0, syntaxErr("a hex number", field)
		}
		switch c := cols[i]; {
		case c.entries:
			entries = v
		case !c.unknown:
			st.Set(c.counter, v)
		}
	}
}

func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		h, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(h)
	}
	return v, true
}

func isHexRow(line []byte) bool {
	f, _ := nextField(line)
	_, ok := parseHex(f)
	return ok && len(f) == 8
}

// WriteProcStat writes stats in the /proc/net/stat/nf_conntrack shape of
// current kernels; entries is the netns count printed on every row.
func WriteProcStat(w io.Writer, st *track.Stats, entries uint64) error {
	buf := append([]byte(modernProcStatHeader), '\n')
	for i := range st.CPUs {
		c := &st.CPUs[i]
		buf = appendHex8(buf, entries)
		buf = append(buf, ' ', ' ')
		for j, k := range modernProcStatCounters {
			buf = appendHex8(buf, c.Values[k])
			switch {
			case j == len(modernProcStatCounters)-1:
				buf = append(buf, '\n')
			case k == track.CounterError:
				buf = append(buf, ' ', ' ')
			default:
				buf = append(buf, ' ')
			}
		}
	}
	_, err := w.Write(buf)
	return err
}

func appendHex8(dst []byte, v uint64) []byte {
	s := strconv.FormatUint(v, 16)
	for i := len(s); i < 8; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// conntrack -S (docs/KERNEL.md §5.3): "cpu=%-4u\t" then "key=value " pairs, decimal,
// with a trailing space. conntrack -S expect prints expect_* keys the same
// way. Old conntrack-tools reading /proc print the /proc column names.

// conntrackStatsOrder is the CTA_STATS_* attribute order conntrack prints in.
var conntrackStatsOrder = []track.Counter{
	track.CounterSearched, track.CounterFound, track.CounterNew, track.CounterInvalid,
	track.CounterIgnore, track.CounterDelete, track.CounterDeleteList, track.CounterInsert,
	track.CounterInsertFailed, track.CounterDrop, track.CounterEarlyDrop, track.CounterError,
	track.CounterSearchRestart, track.CounterClashResolve, track.CounterChainTooLong,
}

var conntrackExpectStatsOrder = []track.Counter{
	track.CounterExpectNew, track.CounterExpectCreate, track.CounterExpectDelete,
}

func isConntrackStatsLine(line []byte) bool { return bytes.HasPrefix(line, []byte("cpu=")) }

// parseConntrackStats parses one "cpu=N\tkey=value ..." line. entries is set
// when the line carries the /proc "entries" column.
func parseConntrackStats(line []byte) (st track.CPUStats, entries uint64, hasEntries bool, err error) {
	first, rest := nextFieldWS(line)
	cpu, ok := parseUint(bytes.TrimPrefix(first, []byte("cpu=")), 1<<20)
	if !bytes.HasPrefix(first, []byte("cpu=")) || !ok {
		return st, 0, false, syntaxErr("cpu=N", first)
	}
	st.CPU = int(cpu)
	n := 0
	for {
		var kv []byte
		kv, rest = nextFieldWS(rest)
		if len(kv) == 0 {
			break
		}
		eq := bytes.IndexByte(kv, '=')
		if eq <= 0 {
			return st, 0, false, syntaxErr("name=value", kv)
		}
		v, ok := parseUint(kv[eq+1:], 1<<64-1)
		if !ok {
			return st, 0, false, syntaxErr("a decimal counter", kv)
		}
		name := string(kv[:eq])
		if name == "entries" {
			entries, hasEntries = v, true
		} else if c, ok := track.ParseCounter(name); ok {
			st.Set(c, v)
		} else {
			return st, 0, false, syntaxErr("a known counter name", kv[:eq])
		}
		n++
	}
	if n == 0 {
		return st, 0, false, syntaxErr("counters after cpu=N", line)
	}
	return st, entries, hasEntries, nil
}

// WriteConntrackStats writes stats as conntrack -S prints them: one line per
// CPU with the flow counters the source reported, then, if any expectation
// counters were reported, one conntrack -S expect line per CPU.
func WriteConntrackStats(w io.Writer, st *track.Stats) error {
	var buf []byte
	for _, order := range [][]track.Counter{conntrackStatsOrder, conntrackExpectStatsOrder} {
		for i := range st.CPUs {
			c := &st.CPUs[i]
			line := appendCPUPrefix(nil, c.CPU)
			any := false
			for _, k := range order {
				if v, ok := c.Get(k); ok {
					line = append(line, k.String()...)
					line = append(line, '=')
					line = strconv.AppendUint(line, v, 10)
					line = append(line, ' ')
					any = true
				}
			}
			if any {
				buf = append(buf, line...)
				buf = append(buf, '\n')
			}
		}
	}
	_, err := w.Write(buf)
	return err
}

func appendCPUPrefix(dst []byte, cpu int) []byte {
	s := strconv.Itoa(cpu)
	dst = append(dst, "cpu="...)
	dst = append(dst, s...)
	for i := len(s); i < 4; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, '\t')
}
