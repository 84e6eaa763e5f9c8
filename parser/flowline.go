package parser

import (
	"bytes"
	"net/netip"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ctdiag/ctdiag/track"
)

// ctimeLayout is C's ctime() without the newline, which conntrack -o
// ktimestamp prints inside [start=...] and [stop=...].
const ctimeLayout = "Mon Jan _2 15:04:05 2006"

// lineParser parses conntrack entry lines. It accepts every entry shape the
// kernel and conntrack-tools print: /proc/net/nf_conntrack, the old
// /proc/net/ip_conntrack, conntrack -L with any of -o extended, id,
// ktimestamp and labels, and the entry part of conntrack -E lines.
type lineParser struct {
	loc *time.Location // zone of [start=...] times; ctime prints local time
	now time.Time      // what yearless syslog stamps are dated against
}

// parse phases: fields must come in the kernel's order.
const (
	phaseHead  = iota // L3/L4 names, timeout, state
	phaseOrig         // inside the original tuple
	phaseOrigX        // zone-orig, counters, [UNREPLIED]
	phaseReply        // inside the reply tuple
	phaseTail         // zone-reply, counters, flags, mark, ... use, id, labels
)

// tupleSeen tracks which tuple keys one direction already had.
type tupleSeen uint16

const (
	seenSrc tupleSeen = 1 << iota
	seenDst
	seenSport
	seenDport
	seenType
	seenCode
	seenID
	seenSrcKey
	seenDstKey
)

// Order of the fields after the reply tuple, as ct_seq_show and
// libnetfilter_conntrack print them.
const (
	tailZoneDir = iota + 1
	tailCounters
	tailBytes
	tailFlag
	tailMark
	tailSecmark
	tailSecctx
	tailZone
	tailDelta
	tailStart
	tailStop
	tailHelper
	tailUse
	tailID
	tailLabels
)

// flowState is the parser's position within one line.
type flowState struct {
	f       *track.Flow
	generic bool // "unknown N" entry: no L4 identifiers
	phase   int
	seen    [2]tupleSeen
	order   int // last trailing field seen (tail* constants)
	status  track.Status
	origX   int // 0, then 1 after packets=, 2 after bytes= of the original direction
}

func (s *flowState) tuple() (*track.Tuple, *tupleSeen) {
	if s.phase >= phaseReply {
		return &s.f.Reply, &s.seen[1]
	}
	return &s.f.Orig, &s.seen[0]
}

// endTuple leaves the tuple being read, checking it is complete.
func (s *flowState) endTuple() error {
	switch s.phase {
	case phaseOrig:
		if err := checkTuple(&s.f.Orig, s.seen[0], s.generic); err != nil {
			return err
		}
		s.phase = phaseOrigX
	case phaseReply:
		if err := checkTuple(&s.f.Reply, s.seen[1], s.generic); err != nil {
			return err
		}
		s.phase = phaseTail
	}
	return nil
}

func (s *flowState) advance(next int, what []byte) error {
	if next <= s.order {
		return syntaxErr("fields in kernel order, each once", what)
	}
	s.order = next
	return nil
}

// parseFlow parses one entry line (without its newline) into f, which is
// reset first. The returned error is a *SyntaxError. Common lines take the
// one-pass fast path; the rest the general parser.
func (p *lineParser) parseFlow(line []byte, f *track.Flow) error {
	if fastFlow(line, f) {
		return nil
	}
	return p.parseFlowGeneral(line, f)
}

