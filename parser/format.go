package parser

import (
	"bytes"
	"path/filepath"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// Format is what an input holds, as detected from its content (and, where
// content alone is ambiguous, its name).
type Format uint8

// Detected formats.
const (
	FormatUnknown    Format = iota
	FormatEmpty             // no lines at all: an empty table
	FormatProc              // /proc/net/nf_conntrack
	FormatConntrack         // conntrack -L (also /proc/net/ip_conntrack of old kernels)
	FormatExtended          // conntrack -L -o extended
	FormatEvents            // conntrack -E
	FormatProcStat          // /proc/net/stat/nf_conntrack
	FormatStats             // conntrack -S, conntrack -S expect
	FormatCount             // conntrack -C
	FormatSysctl            // sysctl -a lines
	FormatSysctlFile        // one /proc/sys/net/netfilter/* file
	FormatKernelLog         // dmesg, journalctl -k, /dev/kmsg
	FormatJSON              // ctdiag list -o json
	FormatJSONL             // ctdiag list -o jsonl
	FormatMixed             // several kinds of lines in one file
	FormatSlabinfo          // /proc/slabinfo
	FormatExpect            // an expectation table: /proc/net/nf_conntrack_expect, conntrack -L expect
	FormatRuleset           // a firewall ruleset (iptables-save, nft list ruleset, nft -j, ctdiag ruleset JSON): package ruleset reads it
	FormatXML               // conntrack -L -o xml (xml.go)
	FormatXMLEvents         // conntrack -E -o xml
)

var formatNames = [...]string{
	FormatUnknown:    "unknown",
	FormatEmpty:      "empty",
	FormatProc:       "proc",
	FormatConntrack:  "conntrack",
	FormatExtended:   "extended",
	FormatEvents:     "events",
	FormatProcStat:   "proc-stat",
	FormatStats:      "stats",
	FormatCount:      "count",
	FormatSysctl:     "sysctl",
	FormatSysctlFile: "sysctl-file",
	FormatKernelLog:  "kernel-log",
	FormatJSON:       "json",
	FormatJSONL:      "jsonl",
	FormatMixed:      "mixed",
	FormatSlabinfo:   "slabinfo",
	FormatExpect:     "expect",
	FormatRuleset:    "ruleset",
	FormatXML:        "xml",
	FormatXMLEvents:  "xml-events",
}

var formatDescriptions = [...]string{
	FormatUnknown:    "unrecognised content",
	FormatEmpty:      "no lines",
	FormatProc:       "/proc/net/nf_conntrack",
	FormatConntrack:  "conntrack -L (or /proc/net/ip_conntrack)",
	FormatExtended:   "conntrack -L -o extended",
	FormatEvents:     "conntrack -E events",
	FormatProcStat:   "/proc/net/stat/nf_conntrack",
	FormatStats:      "conntrack -S statistics",
	FormatCount:      "conntrack -C count",
	FormatSysctl:     "sysctl -a",
	FormatSysctlFile: "a /proc/sys/net/netfilter value",
	FormatKernelLog:  "kernel log (dmesg / journalctl -k)",
	FormatJSON:       "ctdiag JSON",
	FormatJSONL:      "ctdiag JSON Lines",
	FormatMixed:      "mixed conntrack outputs",
	FormatSlabinfo:   "/proc/slabinfo",
	FormatExpect:     "an expectation table (/proc/net/nf_conntrack_expect, conntrack -L expect)",
	FormatRuleset:    "firewall ruleset (iptables-save, nft list ruleset, nft -j)",
	FormatXML:        "conntrack -L -o xml",
	FormatXMLEvents:  "conntrack -E -o xml events",
}

// String is the short name ("proc", "extended", ...).
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format?"
}

// Description says in words what the format is.
func (f Format) Description() string {
	if int(f) < len(formatDescriptions) {
		return formatDescriptions[f]
	}
	return "format?"
}

// IsFlowTable reports whether the format lists table entries.
func (f Format) IsFlowTable() bool {
	switch f {
	case FormatProc, FormatConntrack, FormatExtended, FormatJSON, FormatJSONL, FormatXML:
		return true
	}
	return false
}

// lineKind is what a single line is, judged on its own.
type lineKind uint8

