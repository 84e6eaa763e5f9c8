package rules

func tableFull() Rule {
	return Rule{
		ID:       TableFull,
		Title:    "The table is full or filling",
		Severity: SeverityWarning,
		Pattern:  "count/max high, the drop and early_drop counters increasing, kernel log \"nf_conntrack: table full, dropping packet\" (\"… in netns N …\" for a namespace), a table pinned at a limit sample after sample, or a table growing toward its limit fast enough to reach it within the hour.",
		Explanation: `When a new connection finds count ≥ nf_conntrack_max, the kernel evicts
non-ASSURED entries near the new one's hash bucket (early_drop); if it finds
none, it drops the packet (drop), logs "table full, dropping packet", and the
client sees a timeout (docs/KERNEL.md §4.2, §4.3). Once the table is 95 % full
the garbage collector also drops ASSURED TCP entries that are already closing.
The others (ASSURED, not closing) are never evicted, so the real headroom is
max minus them, not max minus count. The limit is global but counted per network namespace. A table whose
size stays exactly at one value while packets are dropped was at its limit then,
even if the limit read later is higher (it was raised since).`,
		Levels: []Level{
			{SeverityWarning, "entries the kernel never evicts at warn_kept_share of the limit or more; utilisation at or above warn_utilisation; or the table forecast to be full within warn_time_to_full at its recent growth (rising at every sample), once it is projection_min_utilisation full, or accumulation_min_utilisation full when it keeps what it gains; or drops counted since the counters started (one reading)"},
			{SeverityCritical, "utilisation at or above critical_utilisation; drop or early_drop rising between samples; \"table full\" kernel-log lines; a table pinned at its limit"},
		},
		Needs: []Input{InputLimit, InputStats, InputKernelLog},
		Params: []Param{
			{"warn_kept_share", UnitShare, 0.8, "Entries the kernel never evicts (ASSURED, not closing) holding 80 % of nf_conntrack_max leave a burst (a reconnect storm, a scan) nothing to take from: early drop finds no victim and new connections are dropped. node_exporter-style alerts use 75–90 % of the raw count; ctdiag counts what cannot be given back, so a busy resolver or web server whose table is mostly answered DNS or TIME_WAIT (evictable) is not alarmed at 80 % (the healthy L captures of the corpus sit at 76–80 %)."},
			{"warn_utilisation", UnitShare, 0.9, "At 90 % of nf_conntrack_max, even of evictable entries, the kernel is one burst away from evicting at random (early drop) and, at 95 %, from its collector dropping closing connections: a warning."},
			{"critical_utilisation", UnitShare, 0.95, "At 95 % the table is effectively full: early drop is about to start."},
			{"warn_time_to_full", UnitDuration, 3600, "With timed samples, a table forecast to be full within an hour (at the growth of its last samples) fires even below warn_utilisation: that is how long someone has to act."},
			{"projection_min_utilisation", UnitShare, 0.5, "A table that sheds entries as it gains them (churn) settles below its limit however fast it grows for a moment (a deploy, a reconnect): its forecast counts only once it is half full."},
			{"accumulation_min_utilisation", UnitShare, 0.1, "A table that keeps what it gains (of the entries followed from one sample to the next, fewer leave than half as many as arrive, and few enough that they live five minutes or more on average) grows until it is full, so its forecast counts sooner: from a tenth full. Below that, a few seconds of growth are too little to say a table of this size will fill (a burst of a thousand held connections is not a trend)."},
			{"bytes_per_entry", UnitBytes, 383, "Kernel memory per entry, measured on the development kernel (6.18): slab object 256 B + extensions 128 B. Used to price a larger limit."},
		},
		Remedies: append([]Remedy{
			{ID: "raise", Title: "Raise the limit, knowing the memory cost",
				Commands: `sysctl -w net.netfilter.nf_conntrack_max={{.SuggestedMax}}
echo 'net.netfilter.nf_conntrack_max = {{.SuggestedMax}}' > /etc/sysctl.d/90-conntrack.conf`,
				Note: `{{.SuggestedMax}} is {{.SuggestedReason}}; at {{.BytesPerEntry}} B per entry a full table costs
{{.SuggestedMaxMiB}} MiB of kernel memory.`},
			{ID: "measure", Title: "Read the limit and the count",
				Commands: `sysctl net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_count
conntrack -S`,
				Note: `What was read does not say how large the limit is: read it, then raise it to about
twice the largest count the table reaches (ctdiag report with the sysctls prices it).`},
			{ID: "buckets", Title: "Keep the hash table up with the limit",
				Commands: `echo {{.SuggestedBuckets}} > /sys/module/nf_conntrack/parameters/hashsize`,
				Note:     `{{.BucketsReason}}`},
			{ID: "raised", Title: "The limit was raised since",
				Note: `The limit read last is {{.Max}}, above the {{.Plateau}} entries the table was pinned at:
it was raised after the drops. It covers {{.Covers}}; persist it in
/etc/sysctl.d/ so a reboot does not bring the old limit back.`},
			{ID: "who", Title: "See who fills the table",
				Commands: `ctdiag list -c {{.TopFilter}}
conntrack -L {{.TopFilter}}`,
				Note: `{{.TopDimension}} {{.TopKey}} holds {{.TopCount}} entries ({{.TopShare}} of the table).`},
			{ID: "timewait", Title: "Let closed connections go sooner",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait={{.SuggestedTimeout}}`,
				Note: `TIME_WAIT entries are {{.TimeWaitShare}} of the table. The TCP stack keeps TIME_WAIT 60 s;
conntrack's {{.Timeout}} s adds nothing. {{.WhatIf}}`},
			{ID: "shorten", Title: "Shorten what dominates",
				Commands: `ctdiag rules explain {{.DominantRule}}`,
				Note:     `{{.Dominant}} entries are {{.DominantShare}} of the table: see what rule {{.DominantRule}} says.`},
		}, notrackRemedies("Do not track traffic that needs no state",
			"{{.Proto}}/{{.Port}} holds {{.PortShare}} of the table. Only if it needs neither NAT nor stateful\nfiltering (DNS to a local resolver, NTP, health checks). "+notrackNote)...),
		References: []string{refSysctlDoc, refKernel + " §4.1–§4.4", refNotrack},
	}
}
