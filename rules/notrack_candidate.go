package rules

func notrackCandidate() Rule {
	return Rule{
		ID:       NotrackCandidate,
		Title:    "A busy service conntrack could leave alone",
		Severity: SeverityInfo,
		Pattern:  "A TCP or UDP destination port whose short-lived entries (TCP TIME_WAIT and CLOSE, UDP not ASSURED) make a large share of a big table and arrive fast, whose entries are never translated, for which no NAT rule and no conntrack-state rule names the port, and which no NOTRACK rule covers yet.",
		Explanation: `Every new connection costs conntrack an entry, a hash insertion and a slot of
nf_conntrack_max until it expires: a closed TCP connection stays 120 s in TIME_WAIT, a
UDP request 30 s. For a high-rate service that needs no translation and no stateful
filtering (a DNS resolver, NTP, a metrics or health-check endpoint), that is all cost:
a NOTRACK rule in a raw-priority chain (before conntrack looks packets up) keeps its
packets out of the table. The arrival rate is worked out from the entries: TIME_WAIT
entries divided by the TIME_WAIT timeout, unassured UDP entries by the UDP timeout.`,
		Levels: []Level{
			{SeverityInfo, "a port's short-lived entries are min_share or more of a table of min_entries or more and arrive at min_rate or more, with no NAT and no state rule for the port"},
			{SeverityWarning, "the same while the table is above table-full's warn_utilisation"},
		},
		Needs: []Input{InputTable | InputRuleset},
		Params: []Param{
			{"min_share", UnitShare, 0.2, "A fifth of the table for one port is what a NOTRACK rule would give back; below that the gain does not repay another rule to keep."},
			{"min_entries", UnitCount, 1000, "Below a thousand entries the table costs nothing worth a rule."},
			{"min_rate", UnitRate, 10, "Ten new connections a second to one port is a busy service (a resolver, a health-checked endpoint), not a few clients."},
		},
		Remedies: notrackRemedies("Do not track it",
			`{{.Proto}}/{{.Port}}: {{.Rate}} new connections a second, {{.Share}} of the table; none translated, and no NAT
or state rule names the port.{{.StateNote}} `+notrackNote),
		References: []string{refNotrack, refIptExt, refKernel + " §1.3"},
	}
}
