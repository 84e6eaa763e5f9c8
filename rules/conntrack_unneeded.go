package rules

func conntrackUnneeded() Rule {
	return Rule{
		ID:       ConntrackUnneeded,
		Title:    "Connections are tracked that no rule needs",
		Severity: SeverityInfo,
		Pattern:  "A table with entries while no rule of the ruleset matches conntrack state, translates addresses, assigns a helper or zone or writes conntrack data (and no rule that could hide such a match was left partly decoded).",
		Explanation: `Conntrack costs an entry per connection and a lookup per packet. Since Linux 4.10 it
tracks a network namespace only while something there needs it: a rule matching ct
state, NAT, a helper or zone, or something outside the ruleset (IPVS with
net.ipv4.vs.conntrack=1, Open vSwitch ct(), tc's ct action, a flowtable). A table with
entries and a ruleset that needs none of it is either tracking for one of those, or
holding what rules removed since left behind (those expire by themselves). If nothing
else needs it, connections need not be tracked at all: the fix for a full table is then
to stop tracking rather than to raise the limit. Nothing the ruleset does would stop
working; ctdiag and conntrack -L would see no entries.`,
		Levels: []Level{
			{SeverityInfo, "the table holds min_entries or more entries while no rule needs conntrack"},
		},
		Needs: []Input{InputTable | InputRuleset},
		Params: []Param{
			{"min_entries", UnitCount, 1, "An empty table is what a namespace whose rules need no tracking has; any entry then comes from something else."},
		},
		Remedies: []Remedy{
			{ID: "who", Title: "See what else holds conntrack",
				Commands: `lsmod | grep -E '^(nf_conntrack|nf_nat|xt_conntrack|xt_CT|nft_ct|ip_vs|openvswitch|act_ct|nf_flow_table)'
sysctl net.ipv4.vs.conntrack`,
				Note: `The "Used by" column names the modules that hold nf_conntrack. {{.Entries}} entries are in the
table{{.StateNote}}.`},
			{ID: "stop", Title: "Stop tracking",
				Note: `Nothing in the ruleset needs conntrack ({{.Rules}} rules read). If the modules above show no other
user, the entries left expire within their timeouts and the namespace stays untracked; a
module that is loaded but unused costs nothing per packet. What would stop working: no
rule of this ruleset, but IPVS with net.ipv4.vs.conntrack=1, Open vSwitch ct() actions,
tc ct and flowtables need it.`},
		},
		References: []string{refKernel + " §4", "Linux 4.10, \"netfilter: conntrack: register hooks in netns when needed by ruleset\" (nf_ct_netns_get)"},
	}
}
