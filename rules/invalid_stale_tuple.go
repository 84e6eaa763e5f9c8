package rules

func invalidStaleTuple() Rule {
	return Rule{
		ID:       InvalidStaleTuple,
		Title:    "Packets are INVALID, old tuples are reused",
		Severity: SeverityInfo,
		Pattern:  "Tuples seen in TIME_WAIT or CLOSE that come back as a new handshake in the next sample; the invalid counter increasing between samples, or non-zero in a single reading (since the counters started).",
		Explanation: `conntrack marks a packet INVALID when it does not fit the entry it matches
(out of the TCP window, a flag combination the state table rejects,
docs/KERNEL.md §1.4, §1.6). The classic case is a 4-tuple reused while its old
entry still lingers: a client (or a SNAT in front of many clients) picks the
same source port again within TIME_WAIT or CLOSE; the new SYN meets the old
entry, and packets of the new connection that do not fit it are INVALID and
dropped by "ct state invalid drop" rules. The client sees a connection that
never completes or resets.`,
		Levels: []Level{
			{SeverityInfo, "INVALID packets counted since the counters started, in a single reading of the statistics, with no tuple reuse seen"},
			{SeverityWarning, "min_reused or more tuples seen coming back as new handshakes; or the invalid counter rising by min_rate per second (min_delta between untimed samples)"},
			{SeverityCritical, "the invalid counter rising by critical_rate per second"},
		},
		Needs: []Input{InputStats, InputTable | InputSamples},
		Params: []Param{
			{"min_reused", UnitCount, 10, "Tuples that came back as new handshakes while their old entry lingered. Clients pick source ports at random over tens of thousands, so the same 4-tuple twice within two minutes is rare on a healthy host (none in the healthy corpus); ten are a port-reuse problem (a small SNAT pool, a client binding fixed ports)."},
			{"min_rate", UnitRate, 1, "With timed samples: INVALID packets per second. One per second is beyond the rare stray packet."},
			{"min_delta", UnitCount, 100, "Without timestamps: INVALID packets between two samples."},
			{"critical_rate", UnitRate, 100, "A hundred INVALID packets a second are connections failing now."},
		},
		Remedies: []Remedy{
			{ID: "log", Title: "Ask the kernel why packets are invalid",
				Commands: `sysctl -w net.netfilter.nf_conntrack_log_invalid=6
dmesg -w | grep nf_ct_proto_6`,
				Note: `Set it back to 0 afterwards. In a network namespace other than the host's, the kernel logs
only with net.netfilter.nf_log_all_netns=1 (a global switch: set it in the host
namespace, and back to 0 after).`},
			{ID: "show", Title: "See the lingering tuples",
				Commands: `conntrack -L -p tcp --state TIME_WAIT {{.Filter}}
conntrack -L -p tcp --state CLOSE {{.Filter}}`,
				Note: `{{.Reused}} tuples came back as new handshakes while an old entry lingered, e.g. {{.Example}}.`},
			{ID: "ports", Title: "Reuse source ports less often",
				Note: `Clients: widen net.ipv4.ip_local_port_range (sysctl -w net.ipv4.ip_local_port_range="1024 65535").
SNAT in front of many clients: add addresses to the SNAT pool or use
masquerade random-fully, so the same 4-tuple is not picked again within TIME_WAIT.`},
			{ID: "timewait", Title: "Let old tuples go sooner",
				Commands: `sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait=60`,
				Note:     `60 s is the TCP stack's own TIME_WAIT; conntrack's is {{.TimeWaitTimeout}} s.`},
		},
		References: []string{refSysctlDoc, refKernel + " §1.4–§1.6, §4.4", "RFC 1122 §4.2.2.13 (reuse of a connection in TIME-WAIT)"},
	}
}
