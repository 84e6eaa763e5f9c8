package parser

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// The JSON shape of a flow. Optional parts are omitted when absent (not
// printed as zero), so JSON round-trips the same presence information as
// the text formats. Field names are stable: scripts depend on them.

type jsonTuple struct {
	Src    string  `json:"src"`
	Dst    string  `json:"dst"`
	SPort  *uint16 `json:"sport,omitempty"`
	DPort  *uint16 `json:"dport,omitempty"`
	Type   *uint8  `json:"type,omitempty"`
	Code   *uint8  `json:"code,omitempty"`
	ID     *uint16 `json:"id,omitempty"`
	SrcKey *uint16 `json:"srckey,omitempty"`
	DstKey *uint16 `json:"dstkey,omitempty"`
}

type jsonCounters struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

type jsonGRE struct {
	Timeout       uint32 `json:"timeout"`
	StreamTimeout uint32 `json:"stream_timeout"`
}

type jsonFlow struct {
	Family        string        `json:"family"`
	Proto         string        `json:"proto"`
	ProtoNum      uint8         `json:"protonum"`
	Generic       bool          `json:"generic,omitempty"`
	Timeout       *uint32       `json:"timeout,omitempty"`
	State         string        `json:"state,omitempty"`
	GRE           *jsonGRE      `json:"gre,omitempty"`
	Orig          jsonTuple     `json:"orig"`
	Reply         jsonTuple     `json:"reply"`
	ZoneOrig      *uint16       `json:"zone_orig,omitempty"`
	ZoneReply     *uint16       `json:"zone_reply,omitempty"`
	OrigCounters  *jsonCounters `json:"orig_counters,omitempty"`
	ReplyCounters *jsonCounters `json:"reply_counters,omitempty"`
	Status        []string      `json:"status"`
	Mark          *uint32       `json:"mark,omitempty"`
	Secmark       *uint32       `json:"secmark,omitempty"`
	Secctx        *string       `json:"secctx,omitempty"`
	Zone          *uint16       `json:"zone,omitempty"`
	DeltaTime     *uint64       `json:"delta_time,omitempty"`
	Start         *time.Time    `json:"start,omitempty"`
	Stop          *time.Time    `json:"stop,omitempty"`
	Helper        *string       `json:"helper,omitempty"`
	Use           *uint32       `json:"use,omitempty"`
	ID            *uint32       `json:"id,omitempty"`
	Labels        []string      `json:"labels,omitempty"`
}

func ptr[T any](present bool, v T) *T {
	if !present {
		return nil
	}
	return &v
}

func toJSONTuple(t *track.Tuple, l4 bool) jsonTuple {
	j := jsonTuple{Src: t.Src.String(), Dst: t.Dst.String()}
	if !l4 {
		return j
	}
	switch {
	case t.Proto.HasPorts():
		j.SPort, j.DPort = ptr(true, t.SrcPort), ptr(true, t.DstPort)
	case t.Proto.IsICMP():
		j.Type, j.Code, j.ID = ptr(true, t.Type), ptr(true, t.Code), ptr(true, t.ID)
	case t.Proto == track.ProtoGRE:
		j.SrcKey, j.DstKey = ptr(true, t.SrcKey), ptr(true, t.DstKey)
	}
	return j
}