// parseFlowGeneral is the complete parser: every field, every order check,
// every error message. It is the reference fastFlow is checked against.
func (p *lineParser) parseFlowGeneral(line []byte, f *track.Flow) error {
	*f = track.Flow{}
	// Logs indent the entries they quote (kube-proxy prints conntrack -D's
	// output tab-indented).
	rest := bytes.TrimLeft(line, " \t")
	var tok []byte

	tok, rest = nextField(rest)
	if len(tok) == 0 {
		return syntaxErr("a conntrack entry", nil)
	}

	// Optional L3 columns: "ipv4     2" / "ipv6     10".
	var family track.Family
	if string(tok) == "ipv4" || string(tok) == "ipv6" {
		family, _ = track.ParseFamily(string(tok))
		var num []byte
		num, rest = nextField(rest)
		n, ok := parseUint(num, 255)
		if !ok || track.Family(n) != family {
			return syntaxErr("the address family number after "+family.String()+" (2 or 10)", num)
		}
		tok, rest = nextField(rest)
	}

	// L4 name and number.
	name := tok
	var num []byte
	num, rest = nextField(rest)
	pn, ok := parseUint(num, 255)
	if !ok {
		return syntaxErr("a protocol name and number (e.g. \"tcp 6\")", joinTok(name, num))
	}
	proto := track.Proto(pn)
	st := flowState{f: f, status: track.StatusSeenReply | track.StatusConfirmed}
	switch {
	case string(name) == proto.Name():
	case string(name) == "unknown":
		// The kernel's generic tracker: DCCP on 6.18, GRE or SCTP without
		// their modules. No L4 identifiers follow.
		st.generic = proto.Name() != "unknown"
	default:
		return syntaxErr("protocol name "+proto.Name()+" for number "+string(num), name)
	}
	if st.generic {
		f.Fields |= track.FieldGeneric
	}
	f.Orig.Family, f.Orig.Proto = family, proto
	f.Reply.Family, f.Reply.Proto = family, proto

	for {
		var eq int
		tok, eq, rest = nextKeyValue(rest)
		if len(tok) == 0 {
			break
		}
		if tok[0] == '[' {
			var err error
			if rest, err = p.bracket(&st, tok, rest); err != nil {
				return err
			}
			continue
		}
		if st.phase == phaseHead && eq < 0 {
			if err := headField(&st, tok); err != nil {
				return err
			}
			continue
		}
		if eq < 0 && vendorWords[string(tok)] {
			if err := vendorField(&st, tok); err != nil {
				return err
			}
			continue
		}
		if eq <= 0 {
			return syntaxErr("key=value", tok)
		}
		key, val := tok[:eq], tok[eq+1:]

		switch string(key) {
		case "timeout": // GRE in /proc: "timeout=30, stream_timeout=180"
			var err error
			if rest, err = greTimeouts(&st, tok, rest); err != nil {
				return err
			}
			continue
		case "src":
			switch st.phase {
			case phaseHead:
				st.phase = phaseOrig
			case phaseOrig, phaseOrigX:
				if err := st.endTuple(); err != nil {
					return err
				}
				st.phase = phaseReply
			default:
				return syntaxErr("at most two tuples", tok)
			}
			t, seen := st.tuple()
			a, ok := parseAddr(val)
			if !ok {
				return syntaxErr("an IP address after src=", val)
			}
			if err := setFamily(t, a, val); err != nil {
				return err
			}
			t.Src = a
			*seen |= seenSrc
			continue
		}

		if st.phase == phaseOrig || st.phase == phaseReply {
			t, seen := st.tuple()
			done, err := tupleKey(key, val, t, seen, st.generic)
			if err != nil {
				return err
			}
			if done {
				continue
			}
			// Not a tuple key: the tuple is over.
			if err := st.endTuple(); err != nil {
				return err
			}
		}
		if err := trailingKey(&st, key, val); err != nil {
			return err
		}
	}

	if st.phase == phaseReply {
		if err := st.endTuple(); err != nil {
			return err
		}
	}
	if st.phase != phaseTail {
		return syntaxErr("an original and a reply tuple (src=... dst=... twice)", nil)
	}
	if st.origX == 1 || st.order == tailCounters {
		return syntaxErr("bytes= after packets=", nil)
	}
	if f.Orig.Family != f.Reply.Family {
		return syntaxErr("both tuples of the same address family", nil)
	}
	f.Status = st.status
	return nil
}

// headField handles the timeout and state before the first tuple.
func headField(st *flowState, tok []byte) error {
	f := st.f
	switch {
	case isDigits(tok) && !f.Fields.Has(track.FieldTimeout) && !f.Fields.Has(track.FieldState):
		v, ok := parseUint(tok, 1<<32-1)
		if !ok {
			return syntaxErr("a timeout in seconds", tok)
		}
		f.Timeout = uint32(v)
		f.Fields |= track.FieldTimeout
	case !f.Fields.Has(track.FieldState) && track.ProtoHasState(f.Orig.Proto) && !st.generic:
		s, ok := track.ParseStateName(f.Orig.Proto, string(tok))
		if !ok {
			return syntaxErr("a "+f.Orig.Proto.Name()+" state name", tok)
		}
		f.State = s
		f.Fields |= track.FieldState
	default:
		return syntaxErr("a timeout, state or src=", tok)
	}
	return nil
}