const (
	kindNone      lineKind = iota // blank, comment or conntrack's summary line
	kindFlow                      // an entry line
	kindEvent                     // a conntrack -E line
	kindStatHead                  // /proc/net/stat/nf_conntrack header
	kindStatRow                   // a row of 8-digit hex numbers
	kindStats                     // cpu=N ...
	kindCount                     // a bare number
	kindSysctl                    // name = value
	kindKernelLog                 // a kernel-log line
	kindJSON                      // a JSON object
	kindExpect                    // an expectation line (conntrack -L expect / -E expect)
	kindEventLoss                 // "# ctdiag: events lost: ..." (a record bundle's event log)
	kindSlab                      // a /proc/slabinfo cache line
	kindOther                     // none of the above
)

// l4Names are the first words an entry line without L3 columns starts with.
var l4Names = map[string]bool{
	"tcp": true, "udp": true, "icmp": true, "icmpv6": true, "udplite": true,
	"sctp": true, "gre": true, "dccp": true, "unknown": true,
}

// isSummaryLine recognises conntrack's stderr summary ("conntrack v1.4.7
// (conntrack-tools): 4 flow entries have been shown.") when 2>&1 mixed it in.
func isSummaryLine(line []byte) bool {
	return bytes.HasPrefix(line, []byte("conntrack v")) && bytes.Contains(line, []byte("(conntrack-tools): "))
}

func (p *lineParser) classifyLine(line []byte) lineKind {
	t := bytes.TrimSpace(line)
	if bytes.HasPrefix(t, eventLossPrefix) {
		return kindEventLoss
	}
	if len(t) == 0 || t[0] == '#' || isSummaryLine(t) || bytes.HasPrefix(t, slabinfoHeader) {
		return kindNone
	}
	first, rest := nextField(t)
	switch {
	case string(first) == "ipv4" || string(first) == "ipv6" || l4Names[string(first)]:
		return kindFlow
	case p.isEventLine(line):
		if p.isExpectEventLine(line) {
			return kindExpect
		}
		return kindEvent
	case isSlabLine(t):
		return kindSlab
	case t[0] == '{':
		return kindJSON
	case isProcStatHeader(t):
		return kindStatHead
	case isConntrackStatsLine(t):
		return kindStats
	case isDigits(first) && len(bytes.TrimSpace(rest)) == 0:
		return kindCount
	case isDigits(first) && isExpectRest(bytes.TrimSpace(rest)):
		return kindExpect
	case isHexRow(t):
		return kindStatRow
	case isSysctlLine(t):
		return kindSysctl
	case p.isKernelLogLine(line):
		return kindKernelLog
	}
	return kindOther
}

// sniffResult summarises the first lines of an input.
type sniffResult struct {
	kinds    map[lineKind]int
	flowL3   int // entry lines with L3 columns
	ipv6Exp  int // fully expanded IPv6 addresses seen
	ipv6Comp int // compressed IPv6 addresses seen
	zone     int // entry lines with zone=
	extOnly  int // fields only conntrack-tools prints (id=, [start=, helper=, secmark=, labels=)
	procOnly int // /proc-only shapes (GRE timeout=, "unknown N" for a named protocol)
	flows    int
	jsonArr  bool
	scratch  track.Flow // for checking that candidate lines parse
	// expectEvents: expectation lines came as events ([NEW] 300 proto=...)
	expectEvents bool
}

func (s *sniffResult) addFlowLine(line []byte) {
	s.flows++
	line = bytes.TrimLeft(line, " \t")
	first, _ := nextField(line)
	if string(first) == "ipv4" || string(first) == "ipv6" {
		s.flowL3++
	}
	if bytes.Contains(line, []byte(" zone=")) {
		s.zone++
	}
	if bytes.Contains(line, []byte("[start=")) || bytes.Contains(line, []byte(" helper=")) ||
		bytes.Contains(line, []byte(" secmark=")) || bytes.Contains(line, []byte(" labels=")) {
		s.extOnly++
	} else if u := bytes.Index(line, []byte(" use=")); u >= 0 && bytes.Contains(line[u:], []byte(" id=")) {
		s.extOnly++ // conntrack -o id prints id= after use=
	}
	if bytes.Contains(line, []byte(" stream_timeout=")) || bytes.Contains(line, []byte("unknown  33 ")) ||
		bytes.Contains(line, []byte("unknown  47 ")) || bytes.Contains(line, []byte("unknown  132 ")) {
		s.procOnly++
	}
	rest := line
	for {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			break
		}
		if v, ok := bytes.CutPrefix(f, []byte("src=")); ok && bytes.IndexByte(v, ':') >= 0 {
			if len(v) == 39 && !bytes.Contains(v, []byte("::")) {
				s.ipv6Exp++
			} else {
				s.ipv6Comp++
			}
		}
	}
}

