package rules

func stuckEstablished() Rule {
	return Rule{
		ID:       StuckEstablished,
		Title:    "Established connections pile up silent",
		Severity: SeverityInfo,
		Pattern:  "ESTABLISHED [ASSURED] entries that carry no packets: followed from sample to sample, their remaining timeout only ever decreases (every accepted packet would reset it), their number keeps rising and none of them closes; or, in one sample, entries idle for hours (idle age = established timeout − remaining timeout).",
		Explanation: `Every packet of an established connection resets its timeout to
nf_conntrack_tcp_timeout_established, 5 days by default (docs/KERNEL.md §1.10), so
the remaining timeout tells how long the entry has been silent, and from one
sample to the next a timeout that went down by the time in between means not a
single packet passed. Connections that open, go silent and are never closed
pile up: a connection-pool or client leak, or dead peers whose FIN or RST
conntrack never saw (the peer vanished, or a load balancer or NAT in between
timed out first). A pool of idle connections that stays the same size is
normal; one that only grows is not. These entries are ASSURED: early drop never
evicts them, so they fill the table until their 5 days are up.`,
		Levels: []Level{
			{SeverityInfo, "min_entries or more entries idle longer than min_idle (long-lived silent connections, often harmless)"},
			{SeverityWarning, "ESTABLISHED [ASSURED] entries rising at every sample (three samples or more) by min_rise or more in all, while at least min_silent_share of those followed from the previous sample saw no packet and at most max_close_share of them closed; or long-idle entries making warn_share of the table"},
			{SeverityCritical, "at the rate they grow, the silent entries alone reach nf_conntrack_max within critical_time_to_full; or long-idle entries hold critical_share of nf_conntrack_max"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_idle", UnitDuration, 10800, "3 h: longer than Linux's default TCP keepalive detection (first probe after 2 h, 9 probes 75 s apart, about 2 h 11 min). A connection idle longer than that has no live socket using default keepalive at either end."},
			{"min_entries", UnitCount, 100, "How many long-idle entries make an (informational) finding: a handful of long idle sessions (an SSH left open) are normal."},
			{"warn_share", UnitShare, 0.1, "Long-idle entries making a tenth of the table are what the table is made of: a warning."},
			{"min_rise", UnitCount, 20, "Established entries must rise by at least this many over the last samples (and at every sample) to be a leak; a pool of steady size does not rise at every sample."},
			{"min_silent_share", UnitShare, 0.9, "A leak's connections carry nothing after their handshake: at least this share of the established entries followed from one sample to the next must have seen no packet (their timeout went down). A busy pool or keep-alive traffic refreshes most of its entries between samples."},
			{"max_close_share", UnitShare, 0.05, "A leak closes nothing: when more than this share of the silent entries of one sample are gone or closing by the next, connections are being recycled (keep-alive churn), not leaked."},
			{"critical_time_to_full", UnitDuration, 3600, "Silent ASSURED entries cannot be evicted: when their growth reaches nf_conntrack_max within an hour, new connections will be dropped soon."},
			{"critical_share", UnitShare, 0.5, "When long-idle entries are half of nf_conntrack_max or more, they are what fills the table: critical."},
		},
		Remedies: []Remedy{
			{ID: "show", Title: "See the silent connections",
				Commands: `ctdiag list -p tcp --state ESTABLISHED -u ASSURED {{.Filter}} -o extended
conntrack -L -p tcp --state ESTABLISHED {{.Filter}}`,
				Note: `The oldest has been idle {{.OldestIdle}}. On the endpoints, compare with their sockets
(ss -tno state established): entries with no socket behind them are dead connections.`},
			{ID: "leak", Title: "Find who opens connections and leaves them",
				Commands: `conntrack -L -p tcp --state ESTABLISHED {{.Filter}} -s {{.Src}}`,
				Note: `{{.Silent}} silent connections to {{.Service}}, none of them closing; the clients holding
most: {{.Clients}}. On those clients, ss -tnp state established '( dport = :{{.DstPort}} )'
names the process: a connection pool or a client that opens connections without
reusing or closing them.`},
			{ID: "timeout", Title: "Let dead connections expire sooner",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established={{.SuggestedTimeout}}`,
				Note: `Live connections that use TCP keepalive (first probe after 2 h by default) refresh their
entry long before. {{.WhatIf}}`},
			{ID: "keepalive", Title: "Make applications notice dead peers",
				Note: `Enable TCP keepalive in the applications on port {{.DstPort}} (SO_KEEPALIVE), with
net.ipv4.tcp_keepalive_time below the conntrack timeout, so dead connections are
closed with a RST that conntrack sees.`},
		},
		References: []string{refSysctlDoc, refKernel + " §1.10, §4.3", "tcp(7): tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes"},
	}
}
