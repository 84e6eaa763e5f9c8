package flows

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ctdiag/ctdiag/track"
	"github.com/ctdiag/ctdiag/tui/common"
	"github.com/ctdiag/ctdiag/tui/flowtable"
)

// column is one column of the list.
type column struct {
	title string
	col   flowtable.Column // what sorting by this column means
	width int
	right bool
	cell  func(f *track.Flow, age flowtable.Age) string
}

func (c column) fit(s string) string {
	if c.right {
		return common.FitLeft(s, c.width)
	}
	return common.Fit(s, c.width)
}

// columns chooses what fits: addresses widen on large terminals, counters
// appear when accounting is on, NAT and mark/zone when there is room.
func (m *Model) columns() []column {
	acct := m.frame != nil && m.frame.Table.Accounting() > 0
	cols := []column{
		{"PROTO", flowtable.ColProto, 6, false, func(f *track.Flow, _ flowtable.Age) string { return f.Orig.Proto.String() }},
		{"STATE", flowtable.ColState, 11, false, func(f *track.Flow, _ flowtable.Age) string { return f.StateName() }},
		{"SOURCE", flowtable.ColSrc, 15, false, func(f *track.Flow, _ flowtable.Age) string { return f.Orig.Src.String() }},
		{"SPORT", flowtable.ColSport, 5, true, func(f *track.Flow, _ flowtable.Age) string { return port(f, f.Orig.SrcPort) }},
		{"DESTINATION", flowtable.ColDst, 15, false, func(f *track.Flow, _ flowtable.Age) string { return f.Orig.Dst.String() }},
		{"DPORT", flowtable.ColDport, 5, true, func(f *track.Flow, _ flowtable.Age) string { return port(f, f.Orig.DstPort) }},
		{"TMOUT", flowtable.ColTimeout, 5, true, func(f *track.Flow, _ flowtable.Age) string {
			if !f.Fields.Has(track.FieldTimeout) {
				return "-"
			}
			return common.DurShort(time.Duration(f.Timeout) * time.Second)
		}},
		{"IDLE", flowtable.ColIdle, 6, true, func(_ *track.Flow, a flowtable.Age) string {
			switch {
			case !a.Known:
				return "?"
			case a.Capped:
				return "~" + common.DurShort(a.Idle)
			}
			return common.DurShort(a.Idle)
		}},
		{"FLG", flowtable.ColFlags, 3, false, func(f *track.Flow, _ flowtable.Age) string { return flags(f) }},
	}
	used := 1 // the cursor mark
	for _, c := range cols {
		used += c.width + 1
	}
	extra := []column{}
	if m.frame != nil && m.frame.Table.Timestamps() > 0 {
		extra = append(extra, column{"AGE", flowtable.ColAge, 5, true, func(f *track.Flow, _ flowtable.Age) string {
			if !f.Fields.Has(track.FieldDeltaTime) {
				return "-"
			}
			return common.DurShort(time.Duration(f.DeltaTime) * time.Second)
		}})
	}
	if acct {
		extra = append(extra,
			column{"BYTES", flowtable.ColBytes, 7, true, func(f *track.Flow, _ flowtable.Age) string {
				if !f.Fields.Has(track.FieldOrigCounters) {
					return "-"
				}
				return common.Bytes(f.OrigCounters.Bytes + f.ReplyCounters.Bytes)
			}},
			column{"PKTS", flowtable.ColPackets, 7, true, func(f *track.Flow, _ flowtable.Age) string {
				if !f.Fields.Has(track.FieldOrigCounters) {
					return "-"
				}
				return common.Num(float64(f.OrigCounters.Packets + f.ReplyCounters.Packets))
			}})
	}
	extra = append(extra,
		column{"MARK", flowtable.ColMark, 8, true, func(f *track.Flow, _ flowtable.Age) string {
			if f.Mark == 0 {
				return "-"
			}
			return "0x" + strconv.FormatUint(uint64(f.Mark), 16)
		}},
		column{"ZONE", flowtable.ColZone, 4, true, func(f *track.Flow, _ flowtable.Age) string {
			if f.Zone == 0 {
				return "-"
			}
			return strconv.Itoa(int(f.Zone))
		}},
		column{"NAT (REPLY)", flowtable.ColNone, 30, false, nat})
	for _, c := range extra {
		if used+c.width+1 <= m.width {
			cols = append(cols, c)
			used += c.width + 1
		}
	}
	// Give what is left to the addresses (IPv6 needs up to 39).
	if spare := m.width - used; spare > 0 {
		grow := min(spare/2, 24)
		cols[2].width += grow
		cols[4].width += grow
	}
	return cols
}

func port(f *track.Flow, p uint16) string {
	if !f.Orig.Proto.HasPorts() || f.Fields.Has(track.FieldGeneric) {
		return "-"
	}
	return strconv.Itoa(int(p))
}

// flags: U [UNREPLIED], H half-assured, A [ASSURED], N translated, O
// offloaded.
func flags(f *track.Flow) string {
	var b strings.Builder
	switch {
	case f.Status.Assured():
		b.WriteByte('A')
	case f.Status.SeenReply():
		b.WriteByte('H')
	default:
		b.WriteByte('U')
	}
	if f.SrcNAT() || f.DstNAT() {
		b.WriteByte('N')
	}
	if f.Status.Offloaded() {
		b.WriteByte('O')
	}
	return b.String()
}

// nat shows the reply tuple when it differs from the inverse of the
// original: where the connection was translated to.
func nat(f *track.Flow, _ flowtable.Age) string {
	if !f.SrcNAT() && !f.DstNAT() {
		return ""
	}
	r := f.Reply
	if f.Orig.Proto.HasPorts() {
		return netip.AddrPortFrom(r.Src, r.SrcPort).String() + " → " + netip.AddrPortFrom(r.Dst, r.DstPort).String()
	}
	return r.Src.String() + " → " + r.Dst.String()
}
