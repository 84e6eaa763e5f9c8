package rules

func invalidDropped() Rule {
	return Rule{
		ID:       InvalidDropped,
		Title:    "Packets conntrack marks INVALID: dropped, or passed on untranslated",
		Severity: SeverityInfo,
		Pattern:  "The counters of ct state invalid drop rules (-m conntrack --ctstate INVALID -j DROP) rising from sample to sample, beside the kernel's invalid statistic; or, with no such rule, NAT rules in the ruleset, nf_conntrack_tcp_be_liberal 0 and invalid rising.",
		Explanation: `Conntrack marks a packet INVALID when it cannot place it in a connection: a TCP segment
outside the window it expects (a retransmission after the entry moved on, a reordered or
late segment, asymmetric routing), a malformed header, an ICMP error about nothing it
knows (docs/KERNEL.md §2). An INVALID packet has no entry, so NAT never touches it: a
reply from a DNAT backend goes on with the backend's address, an answer to a masqueraded
client with the masquerade address, and the host that receives it answers with a reset
that kills the real connection ("connection reset by peer" in the client). A ct state
invalid drop rule stops that, and its counter says how often it happens; the kernel's
invalid statistic counts them too, whether a rule drops them or not.`,
		Levels: []Level{
			{SeverityInfo, "the INVALID-drop rules' counters rose by min_dropped or more between samples (or hold min_dropped since they were loaded, with one reading)"},
			{SeverityWarning, "they rose at warn_rate per second or more; or no rule drops INVALID packets while the ruleset translates addresses, nf_conntrack_tcp_be_liberal is 0 and invalid rose by min_invalid or more between samples: those packets go on untranslated and draw resets"},
		},
		Needs: []Input{InputRuleset},
		Params: []Param{
			{"min_dropped", UnitCount, 10, "A handful of late segments after a connection ends is ordinary; ten or more between two samples is a pattern worth naming."},
			{"warn_rate", UnitRate, 10, "Ten dropped packets a second on a rule that should rarely fire means some path keeps producing them (asymmetric routing, an offload or a middlebox rewriting sequence numbers)."},
			{"min_invalid", UnitCount, 10, "With NAT and no INVALID-drop rule, each invalid packet may reach a host untranslated and draw a reset; ten between two samples is more than stray packets."},
		},
		Remedies: []Remedy{
			{ID: "log", Title: "See which packets are INVALID and why",
				Commands: `sysctl -w net.netfilter.nf_conntrack_log_invalid={{.LogProto}}
dmesg -w | grep nf_ct_proto`,
				Note: `The kernel logs each INVALID packet of that protocol with the reason (e.g. "SEQ is over
upper bound"); set it back to 0 afterwards.`},
			{ID: "drop", Title: "Drop INVALID packets before they draw resets",
				Commands: `nft add table inet ctdiag_invalid
nft add chain inet ctdiag_invalid in '{ type filter hook input priority filter; }'
nft add chain inet ctdiag_invalid fwd '{ type filter hook forward priority filter; }'
nft add rule inet ctdiag_invalid in ct state invalid counter drop
nft add rule inet ctdiag_invalid fwd ct state invalid counter drop`,
				Note: dropInvalidNote},
			{ID: "drop-nft", Title: "Drop INVALID packets before they draw resets",
				Commands: `nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftIn}} ct state invalid counter drop
nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftFwd}} ct state invalid counter drop`,
				Note: dropInvalidNote},
			{ID: "drop-iptables", Title: "Drop INVALID packets before they draw resets",
				Commands: `{{.Iptables}} -I INPUT -m conntrack --ctstate INVALID -j DROP
{{.Iptables}} -I FORWARD -m conntrack --ctstate INVALID -j DROP`,
				Note: dropInvalidNote},
		},
		References: []string{refKernel + " §2", refIptExt, "Kubernetes issue 74839: connection reset by peer from out-of-window packets behind NAT (kube-proxy's INVALID drop rule)"},
	}
}

const dropInvalidNote = `{{.Invalid}} packets were INVALID between the samples and no rule drops them while the ruleset
translates addresses. kube-proxy does the same (its KUBE-FORWARD chain drops INVALID); its
other choice, nf_conntrack_tcp_be_liberal=1, accepts out-of-window segments instead and
hides what this rule shows.`
