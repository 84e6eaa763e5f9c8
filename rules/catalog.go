package rules

// Rule ids, stable: configs, scripts and JSON reports use them.
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
)

// References used by several rules.
const (
	refSysctlDoc = "Linux Documentation/networking/nf_conntrack-sysctl.rst (the conntrack sysctls and their defaults)"
	refSpec      = "ctdiag conntrack semantics spec (../shared/spec/conntrack-semantics.md)"
	refConntrack = "conntrack(8): the -L filters used above, from conntrack-tools"
	refNotrack   = "nftables wiki, \"Setting packet connection tracking metainformation\": notrack in a raw-priority chain"
)

// Catalog returns every rule, in the order reports list them.
func Catalog() []Rule {
	return []Rule{
		{
			ID:       SynSentGrowth,
			Title:    "SYNs are not answered",
			Severity: SeverityWarning,
			Pattern:  "TCP SYN_SENT [UNREPLIED] entries older than a round trip, many of them, or their number growing across samples.",
			Explanation: `A SYN_SENT entry exists from the first SYN until the SYN-ACK comes back. On a
working path that takes one round trip, so a healthy table holds few, young ones.
Entries older than a few seconds mean the SYN and its retransmissions got no
answer: the peer is down or not listening silently, a firewall drops the SYN,
or the SYN-ACK returns by another path (asymmetric routing behind a load
balancer). The kernel does not refresh the timeout on a retransmitted SYN
(spec §1.10), so each entry's age is exactly how long the client has been
waiting. Each one holds a slot for nf_conntrack_tcp_timeout_syn_sent (120 s).`,
			Params: []Param{
				{"min_age", UnitDuration, 3, "An entry younger than this may be a SYN still in flight. 3 s is longer than any real round trip and covers Linux's first SYN retransmission at 1 s: an older SYN_SENT has gone unanswered at least twice."},
				{"min_entries", UnitCount, 20, "How many unanswered SYNs make a finding. A few are the background noise of clients probing dead peers; 20 concurrent unanswered connection attempts are an outage somewhere, not noise."},
				{"min_growth", UnitRate, 1, "With timed samples, a growth of the SYN_SENT count by this many entries per second (sustained over the samples) fires even below min_entries: the problem is getting worse now."},
				{"critical_entries", UnitCount, 1000, "At this many unanswered SYNs the finding is critical: a thousand connections hanging is a user-visible outage and a real share of a small table."},
			},
			Remedies: []Remedy{
				{"show", "See the waiting connections", `conntrack -L -p tcp --state SYN_SENT -d {{.Dst}}
ctdiag list -p tcp --state SYN_SENT -u UNREPLIED -d {{.Dst}} --dport {{.DstPort}}`},
				{"confirm", "Confirm on the wire that SYNs leave and nothing comes back", `tcpdump -ni any 'host {{.Dst}} and tcp port {{.DstPort}} and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'
SYNs without a SYN-ACK: the peer or something on the way drops them. SYN-ACKs
seen on another interface than the SYNs left by: the return path is asymmetric.`},
				{"path", "Check the path and the peer", `ip route get {{.Dst}}
Then check that {{.Dst}}:{{.DstPort}} is up and listening (a backend down behind a
load balancer, a security group or nft/iptables rule that drops SYNs).`},
				{"timeout", "Shorten how long unanswered SYNs hold a slot", `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent={{.SuggestedTimeout}}
Now each unanswered SYN holds its entry {{.Timeout}} s; with {{.SuggestedTimeout}} s the table
would hold about {{.PredictedEntries}} of them instead of {{.Count}}. A client still retrying
creates a fresh entry with its next SYN, so no working connection suffers.`},
			},
			References: []string{refSysctlDoc, refSpec + " §1.3, §1.10", refConntrack},
		},
		{
			ID:       HalfAssured,
			Title:    "Handshakes stay half-open",
			Severity: SeverityWarning,
			Pattern:  "TCP entries that saw a reply but never became [ASSURED] (SYN_RECV above all), older than a round trip, many or growing. UDP is not counted: since 5.x the kernel assures UDP only after a 2-second stream (spec §2.3), so short UDP exchanges are always in this state and harmless.",
			Explanation: `An entry leaves SYN_RECV when the client's ACK (the third packet of the
handshake) passes; that ACK also makes it [ASSURED] (spec §1.11). Entries that
stay in SYN_RECV got the server's SYN-ACK but never the final ACK: the SYN-ACK
or the ACK is lost (asymmetric routing, a stateful device in between, MTU), the
client is gone, or the SYNs are spoofed (a SYN flood). Half-assured entries are
the first ones early drop evicts when the table is full.`,
			Params: []Param{
				{"min_age", UnitDuration, 3, "SYN_RECV normally lasts one round trip; 3 s is far above any real one and past the first SYN-ACK retransmission (1 s)."},
				{"min_entries", UnitCount, 20, "As for syn-sent-growth: 20 concurrently stuck handshakes are a problem, a few are noise (clients that give up mid-handshake)."},
				{"min_growth", UnitRate, 1, "With timed samples, growth of this many stuck entries per second fires even below min_entries."},
				{"critical_entries", UnitCount, 1000, "At this many the finding is critical: a flood or a broken return path affecting many clients."},
			},
			Remedies: []Remedy{
				{"show", "See the half-open entries", `conntrack -L -p tcp --state SYN_RECV --dport {{.DstPort}}
ctdiag list -p tcp -u SEEN_REPLY,'!ASSURED' --dport {{.DstPort}}`},
				{"confirm", "Watch a handshake on the wire", `tcpdump -ni any 'host {{.Src}} and tcp port {{.DstPort}}'
Look for the client's ACK after the SYN-ACK. If it never arrives here, the SYN-ACK
or the ACK is lost on the way (check the route back: ip route get {{.Src}}; rp_filter);
if the sources are many and random, the SYNs are spoofed.`},
				{"flood", "If it is a SYN flood", `sysctl -w net.ipv4.tcp_syncookies=1
and consider SYNPROXY for port {{.DstPort}} (nft synproxy), which answers SYNs without
creating an entry until the handshake completes.`},
				{"timeout", "Shorten how long half-open handshakes hold a slot", `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_recv={{.SuggestedTimeout}}
Now {{.Timeout}} s each; with {{.SuggestedTimeout}} s about {{.PredictedEntries}} would be held instead of {{.Count}}.`},
			},
			References: []string{refSysctlDoc, refSpec + " §1.11, §2.3", "RFC 4987, TCP SYN flooding attacks and common mitigations"},
		},
		{
			ID:       StuckEstablished,
			Title:    "Established connections sit idle in the table",
			Severity: SeverityInfo,
			Pattern:  "ESTABLISHED [ASSURED] entries that have seen no packet for a long time: idle age = established timeout − remaining timeout (every accepted packet resets it), and, with accounting on, packet counters unchanged between samples.",
			Explanation: `Every packet of an established connection resets its timeout to
nf_conntrack_tcp_timeout_established, 5 days by default, so the remaining timeout
tells how long the entry has been silent. Long-silent entries are usually dead
connections whose FIN or RST conntrack never saw: the peer vanished, or a load
balancer or NAT in between timed out first. They stay 5 days and, on a busy
gateway, fill the table; being ASSURED, early drop never evicts them.`,
			Params: []Param{
				{"min_idle", UnitDuration, 10800, "3 h: longer than Linux's default TCP keepalive detection (first probe after 2 h, 9 probes 75 s apart, about 2 h 11 min). A connection idle longer than that has no live socket using default keepalive at either end."},
				{"min_entries", UnitCount, 100, "How many such entries make a finding: a handful of long idle sessions (an SSH left open) are normal."},
				{"critical_share", UnitShare, 0.5, "When idle entries are half of nf_conntrack_max or more, they are what fills the table: critical."},
			},
			Remedies: []Remedy{
				{"show", "See the idle connections", `ctdiag list -p tcp --state ESTABLISHED -u ASSURED --dport {{.DstPort}} -o extended
The oldest has been idle {{.OldestIdle}}; compare with the sockets on the endpoints:
ss -tno state established '( dport = :{{.DstPort}} or sport = :{{.DstPort}} )'
Entries with no socket behind them are dead connections.`},
				{"timeout", "Let dead connections expire sooner", `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established={{.SuggestedTimeout}}
{{.ExpireAtSuggested}} of the {{.Count}} idle entries are idle longer than that and would expire.
Live connections that use TCP keepalive (first probe after 2 h by default) refresh
their entry long before.`},
				{"keepalive", "Make applications notice dead peers", `Enable TCP keepalive in the applications on port {{.DstPort}} (SO_KEEPALIVE), with
net.ipv4.tcp_keepalive_time below the conntrack timeout, so dead connections are
closed with a RST that conntrack sees.`},
			},
			References: []string{refSysctlDoc, refSpec + " §1.10", "tcp(7): tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes"},
		},
		{
			ID:       CloseGrowth,
			Title:    "Closing connections pile up",
			Severity: SeverityWarning,
			Pattern:  "TCP entries in TIME_WAIT, CLOSE, CLOSE_WAIT, FIN_WAIT and LAST_ACK taking a large share of nf_conntrack_max, or growing across samples.",
			Explanation: `After a connection closes, its entry lingers: TIME_WAIT 120 s, FIN_WAIT 120 s,
CLOSE_WAIT 60 s, LAST_ACK 30 s, CLOSE 10 s. With many short connections the
table holds rate × timeout of them; conntrack's 120 s TIME_WAIT is twice the TCP
stack's own 60 s. Many CLOSE_WAIT or LAST_ACK entries mean one side closed and
the other stopped answering ("reverse SYN flood" and half-dead peers); many
CLOSE entries mean connections end with RSTs.`,
			Params: []Param{
				{"min_share", UnitShare, 0.1, "Closing entries using 10 % of nf_conntrack_max crowd out real connections; below that, they are ordinary churn (a web server's TIME_WAIT entries are often most of a small table, and harmless)."},
				{"min_entries", UnitCount, 1000, "With timed samples, at least this many closing entries growing by min_growth per second also fire."},
				{"min_growth", UnitRate, 10, "Growth of closing entries per second, sustained over the samples."},
				{"critical_share", UnitShare, 0.5, "Half of the table in closing states is critical."},
			},
			Remedies: []Remedy{
				{"show", "See them by state", `ctdiag list -c -p tcp --state {{.State}}
conntrack -L -p tcp --state {{.State}} -d {{.Dst}}`},
				{"timewait", "Keep TIME_WAIT entries as long as TCP does", `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait={{.SuggestedTimeWait}}
The TCP stack keeps TIME_WAIT 60 s; conntrack's {{.TimeWaitTimeout}} s adds nothing. At the
observed {{.CloseRate}} closes per second the table would hold about {{.PredictedTimeWait}}
TIME_WAIT entries instead of {{.TimeWait}}.`},
				{"closewait", "Find who stops answering", `{{.CloseWait}} CLOSE_WAIT and {{.LastAck}} LAST_ACK entries: one side closed and the other
did not finish. On {{.Dst}}, an application that does not close its sockets shows here:
ss -tn state close-wait`},
				{"notrack", "Do not track high-churn traffic that needs no state", `If port {{.DstPort}} needs neither NAT nor stateful filtering (e.g. a local health
check or a high-rate internal API):
nft add table inet ctdiag_raw
nft add chain inet ctdiag_raw pre '{ type filter hook prerouting priority raw; }'
nft add chain inet ctdiag_raw out '{ type filter hook output priority raw; }'
nft add rule inet ctdiag_raw pre tcp dport {{.DstPort}} notrack
nft add rule inet ctdiag_raw out tcp sport {{.DstPort}} notrack
Untracked packets match ct state untracked: make sure stateful rules accept them.`},
			},
			References: []string{refSysctlDoc, refSpec + " §1.3, §2.1", refNotrack},
		},
		{
			ID:       TableFull,
			Title:    "The table is full or filling",
			Severity: SeverityWarning,
			Pattern:  "count/max high, the drop and early_drop counters increasing, kernel log \"nf_conntrack: table full, dropping packet\" (\"… in netns N …\" for a namespace).",
			Explanation: `When a new connection finds count ≥ nf_conntrack_max, the kernel evicts
non-ASSURED entries near the new one's hash bucket (early_drop); if it finds
none, it drops the packet (drop), logs "table full, dropping packet", and the
client sees a timeout (spec §4.2, §4.3). ASSURED entries are never evicted, so
the real headroom is max minus the assured entries, not max minus count. The
limit is global but counted per network namespace.`,
			Params: []Param{
				{"warn_utilisation", UnitShare, 0.8, "Above 80 % of nf_conntrack_max a burst (a reconnect storm, a scan) can fill the rest in seconds; node_exporter-style alerts use 75–90 %."},
				{"warn_time_to_full", UnitDuration, 3600, "With timed samples, a projected time to full under 1 h at the observed growth fires even below warn_utilisation."},
				{"projection_min_utilisation", UnitShare, 0.5, "The time-to-full projection is made only for a table at least half full whose size rose in each of three samples or more: a burst of new entries on an emptier table (a deploy, a reconnect) extrapolates to nonsense."},
				{"critical_utilisation", UnitShare, 0.95, "At 95 % the table is effectively full: early drop is about to start."},
				{"bytes_per_entry", UnitBytes, 383, "Kernel memory per entry, measured on the development kernel (6.18): slab object 256 B + extensions 128 B. Used to price a larger limit."},
			},
			Remedies: []Remedy{
				{"raise", "Raise the limit, knowing the memory cost", `sysctl -w net.netfilter.nf_conntrack_max={{.SuggestedMax}}
echo 'net.netfilter.nf_conntrack_max = {{.SuggestedMax}}' > /etc/sysctl.d/90-conntrack.conf
{{.SuggestedMax}} is {{.SuggestedReason}}; at {{.BytesPerEntry}} B per entry a full table costs {{.SuggestedMaxMiB}} MiB
of kernel memory. Keep the hash table large enough (buckets ≥ max/2):
echo {{.SuggestedBuckets}} > /sys/module/nf_conntrack/parameters/hashsize`},
				{"who", "See who fills the table", `{{.TopDimension}} {{.TopKey}} holds {{.TopCount}} entries ({{.TopShare}} of the table):
ctdiag list -c {{.TopFilter}}
conntrack -L {{.TopFilter}}`},
				{"notrack", "Do not track traffic that needs no state", `{{.TopPortProto}}/{{.TopPort}} holds {{.TopPortShare}} of the table. If it needs neither NAT nor stateful
filtering (DNS to a local resolver, NTP, health checks):
nft add table inet ctdiag_raw
nft add chain inet ctdiag_raw pre '{ type filter hook prerouting priority raw; }'
nft add chain inet ctdiag_raw out '{ type filter hook output priority raw; }'
nft add rule inet ctdiag_raw pre {{.TopPortProto}} dport {{.TopPort}} notrack
nft add rule inet ctdiag_raw out {{.TopPortProto}} sport {{.TopPort}} notrack
Untracked packets match ct state untracked: make sure stateful rules accept them.`},
				{"shorten", "Shorten what dominates", `{{.Dominant}} entries are {{.DominantShare}} of the table: see what rule {{.DominantRule}} says
(ctdiag rules explain {{.DominantRule}}).`},
			},
			References: []string{refSysctlDoc, refSpec + " §4.1–§4.4", refNotrack},
		},
		{
			ID:       InvalidStaleTuple,
			Title:    "Packets are INVALID, old tuples are reused",
			Severity: SeverityWarning,
			Pattern:  "The invalid counter increasing between samples; tuples seen in TIME_WAIT or CLOSE that come back as a new handshake.",
			Explanation: `conntrack marks a packet INVALID when it does not fit the entry it matches
(out of the TCP window, a flag combination the state table rejects, spec §1.4,
§1.6). The classic case is a 4-tuple reused while its old entry still lingers:
a client (or a SNAT in front of many clients) picks the same source port again
within TIME_WAIT; the new SYN meets the old entry, and packets of the new
connection that do not fit it are INVALID and dropped by "ct state invalid
drop" rules. The client sees a connection that never completes or resets.`,
			Params: []Param{
				{"min_rate", UnitRate, 1, "With timed samples: INVALID packets per second. One per second is beyond the rare stray packet."},
				{"min_delta", UnitCount, 100, "Without timestamps: INVALID packets between two samples."},
			},
			Remedies: []Remedy{
				{"log", "Ask the kernel why packets are invalid", `sysctl -w net.netfilter.nf_conntrack_log_invalid=6
dmesg -w | grep nf_ct_proto_6
(nf_log_all_netns=1 is needed inside a namespace; set both back to 0 afterwards.)`},
				{"show", "See the lingering tuples", `conntrack -L -p tcp --state TIME_WAIT -d {{.Dst}} --dport {{.DstPort}}
{{.Reused}} tuples came back as new handshakes while an old entry lingered, e.g. {{.Example}}.`},
				{"ports", "Reuse source ports less often", `Clients: widen net.ipv4.ip_local_port_range (sysctl -w net.ipv4.ip_local_port_range="1024 65535").
SNAT in front of many clients: add addresses to the SNAT pool or use
masquerade random-fully, so the same 4-tuple is not picked again within TIME_WAIT.`},
				{"timewait", "Let old tuples go sooner", `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait=60
(the TCP stack's own TIME_WAIT; conntrack's default is {{.TimeWaitTimeout}} s).`},
			},
			References: []string{refSysctlDoc, refSpec + " §1.4–§1.6, §4.4", "RFC 1122 §4.2.2.13 (reuse of a connection in TIME-WAIT)"},
		},
		{
			ID:       InsertFailed,
			Title:    "Insertions fail: clashes, not a full table",
			Severity: SeverityWarning,
			Pattern:  "insert_failed or clash_resolve increasing while the table is not full; UDP/53 entries present (the DNS A/AAAA race) or reply tuples rewritten by SNAT.",
			Explanation: `Two packets of the same new flow processed at once on two CPUs both create an
entry; the second one to be confirmed clashes (spec §4.6). For UDP the kernel
resolves most clashes (clash_resolve); what it cannot resolve is dropped
(insert_failed). glibc sends the A and AAAA queries of one lookup from the same
socket at the same moment: the classic 5-second DNS timeouts. SNAT picking the
same port for two clients at once fails the same way. None of this is a full
table, and raising nf_conntrack_max does not help.`,
			Params: []Param{
				{"min_insert_failed", UnitCount, 1, "Any insert_failed between samples is a dropped packet that was not a full table."},
				{"min_clash_rate", UnitRate, 1, "clash_resolve per second: resolved clashes cost nothing per se, but at this rate failures follow."},
			},
			Remedies: []Remedy{
				{"dns", "Stop the DNS race", `In /etc/resolv.conf of the clients: options single-request-reopen
(or single-request): A and AAAA go one after the other. Or use a node-local DNS
cache, or DNS over TCP. Or do not track DNS at all (it needs no state):
nft add table inet ctdiag_raw
nft add chain inet ctdiag_raw pre '{ type filter hook prerouting priority raw; }'
nft add chain inet ctdiag_raw out '{ type filter hook output priority raw; }'
nft add rule inet ctdiag_raw pre udp dport 53 notrack
nft add rule inet ctdiag_raw out udp dport 53 notrack`},
				{"snat", "Avoid SNAT port collisions", `masquerade random-fully (iptables: -j MASQUERADE --random-fully), or more
addresses in the SNAT pool.`},
				{"show", "Watch the counters per CPU", `conntrack -S
insert_failed {{.InsertFailed}} and clash_resolve {{.ClashResolve}} between the samples; {{.DNSEntries}} UDP/53 entries.`},
			},
			References: []string{refSpec + " §4.5, §4.6", "\"Racy conntrack and DNS lookup timeouts\", Weaveworks blog (2018)", "resolv.conf(5): single-request, single-request-reopen"},
		},
		{
			ID:       StaleUDP,
			Title:    "UDP clients stuck on an untranslated service address",
			Severity: SeverityWarning,
			Pattern:  "UDP entries to a service address and port whose reply tuple was never translated, while other entries to the same address and port are (DNAT), and whose timeout keeps being refreshed.",
			Explanation: `NAT is decided on a flow's first packet (spec §7.3). A UDP client that keeps
sending to a service address while the service has no backend gets an entry
without DNAT; the client keeps refreshing it (30 s, or 120 s once replied), so
after the backend is back every packet of that flow still goes to the dead
address: a black hole until the client changes source port. kube-proxy deletes
such entries when a service's endpoints change; when that fails, this is what
remains.`,
			Params: []Param{
				{"min_entries", UnitCount, 1, "One black-holed client is already a user with a broken service."},
			},
			Remedies: []Remedy{
				{"show", "See them next to the translated ones", `ctdiag list -p udp -d {{.Dst}} --dport {{.DstPort}} -o extended
Untranslated entries have reply src {{.Dst}}, translated ones a backend address.`},
				{"delete", "Delete the stale entries (ctdiag never does this)", `conntrack -D -p udp -d {{.Dst}} --dport {{.DstPort}} -r {{.Dst}}
(deletes only entries whose reply still comes from the service address itself).`},
				{"prevent", "Make it not happen again", `Check that kube-proxy (or whatever programs the DNAT) runs and can delete
conntrack entries (it needs the conntrack tool in its image). Clients that change
source port on retry (a new socket per query) recover by themselves.`},
			},
			References: []string{refSpec + " §7.3", refConntrack},
		},
		{
			ID:       TopTalker,
			Title:    "One peer or port holds the table",
			Severity: SeverityInfo,
			Pattern:  "One source address, destination address or destination port holds a large share of a table that is big enough to matter.",
			Explanation: `When one address or port owns most entries, that is who fills the table: a
client opening connections in a loop, a scanner, a misbehaving service, or just
the dominant service of the box. The finding names it so that limits and
NOTRACK can be aimed.`,
			Params: []Param{
				{"min_share", UnitShare, 0.5, "Half of the entries from one source, to one destination or to one port."},
				{"min_entries", UnitCount, 1000, "Below a thousand entries nobody fills anything: a small table is often all one client, and that is fine."},
			},
			Remedies: []Remedy{
				{"show", "See its entries", `ctdiag list -c {{.Filter}}
conntrack -L {{.Filter}}`},
				{"limit", "Limit a single source", `If {{.Key}} should not hold that many, cap its concurrent connections (ct count
counts that source's entries; adapt the table and chain to your ruleset):
nft add rule inet filter input ct state new ip saddr {{.Key}} ct count over {{.Limit}} drop`},
			},
			References: []string{refConntrack, "nftables wiki, \"Meters\" and ct count"},
		},
		{
			ID:       SysctlRisk,
			Title:    "Conntrack settings that make trouble",
			Severity: SeverityInfo,
			Pattern:  "nf_conntrack_max far above nf_conntrack_buckets or beyond what the memory can hold, no limit at all, the 5-day established timeout on a box with churn, tcp_be_liberal on, accounting or timestamps off while idle connections need confirming.",
			Explanation: `Settings that are not wrong today but cause or hide trouble: long hash chains
(max much larger than buckets) cost CPU on every lookup and hit the chain
length limit (chaintoolong); nf_conntrack_max=0 means no limit at all; the
5-day established timeout keeps dead connections that long; tcp_be_liberal
accepts out-of-window packets (spec §2.2); without nf_conntrack_acct and
nf_conntrack_timestamp entries carry no counters or start time, so idle
connections and ages cannot be confirmed.`,
			Params: []Param{
				{"max_per_bucket", UnitRatio, 4, "The kernel's default is one entry per bucket (hashsize= at boot gives 8); above 4 the average chain at a full table is 8 hash nodes (each entry is hashed twice)."},
				{"bytes_per_entry", UnitBytes, 383, "Kernel memory per entry (measured: slab 256 B + extensions 128 B), to price the limit when the source could not read /proc/slabinfo."},
				{"max_memory_share", UnitShare, 0.25, "A full table may take at most this share of RAM. The kernel's own default sizing gives one entry per 128 KiB of RAM (spec §4.1), far below 1 %; a limit that lets conntrack take a quarter of memory is set without regard to it, and a flood that fills it starves everything else."},
			},
			Remedies: []Remedy{
				{"buckets", "Grow the hash table to the limit", `echo {{.SuggestedBuckets}} > /sys/module/nf_conntrack/parameters/hashsize
(nf_conntrack_max {{.Max}} over {{.Buckets}} buckets is {{.PerBucket}} entries per bucket.)`},
				{"unlimited", "Set a limit", `sysctl -w net.netfilter.nf_conntrack_max={{.SuggestedMax}}
nf_conntrack_max=0 means no limit: the table grows until memory runs out.`},
				{"established", "Shorten the established timeout", `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400
1 day still outlives TCP keepalive by far; 5 days keeps every dead connection.`},
				{"liberal", "Turn window checking back on", `sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=0
unless a known broken middlebox needs it.`},
				{"memory", "Fit the limit to the memory", `sysctl -w net.netfilter.nf_conntrack_max={{.SuggestedMaxForMemory}}
A full table at the current limit needs {{.FullTableMiB}} MiB of the {{.MemTotalMiB}} MiB of RAM;
{{.SuggestedMaxForMemory}} keeps it within the max_memory_share of this rule.`},
				{"evidence", "Record more evidence", `sysctl -w net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1
Only entries created afterwards carry counters and start times (spec §2.6).`},
			},
			References: []string{refSysctlDoc, refSpec + " §2.2, §2.6, §4.1, §4.5"},
		},
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
