package rules

func sysctlRisk() Rule {
	return Rule{
		ID:       SysctlRisk,
		Title:    "Conntrack settings that make trouble",
		Severity: SeverityInfo,
		Pattern:  "nf_conntrack_max far above nf_conntrack_buckets or beyond what the memory can hold, no limit at all, the 5-day established timeout on a box with churn, tcp_be_liberal on, accounting or timestamps off while idle connections need confirming.",
		Explanation: `Settings that are not wrong today but cause or hide trouble: long hash chains
(max much larger than buckets) cost CPU on every lookup and hit the chain
length limit (chaintoolong); nf_conntrack_max=0 means no limit at all; the
5-day established timeout keeps dead connections that long; tcp_be_liberal
accepts out-of-window packets (docs/KERNEL.md §2.2), hiding the resets and
INVALID drops that would show a broken path; without nf_conntrack_acct and
nf_conntrack_timestamp entries carry no counters or start time, so idle
connections and ages cannot be confirmed.`,
		Levels: []Level{
			{SeverityInfo, "the 5-day established timeout with churn and long-idle entries; accounting or timestamps off while idle entries need confirming"},
			{SeverityWarning, "no limit (nf_conntrack_max=0); more than max_per_bucket entries per hash bucket at the limit; tcp_be_liberal on; a full table would take more than max_memory_share of RAM; the 5-day established timeout keeping entries idle for more than a day that make dead_share of the table"},
		},
		Needs: []Input{InputSysctls},
		Params: []Param{
			{"max_per_bucket", UnitRatio, 4, "The kernel's default is one entry per bucket (hashsize= at boot gives 8); above 4 the average chain at a full table is 8 hash nodes (each entry is hashed twice)."},
			{"bytes_per_entry", UnitBytes, 383, "Kernel memory per entry (measured: slab 256 B + extensions 128 B), to price the limit when the source could not read /proc/slabinfo."},
			{"dead_share", UnitShare, 0.1, "Established entries idle for more than a day are kept by the 5-day timeout alone (no keepalive leaves a connection that silent); when they are a tenth of the table, the setting is filling it."},
			{"max_memory_share", UnitShare, 0.25, "A full table may take at most this share of RAM. The kernel's own default sizing gives one entry per 128 KiB of RAM (docs/KERNEL.md §4.1), far below 1 %; a limit that lets conntrack take a quarter of memory is set without regard to it, and a flood that fills it starves everything else."},
		},
		Remedies: []Remedy{
			{ID: "buckets", Title: "Grow the hash table to the limit",
				Commands: `echo {{.SuggestedBuckets}} > /sys/module/nf_conntrack/parameters/hashsize`,
				Note:     `nf_conntrack_max {{.Max}} over {{.Buckets}} buckets is {{.PerBucket}} entries per bucket.`},
			{ID: "unlimited", Title: "Set a limit",
				Commands: `sysctl -w net.netfilter.nf_conntrack_max={{.SuggestedMax}}`,
				Note:     `nf_conntrack_max=0 means no limit: the table grows until memory runs out. {{.SuggestedMax}} is {{.SuggestedReason}}.`},
			{ID: "established", Title: "Shorten the established timeout",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400`,
				Note:     `1 day still outlives TCP keepalive by far; 5 days keeps every dead connection.`},
			{ID: "liberal", Title: "Turn window checking back on",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=0`,
				Note:     `Unless a known broken middlebox needs it.`},
			{ID: "memory", Title: "Fit the limit to the memory",
				Commands: `sysctl -w net.netfilter.nf_conntrack_max={{.SuggestedMaxForMemory}}`,
				Note: `A full table at the current limit needs {{.FullTableMiB}} MiB of the {{.MemTotalMiB}} MiB of RAM;
{{.SuggestedMaxForMemory}} keeps it within the max_memory_share of this rule.`},
			{ID: "evidence", Title: "Record more evidence",
				Commands: `sysctl -w net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1`,
				Note:     `Only entries created afterwards carry counters and start times (docs/KERNEL.md §2.6).`},
		},
		References: []string{refSysctlDoc, refKernel + " §2.2, §2.6, §4.1, §4.5"},
	}
}
