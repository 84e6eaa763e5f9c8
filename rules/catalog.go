package rules

// Rule ids, stable: configs, scripts, alerts and JSON reports use them.
const (
	SynSentGrowth     = "syn-sent-growth"
	HalfAssured       = "half-assured"
	StuckEstablished  = "stuck-established"
	CloseGrowth       = "close-growth"
	TableFull         = "table-full"
	InvalidStaleTuple = "invalid-stale-tuple"
	InsertFailed      = "insert-failed"
	StaleUDP          = "stale-udp"
	TopTalker         = "top-talker"
	SysctlRisk        = "sysctl-risk"

	// Rules that read the firewall ruleset beside the table.
	SNATPortExhaustion  = "snat-port-exhaustion"
	NATPortRangeOverlap = "nat-port-range-overlap"
	InvalidDropped      = "invalid-dropped"
	NotrackConflict     = "notrack-conflict"
	NotrackCandidate    = "notrack-candidate"
	ConntrackUnneeded   = "conntrack-unneeded"
)

// References used by several rules. Kernel facts are cited from the
// project's own docs/KERNEL.md (sections as §N.N), which gives the kernel
// source for each.
const (
	refSysctlDoc = "Linux Documentation/networking/nf_conntrack-sysctl.rst (the conntrack sysctls and their defaults)"
	refKernel    = "ctdiag docs/KERNEL.md (conntrack's behaviour on Linux 6.18, with kernel sources)"
	refConntrack = "conntrack(8): the -L filters used above, from conntrack-tools"
	refNotrack   = "nftables wiki, \"Setting packet connection tracking metainformation\": notrack in a raw-priority chain"
	refNAT       = "nftables wiki, \"Performing Network Address Translation (NAT)\": masquerade, snat, port ranges and the random, fully-random and persistent flags"
	refIptExt    = "iptables-extensions(8): MASQUERADE/SNAT --to-ports, --random-fully; CT --notrack; conntrack --ctstate"
)

// Catalog returns every rule, in the order reports list them. Each rule is
// defined in a file of its own (syn_sent_growth.go, …), beside which the
// analyzer keeps its evaluation (analyzer/syn_sent_growth.go, …).
func Catalog() []Rule {
	return []Rule{
		synSentGrowth(),
		halfAssured(),
		stuckEstablished(),
		closeGrowth(),
		tableFull(),
		invalidStaleTuple(),
		insertFailed(),
		staleUDP(),
		topTalker(),
		sysctlRisk(),
		snatPortExhaustion(),
		natPortRangeOverlap(),
		invalidDropped(),
		notrackConflict(),
		notrackCandidate(),
		conntrackUnneeded(),
	}
}

// Lookup returns the rule with the given id.
func Lookup(id string) (Rule, bool) {
	for _, r := range Catalog() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// notrackCommands is the raw-table NOTRACK rule set for one port, in nft,
// for remedies that propose it ({{.Proto}} and {{.Port}} filled in). Both
// directions on both hooks: the same commands are right on the server
// (queries in, answers out), on a client (queries out, answers in) and on a
// router (prerouting sees both).
const notrackCommands = `nft add table inet ctdiag_raw
nft add chain inet ctdiag_raw pre '{ type filter hook prerouting priority raw; }'
nft add chain inet ctdiag_raw out '{ type filter hook output priority raw; }'
nft add rule inet ctdiag_raw pre {{.Proto}} dport {{.Port}} notrack
nft add rule inet ctdiag_raw pre {{.Proto}} sport {{.Port}} notrack
nft add rule inet ctdiag_raw out {{.Proto}} dport {{.Port}} notrack
nft add rule inet ctdiag_raw out {{.Proto}} sport {{.Port}} notrack`

// notrackNftCommands inserts the NOTRACK rules at the top of the host's
// own raw-priority chains (nft), found in its ruleset.
const notrackNftCommands = `nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftPre}} {{.Proto}} dport {{.Port}} notrack
nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftPre}} {{.Proto}} sport {{.Port}} notrack
nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftOut}} {{.Proto}} dport {{.Port}} notrack
nft insert rule {{.NftFamily}} {{.NftTable}} {{.NftOut}} {{.Proto}} sport {{.Port}} notrack`

// notrackIptablesCommands is the same in iptables syntax: the raw table's
// PREROUTING and OUTPUT chains always exist.
const notrackIptablesCommands = `{{.Iptables}} -t raw -I PREROUTING -p {{.Proto}} --dport {{.Port}} -j CT --notrack
{{.Iptables}} -t raw -I PREROUTING -p {{.Proto}} --sport {{.Port}} -j CT --notrack
{{.Iptables}} -t raw -I OUTPUT -p {{.Proto}} --dport {{.Port}} -j CT --notrack
{{.Iptables}} -t raw -I OUTPUT -p {{.Proto}} --sport {{.Port}} -j CT --notrack`

// notrackRemedies are a NOTRACK remedy in the three spellings the
// analyzer chooses from by the host's ruleset: "notrack" (nft, a table of
// its own; when the ruleset is not known or has no raw chains),
// "notrack-nft" (the host's raw-priority chains), "notrack-iptables"
// (iptables-nft or iptables-legacy hosts).
func notrackRemedies(title, note string) []Remedy {
	return []Remedy{
		{ID: "notrack", Title: title, Commands: notrackCommands, Note: note},
		{ID: "notrack-nft", Title: title, Commands: notrackNftCommands, Note: note},
		{ID: "notrack-iptables", Title: title, Commands: notrackIptablesCommands, Note: note},
	}
}

// notrackNote is what a NOTRACK remedy must warn about.
const notrackNote = `Untracked packets match "ct state untracked": stateful rules must accept them, and
NAT no longer applies to them (check with ctdiag ruleset before pasting).`
