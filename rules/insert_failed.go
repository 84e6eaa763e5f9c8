package rules

func insertFailed() Rule {
	return Rule{
		ID:       InsertFailed,
		Title:    "Insertions fail: clashes, not a full table",
		Severity: SeverityInfo,
		Pattern:  "insert_failed or clash_resolve increasing while the table is not full; UDP/53 entries present (the DNS A/AAAA race) or reply tuples rewritten by SNAT.",
		Explanation: `Two packets of the same new flow processed at once on two CPUs both create an
entry; the second one to be confirmed clashes (docs/KERNEL.md §4.6). For UDP the
kernel resolves most clashes (clash_resolve); what it cannot resolve is dropped
(insert_failed). glibc sends the A and AAAA queries of one lookup from the same
socket at the same moment: the classic 5-second DNS timeouts. SNAT picking the
same port for two clients at once fails the same way. None of this is a full
table, and raising nf_conntrack_max does not help.`,
		Levels: []Level{
			{SeverityInfo, "clash_resolve rising by min_clash_rate per second, or counted since the counters started in a single reading: the race happens, the kernel resolves it"},
			{SeverityWarning, "insert_failed rising by min_insert_failed or more between samples, or counted since the counters started in a single reading: packets dropped that were not a full table"},
		},
		Needs: []Input{InputStats},
		Params: []Param{
			{"min_insert_failed", UnitCount, 1, "Any insert_failed between samples is a dropped packet that was not a full table."},
			{"min_clash_rate", UnitRate, 1, "clash_resolve per second: resolved clashes cost nothing per se, but at this rate failures follow."},
		},
		Remedies: append([]Remedy{
			{ID: "dns-dnat", Title: "Stop the DNS race behind a DNAT",
				Note: `{{.DNSDNAT}} of the UDP/53 entries are translated to a DNS server by {{.DNATRule}}:
the A and AAAA queries race in that translation, and NOTRACK would break it (untracked
packets are never translated). In /etc/resolv.conf of the clients: options
single-request-reopen (or single-request), so A and AAAA go one after the other; or a
node-local DNS cache the clients reach without DNAT (Kubernetes: NodeLocal DNSCache);
or DNS over TCP.`},
			{ID: "dns-clients", Title: "Stop the DNS race at the clients",
				Note: `UDP/53 is NOTRACKed already for part of its traffic. In /etc/resolv.conf of the clients:
options single-request-reopen (or single-request), so A and AAAA go one after the other;
or a node-local DNS cache, or DNS over TCP.`},
			{ID: "snat", Title: "Avoid SNAT port collisions",
				Note: `masquerade random-fully (iptables: -j MASQUERADE --random-fully), or more addresses in
the SNAT pool.`},
			{ID: "show", Title: "Watch the counters per CPU",
				Commands: `conntrack -S`,
				Note:     `insert_failed {{.InsertFailed}} and clash_resolve {{.ClashResolve}} in what was read{{.TableNote}}.`},
		}, dnsRemedies()...),
		References: []string{refKernel + " §4.5, §4.6", "\"Racy conntrack and DNS lookup timeouts\", Weaveworks blog (2018)", "resolv.conf(5): single-request, single-request-reopen"},
	}
}

// dnsRemedies: the DNS race stopped at the clients, or by not tracking
// DNS (in the host's syntax, see notrackRemedies).
func dnsRemedies() []Remedy {
	out := notrackRemedies("Stop the DNS race", `In /etc/resolv.conf of the clients: options single-request-reopen (or single-request), so
A and AAAA go one after the other; or a node-local DNS cache, or DNS over TCP. Or,
as above, do not track DNS at all (it needs no state). `+notrackNote)
	for i := range out {
		out[i].ID = "dns" + out[i].ID[len("notrack"):]
	}
	return out
}
