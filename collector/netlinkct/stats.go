package netlinkct

import (
	"fmt"

	"github.com/ctdiag/ctdiag/track"
)

// cpuStatsAttr maps CTA_STATS_* (enum ctattr_stats_cpu) to counters. Every
// attribute up to Linux 6.18 is here, including the ones ti-mo/conntrack
// drops (clash_resolve, chaintoolong) and the ones kernels since 5.x no
// longer send (searched, new, ignore, delete, delete_list).
var cpuStatsAttr = [...]track.Counter{
	1:  track.CounterSearched,
	2:  track.CounterFound,
	3:  track.CounterNew,
	4:  track.CounterInvalid,
	5:  track.CounterIgnore,
	6:  track.CounterDelete,
	7:  track.CounterDeleteList,
	8:  track.CounterInsert,
	9:  track.CounterInsertFailed,
	10: track.CounterDrop,
	11: track.CounterEarlyDrop,
	12: track.CounterError,
	13: track.CounterSearchRestart,
	14: track.CounterClashResolve,
	15: track.CounterChainTooLong,
}

// expectStatsAttr maps CTA_STATS_EXP_* (enum ctattr_expect_stats).
var expectStatsAttr = [...]track.Counter{
	1: track.CounterExpectNew,
	2: track.CounterExpectCreate,
	3: track.CounterExpectDelete,
}

// CPUStats decodes one message of a per-CPU statistics dump: conntrack's
// (IPCTNL_MSG_CT_GET_STATS_CPU) or, with expect set, the expectation
// statistics (IPCTNL_MSG_EXP_GET_STATS_CPU). The caller says which because
// the kernel answers the expectation request with messages of the
// conntrack subsystem (ctnetlink_exp_stat_fill_info uses
// NFNL_SUBSYS_CTNETLINK), so the message itself cannot tell. The CPU is the
// message's res_id. unknown lists attribute numbers this decoder does not
// know (a newer kernel's counters), so the caller can say so.
func CPUStats(m *Message, expect bool) (st track.CPUStats, unknown []uint16, err error) {
	table := cpuStatsAttr[:]
	if expect {
		table = expectStatsAttr[:]
	}
	st.CPU = int(m.ResID)
	a := newAttrs(m.Attrs)
	for a.next() {
		if a.typ == 0 || int(a.typ) >= len(table) {
			unknown = append(unknown, a.typ)
			continue
		}
		v := a.be32("statistic")
		if a.err != nil {
			break
		}
		st.Set(table[a.typ], uint64(v))
	}
	return st, unknown, a.err
}

// GlobalStats decodes the answer to IPCTNL_MSG_CT_GET_STATS: the namespace's
// entry count and, since Linux 4.18, nf_conntrack_max.
func GlobalStats(m *Message) (count, max uint64, hasMax bool, err error) {
	a := newAttrs(m.Attrs)
	hasCount := false
	for a.next() {
		switch a.typ {
		case ctaStatsGlobalEntries:
			count, hasCount = uint64(a.be32("entries")), true
		case ctaStatsGlobalMaxEntries:
			max, hasMax = uint64(a.be32("max entries")), true
		}
	}
	if a.err != nil {
		return 0, 0, false, a.err
	}
	if !hasCount {
		return 0, 0, false, fmt.Errorf("%w: global statistics without an entry count", ErrMalformed)
	}
	return count, max, hasMax, nil
}
