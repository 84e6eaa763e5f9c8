package rules

func snatPortExhaustion() Rule {
	return Rule{
		ID:       SNATPortExhaustion,
		Title:    "Source NAT runs out of ports to one destination",
		Severity: SeverityWarning,
		Pattern:  "Source-NATed entries, TIME_WAIT included, counted per protocol, translated source address, destination address and destination port, against the ports the SNAT or MASQUERADE rule that made them allows (--to-ports, masquerade to :A-B; 1024-65535 when it gives none), with insert_failed and drop rising beside them.",
		Explanation: `Every connection a SNAT or MASQUERADE rule translates needs a reply tuple of its own:
protocol, translated address and port, destination address and port must be unique. To
one destination, one address and a range of N ports therefore carry at most N
connections at a time, and an entry in TIME_WAIT still holds its port for its 120 s.
When the ports are taken, the kernel tries up to 128 of them, finds no free tuple, and
the new connection's first packet is dropped when its entry is confirmed (insert_failed
and drop rise): the client's SYN goes unanswered and connect() times out. On its last
attempts the kernel may take over a port held by a TIME_WAIT entry when the new SYN's
sequence number is past the old connection's; ports of connections still open are never
taken. A narrow --to-ports range, one masquerade address and many short connections to
one service (a database, an API, DNS) are how this happens.`,
		Levels: []Level{
			{SeverityWarning, "one destination's entries take warn_share or more of the ports its source NAT rule allows"},
			{SeverityCritical, "connections still open (not closing) take every port the rule allows to one destination; or insert_failed or drop rose by min_failures or more between samples while one destination takes warn_share of its ports"},
		},
		Needs: []Input{InputTable | InputRuleset},
		Params: []Param{
			{"warn_share", UnitShare, 0.8, "A range four-fifths used to one destination has a fifth left for the next burst, and with more than 128 ports the kernel tries only some of them (128, then 64, 32, 16 at random): failures begin before the last port is taken."},
			{"min_failures", UnitCount, 1, "Any insert_failed or drop between samples while a range is nearly used up is a connection that could not be translated."},
		},
		Remedies: []Remedy{
			{ID: "show", Title: "See the connections that hold the ports",
				Commands: `conntrack -L -p {{.Proto}} -r {{.Dst}} --reply-port-src {{.DstPort}} -q {{.SNATAddr}}
ctdiag list -c -p {{.Proto}} -r {{.Dst}} --reply-port-src {{.DstPort}} -q {{.SNATAddr}}`,
				Note: `{{.Entries}} entries to {{.Dst}}:{{.DstPort}} translated to {{.SNATAddr}} ({{.TimeWait}} of them TIME_WAIT or CLOSE), in the {{.PortCount}} ports {{.Ports}}.`},
			{ID: "widen-nft", Title: "Widen the range (and spread the ports)",
				Commands: `nft replace rule {{.Family}} {{.Table}} {{.Chain}} handle {{.Handle}} {{.NewRule}}`,
				Note:     widenNote},
			{ID: "widen-nft-find", Title: "Widen the range (and spread the ports)",
				Commands: `nft -a list chain {{.Family}} {{.Table}} {{.Chain}}`,
				Note: `The rule has no handle in what was read: find it in that listing, then
nft replace rule {{.Family}} {{.Table}} {{.Chain}} handle HANDLE {{.NewRule}}
` + widenNote},
			{ID: "widen-iptables", Title: "Widen the range (and spread the ports)",
				Commands: `{{.Iptables}} -t {{.Table}} -R {{.Chain}} {{.Position}} {{.NewSpec}}`,
				Note:     widenNote},
			{ID: "addresses", Title: "Add addresses",
				Note: `Each address added to the mapping (snat to A-B, iptables --to-source A-B) carries {{.PortCount}} more
connections to each destination; a masquerade uses the one address of its interface.`},
		},
		References: []string{refKernel + " §7", refNAT, refIptExt},
	}
}

// widenNote explains the rule a widen remedy writes.
const widenNote = `The rule now allows {{.Ports}} ({{.PortCount}} ports) and {{.Entries}} entries use
them to one destination. The new range, {{.NewPorts}}, is {{.NewReason}}{{.FlagNote}}.`
