package track

import (
	"fmt"
	"math/bits"
	"strings"
)

// Status is the entry's status bitset (enum ip_conntrack_status, docs/KERNEL.md §3).
type Status uint32

// The 16 kernel status bits (__IPS_MAX_BIT = 16).
const (
	StatusExpected     Status = 1 << iota // created from an expectation
	StatusSeenReply                       // a reply-direction packet was accepted
	StatusAssured                         // protected from early drop
	StatusConfirmed                       // inserted into the table
	StatusSrcNAT                          // reply tuple changed by source NAT
	StatusDstNAT                          // reply tuple changed by destination NAT
	StatusSeqAdjust                       // TCP sequence adjustment (helpers)
	StatusSrcNATDone                      // source-NAT setup ran (also null bindings)
	StatusDstNATDone                      // destination-NAT setup ran
	StatusDying                           // removed from the table
	StatusFixedTimeout                    // timeout never refreshed by packets
	StatusTemplate                        // template conntrack, never in the table
	StatusUntracked                       // obsolete in uapi; IPS_NAT_CLASH in-kernel
	StatusHelper                          // helper attached explicitly
	StatusOffload                         // offloaded to a software flowtable
	StatusHWOffload                       // offloaded to hardware

	// StatusNATClash is the in-kernel reuse of the UNTRACKED bit for entries
	// inserted by clash resolution (docs/KERNEL.md §4.6).
	StatusNATClash = StatusUntracked
	// StatusNATMask is SRC_NAT | DST_NAT.
	StatusNATMask = StatusSrcNAT | StatusDstNAT
)

var statusNames = [16]string{
	"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
	"SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
	"TEMPLATE", "UNTRACKED", "HELPER", "OFFLOAD", "HW_OFFLOAD",
}

// Expected reports IPS_EXPECTED: the entry came from an expectation.
func (s Status) Expected() bool { return s&StatusExpected != 0 }

// SeenReply reports IPS_SEEN_REPLY: a reply was accepted ([UNREPLIED] if not).
func (s Status) SeenReply() bool { return s&StatusSeenReply != 0 }

// Assured reports IPS_ASSURED: the entry is protected from early drop.
func (s Status) Assured() bool { return s&StatusAssured != 0 }

// Confirmed reports IPS_CONFIRMED: the entry is in the table.
func (s Status) Confirmed() bool { return s&StatusConfirmed != 0 }

// Offloaded reports IPS_OFFLOAD or IPS_HW_OFFLOAD.
func (s Status) Offloaded() bool { return s&(StatusOffload|StatusHWOffload) != 0 }

// Names returns the names of the set bits, lowest first. Bits above 15 are
// named "BIT_n".
func (s Status) Names() []string {
	var out []string
	for v := uint32(s); v != 0; v &= v - 1 {
		i := bits.TrailingZeros32(v)
		if i < len(statusNames) {
			out = append(out, statusNames[i])
		} else {
			out = append(out, fmt.Sprintf("BIT_%d", i))
		}
	}
	return out
}

// String joins Names with "|", or "0" when no bit is set.
func (s Status) String() string {
	if s == 0 {
		return "0"
	}
	return strings.Join(s.Names(), "|")
}

// ParseStatusBit returns the bit for a kernel name ("ASSURED", with or
// without the "IPS_" prefix; "NAT_CLASH" is accepted for bit 12).
func ParseStatusBit(name string) (Status, bool) {
	name = strings.TrimPrefix(strings.ToUpper(name), "IPS_")
	if name == "NAT_CLASH" {
		return StatusNATClash, true
	}
	for i, n := range statusNames {
		if n == name {
			return Status(1) << i, true
		}
	}
	return 0, false
}
