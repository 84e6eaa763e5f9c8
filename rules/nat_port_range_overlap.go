package rules

func natPortRangeOverlap() Rule {
	return Rule{
		ID:       NATPortRangeOverlap,
		Title:    "A source NAT port range overlaps ports the host uses",
		Severity: SeverityInfo,
		Pattern:  "A SNAT or MASQUERADE port range that overlaps net.ipv4.ip_local_port_range (the host's own ephemeral ports), a port the host serves (a DNAT or REDIRECT target, a port its input chain accepts), or, on a Kubernetes node, the NodePort range.",
		Explanation: `Translated connections and the host's own sockets share the host's address and its
port space. Where the SNAT range overlaps ip_local_port_range, every local connection
to a destination takes a port the translated ones could have had (conntrack keeps the
tuples unique by moving the later one), so each pool runs out sooner. A translated
connection that leaves from a port the host serves (a NodePort, a listening service) has
the reply tuple peer → host:port: when that peer then opens a connection from the same
port to the service, conntrack takes its packets for replies of the translated one and
hands them to the wrong side. Kubernetes reserves 30000-32767 for NodePorts; the
common example range 30000-40000 overlaps it.`,
		Levels: []Level{
			{SeverityInfo, "the range overlaps ip_local_port_range"},
			{SeverityWarning, "the range overlaps the NodePort range nodeport_min-nodeport_max on a Kubernetes node (kube-proxy's chains are in the ruleset), or a port the host serves"},
		},
		Needs: []Input{InputRuleset},
		Params: []Param{
			{"nodeport_min", UnitCount, 30000, "Kubernetes' default --service-node-port-range starts at 30000."},
			{"nodeport_max", UnitCount, 32767, "Kubernetes' default --service-node-port-range ends at 32767."},
		},
		Remedies: []Remedy{
			{ID: "move-nft", Title: "Move the range away",
				Commands: `nft replace rule {{.Family}} {{.Table}} {{.Chain}} handle {{.Handle}} {{.NewRule}}`,
				Note:     moveNote},
			{ID: "move-nft-find", Title: "Move the range away",
				Commands: `nft -a list chain {{.Family}} {{.Table}} {{.Chain}}`,
				Note: `The rule has no handle in what was read: find it in that listing, then
nft replace rule {{.Family}} {{.Table}} {{.Chain}} handle HANDLE {{.NewRule}}
` + moveNote},
			{ID: "move-iptables", Title: "Move the range away",
				Commands: `{{.Iptables}} -t {{.Table}} -R {{.Chain}} {{.Position}} {{.NewSpec}}`,
				Note:     moveNote},
			{ID: "reserve", Title: "Keep the host's own sockets out of the range",
				Commands: `sysctl -w net.ipv4.ip_local_reserved_ports={{.Ports}}`,
				Note: `Local sockets then never pick a port of {{.Ports}} for themselves (the setting is per network
namespace; persist it in /etc/sysctl.d/ for the host's own).`},
		},
		References: []string{refNAT, "Linux Documentation/networking/ip-sysctl.rst: ip_local_port_range, ip_local_reserved_ports", "Kubernetes: Service type NodePort, --service-node-port-range"},
	}
}

const moveNote = `{{.Ports}} overlaps {{.Overlaps}}. {{.NewPorts}} keeps the rule's {{.PortCount}} ports
clear of them.`
