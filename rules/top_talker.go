package rules

func topTalker() Rule {
	return Rule{
		ID:       TopTalker,
		Title:    "One peer or port holds the table",
		Severity: SeverityInfo,
		Pattern:  "One source address holding most of the table and a larger share of it at every sample (a client opening connections in a loop); one source holding most of a big table; or one source, destination or destination port holding most of a filling table.",
		Explanation: `When one address or port owns most entries, that is who fills the table: a
client opening connections in a loop, a scanner, a misbehaving service, or just
the dominant service of the box. A destination or port that owns the table is
usually the box's job (a DNS resolver's port 53, a proxy's backend), and a
single source holding a steady share is often a load balancer: both are named
for information. A single source whose share keeps rising, crowding out the
others, is a client out of control. The finding names it so that limits and NOTRACK can be aimed.`,
		Levels: []Level{
			{SeverityInfo, "one source holds min_share of a table of min_entries or more (a destination or port owning the table is the box's own job: a server is the destination of all its connections)"},
			{SeverityWarning, "one source holds min_share of the table and took a larger share of it at every sample (three samples or more), gaining min_share_gain of the table and min_rise entries or more in all; or any key holds min_share while the table is pressed as table-full judges it (warn_utilisation, warn_kept_share)"},
		},
		Needs: []Input{InputTable},
		Params: []Param{
			{"min_share", UnitShare, 0.5, "Half of the entries from one source, to one destination or to one port."},
			{"min_entries", UnitCount, 1000, "Below a thousand entries a table fills nothing: a small table is often all one client, and that is fine (a database's pool, a web server behind one load balancer)."},
			{"min_rise", UnitCount, 100, "The entries a source must gain over the last samples: fewer are a client's ordinary burst."},
			{"min_share_gain", UnitShare, 0.1, "The share of the table a source must gain over the last samples. A client in a loop crowds the others out, so its share keeps rising; a load balancer or an application server that holds most of a table (all of it, behind a single load balancer) holds a steady share, however its traffic grows."},
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
