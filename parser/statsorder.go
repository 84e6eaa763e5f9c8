package parser

import (
	"slices"

	"github.com/ctdiag/ctdiag/track"
)

// ConntrackStatsOrder lists the counters in the order conntrack -S prints
// them (conntrack -S expect's with expect).
func ConntrackStatsOrder(expect bool) []track.Counter {
	if expect {
		return slices.Clone(conntrackExpectStatsOrder)
	}
	return slices.Clone(conntrackStatsOrder)
}
