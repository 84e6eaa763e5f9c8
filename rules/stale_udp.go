package rules

func staleUDP() Rule {
	return Rule{
		ID:       StaleUDP,
		Title:    "UDP clients stuck on an untranslated service address",
		Severity: SeverityWarning,
		Pattern:  "UDP entries to a service address and port whose reply tuple was never translated, while other entries to the same address and port are (DNAT), and whose timeout keeps being refreshed; with the ruleset, UDP entries translated to a backend that no current DNAT rule for the service targets any more.",
		Explanation: `NAT is decided on a flow's first packet (docs/KERNEL.md §7.3). A UDP client that
keeps sending to a service address while the service has no backend gets an
entry without DNAT; the client keeps refreshing it (30 s, or 120 s once
replied), so after the backend is back every packet of that flow still goes to
the dead address: a black hole until the client changes source port.
The same holds when the DNAT rule changes: an entry made while the rule pointed at
one backend keeps that backend for as long as its client keeps sending, even after
the rule points elsewhere and the old backend is gone. kube-proxy deletes such
entries when a service's endpoints change; when that fails, this is what remains.`,
		Levels: []Level{
			{SeverityWarning, "min_entries or more untranslated UDP entries to a service that other entries reach translated; or, with the ruleset, min_entries or more translated to a backend no current rule for the service targets"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_entries", UnitCount, 1, "One black-holed client is already a user with a broken service."},
		},
		Remedies: []Remedy{
			{ID: "show", Title: "See them next to the translated ones",
				Commands: `ctdiag list -p udp -d {{.Dst}} --dport {{.DstPort}} -o extended`,
				Note:     `Untranslated entries have reply src {{.Dst}}, translated ones a backend address.`},
			{ID: "delete", Title: "Delete the stale entries (ctdiag never does this)",
				Commands: `conntrack -D -p udp -d {{.Dst}} --dport {{.DstPort}} -r {{.Dst}}`,
				Note:     `This deletes only entries whose reply still comes from the service address itself.`},
			{ID: "delete-backend", Title: "Delete the entries that still go to the old backend (ctdiag never does this)",
				Commands: `conntrack -D -p udp -d {{.Dst}} --dport {{.DstPort}} -r {{.Backend}}`,
				Note: `{{.Rule}} now translates {{.Dst}}:{{.DstPort}} to {{.Now}}; these entries keep {{.Backend}}:{{.BackendPort}}
until their clients stop sending for the UDP timeout.`},
			{ID: "prevent", Title: "Make it not happen again",
				Note: `Check that kube-proxy (or whatever programs the DNAT) runs and can delete
conntrack entries (it needs the conntrack tool in its image). Clients that change
source port on retry (a new socket per query) recover by themselves.`},
		},
		References: []string{refKernel + " §7.3", refConntrack, "Kubernetes issues 125467 and 139628: UDP entries to deleted service endpoints"},
	}
}