// greTimeouts parses "timeout=30, stream_timeout=180", which /proc prints
// for GRE entries in place of a state.
func greTimeouts(st *flowState, tok, rest []byte) ([]byte, error) {
	f := st.f
	val := tok[len("timeout="):]
	if st.phase != phaseHead || f.Orig.Proto != track.ProtoGRE || st.generic ||
		f.Fields.Has(track.FieldGRETimeouts) || len(val) == 0 || val[len(val)-1] != ',' {
		return rest, syntaxErr("timeout= only in a GRE entry's header, followed by a comma", tok)
	}
	t, ok := parseUint(val[:len(val)-1], 1<<32-1)
	var next []byte
	next, rest = nextField(rest)
	const streamKey = "stream_timeout="
	if !ok || !bytes.HasPrefix(next, []byte(streamKey)) {
		return rest, syntaxErr("timeout=N, stream_timeout=N", joinTok(tok, next))
	}
	sv, ok := parseUint(next[len(streamKey):], 1<<32-1)
	if !ok {
		return rest, syntaxErr("seconds after stream_timeout=", next)
	}
	f.SetGRETimeouts(uint32(t), uint32(sv))
	return rest, nil
}

// setFamily checks an address against the tuple's family, or sets the family
// when the line had no L3 columns.
func setFamily(t *track.Tuple, a netip.Addr, raw []byte) error {
	fam := track.FamilyIPv4
	if !a.Is4() {
		fam = track.FamilyIPv6
	}
	if t.Family == 0 {
		t.Family = fam
		return nil
	}
	if t.Family != fam {
		return syntaxErr("an "+t.Family.String()+" address", raw)
	}
	return nil
}

// tupleKey consumes one key of the tuple being read. done is false when key
// does not belong to a tuple (the tuple is then over).
func tupleKey(key, val []byte, t *track.Tuple, seen *tupleSeen, generic bool) (done bool, err error) {
	var bit tupleSeen
	switch string(key) {
	case "dst":
		if *seen&seenDst != 0 {
			return false, nil
		}
		a, ok := parseAddr(val)
		if !ok {
			return true, syntaxErr("an IP address after dst=", val)
		}
		if err := setFamily(t, a, val); err != nil {
			return true, err
		}
		t.Dst = a
		*seen |= seenDst
		return true, nil
	case "sport", "dport":
		if !t.Proto.HasPorts() {
			return true, syntaxErr("no ports for protocol "+t.Proto.String(), key)
		}
		v, ok := parseUint(val, 65535)
		if !ok {
			return true, syntaxErr("a port number 0-65535", val)
		}
		if key[0] == 's' {
			bit, t.SrcPort = seenSport, uint16(v)
		} else {
			bit, t.DstPort = seenDport, uint16(v)
		}
	case "type", "code":
		if !t.Proto.IsICMP() {
			return true, syntaxErr("type/code only for ICMP", key)
		}
		v, ok := parseUint(val, 255)
		if !ok {
			return true, syntaxErr("an ICMP type or code 0-255", val)
		}
		if key[0] == 't' {
			bit, t.Type = seenType, uint8(v)
		} else {
			bit, t.Code = seenCode, uint8(v)
		}
	case "id":
		if !t.Proto.IsICMP() || *seen&seenID != 0 || generic {
			return false, nil // the entry's id= (conntrack -o id)
		}
		v, ok := parseUint(val, 65535)
		if !ok {
			return true, syntaxErr("an ICMP id 0-65535", val)
		}
		bit, t.ID = seenID, uint16(v)
	case "srckey", "dstkey":
		if t.Proto != track.ProtoGRE {
			return true, syntaxErr("GRE keys only for gre", key)
		}
		v, ok := parseHex0x(val, 0xffff)
		if !ok {
			return true, syntaxErr("a GRE key 0x0-0xffff", val)
		}
		if key[0] == 's' {
			bit, t.SrcKey = seenSrcKey, uint16(v)
		} else {
			bit, t.DstKey = seenDstKey, uint16(v)
		}
	default:
		return false, nil
	}
	if generic {
		return true, syntaxErr("no L4 identifiers in an \"unknown\" protocol entry", key)
	}
	if *seen&bit != 0 {
		return true, syntaxErr("each tuple key once", key)
	}
	*seen |= bit
	return true, nil
}

