package rules

func halfAssured() Rule {
	return Rule{
		ID:       HalfAssured,
		Title:    "Handshakes stay half-open",
		Severity: SeverityWarning,
		Pattern:  "TCP entries that saw a reply but never became [ASSURED] (SYN_RECV above all), older than a round trip: many to one service, a real share of the table, or rising. UDP is not counted: the kernel assures UDP only after a 2-second stream (docs/KERNEL.md §2.3), so short UDP exchanges are always in this state and harmless.",
		Explanation: `An entry leaves SYN_RECV when the client's ACK (the third packet of the
handshake) passes; that ACK also makes it [ASSURED] (docs/KERNEL.md §1.11).
Entries that stay in SYN_RECV got the server's SYN-ACK but never the final ACK:
the SYN-ACK or the ACK is lost (asymmetric routing, a stateful device in between,
MTU), the client is gone, or the SYNs are spoofed (a SYN flood). Half-assured
entries are the first ones early drop evicts when the table is full.`,
		Levels: []Level{
			{SeverityWarning, "at least min_entries half-open TCP entries older than min_age to one service; or that many, spread, making min_share of the table; or rising at every sample by min_rise or more in all"},
			{SeverityCritical, "critical_entries or more: a flood or a broken return path affecting many clients"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_age", UnitDuration, 3, "SYN_RECV normally lasts one round trip; 3 s is far above any real one and past the first SYN-ACK retransmission (1 s)."},
			{"min_entries", UnitCount, 20, "As for syn-sent-growth: 20 concurrently stuck handshakes at one service are a problem, a few are noise (clients that give up mid-handshake); the healthy workloads of the calibration corpus have none older than 3 s."},
			{"min_share", UnitShare, 0.01, "Spread over many services, half-open handshakes count when they are this share of the table (and at least min_entries)."},
			{"min_rise", UnitCount, 10, "With three samples or more, a count that rose at every sample and by this many in all fires even below min_entries."},
			{"critical_entries", UnitCount, 1000, "At this many the finding is critical: a flood or a broken return path affecting many clients."},
		},
		Remedies: []Remedy{
			{ID: "show", Title: "See the half-open entries",
				Commands: `conntrack -L -p tcp --state SYN_RECV {{.PortFilter}}
ctdiag list -p tcp -u SEEN_REPLY,'!ASSURED' {{.PortFilter}}`},
			{ID: "confirm", Title: "Watch a handshake on the wire",
				Commands: `tcpdump -ni any 'host {{.Src}} and tcp port {{.DstPort}}'`,
				Note: `Look for the client's ACK after the SYN-ACK. If it never arrives here, the SYN-ACK
or the ACK is lost on the way (check the route back and rp_filter); if the sources
are many and random, the SYNs are spoofed.`},
			{ID: "route", Title: "Check the way back to the client",
				Commands: `ip route get {{.Src}}
sysctl net.ipv4.conf.all.rp_filter`},
			{ID: "flood", Title: "If it is a SYN flood",
				Commands: `sysctl -w net.ipv4.tcp_syncookies=1`,
				Note: `and consider SYNPROXY for port {{.DstPort}} (nft synproxy), which answers SYNs without
creating an entry until the handshake completes.`},
			{ID: "timeout", Title: "Shorten how long half-open handshakes hold a slot",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_recv={{.SuggestedTimeout}}`,
				Note:     `Each half-open handshake now holds its entry {{.Timeout}} s. {{.WhatIf}}`},
		},
		References: []string{refSysctlDoc, refKernel + " §1.11, §2.3", "RFC 4987, TCP SYN flooding attacks and common mitigations"},
	}
}
