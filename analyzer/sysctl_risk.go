package analyzer

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// sysctlRisk: settings that cause or hide trouble (rules/sysctl_risk.go).
func (a *Analyzer) sysctlRisk(t timeline, sum *Summary) *Finding {
	sys := track.LayerSysctls(t.sysctls(), a.opts.Sysctls)
	if len(sys) == 0 {
		return nil
	}
	sev := rules.SeverityNone
	var why []string
	var ids []string
	data := map[string]any{}
	hit := func(s rules.Severity, id, reason string) {
		if s > sev {
			sev = s
		}
		why = append(why, reason)
		ids = append(ids, id)
	}
	limit, hasMax := sys.Int("nf_conntrack_max")
	buckets, hasBuckets := sys.Int("nf_conntrack_buckets")
	bytesPer := a.entryBytes(t, rules.SysctlRisk)
	l := t.last()
	if hasMax && limit == 0 {
		switch mem := t.memTotal(); {
		case l.meta.HasTable:
			data["SuggestedMax"] = roundUp(max(uint64(2*l.entries), 65536), 65536)
			data["SuggestedReason"] = fmt.Sprintf("twice the %d entries the table holds, at least 65536", l.entries)
		case mem > 0:
			def := kernelDefaultMax(mem)
			data["SuggestedMax"] = def
			data["SuggestedReason"] = fmt.Sprintf("what the kernel itself would choose for %d MiB of RAM", mem>>20)
		}
		hit(rules.SeverityWarning, "unlimited", "nf_conntrack_max=0: no limit at all")
	}
	if hasMax && hasBuckets && limit > 0 && buckets > 0 {
		per := float64(limit) / float64(buckets)
		data["Max"], data["Buckets"], data["PerBucket"] = limit, buckets, strconv.FormatFloat(per, 'f', 1, 64)
		data["SuggestedBuckets"] = roundUp(uint64(limit), 512)
		if per > a.param(rules.SysctlRisk, "max_per_bucket") {
			hit(rules.SeverityWarning, "buckets", fmt.Sprintf("nf_conntrack_max %d over %d buckets: %.1f entries per bucket", limit, buckets, per))
		}
	}
	if est, ok := sys.Int("nf_conntrack_tcp_timeout_established"); ok && est >= 432000 {
		churn := l.tcpCount(track.TCPTimeWait) > 0 || l.ruleGroup(rules.CloseGrowth) > 0 || sum.NewBetween > 0 || sum.GoneBetween > 0
		if churn && l.idle.count > 0 {
			// The setting is a warning where it already shapes the table:
			// dead connections it keeps are a real share of it.
			sev := rules.SeverityInfo
			if l.share(l.idleOver[0]) >= a.param(rules.SysctlRisk, "dead_share") {
				sev = rules.SeverityWarning
			}
			hit(sev, "established", fmt.Sprintf("established timeout %s with connection churn: %d entries idle longer than a day (%s of the table) are kept only by it",
				human.Seconds(float64(est)), l.idleOver[0], human.Percent(l.share(l.idleOver[0]))))
		}
	}
	if v, ok := sys.Int("nf_conntrack_tcp_be_liberal"); ok && v != 0 {
		hit(rules.SeverityWarning, "liberal", "nf_conntrack_tcp_be_liberal=1: out-of-window packets are accepted")
	}
	// Accounting and timestamps off is the kernel default and harmless in
	// itself: it is a finding only when it leaves something unconfirmed
	// (idle connections that counters would prove dead); otherwise the
	// summary notes it.
	acct, _ := sys.Int("nf_conntrack_acct")
	ts, _ := sys.Int("nf_conntrack_timestamp")
	if _, ok := sys.Get("nf_conntrack_acct"); ok && (acct == 0 || ts == 0) && l.idle.count > 0 && l.acct == 0 {
		hit(rules.SeverityInfo, "evidence", fmt.Sprintf("accounting %s, timestamps %s: the %d idle ESTABLISHED entries cannot be confirmed dead from their counters", onOff(acct), onOff(ts), l.idle.count))
	}
	if entryBytes := a.entryBytes(t, rules.SysctlRisk); hasMax && limit > 0 {
		if mem := t.memTotal(); mem > 0 {
			need := float64(limit) * entryBytes
			data["MemTotalMiB"] = int(mem >> 20)
			data["FullTableMiB"] = int(math.Ceil(need / (1 << 20)))
			allowed := a.param(rules.SysctlRisk, "max_memory_share") * float64(mem)
			data["SuggestedMaxForMemory"] = roundDown(uint64(allowed/entryBytes), 1024)
			if need > allowed {
				hit(rules.SeverityWarning, "memory", fmt.Sprintf("a full table (nf_conntrack_max %d × %.0f B) would take %s of the %d MiB of RAM", limit, entryBytes, human.Percent(need/float64(mem)), mem>>20))
			}
		}
	}
	if sev == rules.SeverityNone {
		return nil
	}
	f := &Finding{Severity: sev, Summary: strings.Join(why, "; ")}
	if hasMax && limit > 0 {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"kernel memory at nf_conntrack_max",
			fmt.Sprintf("%.0f MiB (%d entries × %.0f B)", float64(limit)*bytesPer/(1<<20), limit, bytesPer)})
	}
	for _, w := range why {
		f.Evidence.Figures = append(f.Evidence.Figures, Figure{"check", w})
	}
	f.Remedies = a.remedies(rules.SysctlRisk, data, ids...)
	return f
}

// kernelDefaultMax is the limit the kernel picks by itself for a machine
// with mem bytes of RAM on 64-bit (docs/KERNEL.md §4.1): one entry per
// 128 KiB, 65536 above 1 GiB, 262144 above 4 GiB, at least 1024, a
// multiple of 512.
func kernelDefaultMax(mem uint64) uint64 {
	n := mem / 131072
	switch {
	case mem > 4<<30:
		n = 262144
	case mem > 1<<30:
		n = 65536
	}
	return roundUp(max(n, 1024), 512)
}