// checkTuple checks that a tuple has everything its protocol needs.
func checkTuple(t *track.Tuple, seen tupleSeen, generic bool) error {
	if seen&(seenSrc|seenDst) != seenSrc|seenDst {
		return syntaxErr("src= and dst= in each tuple", nil)
	}
	if generic {
		return nil
	}
	var need tupleSeen
	switch {
	case t.Proto.HasPorts():
		need = seenSport | seenDport
	case t.Proto.IsICMP():
		need = seenType | seenCode | seenID
	case t.Proto == track.ProtoGRE:
		need = seenSrcKey | seenDstKey
	}
	if seen&need != need {
		return syntaxErr("the "+t.Proto.Name()+" tuple keys (sport/dport, type/code/id or srckey/dstkey) in each tuple", nil)
	}
	return nil
}

// trailingKey handles key=value fields outside the tuples.
func trailingKey(st *flowState, key, val []byte) error {
	f := st.f
	if st.phase == phaseOrigX {
		switch string(key) {
		case "zone-orig":
			if st.origX != 0 || f.Fields.Has(track.FieldZoneOrig) {
				return syntaxErr("zone-orig= once, before the counters", key)
			}
			v, ok := parseUint(val, 65535)
			if !ok {
				return syntaxErr("a zone 0-65535", val)
			}
			f.ZoneOrig = uint16(v)
			f.Fields |= track.FieldZoneOrig
			return nil
		case "packets":
			v, ok := parseUint(val, 1<<64-1)
			if !ok || st.origX != 0 {
				return syntaxErr("one packet count per direction", keyVal(key, val))
			}
			f.OrigCounters.Packets = v
			f.Fields |= track.FieldOrigCounters
			st.origX = 1
			return nil
		case "bytes":
			v, ok := parseUint(val, 1<<64-1)
			if !ok || st.origX != 1 {
				return syntaxErr("bytes=N right after packets=", keyVal(key, val))
			}
			f.OrigCounters.Bytes = v
			st.origX = 2
			return nil
		}
		return syntaxErr("zone-orig=, packets=, bytes=, [UNREPLIED] or the reply tuple's src=", key)
	}

	switch string(key) {
	case "zone-reply":
		v, ok := parseUint(val, 65535)
		if !ok {
			return syntaxErr("a zone 0-65535", val)
		}
		f.ZoneReply = uint16(v)
		f.Fields |= track.FieldZoneReply
		return st.advance(tailZoneDir, key)
	case "packets":
		v, ok := parseUint(val, 1<<64-1)
		if !ok {
			return syntaxErr("a packet count", val)
		}
		f.ReplyCounters.Packets = v
		f.Fields |= track.FieldReplyCounters
		return st.advance(tailCounters, key)
	case "bytes":
		v, ok := parseUint(val, 1<<64-1)
		if !ok || st.order != tailCounters {
			return syntaxErr("bytes=N right after packets=", keyVal(key, val))
		}
		f.ReplyCounters.Bytes = v
		return st.advance(tailBytes, key)
	case "secctx":
		if !isWord(val) {
			return syntaxErr("a printable security context after secctx=", val)
		}
		f.SetSecctx(string(val))
		return st.advance(tailSecctx, key)
	case "helper":
		if !isWord(val) {
			return syntaxErr("a printable helper name", val)
		}
		f.SetHelper(string(val))
		return st.advance(tailHelper, key)
	case "labels":
		if !isWord(val) || val[0] == ',' || val[len(val)-1] == ',' || bytes.Contains(val, []byte(",,")) {
			return syntaxErr("comma-separated printable label names after labels=", val)
		}
		var labels []string
		for _, l := range bytes.Split(val, []byte{','}) {
			labels = append(labels, string(l))
		}
		f.SetLabels(labels)
		return st.advance(tailLabels, key)
	}
	for i := range numericTails {
		t := &numericTails[i]
		if string(key) != t.key[:len(t.key)-1] {
			continue
		}
		v, ok := parseUint(val, t.max)
		if !ok {
			return syntaxErr(t.expected, val)
		}
		t.set(f, v)
		return st.advance(t.order, key)
	}
	if vendorKeys[string(key)] {
		return vendorField(st, key)
	}
	return syntaxErr("a known field (mark=, zone=, use=, ...)", key)
}

