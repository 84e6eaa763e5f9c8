package corpus

import (
	"math/rand/v2"
	"net/netip"

	"github.com/ctdiag/ctdiag/track"
)

// The everyday traffic of the hosts the scenarios stand for, as classes
// of netlink-made entries: what a production table holds besides the
// pattern. Shares are of n, the background's size. Peers come from
// address ranges no scenario's real traffic uses.

const (
	seen    = track.StatusSeenReply
	assured = track.StatusSeenReply | track.StatusAssured
)

// Peers of the background traffic (functions, not package variables).
func resolvers() []netip.Addr { return addrs("10.255.0.53", 0, 2, 256) }
func ntp() []netip.Addr       { return addrs("10.255.0.123", 0, 1, 1) }
func dbServers() []netip.Addr { return addrs("10.20.0.10", 0, 2, 1) }
func upstreams() []netip.Addr { return addrs("10.30.0.1", 0, 12, 1) }   // APIs the host calls
func internet() []netip.Addr  { return addrs("198.18.0.1", 0, 400, 1) } // what a NAT gateway's clients reach
func metrics() []netip.Addr   { return addrs("10.40.0.9", 0, 1, 1) }

// addrs returns n addresses from base+first on, step apart.
func addrs(base string, first, n, step int) []netip.Addr {
	b := netip.MustParseAddr(base)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = addrAdd(b, uint64((first+i)*step))
	}
	return out
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// share is n×percent/100, at least 1 when percent > 0 and n > 0.
func share(n int, percent float64) int {
	v := int(float64(n) * percent / 100)
	if v == 0 && n > 0 && percent > 0 {
		return 1
	}
	return v
}

// idleExp is an exponential idle age with the given mean, in seconds.
func idleExp(mean float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return exponential(r, mean) }
}

// fit scales the classes' N so that what Prime creates (with the
// TIME_WAIT the long-lived ones' closes leave) totals n.
func fit(n int, cs []*Class) []*Class {
	total := 0.0
	for _, c := range cs {
		total += float64(c.N) * (1 + c.Close*toTimeWait)
	}
	if total == 0 {
		return cs
	}
	for _, c := range cs {
		if c.N > 0 {
			c.N = max(1, int(float64(c.N)*float64(n)/total))
		}
	}
	return cs
}

// established is a long-lived TCP class.
func established(name string, n int, f Flows, idleMean, refresh, close float64) *Class {
	return &Class{Name: name, N: n, Flows: f, State: track.TCPEstablished, Status: assured, Timeout: toEstablished,
		Long: true, Idle: idleExp(idleMean), Refresh: refresh, Close: close}
}

// timeWait is closed connections lingering: born at 120 s, expiring.
func timeWait(name string, n int, f Flows) *Class {
	return &Class{Name: name, N: n, Flows: f, State: track.TCPTimeWait, Status: assured, Timeout: toTimeWait}
}

// udpAnswered is request/reply UDP (DNS, NTP): seen reply, not assured,
// 30 s after the reply.
func udpAnswered(name string, n int, f Flows) *Class {
	f.Proto = track.ProtoUDP
	return &Class{Name: name, N: n, Flows: f, Status: seen, Timeout: toUDP}
}

// udpStream is UDP with traffic both ways for a while (QUIC, VPN): assured,
// 120 s.
func udpStream(name string, n int, f Flows) *Class {
	f.Proto = track.ProtoUDP
	return &Class{Name: name, N: n, Flows: f, Status: assured, Timeout: toUDPStream}
}

// udpUnanswered is a datagram nobody answered: 30 s, UNREPLIED.
func udpUnanswered(name string, n int, f Flows) *Class {
	f.Proto = track.ProtoUDP
	return &Class{Name: name, N: n, Flows: f, Timeout: toUDP}
}

// pings are answered echo requests.
func pings(name string, n int, f Flows) *Class {
	f.Proto = track.ProtoICMP
	return &Class{Name: name, N: n, Flows: f, Status: seen, Timeout: toICMP}
}

