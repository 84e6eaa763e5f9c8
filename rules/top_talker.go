package rules

func topTalker() Rule {
	return Rule{
		ID:       TopTalker,
		Title:    "One peer or port holds the table",
		Severity: SeverityInfo,
		Pattern:  "One source address holding most of the table and still growing (a client opening connections in a loop); or one source, destination or destination port holding most of a big or filling table.",
		Explanation: `When one address or port owns most entries, that is who fills the table: a
client opening connections in a loop, a scanner, a misbehaving service, or just
the dominant service of the box. A destination or port that owns the table is
usually the box's job (a DNS resolver's port 53, a proxy's backend) and is named
for information; a single source whose entries keep rising is a client out of
control. The finding names it so that limits and NOTRACK can be aimed.`,
		Levels: []Level{
			{SeverityInfo, "one source, destination or destination port holds min_share of a table of min_entries or more"},
			{SeverityWarning, "one source holds min_share of the table and its entries rose at every sample (three samples or more) by min_rise or more in all; or any key holds min_share while the table is above table-full's warn_utilisation"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_share", UnitShare, 0.5, "Half of the entries from one source, to one destination or to one port."},
			{"min_entries", UnitCount, 1000, "Below a thousand entries a table fills nothing: a small table is often all one client, and that is fine (a database's pool, a web server behind one load balancer)."},
			{"min_rise", UnitCount, 100, "A source whose entries rose at every sample by this many in all is opening connections faster than they end; a steady client (a pool, a load balancer in steady state) does not rise at every sample."},
		},
		Remedies: []Remedy{
			{ID: "show", Title: "See its entries",
				Commands: `ctdiag list -c {{.Filter}}
conntrack -L {{.Filter}}`},
			{ID: "limit", Title: "Limit a single source",
				Commands: `nft add table inet ctdiag_limit
nft add chain inet ctdiag_limit in '{ type filter hook input priority filter; }'
nft add chain inet ctdiag_limit fwd '{ type filter hook forward priority filter; }'
nft add rule inet ctdiag_limit in {{.SaddrMatch}} ct count over {{.Limit}} drop
nft add rule inet ctdiag_limit fwd {{.SaddrMatch}} ct count over {{.Limit}} drop`,
				Note: limitNote},
			{ID: "limit-nft", Title: "Limit a single source",
				Commands: `nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftIn}} {{.SaddrMatch}} ct count over {{.Limit}} drop
nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftFwd}} {{.SaddrMatch}} ct count over {{.Limit}} drop`,
				Note: limitNote},
			{ID: "limit-iptables", Title: "Limit a single source",
				Commands: `{{.Iptables}} -I INPUT -s {{.Key}} -m connlimit --connlimit-above {{.Limit}} --connlimit-mask {{.MaskBits}} -j DROP
{{.Iptables}} -I FORWARD -s {{.Key}} -m connlimit --connlimit-above {{.Limit}} --connlimit-mask {{.MaskBits}} -j DROP`,
				Note: limitNote},
		},
		References: []string{refConntrack, "nftables wiki, \"Meters\" and ct count"},
	}
}

const limitNote = `Only if {{.Key}} should not hold that many: this caps its concurrent connections at
{{.Limit}} (twice the next busiest source, at least 1000).`
