package parser

import (
	"strconv"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// Style is one of the text shapes a conntrack entry is printed in.
type Style uint8

// Entry styles.
const (
	// StyleProc is /proc/net/nf_conntrack (ct_seq_show): L3 columns, IPv6
	// fully expanded, GRE timeouts, "unknown" for generic-tracked protocols.
	StyleProc Style = iota
	// StyleExtended is conntrack -L -o extended: L3 columns, IPv6 compressed
	// like inet_ntop.
	StyleExtended
	// StyleConntrack is plain conntrack -L (and /proc/net/ip_conntrack of old
	// kernels): no L3 columns.
	StyleConntrack
)

func (s Style) String() string {
	switch s {
	case StyleProc:
		return "proc"
	case StyleExtended:
		return "extended"
	case StyleConntrack:
		return "conntrack"
	}
	return "style?"
}

// appendPadded appends s left-justified in width columns and a space, as
// printf("%-8s ") does.
func appendPadded(dst []byte, s string, width int) []byte {
	dst = append(dst, s...)
	for i := len(s); i < width; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, ' ')
}

// AppendFlow appends f as one line in the given style, with its newline.
// Optional parts are printed exactly when f.Fields says they are present, so
// a line read with the parser is written back byte for byte.
func AppendFlow(dst []byte, f *track.Flow, style Style) []byte {
	generic := f.Fields.Has(track.FieldGeneric)
	proto := f.Orig.Proto
	if style != StyleConntrack {
		dst = appendPadded(dst, f.Orig.Family.String(), 8)
		dst = strconv.AppendUint(dst, uint64(f.Orig.Family), 10)
		dst = append(dst, ' ')
	}
	l4name := proto.Name()
	if generic && style == StyleProc {
		l4name = "unknown"
	}
	dst = appendPadded(dst, l4name, 8)
	dst = strconv.AppendUint(dst, uint64(proto), 10)
	dst = append(dst, ' ')
	if f.Fields.Has(track.FieldTimeout) {
		dst = strconv.AppendUint(dst, uint64(f.Timeout), 10)
		dst = append(dst, ' ')
	}
	if f.Fields.Has(track.FieldGRETimeouts) && style == StyleProc && f.Ext != nil {
		dst = append(dst, "timeout="...)
		dst = strconv.AppendUint(dst, uint64(f.Ext.GRETimeout), 10)
		dst = append(dst, ", stream_timeout="...)
		dst = strconv.AppendUint(dst, uint64(f.Ext.GREStreamTimeout), 10)
		dst = append(dst, ' ')
	}
	if f.Fields.Has(track.FieldState) {
		dst = append(dst, track.StateName(proto, f.State)...)
		dst = append(dst, ' ')
	}

	// In /proc a generic-tracked entry has no L4 identifiers; conntrack-tools
	// prints the ports of port protocols anyway (as zeros).
	l4 := !generic || style != StyleProc
	dst = appendTuple(dst, &f.Orig, style, l4)
	if f.Fields.Has(track.FieldZoneOrig) {
		dst = append(dst, "zone-orig="...)
		dst = strconv.AppendUint(dst, uint64(f.ZoneOrig), 10)
		dst = append(dst, ' ')
	}
	if f.Fields.Has(track.FieldOrigCounters) {
		dst = appendCounters(dst, f.OrigCounters)
	}
	if !f.Status.SeenReply() {
		dst = append(dst, "[UNREPLIED] "...)
	}
	dst = appendTuple(dst, &f.Reply, style, l4)
	if f.Fields.Has(track.FieldZoneReply) {
		dst = append(dst, "zone-reply="...)
		dst = strconv.AppendUint(dst, uint64(f.ZoneReply), 10)
		dst = append(dst, ' ')
	}
	if f.Fields.Has(track.FieldReplyCounters) {
		dst = appendCounters(dst, f.ReplyCounters)
	}
	switch {
	case f.Status&track.StatusHWOffload != 0:
		dst = append(dst, "[HW_OFFLOAD] "...)
	case f.Status&track.StatusOffload != 0:
		dst = append(dst, "[OFFLOAD] "...)
	case f.Status&track.StatusAssured != 0:
		dst = append(dst, "[ASSURED] "...)
	}
	dst = appendUintField(dst, f.Fields.Has(track.FieldMark), "mark=", uint64(f.Mark))
	if f.Ext != nil {
		dst = appendUintField(dst, f.Fields.Has(track.FieldSecmark), "secmark=", uint64(f.Ext.Secmark))
		if f.Fields.Has(track.FieldSecctx) {
			dst = append(dst, "secctx="...)
			dst = append(dst, f.Ext.Secctx...)
			dst = append(dst, ' ')
		}
	}
	// The kernel prints zone=0 in /proc; ctnetlink sends no zone attribute
	// for zone 0, so conntrack-tools never prints it.
	dst = appendUintField(dst, f.Fields.Has(track.FieldZone) && (style == StyleProc || f.Zone != 0), "zone=", uint64(f.Zone))
	dst = appendUintField(dst, f.Fields.Has(track.FieldDeltaTime), "delta-time=", f.DeltaTime)
	if f.Ext != nil {
		if f.Fields.Has(track.FieldStart) {
			dst = appendCtime(dst, "[start=", f.Ext.Start)
		}
		if f.Fields.Has(track.FieldStop) {
			dst = appendCtime(dst, "[stop=", f.Ext.Stop)
		}
		if f.Fields.Has(track.FieldHelper) {
			dst = append(dst, "helper="...)
			dst = append(dst, f.Ext.Helper...)
			dst = append(dst, ' ')
		}
	}
	dst = appendUintField(dst, f.Fields.Has(track.FieldUse), "use=", uint64(f.Use))
	// The entry id is ctnetlink's (conntrack -o id); /proc never prints it.
	dst = appendUintField(dst, f.Fields.Has(track.FieldID) && style != StyleProc, "id=", uint64(f.ID))
	if f.Fields.Has(track.FieldLabels) && f.Ext != nil && len(f.Ext.Labels) > 0 {
		dst = append(dst, "labels="...)
		for i, l := range f.Ext.Labels {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, l...)
		}
		dst = append(dst, ' ')
	}
	// Every field was followed by a space; the line ends without one.
	if n := len(dst); n > 0 && dst[n-1] == ' ' {
		dst = dst[:n-1]
	}
	return append(dst, '\n')
}