// webServer is a busy HTTPS server at host: keep-alive connections,
// TIME_WAIT from the connections its clients closed, and its own lookups,
// database pool, API calls and monitoring.
func webServer(host, host6 netip.Addr, n int) []*Class {
	tcp := track.ProtoTCP
	cs := []*Class{
		established("https keep-alive", share(n, 22), Flows{Proto: tcp, Clients: pfx("100.64.0.0/12"), PerClient: 2, Servers: []netip.Addr{host}, Port: 443}, 20, 0.15, 0.002),
		timeWait("https closed by clients (TIME_WAIT)", share(n, 52), Flows{Proto: tcp, Clients: pfx("100.80.0.0/12"), PerClient: 1, Servers: []netip.Addr{host}, Port: 443}),
		timeWait("http redirects (TIME_WAIT)", share(n, 4), Flows{Proto: tcp, Clients: pfx("100.96.0.0/12"), PerClient: 1, Servers: []netip.Addr{host}, Port: 80}),
		udpAnswered("dns lookups", share(n, 6), Flows{From: host, Servers: resolvers(), Port: 53}),
		established("database pool", share(n, 2), Flows{Proto: tcp, From: host, Servers: dbServers(), Port: 5432}, 8, 0.3, 0),
		timeWait("API calls (TIME_WAIT)", share(n, 5), Flows{Proto: tcp, From: host, Servers: upstreams(), Port: 443}),
		established("metrics scrapes", share(n, 0.2), Flows{Proto: tcp, Clients: pfx("10.40.1.0/24"), PerClient: 1, Servers: []netip.Addr{host}, Port: 9100}, 10, 0.1, 0),
		pings("pings", share(n, 0.8), Flows{Clients: pfx("100.112.0.0/16"), PerClient: 1, Servers: []netip.Addr{host}}),
		udpAnswered("ntp", share(n, 0.05), Flows{From: host, Servers: ntp(), Port: 123}),
	}
	if host6.IsValid() {
		cs = append(cs,
			established("https keep-alive (IPv6)", share(n, 3), Flows{Proto: tcp, Clients: pfx("2001:db8:64::/48"), PerClient: 2, Servers: []netip.Addr{host6}, Port: 443}, 20, 0.15, 0.002),
			timeWait("https closed by clients (IPv6, TIME_WAIT)", share(n, 5), Flows{Proto: tcp, Clients: pfx("2001:db8:80::/48"), PerClient: 1, Servers: []netip.Addr{host6}, Port: 443}))
	}
	return fit(n, cs)
}

// appClient is an application host that calls others: its own outgoing
// connections (pooled and short), lookups, and a few inbound ones.
func appClient(host netip.Addr, n int) []*Class {
	tcp := track.ProtoTCP
	return fit(n, []*Class{
		established("pooled HTTP clients", share(n, 30), Flows{Proto: tcp, From: host, Servers: upstreams(), Port: 8443}, 15, 0.2, 0.002),
		timeWait("short API calls (TIME_WAIT)", share(n, 45), Flows{Proto: tcp, From: host, Servers: upstreams(), Port: 443}),
		udpAnswered("dns lookups", share(n, 12), Flows{From: host, Servers: resolvers(), Port: 53}),
		established("database pool", share(n, 6), Flows{Proto: tcp, From: host, Servers: dbServers(), Port: 5432}, 10, 0.2, 0),
		established("ssh and monitoring", share(n, 1), Flows{Proto: tcp, Clients: pfx("10.40.2.0/24"), PerClient: 1, Servers: []netip.Addr{host}, Port: 22}, 30, 0.1, 0),
		timeWait("health checks (TIME_WAIT)", share(n, 5), Flows{Proto: tcp, Clients: pfx("10.40.3.0/24"), PerClient: 40, Servers: []netip.Addr{host}, Port: 8080}),
		pings("pings", share(n, 1), Flows{Clients: pfx("10.40.4.0/24"), PerClient: 4, Servers: []netip.Addr{host}}),
	})
}

// dbServer is a database host: pooled connections from many application
// servers, mostly idle for long stretches, and its own small traffic.
func dbServer(host netip.Addr, n int) []*Class {
	tcp := track.ProtoTCP
	return fit(n, []*Class{
		established("postgres pools", share(n, 80), Flows{Proto: tcp, Clients: pfx("10.60.0.0/16"), PerClient: 20, Servers: []netip.Addr{host}, Port: 5432}, 240, 0.01, 0.0002),
		timeWait("short postgres sessions (TIME_WAIT)", share(n, 8), Flows{Proto: tcp, Clients: pfx("10.61.0.0/16"), PerClient: 2, Servers: []netip.Addr{host}, Port: 5432}),
		established("replication and admin", share(n, 0.5), Flows{Proto: tcp, Clients: pfx("10.62.0.0/24"), PerClient: 2, Servers: []netip.Addr{host}, Port: 22}, 60, 0.1, 0),
		udpAnswered("dns lookups", share(n, 4), Flows{From: host, Servers: resolvers(), Port: 53}),
		timeWait("metrics scrapes (TIME_WAIT)", share(n, 6), Flows{Proto: tcp, Clients: pfx("10.40.1.0/24"), PerClient: 200, Servers: []netip.Addr{host}, Port: 9187}),
		pings("pings", share(n, 1.5), Flows{Clients: pfx("10.40.4.0/24"), PerClient: 4, Servers: []netip.Addr{host}}),
	})
}

