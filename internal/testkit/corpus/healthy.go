package corpus

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// Real traffic that runs for the whole capture at a steady rate starts at
// t=0, but on a real host it has been running for long: its entries of the
// last timeout's worth of time are there. history is that past, netlink-
// made with the real traffic's tuples, born uniformly over the last
// timeout and never renewed: as it expires the real traffic replaces it,
// so the total stays flat.
func history(name string, f Flows, rate float64, state track.TCPState, status track.Status, timeout uint32) *Class {
	return &Class{Name: name + " (before t=0)", N: int(rate * float64(timeout)), Flows: f, State: state, Status: status,
		Timeout: timeout, Rate: 1e-9}
}

// keepAlive opens n connections to dst and sends a request on each every
// period on average (jittered), reading the answer, until the run ends.
func keepAlive(r *Run, ns *netnstest.NS, dst netip.AddrPort, n int, period time.Duration) {
	r.T.Helper()
	conns, err := dialMany(ns, dst, n, true)
	r.T.Cleanup(func() { closeConns(conns) })
	if err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
	seed := r.Rand.Uint64()
	r.Go(func(stop <-chan struct{}) {
		rng := rand.New(rand.NewPCG(seed, 1))
		next := make([]time.Time, len(conns))
		for i := range next {
			next[i] = time.Now().Add(time.Duration(rng.Float64() * float64(period)))
		}
		buf := make([]byte, 64)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				for i, c := range conns {
					if now.Before(next[i]) {
						continue
					}
					c.SetDeadline(now.Add(time.Second))
					c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
					c.Read(buf)
					next[i] = now.Add(time.Duration((0.5 + rng.Float64()) * float64(period)))
				}
			}
		}
	})
}

// udpQueries sends rate queries a second to dst, each from a new socket
// (a new source port, as stub resolvers do), and reads the answer.
func udpQueries(r *Run, ns *netnstest.NS, dst netip.AddrPort, rate float64) {
	r.Every(time.Duration(float64(time.Second)/rate), func() {
		c, err := ns.Dial("udp4", dst.String())
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		c.Write([]byte("query"))
		c.Read(make([]byte, 64))
	})
}

// pingLoop sends rate echo requests a second from src to dst through a raw
// socket (the peer's kernel answers them).
func pingLoop(r *Run, ns *netnstest.NS, src, dst netip.Addr, rate float64) {
	s := NewRawSender(r.T, ns)
	id := uint16(r.Rand.Uint32())
	r.Every(time.Duration(float64(time.Second)/rate), func() {
		id++
		p := track.Packet{Family: track.FamilyIPv4, Proto: track.ProtoICMP, Src: src, Dst: dst, Length: 20 + 16, L4Length: 16,
			ICMP: track.ICMPHeader{Type: 8, ID: id}}
		s.Send(&p)
	})
}