func toJSONFlow(f *track.Flow) jsonFlow {
	has := f.Fields.Has
	generic := has(track.FieldGeneric)
	j := jsonFlow{
		Family:    f.Orig.Family.String(),
		Proto:     f.Orig.Proto.Name(),
		ProtoNum:  uint8(f.Orig.Proto),
		Generic:   generic,
		Timeout:   ptr(has(track.FieldTimeout), f.Timeout),
		State:     f.StateName(),
		Orig:      toJSONTuple(&f.Orig, !generic),
		Reply:     toJSONTuple(&f.Reply, !generic),
		ZoneOrig:  ptr(has(track.FieldZoneOrig), f.ZoneOrig),
		ZoneReply: ptr(has(track.FieldZoneReply), f.ZoneReply),
		Status:    f.Status.Names(),
		Mark:      ptr(has(track.FieldMark), f.Mark),
		Zone:      ptr(has(track.FieldZone), f.Zone),
		DeltaTime: ptr(has(track.FieldDeltaTime), f.DeltaTime),
		Use:       ptr(has(track.FieldUse), f.Use),
		ID:        ptr(has(track.FieldID), f.ID),
	}
	if j.Status == nil {
		j.Status = []string{}
	}
	if has(track.FieldOrigCounters) {
		j.OrigCounters = &jsonCounters{f.OrigCounters.Packets, f.OrigCounters.Bytes}
	}
	if has(track.FieldReplyCounters) {
		j.ReplyCounters = &jsonCounters{f.ReplyCounters.Packets, f.ReplyCounters.Bytes}
	}
	if e := f.Ext; e != nil {
		if has(track.FieldGRETimeouts) {
			j.GRE = &jsonGRE{e.GRETimeout, e.GREStreamTimeout}
		}
		j.Secmark = ptr(has(track.FieldSecmark), e.Secmark)
		j.Secctx = ptr(has(track.FieldSecctx), e.Secctx)
		j.Start = ptr(has(track.FieldStart), e.Start)
		j.Stop = ptr(has(track.FieldStop), e.Stop)
		j.Helper = ptr(has(track.FieldHelper), e.Helper)
		if has(track.FieldLabels) {
			j.Labels = e.Labels
		}
	}
	return j
}

// AppendFlowJSON appends f as one JSON object and a newline (a JSON Lines
// record).
func AppendFlowJSON(dst []byte, f *track.Flow) []byte {
	b, err := json.Marshal(toJSONFlow(f))
	if err != nil { // cannot happen: every field type marshals
		panic(err)
	}
	dst = append(dst, b...)
	return append(dst, '\n')
}

func fromJSONTuple(j *jsonTuple, t *track.Tuple, fam track.Family, proto track.Proto, generic bool) error {
	var err error
	if t.Src, err = netip.ParseAddr(j.Src); err != nil {
		return fmt.Errorf("src: %w", err)
	}
	if t.Dst, err = netip.ParseAddr(j.Dst); err != nil {
		return fmt.Errorf("dst: %w", err)
	}
	if t.Src.Zone() != "" || t.Dst.Zone() != "" {
		return fmt.Errorf("addresses carry no zone")
	}
	want4 := fam == track.FamilyIPv4
	if t.Src.Is4() != want4 || t.Dst.Is4() != want4 {
		return fmt.Errorf("addresses must be %s", fam)
	}
	t.Family, t.Proto = fam, proto
	if generic {
		return nil
	}
	switch {
	case proto.HasPorts():
		if j.SPort == nil || j.DPort == nil {
			return fmt.Errorf("sport and dport are required for %s", proto)
		}
		t.SrcPort, t.DstPort = *j.SPort, *j.DPort
	case proto.IsICMP():
		if j.Type == nil || j.Code == nil || j.ID == nil {
			return fmt.Errorf("type, code and id are required for %s", proto)
		}
		t.Type, t.Code, t.ID = *j.Type, *j.Code, *j.ID
	case proto == track.ProtoGRE:
		if j.SrcKey == nil || j.DstKey == nil {
			return fmt.Errorf("srckey and dstkey are required for gre")
		}
		t.SrcKey, t.DstKey = *j.SrcKey, *j.DstKey
	}
	return nil
}

// setOpt copies an optional JSON field into the flow and marks it present.
func setOpt[T any](f *track.Flow, p *T, dst *T, field track.Fields) {
	if p != nil {
		*dst = *p
		f.Fields |= field
	}
}

