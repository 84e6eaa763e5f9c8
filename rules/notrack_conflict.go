package rules

func notrackConflict() Rule {
	return Rule{
		ID:       NotrackConflict,
		Title:    "A NOTRACK rule takes traffic that NAT or a state rule needs",
		Severity: SeverityWarning,
		Pattern:  "A NOTRACK rule (notrack, -j CT --notrack, -j NOTRACK) whose protocol, addresses and ports overlap those of a NAT rule (snat, dnat, masquerade, redirect), or of a rule matching conntrack state for the same ports.",
		Explanation: `Untracked packets have no conntrack entry: NAT never applies to them (a DNAT to a
backend or a masquerade silently stops for that traffic) and ct state matches see only
"untracked", so a "ct state established accept" or "--ctstate NEW" rule for those ports
no longer matches and the packets fall through to whatever comes after (often a drop
policy). NOTRACK is for traffic that needs neither; added for a busy port, it breaks
whatever NAT or stateful rule also covers that port, without an error anywhere.`,
		Levels: []Level{
			{SeverityWarning, "a NOTRACK rule overlaps a NAT rule, or a conntrack-state rule naming the same ports (their counters say whether traffic meets both)"},
		},
		Needs: []Input{InputRuleset},
		Remedies: []Remedy{
			{ID: "delete-nft", Title: "Take the NOTRACK rule back, or narrow it",
				Commands: `nft delete rule {{.Family}} {{.Table}} {{.Chain}} handle {{.Handle}}`,
				Note:     conflictNote},
			{ID: "delete-nft-find", Title: "Take the NOTRACK rule back, or narrow it",
				Commands: `nft -a list chain {{.Family}} {{.Table}} {{.Chain}}`,
				Note: `Find the rule's handle in that listing, then nft delete rule {{.Family}} {{.Table}} {{.Chain}} handle HANDLE.
` + conflictNote},
			{ID: "delete-iptables", Title: "Take the NOTRACK rule back, or narrow it",
				Commands: `{{.Iptables}} -t {{.Table}} -D {{.Chain}} {{.Position}}`,
				Note:     conflictNote},
		},
		References: []string{refNotrack, refIptExt, "Kubernetes issue 98758 and Calico issue 2609: NOTRACK rules that silently stop NAT or policy"},
	}
}

const conflictNote = `{{.Notrack}} takes {{.What}} out of conntrack, which {{.Needs}} needs. Delete it, or
narrow it (addresses, ports, interfaces) so that it leaves that traffic tracked.`
