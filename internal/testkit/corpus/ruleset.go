package corpus

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// The patterns of the rules that read the firewall ruleset beside the
// table. Their rules are written with nft (the capture's nft list ruleset
// reads them whole); the view's ruleset is read at every sample where a
// rule follows counters from sample to sample.

// dialHeld opens n connections from ns to dst at once, each given up after
// timeout, and keeps those that connected open until the run ends. It
// returns how many connected and how many failed.
func dialHeld(r *Run, ns interface {
	Do(func() error) error
}, dst netip.AddrPort, n int, timeout time.Duration) (ok, failed int) {
	r.T.Helper()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			err := ns.Do(func() (err error) {
				c, err = net.DialTimeout("tcp4", dst.String(), timeout)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			ok++
			r.T.Cleanup(func() { c.Close() })
		}()
	}
	wg.Wait()
	return ok, failed
}

func snatPortExhaustion() *Scenario {
	return &Scenario{
		Name: "snat-port-exhaustion", Rule: rules.SNATPortExhaustion, View: "rtr", Sizes: []int{S, M, L},
		Shows: "a NAT gateway whose TCP MASQUERADE maps to 100 ports (--to-ports 40000-40099): 130 of its clients' " +
			"connections to one database (srv:5432) want a port at once; 100 get one and stay open, the other 30 cannot be " +
			"translated, their SYNs are dropped when their entries are confirmed (insert_failed, drop, read once at the end) " +
			"and connect() times out. The rest of the router's traffic is masqueraded by a second rule without a range.",
		Method: "all real for the pattern: 130 connections opened at once from the client through the router (nft: " +
			"`masquerade to :40000-40099` for TCP, plain `masquerade` for the rest), 1.5 s connect timeout, the server " +
			"holding them open. The router's other clients' traffic is netlink-made translated entries kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, true)
			r.AddHost("cli", rt.Cli, false)
			rtr := r.AddHost("rtr", rt.Rtr, true)
			r.AddHost("srv", rt.Srv, false)
			rt.Rtr.Nft(r.T, fmt.Sprintf(`table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname %q ip protocol tcp counter masquerade to :40000-40099
		oifname %q counter masquerade
	}
}
`, rt.RtrOut, rt.RtrOut))
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 5432), Respond)
			r.Background(rtr, natGateway(rt.RtrOut4, r.Size-150)...)
			r.Begin()
			r.Sample(0)
			r.At(0.5)
			ok, failed := dialHeld(r, rt.Cli, netip.AddrPortFrom(rt.Srv4, 5432), 130, 1500*time.Millisecond)
			r.Logf("130 connections from %s to %s:5432 at once: %d connected, %d timed out", rt.Cli4, rt.Srv4, ok, failed)
			for k := 1; k < 3; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func natPortRangeOverlap() *Scenario {
	return &Scenario{
		Name: "nat-port-range-overlap", Rule: rules.NATPortRangeOverlap, View: "rtr", Sizes: []int{S, M, L},
		Shows: "a Kubernetes node in kube-proxy's nftables mode whose pod traffic is masqueraded to the ports " +
			"30000-40000 (the common example range), which holds the NodePort range 30000-32767: a NodePort (30080) " +
			"forwards to a pod, and pods' connections leave from ports a peer may use to reach a NodePort.",
		Method: "all real for the pattern: the node's table ip kube-proxy (a NodePort 30080 DNATed to the server's " +
			"8080, `meta l4proto tcp masquerade to :30000-40000 fully-random` on the way out); the client keeps 10 connections to the " +
			"NodePort alive and opens one a second to the server directly. The node's other traffic is netlink-made " +
			"translated entries kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, true)
			r.AddHost("cli", rt.Cli, false)
			rtr := r.AddHost("rtr", rt.Rtr, true)
			r.AddHost("srv", rt.Srv, false)
			rt.Rtr.Nft(r.T, fmt.Sprintf(`table ip kube-proxy {
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump nodeports
	}
	chain nodeports {
		tcp dport 30080 counter dnat to %s:8080
	}
	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname %q meta l4proto tcp counter masquerade to :30000-40000 fully-random
	}
}
`, rt.Srv4, rt.RtrOut))
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 8080), Respond)
			r.Background(rtr, natGateway(rt.RtrOut4, r.Size-50)...)
			keepAlive(r, rt.Cli, netip.AddrPortFrom(rt.RtrIn4, 30080), 10, 2*time.Second)
			r.Begin()
			r.Go(func(stop <-chan struct{}) { loopConnections(r, rt.Cli, netip.AddrPortFrom(rt.Srv4, 8080), 1, stop) })
			r.Logf("client: 10 keep-alive connections to the NodePort %s:30080, one new connection a second to %s:8080", rt.RtrIn4, rt.Srv4)
			for k := 0; k < 3; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func invalidDropped() *Scenario {
	return &Scenario{
		Name: "invalid-dropped", Rule: rules.InvalidDropped, View: "srv", Sizes: []int{S, M, L}, Rulesets: true,
		Shows: "a server whose input chain drops INVALID packets (ct state invalid counter drop) while late segments of " +
			"its clients' connections keep arriving outside the window (as a path that reorders or duplicates would bring " +
			"them): the drop rule's counter rises from sample to sample, 40 to 80 packets a second.",
		Method: "all real for the pattern: 20 connections from the client through the router stay open; every half " +
			"second the client sends, through a raw socket, one pair of data segments per connection with sequence " +
			"numbers far from the live ones. The server's ruleset (nft list ruleset) is read at every sample. Its " +
			"other traffic is netlink-made entries kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, false)
			r.AddHost("cli", rt.Cli, false)
			r.AddHost("rtr", rt.Rtr, false)
			srv := r.AddHost("srv", rt.Srv, true)
			rt.Srv.Nft(r.T, `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state invalid counter drop
		ct state established,related counter accept
	}
}
`)
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 8080), Echo)
			conns := DialMany(r.T, rt.Cli, netip.AddrPortFrom(rt.Srv4, 8080), 20)
			r.T.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			r.Background(srv, webServer(rt.Srv4, netip.Addr{}, r.Size-40)...)
			r.Begin()
			r.Every(500*time.Millisecond, func() {
				for _, c := range conns {
					src := c.LocalAddr().(*net.TCPAddr).AddrPort()
					if err := sendStaleTCP(rt.Cli, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), netip.AddrPortFrom(rt.Srv4, 8080), 1); err != nil {
						r.Logf("stale segments: %v", err)
						return
					}
				}
			})
			r.Logf("client: 20 open connections to %s:8080; a pair of out-of-window segments on each every 0.5 s", rt.Srv4)
			for k := 0; k < 3; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func notrackConflict() *Scenario {
	return &Scenario{
		Name: "notrack-conflict", Rule: rules.NotrackConflict, View: "rtr", Sizes: []int{S, M, L},
		Shows: "a router that serves a DNS address (10.231.9.53) by DNAT to the real server, where a NOTRACK rule for " +
			"UDP port 53 was added to stop the DNS insert race: untracked queries are never translated, so they go to an " +
			"address nobody has and go unanswered; the NOTRACK rule's counter rises, the DNAT rule's stays at 0.",
		Method: "all real for the pattern: the client sends 5 queries a second to 10.231.9.53:53 through the router " +
			"(nft: `udp dport 53 counter notrack` at raw priority, `ip daddr 10.231.9.53 udp dport 53 counter dnat to` " +
			"the server); none is answered. The router's other forwarded traffic is netlink-made and kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, false)
			r.AddHost("cli", rt.Cli, false)
			rtr := r.AddHost("rtr", rt.Rtr, true)
			r.AddHost("srv", rt.Srv, false)
			rt.Rtr.Nft(r.T, fmt.Sprintf(`table inet raw {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		udp dport 53 counter notrack
	}
	chain out {
		type filter hook output priority raw; policy accept;
		udp sport 53 notrack
	}
}
table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.231.9.53 udp dport 53 counter dnat to %s
	}
}
`, rt.Srv4))
			UDPEcho(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 53))
			r.Background(rtr, natGateway(netip.Addr{}, r.Size)...)
			r.Begin()
			udpQueries(r, rt.Cli, netip.AddrPortFrom(netip.MustParseAddr("10.231.9.53"), 53), 5)
			r.Logf("client: 5 DNS queries a second to 10.231.9.53:53")
			for k := 0; k < 3; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func notrackCandidate() *Scenario {
	return &Scenario{
		Name: "notrack-candidate", Rule: rules.NotrackCandidate, View: "srv", Sizes: []int{S, M, L},
		Expect: rules.SeverityInfo, // an optimisation: a warning only when the table is filling too
		Shows: "a DNS resolver answering its clients' queries, each from a new source port: every query leaves an entry " +
			"for 30 s, most of the table, for a service that needs neither NAT nor stateful filtering. Its ruleset " +
			"already keeps NTP (udp 123) out of conntrack in its own raw chains.",
		Method: "all real for the pattern: the client sends 60 queries a second to the resolver's port 53 from a new " +
			"socket each; the resolver's nft ruleset has raw-priority chains with `udp dport 123 notrack` and " +
			"`udp sport 123 notrack`. The resolver's other traffic (its upstream queries, DNS over TCP, pings, and more " +
			"clients' queries at M and L) is netlink-made and kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, false)
			r.AddHost("cli", rt.Cli, false)
			r.AddHost("rtr", rt.Rtr, false)
			srv := r.AddHost("srv", rt.Srv, true)
			rt.Srv.Nft(r.T, `table inet raw {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		udp dport 123 notrack
	}
	chain out {
		type filter hook output priority raw; policy accept;
		udp sport 123 notrack
	}
}
`)
			UDPEcho(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 53))
			const qps = 60.0
			real := Flows{Proto: track.ProtoUDP, From: rt.Cli4, Servers: []netip.Addr{rt.Srv4}, Port: 53}
			r.Background(srv, append(dnsResolver(rt.Srv4, r.Size),
				history("the real client's queries", real, qps, 0, seen, toUDP))...)
			r.Begin()
			udpQueries(r, rt.Cli, netip.AddrPortFrom(rt.Srv4, 53), qps)
			r.Logf("client: %.0f DNS queries a second to %s:53, each from a new socket", qps, rt.Srv4)
			for k := 0; k < 3; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func conntrackUnneeded() *Scenario {
	return &Scenario{
		Name: "conntrack-unneeded", Rule: rules.ConntrackUnneeded, View: "srv", Sizes: []int{S, M, L},
		Expect: rules.SeverityInfo, // nothing breaks: tracking costs what it costs
		Shows: "a web server whose firewall was made stateless (rules accept ports, none matches conntrack state, no " +
			"NAT): the kernel stopped tracking its namespace, yet the table holds the entries of the connections closed " +
			"before the change (TIME_WAIT) and those a conntrackd on its failover peer keeps committing to it.",
		Method: "real: 100 connections from the client, served and closed, then the server's stateful rules replaced by " +
			"`tcp dport { 80, 443 } accept` (nft); the synchronised entries are netlink-made (as conntrackd commits them) " +
			"and kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, false)
			r.AddHost("cli", rt.Cli, false)
			r.AddHost("rtr", rt.Rtr, false)
			srv := r.AddHost("srv", rt.Srv, true)
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 80), Echo)
			for _, c := range DialMany(r.T, rt.Cli, netip.AddrPortFrom(rt.Srv4, 80), 100) {
				c.Close()
			}
			rt.Srv.MustOutput(r.T, "nft", "delete", "table", "inet", "ctdiag_test")
			rt.Srv.Nft(r.T, `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport { 80, 443 } counter accept
	}
}
`)
			r.Background(srv, webServer(rt.Srv4, netip.Addr{}, r.Size-100)...)
			r.Begin()
			r.Logf("100 connections to %s:80 served and closed; the server's ruleset replaced by a stateless one", rt.Srv4)
			for k := 0; k < 3; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}