func appendUintField(dst []byte, present bool, key string, v uint64) []byte {
	if !present {
		return dst
	}
	dst = append(dst, key...)
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, ' ')
}

func appendCounters(dst []byte, c track.Counters) []byte {
	dst = append(dst, "packets="...)
	dst = strconv.AppendUint(dst, c.Packets, 10)
	dst = append(dst, " bytes="...)
	dst = strconv.AppendUint(dst, c.Bytes, 10)
	return append(dst, ' ')
}

func appendCtime(dst []byte, prefix string, t time.Time) []byte {
	dst = append(dst, prefix...)
	dst = t.AppendFormat(dst, ctimeLayout)
	return append(dst, "] "...)
}

// appendTuple prints "src=A dst=B " and the protocol's identifiers.
func appendTuple(dst []byte, t *track.Tuple, style Style, l4 bool) []byte {
	dst = append(dst, "src="...)
	dst = appendAddr(dst, t, true, style)
	dst = append(dst, " dst="...)
	dst = appendAddr(dst, t, false, style)
	dst = append(dst, ' ')
	if !l4 {
		return dst
	}
	switch {
	case t.Proto.HasPorts():
		dst = append(dst, "sport="...)
		dst = strconv.AppendUint(dst, uint64(t.SrcPort), 10)
		dst = append(dst, " dport="...)
		dst = strconv.AppendUint(dst, uint64(t.DstPort), 10)
		dst = append(dst, ' ')
	case t.Proto.IsICMP():
		dst = append(dst, "type="...)
		dst = strconv.AppendUint(dst, uint64(t.Type), 10)
		dst = append(dst, " code="...)
		dst = strconv.AppendUint(dst, uint64(t.Code), 10)
		dst = append(dst, " id="...)
		dst = strconv.AppendUint(dst, uint64(t.ID), 10)
		dst = append(dst, ' ')
	case t.Proto == track.ProtoGRE:
		dst = append(dst, "srckey=0x"...)
		dst = strconv.AppendUint(dst, uint64(t.SrcKey), 16)
		dst = append(dst, " dstkey=0x"...)
		dst = strconv.AppendUint(dst, uint64(t.DstKey), 16)
		dst = append(dst, ' ')
	}
	return dst
}

func appendAddr(dst []byte, t *track.Tuple, src bool, style Style) []byte {
	a := t.Dst
	if src {
		a = t.Src
	}
	switch {
	case !a.IsValid():
		return append(dst, '?')
	case a.Is4():
		return appendIPv4(dst, a)
	case style == StyleProc:
		return appendIPv6Expanded(dst, a)
	}
	return appendIPv6Compressed(dst, a)
}