// dnsResolver is a caching resolver: queries from clients, its own
// queries upstream (a few never answered), some over TCP.
func dnsResolver(host netip.Addr, n int) []*Class {
	return fit(n, []*Class{
		udpAnswered("client queries", share(n, 62), Flows{Clients: pfx("10.70.0.0/16"), PerClient: 6, Servers: []netip.Addr{host}, Port: 53}),
		udpAnswered("upstream queries", share(n, 28), Flows{From: host, Servers: addrs("192.0.2.1", 0, 13, 1), Port: 53}),
		udpUnanswered("upstream queries never answered", share(n, 1), Flows{From: host, Servers: addrs("198.51.100.1", 0, 40, 1), Port: 53}),
		timeWait("queries over TCP (TIME_WAIT)", share(n, 6), Flows{Proto: track.ProtoTCP, Clients: pfx("10.71.0.0/16"), PerClient: 1, Servers: []netip.Addr{host}, Port: 53}),
		timeWait("DNS over TLS upstream (TIME_WAIT)", share(n, 2), Flows{Proto: track.ProtoTCP, From: host, Servers: addrs("192.0.2.1", 0, 13, 1), Port: 853}),
		pings("pings", share(n, 1), Flows{Clients: pfx("10.70.200.0/24"), PerClient: 3, Servers: []netip.Addr{host}}),
	})
}

// natGateway is a router masquerading its clients' traffic behind snat:
// web browsing (short and kept-alive), QUIC, DNS, pings, and the noise
// real networks carry (connections reset, SYNs and datagrams to peers
// that do not answer).
func natGateway(snat netip.Addr, n int) []*Class {
	tcp := track.ProtoTCP
	lan := func(p string, per int, port uint16, natPorts ...uint16) Flows {
		f := Flows{Proto: tcp, Clients: pfx(p), PerClient: per, Servers: internet(), Port: port, SNAT: snat}
		if len(natPorts) == 2 {
			f.SNATPort, f.SNATSpan = natPorts[0], natPorts[1]
		}
		return f
	}
	// A refused connection (SYN, RST) leaves no entry: the kernel deletes
	// it at once. Connections reset after they were set up stay in CLOSE.
	reset := &Class{Name: "connections reset (CLOSE)", N: share(n, 0.3), Flows: lan("10.100.5.0/24", 60, 443, 64000, 1500),
		State: track.TCPClose, Status: assured, Timeout: toClose}
	unanswered := &Class{Name: "SYNs to peers that do not answer", N: share(n, 0.15), Flows: lan("10.100.6.0/24", 40, 8443),
		State: track.TCPSynSent, Timeout: toSynSent}
	return fit(n, []*Class{
		established("web keep-alive", share(n, 26), lan("10.100.0.0/20", 12, 443, 1024, 20000), 25, 0.12, 0.003),
		timeWait("web closed (TIME_WAIT)", share(n, 38), lan("10.101.0.0/20", 20, 443, 21024, 42000)),
		timeWait("plain http closed (TIME_WAIT)", share(n, 5), lan("10.102.0.0/20", 10, 80)),
		established("long sessions (ssh, IMAP)", share(n, 3), lan("10.103.0.0/20", 2, 993), 200, 0.02, 0.001),
		udpStream("QUIC", share(n, 9), Flows{Clients: pfx("10.104.0.0/20"), PerClient: 6, Servers: internet(), Port: 443, SNAT: snat}),
		udpAnswered("dns", share(n, 13), Flows{Clients: pfx("10.105.0.0/20"), PerClient: 8, Servers: resolvers(), Port: 53, SNAT: snat}),
		udpAnswered("ntp", share(n, 0.5), Flows{Clients: pfx("10.106.0.0/20"), PerClient: 1, Servers: ntp(), Port: 123, SNAT: snat}),
		pings("pings", share(n, 2), Flows{Clients: pfx("10.107.0.0/20"), PerClient: 4, Servers: internet(), SNAT: snat}),
		udpUnanswered("probes nobody answers", share(n, 0.6), Flows{Clients: pfx("10.108.0.0/20"), PerClient: 10, Servers: internet(), Port: 161, SNAT: snat}),
		reset, unanswered,
	})
}
