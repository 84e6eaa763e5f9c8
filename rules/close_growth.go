package rules

func closeGrowth() Rule {
	return Rule{
		ID:       CloseGrowth,
		Title:    "Closing connections pile up",
		Severity: SeverityWarning,
		Pattern:  "TCP entries in CLOSE_WAIT or LAST_ACK (one side stopped answering), CLOSE (connections reset) or FIN_WAIT (FINs not acknowledged), making a real share of the table at some sample or rising sample after sample. TIME_WAIT is not counted: on a busy server it is most of the table and harmless; it matters only when the table is filling (table-full says so).",
		Explanation: `After a connection closes, its entry lingers: TIME_WAIT 120 s, FIN_WAIT 120 s,
CLOSE_WAIT 60 s, LAST_ACK 30 s, CLOSE 10 s. TIME_WAIT holds rate × timeout
entries and is what a healthy busy server looks like. The others are transient
on a healthy host: CLOSE_WAIT and LAST_ACK piling up mean one side closed and the
other never finished (an application that does not close its sockets, a peer
that went away: a "reverse SYN flood" of half-dead connections); CLOSE entries
piling up mean connections end in resets (RST storms: a crashing backend, a
firewall or load balancer killing flows, port scans); FIN_WAIT piling up means
FINs go unacknowledged.`,
		Levels: []Level{
			{SeverityWarning, "one kind (CLOSE_WAIT/LAST_ACK, CLOSE or FIN_WAIT) with at least min_entries entries that are min_share of the table at some sample, or rising at every sample by min_rise or more in all"},
			{SeverityCritical, "those entries hold critical_share of nf_conntrack_max"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_entries", UnitCount, 20, "The noise floor for each kind: a few entries in these states are ordinary (a connection caught mid-close)."},
			{"min_share", UnitShare, 0.1, "One of these kinds making a tenth of the table is not transient any more; in the healthy corpus (web server with keep-alive and TIME_WAIT churn, DNS, idle pool, NAT gateway) they stay below 2 %."},
			{"min_rise", UnitCount, 20, "With three samples or more: rising at every sample, by this many in all, fires even below min_share."},
			{"critical_share", UnitShare, 0.5, "Half of nf_conntrack_max in these states is critical."},
		},
		Remedies: append([]Remedy{
			{ID: "show", Title: "See them",
				Commands: `conntrack -L -p tcp --state {{.State}} {{.Filter}}
ctdiag list -p tcp --state {{.States}} {{.Filter}} -o extended`},
			{ID: "closewait", Title: "Find who stops answering",
				Commands: `ss -tnp state close-wait`,
				Note: `{{.CloseWait}} CLOSE_WAIT and {{.LastAck}} LAST_ACK entries: one side closed and the other did
not finish. Run ss on the host that owns {{.Service}}: sockets stuck in CLOSE-WAIT
there belong to an application that does not close them (ss -p names it).`},
			{ID: "resets", Title: "See who resets connections",
				Commands: `tcpdump -ni any 'tcp[tcpflags] & tcp-rst != 0{{.PortMatch}}'`,
				Note: `{{.Close}} entries were in CLOSE (reset) at the peak. Resets from the server side: a
crashing or overloaded backend; from the client side: aborted requests; from the
middle (both addresses spoofed by a device): a firewall or load balancer killing flows.`},
		}, notrackRemedies("Do not track high-churn traffic that needs no state",
			"Only if port {{.Port}} needs neither NAT nor stateful filtering (a local health check,\na high-rate internal API). "+notrackNote)...),
		References: []string{refSysctlDoc, refKernel + " §1.3, §2.1", refNotrack},
	}
}