// Router kernels of ASUS and other Broadcom-based vendors print fields of
// their own after the flags ("[ASSURED] [FASTNAT] mark=0 nmark=256 sc=0
// ifw=36 ifl=35 mac=00:00:5e:00:53:02 slan attrs= use=2"). They are read and
// not kept: they say nothing conntrack's own fields do not.
var (
	vendorWords = map[string]bool{"[FASTNAT]": true, "slan": true, "swan": true, "nomac": true, "no_if": true}
	vendorKeys  = map[string]bool{"nmark": true, "sc": true, "ifw": true, "ifl": true, "mac": true, "attrs": true}
)

// vendorField accepts a vendor field after the reply tuple and before use=.
func vendorField(st *flowState, tok []byte) error {
	if err := st.endTuple(); err != nil {
		return err
	}
	if st.phase != phaseTail || st.order >= tailUse || tok[0] == '[' && st.order > tailFlag {
		return syntaxErr("vendor fields ([FASTNAT], nmark=, mac=, ...) between the reply tuple and use=", tok)
	}
	return nil
}

// numericTail is a trailing field that holds one number.
type numericTail struct {
	key      string // with its "="
	order    int    // tail* position
	max      uint64
	expected string
	set      func(f *track.Flow, v uint64)
}

// numericTails lists them in the order the kernel and conntrack-tools print
// them; the general parser and the fast path share it.
var numericTails = [...]numericTail{
	{"mark=", tailMark, 1<<32 - 1, "a mark 0-4294967295", func(f *track.Flow, v uint64) { f.Mark = uint32(v); f.Fields |= track.FieldMark }},
	{"secmark=", tailSecmark, 1<<32 - 1, "a secmark number", func(f *track.Flow, v uint64) { f.SetSecmark(uint32(v)) }},
	{"zone=", tailZone, 65535, "a zone 0-65535", func(f *track.Flow, v uint64) { f.Zone = uint16(v); f.Fields |= track.FieldZone }},
	{"delta-time=", tailDelta, 1<<64 - 1, "seconds after delta-time=", func(f *track.Flow, v uint64) { f.DeltaTime = v; f.Fields |= track.FieldDeltaTime }},
	{"use=", tailUse, 1<<32 - 1, "a reference count after use=", func(f *track.Flow, v uint64) { f.Use = uint32(v); f.Fields |= track.FieldUse }},
	{"id=", tailID, 1<<32 - 1, "an entry id after id=", func(f *track.Flow, v uint64) { f.ID = uint32(v); f.Fields |= track.FieldID }},
}