// decide turns the sniffed lines and the input's name into a format.
func (s *sniffResult) decide(name string, sawBytes bool) Format {
	// Loss markers and expectation lines accompany events: they decide
	// nothing unless they are all there is.
	companion := func(k lineKind) bool {
		return k == kindNone || k == kindOther || k == kindEventLoss || k == kindExpect
	}
	total := 0
	for k, n := range s.kinds {
		if !companion(k) {
			total += n
		}
	}
	if s.jsonArr {
		return FormatJSON
	}
	if total == 0 && s.kinds[kindEventLoss]+s.kinds[kindExpect] > 0 {
		if s.kinds[kindEventLoss] > 0 || s.kinds[kindExpect] > 0 && s.expectEvents {
			return FormatEvents
		}
		return FormatExpect
	}
	if total == 0 {
		if !sawBytes || s.kinds[kindOther] == 0 {
			return FormatEmpty
		}
		return FormatUnknown
	}
	distinct := 0
	var only lineKind
	for k, n := range s.kinds {
		if n > 0 && !companion(k) {
			distinct++
			only = k
		}
	}
	// A stats file is a header and rows; rows alone are not a format.
	if s.kinds[kindStatHead] > 0 && distinct == 2 && s.kinds[kindStatRow] > 0 {
		return FormatProcStat
	}
	if distinct > 1 {
		return FormatMixed
	}
	switch only {
	case kindFlow:
		return s.flowFormat(name)
	case kindEvent:
		return FormatEvents
	case kindStatHead:
		return FormatProcStat
	case kindStats:
		return FormatStats
	case kindCount:
		if _, ok := sysctlNameFromPath(name); ok {
			return FormatSysctlFile
		}
		return FormatCount
	case kindSysctl:
		return FormatSysctl
	case kindKernelLog:
		return FormatKernelLog
	case kindJSON:
		return FormatJSONL
	case kindSlab:
		return FormatSlabinfo
	}
	return FormatUnknown
}

// flowFormat tells /proc from conntrack -L -o extended: IPv6 spelling first,
// then fields only one of them prints, then zone= (the kernel prints zone=0,
// conntrack-tools omits it), then the file name.
func (s *sniffResult) flowFormat(name string) Format {
	if s.flowL3 == 0 {
		return FormatConntrack
	}
	switch {
	case s.ipv6Exp > 0 && s.ipv6Comp == 0:
		return FormatProc
	case s.ipv6Comp > 0:
		return FormatExtended
	case s.extOnly > 0:
		return FormatExtended
	case s.procOnly > 0:
		return FormatProc
	case s.zone == s.flows && s.flows > 0:
		return FormatProc
	case s.zone == 0 && s.flows > 0:
		return FormatExtended
	}
	base := strings.ToLower(filepath.Base(name))
	if strings.Contains(base, "extended") || strings.Contains(base, "conntrack-l") {
		return FormatExtended
	}
	return FormatProc
}

// StyleFor returns the entry style a flow format is written in.
func StyleFor(f Format) Style {
	switch f {
	case FormatExtended:
		return StyleExtended
	case FormatConntrack:
		return StyleConntrack
	}
	return StyleProc
}

// isExpectRest: what follows an expectation's timeout, in conntrack -L
// expect ("proto=6 src=...") or /proc/net/nf_conntrack_expect ("l3proto = 2
// proto=47 src=...").
func isExpectRest(b []byte) bool {
	return bytes.HasPrefix(b, []byte("proto=")) || bytes.HasPrefix(b, []byte("l3proto = "))
}
