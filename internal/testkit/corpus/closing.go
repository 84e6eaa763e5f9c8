package corpus

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// bulkWave is a pattern's part made over netlink at M and L: entries of
// one state created in a burst, not kept alive (their timeouts only count
// down), as connections that never see another packet.
func bulkWave(name string, f Flows, state track.TCPState, status track.Status, timeout uint32) *Class {
	return &Class{Name: name, Flows: f, State: state, Status: status, Timeout: timeout}
}

// addWave creates n entries of c on h now, logging it.
func addWave(r *Run, h *Host, c *Class, n int) {
	r.T.Helper()
	if n <= 0 {
		return
	}
	if err := r.Bulk(h).Add(c, n); err != nil {
		r.T.Fatalf("corpus: %s: %v", h.Name, err)
	}
}

func stuckEstablished() *Scenario {
	return &Scenario{
		Name: "stuck-established", Rule: rules.StuckEstablished, View: "srv", Sizes: []int{S, M, L},
		Shows: "a database server whose port 5432 gains ESTABLISHED [ASSURED] entries in three waves (0 → N → 2N → 3N over three intervals) " +
			"that never carry a packet after their handshake (each timeout only decreases) and never close, beside its healthy " +
			"connection pools (idle for minutes, some used now and then).",
		Method: "the leaked connections are real (up to 400 a wave, the client connects and then stays silent) and, beyond that, " +
			"netlink-made ESTABLISHED [ASSURED] entries from the leaking application fleet created at the wave's time with the " +
			"established timeout, never refreshed. The pools, short sessions and the server's own traffic are netlink-made " +
			"entries kept going as that traffic would.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 5432), Echo)
			bg, wave := r.Size/4, r.Size/4
			r.Background(srv, dbServer(p.B4, bg)...)
			leak := bulkWave("leaked connections", Flows{Proto: track.ProtoTCP, Clients: pfx("10.63.0.0/16"), PerClient: 50,
				Servers: []netip.Addr{p.B4}, Port: 5432}, track.TCPEstablished, assured, toEstablished)
			dst := netip.AddrPortFrom(p.B4, 5432)
			r.Begin()
			r.Sample(0)
			for k := 1; k <= 3; k++ {
				r.At(r.SampleTime(k-1) + 0.5)
				real := min(wave, realCap)
				conns, err := dialMany(p.A, dst, real, false)
				r.T.Cleanup(func() { closeConns(conns) })
				if err != nil {
					r.T.Fatalf("corpus: %v", err)
				}
				addWave(r, srv, leak, wave-real)
				r.Logf("wave %d: %d connections to %s opened and left silent (%d real, %d netlink)", k, wave, dst, real, wave-real)
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

func closeConns(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

func closeGrowth() *Scenario {
	return &Scenario{
		Name: "close-growth", Rule: rules.CloseGrowth, View: "srv", Sizes: []int{S, M, L},
		Shows: "a server whose application never closes the connections its clients half-close: CLOSE_WAIT entries on port 8080 " +
			"grow in three waves (e.g. 225 → 450 → 675), while a storm of resets (clients aborting) makes CLOSE entries spike " +
			"and then expire (10 s), beside the server's ordinary HTTPS traffic.",
		Method: "real connections (up to 400 a wave): the client sends a request and shuts down its side; the server reads to the " +
			"end and never closes (its socket stays in CLOSE_WAIT). The reset storm is real connections aborted with SO_LINGER 0 " +
			"(up to 800). Beyond that, netlink-made CLOSE_WAIT and CLOSE entries created at the same moments with the state's " +
			"timeout. The ordinary traffic is netlink-made and kept going.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 8080), Hold)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 8081), Echo)
			bg, wave, storm := r.Size/6, r.Size/4, r.Size/4
			r.Background(srv, webServer(p.B4, p.B6, bg)...)
			cw := bulkWave("half-closed, never closed", Flows{Proto: track.ProtoTCP, Clients: pfx("10.64.0.0/14"), PerClient: 4,
				Servers: []netip.Addr{p.B4}, Port: 8080}, track.TCPCloseWait, assured, toCloseWait)
			rst := bulkWave("aborted", Flows{Proto: track.ProtoTCP, Clients: pfx("10.68.0.0/14"), PerClient: 4,
				Servers: []netip.Addr{p.B4}, Port: 8081}, track.TCPClose, assured, toClose)
			r.Begin()
			r.Sample(0)
			for k := 1; k <= 3; k++ {
				r.At(r.SampleTime(k-1) + 0.5)
				real := min(wave, realCap)
				halfClose(r, p.A, netip.AddrPortFrom(p.B4, 8080), real)
				addWave(r, srv, cw, wave-real)
				r.Logf("wave %d: %d clients half-closed connections to %s:8080 the server never closes (%d real, %d netlink)", k, wave, p.B4, real, wave-real)
				if k == 2 {
					r.At(r.SampleTime(k) - 1.5)
					real := min(storm, 2*realCap)
					abortMany(r, p.A, netip.AddrPortFrom(p.B4, 8081), real)
					addWave(r, srv, rst, storm-real)
					r.Logf("reset storm: %d connections to %s:8081 aborted with RST (%d real, %d netlink)", storm, p.B4, real, storm-real)
				}
				r.Sample(k)
			}
			r.Sample(4)
			r.Finish()
		},
	}
}

// halfClose opens n connections to dst, sends a request on each and shuts
// down the client's side; the sockets stay open until the test ends.
func halfClose(r *Run, ns *netnstest.NS, dst netip.AddrPort, n int) {
	r.T.Helper()
	var conns []net.Conn
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			c, err := net.DialTimeout("tcp", dst.String(), dialTimeout)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	r.T.Cleanup(func() { closeConns(conns) })
	if err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
	for _, c := range conns {
		c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		c.(*net.TCPConn).CloseWrite()
	}
}

// abortMany opens n connections to dst and resets each at once.
func abortMany(r *Run, ns *netnstest.NS, dst netip.AddrPort, n int) {
	r.T.Helper()
	err := ns.Do(func() error {
		for i := 0; i < n; i++ {
			c, err := net.DialTimeout("tcp", dst.String(), dialTimeout)
			if err != nil {
				return err
			}
			c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			Abort(c)
		}
		return nil
	})
	if err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
}

func closeGrowthPeerGone() *Scenario {
	return &Scenario{
		Name: "close-growth-peer-gone", Rule: rules.CloseGrowth, View: "srv", Sizes: []int{S, M, L},
		Shows: "a server closing connections whose clients have gone away (a client host that stopped answering): its FIN " +
			"is never acknowledged and its TCP retransmits it; conntrack takes the retransmitted FIN for the peer's and moves " +
			"the entry from FIN_WAIT to LAST_ACK (30 s, refreshed by each retransmission), so LAST_ACK entries grow in three " +
			"waves beside the server's ordinary traffic (half of those connections had been half-closed by the client first: " +
			"CLOSE_WAIT, then LAST_ACK when the server closes).",
		Method: "real connections (up to 400 a wave); then the client host drops every packet of those connections (an nft set " +
			"of their ports) and the server closes them. Beyond that, netlink-made LAST_ACK entries created at the same moments " +
			"with the state's timeout. The ordinary traffic is netlink-made and kept going.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			dst := netip.AddrPortFrom(p.B4, 8080)
			s := Listen(r.T, p.B, dst, Hold)
			p.A.Nft(r.T, `table inet gone {
	set ports { type inet_service; }
	chain in { type filter hook input priority 0; tcp dport @ports drop
	}
	chain out { type filter hook output priority 0; tcp sport @ports drop
	}
}`)
			bg, wave := r.Size/6, r.Size*5/18
			r.Background(srv, webServer(p.B4, p.B6, bg)...)
			la := bulkWave("closed by the server, peer gone", Flows{Proto: track.ProtoTCP, Clients: pfx("10.64.0.0/14"), PerClient: 4,
				Servers: []netip.Addr{p.B4}, Port: 8080}, track.TCPLastAck, assured, toLastAck)
			r.Begin()
			r.Sample(0)
			for k := 1; k <= 3; k++ {
				r.At(r.SampleTime(k-1) + 0.5)
				real := min(wave, realCap)
				conns, err := dialMany(p.A, dst, real, false)
				r.T.Cleanup(func() { closeConns(conns) })
				if err != nil {
					r.T.Fatalf("corpus: %v", err)
				}
				var ports []string
				for i, c := range conns {
					c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
					if i%2 == 1 {
						c.(*net.TCPConn).CloseWrite()
					}
					ports = append(ports, fmt.Sprint(c.LocalAddr().(*net.TCPAddr).Port))
				}
				r.At(r.SampleTime(k-1) + 1)
				p.A.Nft(r.T, fmt.Sprintf("add element inet gone ports { %s }\n", strings.Join(ports, ", ")))
				s.Close() // closes every connection it holds: FIN
				s = Listen(r.T, p.B, dst, Hold)
				addWave(r, srv, la, wave-real)
				r.Logf("wave %d: %d clients gone (half of them had half-closed); the server closes their connections (%d real, %d netlink)", k, wave, real, wave-real)
				r.Sample(k)
			}
			r.Sample(4)
			r.Finish()
		},
	}
}
