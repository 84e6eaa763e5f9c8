package rules

func synSentGrowth() Rule {
	return Rule{
		ID:       SynSentGrowth,
		Title:    "SYNs are not answered",
		Severity: SeverityWarning,
		Pattern:  "TCP SYN_SENT [UNREPLIED] entries older than a round trip: many to one destination service, a real share of the table, or their number rising sample after sample.",
		Explanation: `A SYN_SENT entry exists from the first SYN until the SYN-ACK comes back. On a
working path that takes one round trip, so a healthy table holds few, young ones.
Entries older than a few seconds mean the SYN and its retransmissions got no
answer: the peer is down or silently not listening, a firewall drops the SYN, or
the SYN-ACK returns by another path (asymmetric routing behind a load balancer).
The kernel does not refresh the timeout on a retransmitted SYN (docs/KERNEL.md
§1.10), so each entry's age is exactly how long the client has been waiting.
Each one holds a slot for nf_conntrack_tcp_timeout_syn_sent (120 s).`,
		Levels: []Level{
			{SeverityWarning, "at least min_entries SYN_SENT entries older than min_age to one destination service; or that many, spread over destinations, making min_share of the table; or their number rising at every sample by min_rise or more in all"},
			{SeverityCritical, "critical_entries or more unanswered SYNs: an outage many clients see"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_age", UnitDuration, 3, "An entry younger than this may be a SYN still in flight. 3 s is longer than any real round trip and covers Linux's first SYN retransmission at 1 s: an older SYN_SENT has gone unanswered at least twice."},
			{"min_entries", UnitCount, 20, "Unanswered SYNs to one destination service (address and port) that make a finding. A few are the background of clients probing dead peers (the healthy NAT gateway of the calibration corpus holds 5 older than 3 s, 4 of them to one service); 20 concurrent unanswered attempts at one service are an outage, not noise."},
			{"min_share", UnitShare, 0.01, "Spread over many destinations, unanswered SYNs count when they are this share of the table (and at least min_entries): a network-wide problem or a scan, rather than one dead service."},
			{"min_rise", UnitCount, 10, "With three samples or more, a count that rose at every sample and by this many in all fires even below min_entries: the problem is getting worse now."},
			{"critical_entries", UnitCount, 1000, "At this many unanswered SYNs the finding is critical: a thousand connections hanging is a user-visible outage and a real share of a small table."},
		},
		Remedies: []Remedy{
			{ID: "show", Title: "See the waiting connections",
				Commands: `conntrack -L -p tcp --state SYN_SENT {{.Filter}}
ctdiag list -p tcp --state SYN_SENT -u UNREPLIED {{.Filter}}`},
			{ID: "confirm", Title: "Confirm on the wire that SYNs leave and nothing comes back",
				Commands: `tcpdump -ni any 'host {{.Dst}} and tcp port {{.DstPort}} and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'`,
				Note: `SYNs without a SYN-ACK: the peer or something on the way drops them. SYN-ACKs
seen on another interface than the SYNs left by: the return path is asymmetric.`},
			{ID: "path", Title: "Check the path and the peer",
				Commands: `ip route get {{.Dst}}`,
				Note: `Then check that {{.Dst}}:{{.DstPort}} is up and listening (a backend down behind a
load balancer, a security group or nft/iptables rule that drops SYNs).`},
			{ID: "timeout", Title: "Shorten how long unanswered SYNs hold a slot",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent={{.SuggestedTimeout}}`,
				Note: `Each unanswered SYN now holds its entry {{.Timeout}} s. A client still retrying creates a
fresh entry with its next SYN, so no working connection suffers. {{.WhatIf}}`},
		},
		References: []string{refSysctlDoc, refKernel + " §1.3, §1.10", refConntrack},
	}
}