// isWord reports whether b is a non-empty run of printable UTF-8: names the
// kernel and conntrack-tools print (labels, helpers, security contexts) are,
// and anything else could not be carried through JSON unchanged.
func isWord(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x21 || r == 0x7f || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// appendPrintable appends a name the kernel or a process gave (a helper,
// a program name) with every byte that would break the line (control
// characters, invalid UTF-8, and spaces unless allowed) written as '?': one
// odd name must not turn a log into binary or split a record.
func appendPrintable(dst []byte, s string, spaces bool) []byte {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || r == ' ' && !spaces || !unicode.IsPrint(r) && r != ' ' {
			dst = append(dst, '?')
			continue
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// keyVal re-joins a split "key=value" field for error messages.
func keyVal(key, val []byte) []byte { return key[:len(key)+1+len(val)] }

// bracket handles "[UNREPLIED]", "[ASSURED]", "[OFFLOAD]", "[HW_OFFLOAD]"
// and "[start=...]"/"[stop=...]", whose ctime text contains spaces. rest
// must directly follow tok in the same line; it returns the rest of the line
// after the bracket.
func (p *lineParser) bracket(st *flowState, tk, rest []byte) ([]byte, error) {
	switch string(tk) {
	case "[UNREPLIED]":
		if st.phase != phaseOrig && st.phase != phaseOrigX {
			return rest, syntaxErr("[UNREPLIED] between the two tuples", tk)
		}
		if err := st.endTuple(); err != nil {
			return rest, err
		}
		if st.status&track.StatusSeenReply == 0 || st.origX == 1 {
			return rest, syntaxErr("[UNREPLIED] once, after the original counters", tk)
		}
		st.status &^= track.StatusSeenReply
		st.origX = 2
		return rest, nil
	case "[ASSURED]", "[OFFLOAD]", "[HW_OFFLOAD]":
		if err := st.endTuple(); err != nil {
			return rest, err
		}
		if st.phase != phaseTail {
			return rest, syntaxErr("a reply tuple (src=... dst=...) before "+string(tk), tk)
		}
		if err := st.advance(tailFlag, tk); err != nil {
			return rest, err
		}
		switch tk[1] {
		case 'A':
			st.status |= track.StatusAssured
		case 'O':
			st.status |= track.StatusOffload
		default:
			st.status |= track.StatusHWOffload
		}
		return rest, nil
	}
	if vendorWords[string(tk)] {
		return rest, vendorField(st, tk)
	}
	if bytes.HasPrefix(tk, []byte("[active")) {
		return rest, syntaxErr("a conntrack entry; \"[active since Ns]\" is conntrackd -i's cache, which ctdiag does not read", tk)
	}
	isStart := bytes.HasPrefix(tk, []byte("[start="))
	if !isStart && !bytes.HasPrefix(tk, []byte("[stop=")) {
		return rest, syntaxErr("[UNREPLIED], [ASSURED], [OFFLOAD], [HW_OFFLOAD], [start=...] or [stop=...]", tk)
	}
	if err := st.endTuple(); err != nil {
		return rest, err
	}
	if st.phase != phaseTail {
		return rest, syntaxErr("[start=...] after the reply tuple", tk)
	}
	whole := tk[:len(tk)+len(rest)] // tk and rest are adjacent in the line
	end := bytes.IndexByte(whole, ']')
	if end < 0 {
		return rest, syntaxErr("a closing ] of the timestamp", tk)
	}
	prefix := len("[stop=")
	next := tailStop
	if isStart {
		prefix, next = len("[start="), tailStart
	}
	if err := st.advance(next, tk); err != nil {
		return rest, err
	}
	loc := p.loc
	if loc == nil {
		loc = time.Local
	}
	t, err := time.ParseInLocation(ctimeLayout, string(whole[prefix:end]), loc)
	if err != nil {
		return rest, syntaxErr("a ctime date like \"Sat Nov 21 13:22:24 2026\"", whole[prefix:end])
	}
	if isStart {
		st.f.SetStart(t)
	} else {
		st.f.SetStop(t)
	}
	return whole[end+1:], nil
}

// nextField splits off the next run of non-blank bytes. Entry lines are
// split on spaces only (a tab appears only in prefixes the callers strip);
// bytes.IndexByte finds the end of a field with SIMD, which is most of the
// speed of the whole parser.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	b = b[i:]
	j := bytes.IndexByte(b, ' ')
	if j < 0 {
		return b, nil
	}
	return b[:j], b[j:]
}

// nextKeyValue is nextField that also returns the index of the first '='
// in the field (-1 if none), so each byte is looked at once.
func nextKeyValue(b []byte) (field []byte, eq int, rest []byte) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	eq = -1
	j := i
	for ; j < len(b); j++ {
		c := b[j]
		if c == ' ' {
			break
		}
		if c == '=' && eq < 0 {
			eq = j - i
		}
	}
	return b[i:j], eq, b[j:]
}

// nextFieldWS is nextField for lines that also use tabs (conntrack -S).
func nextFieldWS(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

func joinTok(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+1+len(b))
	out = append(out, a...)
	out = append(out, ' ')
	return append(out, b...)
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseUint parses a plain decimal number no larger than max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseHex0x parses "0x" followed by lowercase or uppercase hex digits.
func parseHex0x(b []byte, max uint64) (uint64, bool) {
	if len(b) < 3 || b[0] != '0' || b[1] != 'x' || len(b) > 18 {
		return 0, false
	}
	var v uint64
	for _, c := range b[2:] {
		h, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(h)
	}
	if v > max {
		return 0, false
	}
	return v, true
}