func healthyWeb() *Scenario {
	return &Scenario{
		Name: "healthy-web", View: "srv", Sizes: []int{S, L},
		Shows: "a busy HTTPS server in a steady state: keep-alive connections carrying requests, TIME_WAIT from the " +
			"connections clients closed (the largest state, as it should be: 120 s of churn), its own DNS lookups, database " +
			"pool, API calls, monitoring and pings. Nothing is wrong.",
		Method: "real keep-alive clients (a request every 2 s on average) and a real client opening and closing connections " +
			"(2 a second), with their entries of the last two minutes netlink-made as history; the server's other clients and " +
			"its own traffic are netlink-made entries with the timeouts that traffic leaves, refreshed, closed and replaced as " +
			"it goes (counts stay flat).",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 443), Respond)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 80), Respond)
			const churn = 2.0
			r.Background(srv, append(webServer(p.B4, p.B6, r.Size-300),
				history("the real client's closed connections", Flows{Proto: track.ProtoTCP, From: p.A4, Servers: []netip.Addr{p.B4}, Port: 80},
					churn, track.TCPTimeWait, assured, toTimeWait))...)
			keepAlive(r, p.A, netip.AddrPortFrom(p.B4, 443), 40, 2*time.Second)
			r.Begin()
			r.Go(func(stop <-chan struct{}) { loopConnections(r, p.A, netip.AddrPortFrom(p.B4, 80), churn, stop) })
			r.Logf("real clients: 40 keep-alive connections to :443, %.0f new connections a second to :80", churn)
			for k := 0; k < 5; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func healthyDNS() *Scenario {
	return &Scenario{
		Name: "healthy-dns", View: "srv", Sizes: []int{S, L},
		Shows: "a caching DNS resolver in a steady state: client queries over UDP answered at once (entries seen-reply, not " +
			"assured, 30 s), its own queries upstream (a few never answered, as on any resolver), some queries over TCP and DoT " +
			"in TIME_WAIT, pings. Nothing is wrong.",
		Method: "a real client sends 10 queries a second, each from a new source port, to the resolver's real UDP responder, " +
			"with its entries of the last 30 s netlink-made as history; the other clients and the resolver's upstream traffic " +
			"are netlink-made entries with the timeouts that traffic leaves, born as fast as they expire.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			UDPEcho(r.T, p.B, netip.AddrPortFrom(p.B4, 53))
			const rate = 10.0
			r.Background(srv, append(dnsResolver(p.B4, r.Size-300),
				history("the real client's queries", Flows{Proto: track.ProtoUDP, From: p.A4, Servers: []netip.Addr{p.B4}, Port: 53},
					rate, 0, seen, toUDP))...)
			r.Begin()
			udpQueries(r, p.A, netip.AddrPortFrom(p.B4, 53), rate)
			r.Logf("real client: %.0f queries a second to %s:53, each from a new source port", rate, p.B4)
			for k := 0; k < 5; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func healthyDBPool() *Scenario {
	return &Scenario{
		Name: "healthy-db-pool", View: "srv", Sizes: []int{S, L},
		Shows: "a database server whose application servers keep connection pools open: ESTABLISHED [ASSURED] entries on port " +
			"5432 silent for minutes (pools sized for the peak), some used now and then, none added: the count does not grow. " +
			"Nothing is wrong.",
		Method: "a real application server keeps a pool of 60 connections, 20 of which run a query every 5 s on average and " +
			"the rest stay idle; the other servers' pools (idle ages of minutes, a few refreshed, a few replaced) and the " +
			"database's own traffic are netlink-made entries kept going as that traffic would.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			dst := netip.AddrPortFrom(p.B4, 5432)
			Listen(r.T, p.B, dst, Echo)
			r.Background(srv, dbServer(p.B4, r.Size-60)...)
			idle, err := dialMany(p.A, dst, 40, true)
			r.T.Cleanup(func() { closeConns(idle) })
			if err != nil {
				r.T.Fatalf("corpus: %v", err)
			}
			keepAlive(r, p.A, dst, 20, 5*time.Second)
			r.Begin()
			r.Logf("real application server: a pool of 60 connections to %s, 20 of them busy", dst)
			for k := 0; k < 5; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func healthyNAT() *Scenario {
	return &Scenario{
		Name: "healthy-nat", View: "rtr", Sizes: []int{S, L},
		Shows: "a NAT gateway (MASQUERADE) in a steady state: its clients' web browsing (kept-alive and short), QUIC, DNS, " +
			"NTP, pings, long sessions, and the noise of real networks: connections reset (CLOSE), a few refused (the kernel " +
			"deletes those entries at once), SYNs and datagrams to peers that never answer. Nothing is wrong.",
		Method: "a real client behind the router keeps 20 connections alive, opens and closes 2 a second, sends 5 DNS queries " +
			"and 1 ping a second, and now and then tries a closed port (refused) and a filtered one (unanswered SYN and UDP), " +
			"all masqueraded for real, with their entries of the last timeout's worth netlink-made as history; the other " +
			"clients' traffic is netlink-made translated entries kept going as that traffic would.",
		play: func(r *Run) {
			rt := NewRouted(r.T, true)
			r.AddHost("cli", rt.Cli, false)
			rtr := r.AddHost("rtr", rt.Rtr, true)
			r.AddHost("srv", rt.Srv, false)
			rt.Rtr.Nft(r.T, fmt.Sprintf("table ip nat {\n chain post { type nat hook postrouting priority srcnat; oifname %q masquerade\n }\n}", rt.RtrOut))
			rt.Srv.Nft(r.T, "table inet firewall {\n chain in { type filter hook input priority 0; udp dport 161 drop; tcp dport 8443 drop\n }\n}")
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 443), Respond)
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 80), Respond)
			UDPEcho(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 53))
			const churn, dns, ping = 2.0, 5.0, 1.0
			real := func(port uint16, proto track.Proto) Flows {
				return Flows{Proto: proto, From: rt.Cli4, Servers: []netip.Addr{rt.Srv4}, Port: port, SNAT: rt.RtrOut4, SNATKeepPort: true}
			}
			r.Background(rtr, append(natGateway(rt.RtrOut4, r.Size-400),
				history("the real client's closed connections", real(80, track.ProtoTCP), churn, track.TCPTimeWait, assured, toTimeWait),
				history("the real client's DNS queries", real(53, track.ProtoUDP), dns, 0, seen, toUDP),
				history("the real client's pings", real(0, track.ProtoICMP), ping, 0, seen, toICMP))...)
			keepAlive(r, rt.Cli, netip.AddrPortFrom(rt.Srv4, 443), 20, 2*time.Second)
			r.Begin()
			r.Go(func(stop <-chan struct{}) { loopConnections(r, rt.Cli, netip.AddrPortFrom(rt.Srv4, 80), churn, stop) })
			udpQueries(r, rt.Cli, netip.AddrPortFrom(rt.Srv4, 53), dns)
			pingLoop(r, rt.Cli, rt.Cli4, rt.Srv4, ping)
			r.Every(3*time.Second, func() { // a closed port: refused
				if c, err := rt.Cli.Dial("tcp4", netip.AddrPortFrom(rt.Srv4, 81).String()); err == nil {
					c.Close()
				}
			})
			r.Every(4*time.Second, func() { // filtered: never answered
				if c, err := rt.Cli.Dial("udp4", netip.AddrPortFrom(rt.Srv4, 161).String()); err == nil {
					c.Write([]byte("get"))
					c.Close()
				}
				d := net.Dialer{Timeout: 200 * time.Millisecond}
				rt.Cli.Do(func() error {
					if c, err := d.Dial("tcp4", netip.AddrPortFrom(rt.Srv4, 8443).String()); err == nil {
						c.Close()
					}
					return nil
				})
			})
			r.Logf("real client: 20 keep-alive connections, %.0f short ones, %.0f DNS queries and %.0f ping a second; a refused connection every 3 s, an unanswered SYN and datagram every 4 s", churn, dns, ping)
			for k := 0; k < 5; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func sysctlRiskLiberal() *Scenario {
	return &Scenario{
		Name: "sysctl-risk-liberal", Rule: rules.SysctlRisk, View: "srv", Sizes: []int{S, M, L},
		Shows: "a busy HTTPS server whose namespace has net.netfilter.nf_conntrack_tcp_be_liberal=1: conntrack accepts " +
			"out-of-window TCP packets (and so never marks them INVALID); the traffic itself is ordinary.",
		Method: "the sysctl is set in the server's namespace (it is per namespace; nothing global is changed). Real keep-alive " +
			"clients; the server's other traffic is netlink-made and kept going.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			p.B.MustOutput(r.T, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_tcp_be_liberal=1")
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 443), Respond)
			r.Background(srv, webServer(p.B4, p.B6, r.Size-40)...)
			keepAlive(r, p.A, netip.AddrPortFrom(p.B4, 443), 30, 2*time.Second)
			r.Begin()
			r.Logf("srv: net.netfilter.nf_conntrack_tcp_be_liberal=1 (set before the start)")
			for k := 0; k < 4; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func sysctlRiskTimeout() *Scenario {
	return &Scenario{
		Name: "sysctl-risk-timeout", Rule: rules.SysctlRisk, View: "srv", Sizes: []int{S, M, L},
		Shows: "a busy HTTPS server on the default 5-day established timeout (nf_conntrack_tcp_timeout_established=432000) " +
			"with hundreds of new connections a minute: a third of its table is ESTABLISHED entries silent for hours to days, " +
			"connections whose peers vanished without a FIN or RST (mobile clients, NAT mappings that expired elsewhere), kept " +
			"until the 5 days run out.",
		Method: "the dead connections are netlink-made ESTABLISHED [ASSURED] entries whose remaining timeouts are 432000 s " +
			"minus an idle time of 2 hours to 4.5 days (what the kernel shows for them; no test can wait days); the live traffic " +
			"is real keep-alive clients and netlink-made entries kept going (churn: TIME_WAIT born and expiring).",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 443), Respond)
			dead := established("dead connections (peer vanished)", r.Size*3/10, Flows{Proto: track.ProtoTCP, Clients: pfx("100.112.0.0/12"),
				PerClient: 1, Servers: []netip.Addr{p.B4}, Port: 443}, 0, 0, 0)
			dead.Idle = func(rng *rand.Rand) float64 { return 7200 + rng.Float64()*(4.5*86400-7200) }
			r.Background(srv, append(webServer(p.B4, p.B6, r.Size*7/10-30), dead)...)
			keepAlive(r, p.A, netip.AddrPortFrom(p.B4, 443), 30, 2*time.Second)
			r.Begin()
			for k := 0; k < 4; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}