// flowFromJSON converts a decoded object; errors say what is wrong.
func flowFromJSON(j *jsonFlow, f *track.Flow) error {
	*f = track.Flow{}
	fam, ok := track.ParseFamily(j.Family)
	if !ok {
		return fmt.Errorf("family %q: want ipv4 or ipv6", j.Family)
	}
	proto := track.Proto(j.ProtoNum)
	if j.Proto != proto.Name() {
		return fmt.Errorf("proto %q does not match protonum %d (%s)", j.Proto, j.ProtoNum, proto.Name())
	}
	if j.Generic {
		if proto.Name() == "unknown" {
			return fmt.Errorf("generic is only for protocols with a name")
		}
		f.Fields |= track.FieldGeneric
	}
	if err := fromJSONTuple(&j.Orig, &f.Orig, fam, proto, j.Generic); err != nil {
		return fmt.Errorf("orig: %w", err)
	}
	if err := fromJSONTuple(&j.Reply, &f.Reply, fam, proto, j.Generic); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	setOpt(f, j.Timeout, &f.Timeout, track.FieldTimeout)
	setOpt(f, j.Mark, &f.Mark, track.FieldMark)
	setOpt(f, j.Use, &f.Use, track.FieldUse)
	setOpt(f, j.ID, &f.ID, track.FieldID)
	setOpt(f, j.Zone, &f.Zone, track.FieldZone)
	setOpt(f, j.ZoneOrig, &f.ZoneOrig, track.FieldZoneOrig)
	setOpt(f, j.ZoneReply, &f.ZoneReply, track.FieldZoneReply)
	setOpt(f, j.DeltaTime, &f.DeltaTime, track.FieldDeltaTime)
	if j.State != "" {
		if !track.ProtoHasState(proto) || j.Generic {
			return fmt.Errorf("state %q on a %s entry", j.State, proto)
		}
		s, ok := track.ParseStateName(proto, j.State)
		if !ok {
			return fmt.Errorf("unknown %s state %q", proto, j.State)
		}
		f.State = s
		f.Fields |= track.FieldState
	}
	if j.GRE != nil {
		f.SetGRETimeouts(j.GRE.Timeout, j.GRE.StreamTimeout)
	}
	if c := j.OrigCounters; c != nil {
		f.OrigCounters = track.Counters{Packets: c.Packets, Bytes: c.Bytes}
		f.Fields |= track.FieldOrigCounters
	}
	if c := j.ReplyCounters; c != nil {
		f.ReplyCounters = track.Counters{Packets: c.Packets, Bytes: c.Bytes}
		f.Fields |= track.FieldReplyCounters
	}
	for _, name := range j.Status {
		bit, ok := track.ParseStatusBit(name)
		if !ok {
			n, err := strconv.Atoi(strings.TrimPrefix(name, "BIT_"))
			if err != nil || !strings.HasPrefix(name, "BIT_") || n < 0 || n > 31 {
				return fmt.Errorf("unknown status bit %q", name)
			}
			bit = track.Status(1) << n
		}
		f.Status |= bit
	}
	if j.Secmark != nil {
		f.SetSecmark(*j.Secmark)
	}
	if j.Secctx != nil {
		if !isWord([]byte(*j.Secctx)) {
			return fmt.Errorf("secctx must be one printable word")
		}
		f.SetSecctx(*j.Secctx)
	}
	if j.Start != nil {
		f.SetStart(*j.Start)
	}
	if j.Stop != nil {
		f.SetStop(*j.Stop)
	}
	if j.Helper != nil {
		if !isWord([]byte(*j.Helper)) {
			return fmt.Errorf("helper must be one printable word")
		}
		f.SetHelper(*j.Helper)
	}
	if j.Labels != nil {
		for _, l := range j.Labels {
			if !isWord([]byte(l)) || strings.ContainsRune(l, ',') {
				return fmt.Errorf("label %q: labels are printable words without commas", l)
			}
		}
		f.SetLabels(j.Labels)
	}
	return nil
}

// parseFlowJSON parses one JSON object (a JSON Lines record).
func parseFlowJSON(line []byte, f *track.Flow) error {
	var j jsonFlow
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return &SyntaxError{Expected: "a ctdiag JSON flow object", Got: err.Error()}
	}
	if dec.More() {
		return &SyntaxError{Expected: "one JSON object per line"}
	}
	if err := flowFromJSON(&j, f); err != nil {
		return &SyntaxError{Expected: "a valid flow", Got: err.Error()}
	}
	return nil
}
