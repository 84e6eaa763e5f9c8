package corpus

import (
	"fmt"
	"net/netip"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// realCap bounds the connections a scenario makes with real sockets per
// wave: both ends live in this process, whose descriptor limit is shared
// by every scenario running beside it.
const realCap = 400

// pairHosts makes a client–server pair and registers both as sampled
// hosts.
func pairHosts(r *Run) (p *netnstest.Pair, cli, srv *Host) {
	p = netnstest.NewPair(r.T)
	return p, r.AddHost("cli", p.A, true), r.AddHost("srv", p.B, true)
}

// addAddrs gives ns n more addresses after base on its interface (a proxy
// or NAT host with a pool of source addresses), returned in order.
func addAddrs(r *Run, ns *netnstest.NS, dev string, base netip.Addr, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = addrAdd(base, uint64(i))
		ns.MustOutput(r.T, "ip", "addr", "add", out[i].String()+"/32", "dev", dev)
	}
	return out
}

// rawSYNs sends n first SYNs from the addresses in srcs (source ports
// 1024 up, outside the ephemeral range real sockets use) to dst, starting
// at connection *next: each is a new connection nobody answers.
func rawSYNs(r *Run, s *RawSender, srcs []netip.Addr, dst netip.AddrPort, next *int, n int) {
	r.T.Helper()
	const ports = 31000 // 1024 … 32023
	for j := 0; j < n; j++ {
		i := *next
		*next++
		src := netip.AddrPortFrom(srcs[(i/ports)%len(srcs)], uint16(1024+i%ports))
		p := TCPPacket(src, dst, track.TCPSyn, r.Rand.Uint32(), 0, 0)
		if err := s.Send(&p); err != nil {
			r.T.Fatalf("corpus: raw SYN: %v", err)
		}
	}
}

func synSentGrowth() *Scenario {
	return &Scenario{
		Name: "syn-sent-growth", Rule: rules.SynSentGrowth, View: "cli", Sizes: []int{S, M, L},
		Shows: "a client whose SYNs to 10.213.N.2:8080 are dropped by the server's firewall: " +
			"SYN_SENT [UNREPLIED] entries grow in three waves beside the client's ordinary traffic, then stay (120 s timeout); " +
			"the server's table stays empty of them.",
		Method: "the waves are real connect() calls (up to 400 a wave) and, beyond that, first SYNs sent through a raw socket " +
			"from the client's pool of source addresses; the kernel retransmits the real ones without refreshing their entries. " +
			"The client's other traffic (pooled and short HTTP calls, DNS, database pool, health checks) is netlink-made " +
			"entries with the timeouts that traffic leaves, refreshed, closed and replaced as it goes.",
		play: func(r *Run) {
			p, cli, srv := pairHosts(r)
			p.B.Nft(r.T, "table inet firewall {\n chain in { type filter hook input priority 0; tcp dport 8080 drop\n }\n}")
			bg, wave := r.Size/6, r.Size*5/18 // the waves end at 5/6 of the table
			r.Background(cli, appClient(p.A4, bg)...)
			r.Background(srv, webServer(p.B4, p.B6, r.Size/20)...)
			pool := addAddrs(r, p.A, p.ALink, addrAdd(p.A4, 10), 3*wave/31000+1)
			raw := NewRawSender(r.T, p.A)
			dst := netip.AddrPortFrom(p.B4, 8080)
			next := 0
			r.Begin()
			r.Sample(0)
			for k := 1; k <= 3; k++ {
				r.At(r.SampleTime(k-1) + 0.5)
				real := min(wave, realCap)
				ConnectNonBlocking(r.T, p.A, dst, real)
				rawSYNs(r, raw, pool, dst, &next, wave-real)
				r.Logf("wave %d: %d SYNs to %s (%d from sockets, %d raw), nothing answers", k, wave, dst, real, wave-real)
				r.Sample(k)
			}
			r.Sample(4)
			r.Sample(5)
			r.Finish()
		},
	}
}

func halfAssured() *Scenario {
	return &Scenario{
		Name: "half-assured", Rule: rules.HalfAssured, View: "srv", Sizes: []int{S, M, L},
		Shows: "a server whose clients' final handshake ACKs never arrive (dropped on the way): " +
			"SYN_RECV entries, answered but never assured, grow in three waves on port 8080 beside the server's ordinary traffic; " +
			"the server retransmits its SYN-ACKs (each refreshing the entry) and, past its SYN backlog, answers with SYN cookies.",
		Method: "the waves are real connect() calls from the client (up to 400 a wave) whose final ACK a rule on the client drops " +
			"after the client's conntrack saw it, and, beyond that, first SYNs sent through a raw socket from the client's pool of " +
			"source addresses, answered by the server's real stack (the client drops those SYN-ACKs untracked, so no RST comes back). " +
			"The server's other traffic is netlink-made entries (HTTPS keep-alive and TIME_WAIT, its lookups, pool and API calls), " +
			"refreshed, closed and replaced as it goes.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 8080), Echo)
			bg, wave := r.Size/6, r.Size*5/18
			pool := addAddrs(r, p.A, p.ALink, addrAdd(p.A4, 10), 3*wave/31000+1)
			p.A.Nft(r.T, fmt.Sprintf(`table inet lostacks {
	chain out { type filter hook output priority 0; ip saddr %s tcp dport 8080 tcp flags & (syn|ack) == ack drop
	}
	chain rawout { type filter hook output priority raw; ip saddr 10.213.0.0/16 ip saddr != %s tcp dport 8080 notrack
	}
	chain rawin { type filter hook prerouting priority raw; ip daddr 10.213.0.0/16 ip daddr != %s tcp sport 8080 notrack
	}
	chain in { type filter hook input priority 0; ip daddr != %s tcp sport 8080 drop
	}
}`, p.A4, p.A4, p.A4, p.A4))
			r.Background(srv, webServer(p.B4, p.B6, bg)...)
			raw := NewRawSender(r.T, p.A)
			dst := netip.AddrPortFrom(p.B4, 8080)
			next := 0
			r.Begin()
			r.Sample(0)
			for k := 1; k <= 3; k++ {
				r.At(r.SampleTime(k-1) + 0.5)
				real := min(wave, realCap)
				ConnectNonBlocking(r.T, p.A, dst, real)
				rawSYNs(r, raw, pool, dst, &next, wave-real)
				r.Logf("wave %d: %d handshakes to %s (%d from sockets, %d raw SYNs), no final ACK arrives", k, wave, dst, real, wave-real)
				r.Sample(k)
			}
			r.Sample(4)
			r.Finish()
		},
	}
}
