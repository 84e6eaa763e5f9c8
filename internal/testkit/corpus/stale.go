package corpus

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

func invalidStaleTuple() *Scenario {
	return &Scenario{
		Name: "invalid-stale-tuple", Rule: rules.InvalidStaleTuple, View: "rtr", Sizes: []int{S, M, L},
		Shows: "a router between clients that pin their source port and a server: tuples sit in TIME_WAIT (the server closed " +
			"first) or CLOSE (the client reset) and come back about 11 s later as new handshakes with the same 4-tuple; the " +
			"server, still in TIME_WAIT, may answer a new SYN with an ACK of the old connection, and late segments of the old " +
			"connections arrive out of the window, so the router counts INVALID packets (the `invalid` counter, read once at the end).",
		Method: "all real: clients bind the same source ports (SO_REUSEADDR) for both rounds, the server on 8080 writes and " +
			"closes first, the connections to 8081 are aborted by the client (SO_LINGER 0); after the second round the client " +
			"sends three pairs of stale data segments per tuple (sequence numbers of no live connection) through a raw socket. " +
			"The router's other forwarded traffic (web, QUIC, DNS, pings, refused and unanswered attempts) is netlink-made and " +
			"kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, false)
			r.AddHost("cli", rt.Cli, false)
			rtr := r.AddHost("rtr", rt.Rtr, true)
			r.AddHost("srv", rt.Srv, false)
			bye := Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 8080), Bye)
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 8081), Echo)
			tuples := 20
			switch {
			case r.Size >= L:
				tuples = 1200
			case r.Size >= M:
				tuples = 300
			}
			r.Background(rtr, natGateway(netip.Addr{}, r.Size-2*tuples)...)
			samples := int(math.Ceil(12.5/r.Interval.Seconds())) + 1
			r.Begin()
			r.Sample(0)
			r.At(0.5)
			first := reuseRound(r, rt, tuples, false)
			r.Logf("round 1: %d connections from %s:40000+ (half to 8080, closed first by the server: TIME_WAIT; half to 8081, reset by the client: CLOSE)", first, rt.Cli4)
			next := 1
			for ; r.SampleTime(next) < 11.5; next++ {
				r.Sample(next)
			}
			// The service on 8080 is redeployed and now keeps connections
			// open; its old connections' TIME_WAIT sockets stay in the kernel.
			bye.Close()
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 8080), Respond)
			r.At(11.5)
			second := reuseRound(r, rt, tuples, true)
			r.Logf("round 2: the same %d 4-tuples connect again (%d connected) and stay open", tuples, second)
			for i := 0; i < tuples; i++ {
				port := uint16(8080 + i%2)
				SendStaleTCP(r.T, rt.Cli, netip.AddrPortFrom(rt.Cli4, uint16(40000+i)), netip.AddrPortFrom(rt.Srv4, port), 3)
			}
			r.Logf("late segments of the old connections: %d (3 pairs per tuple)", 6*tuples)
			for ; next < samples; next++ {
				r.Sample(next)
			}
			r.Finish()
		},
	}
}

// reuseRound connects from cli:40000+i to srv (8080 for even i, 8081 for
// odd), 400 at a time. The first round ends each connection (the
// server closes 8080 first; the client aborts 8081); the second keeps
// them open. It returns how many connected.
func reuseRound(r *Run, rt *Routed, n int, keep bool) int {
	r.T.Helper()
	var (
		mu        sync.Mutex
		connected int
		wg        sync.WaitGroup
		firstErr  error
	)
	sem := make(chan struct{}, 400)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			src := netip.AddrPortFrom(rt.Cli4, uint16(40000+i))
			dst := netip.AddrPortFrom(rt.Srv4, uint16(8080+i%2))
			c, err := DialFrom(rt.Cli, src, dst)
			if err == nil && !keep {
				if i%2 == 0 {
					c.SetReadDeadline(time.Now().Add(3 * time.Second))
					io.ReadAll(c) // until the server's FIN
					c.Close()
				} else {
					c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
					Abort(c)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			connected++
			if keep {
				r.T.Cleanup(func() { c.Close() })
			}
		}(i)
	}
	wg.Wait()
	if connected == 0 && firstErr != nil {
		r.T.Fatalf("corpus: %v", firstErr)
	}
	if firstErr != nil {
		r.Logf("some connections failed: %v", firstErr)
	}
	return connected
}

func insertFailed() *Scenario {
	return &Scenario{
		Name: "insert-failed", Rule: rules.InsertFailed, View: "rtr", Sizes: []int{S, M, L},
		Shows: "a NAT gateway (MASQUERADE, ports kept when free) where new flows race on two CPUs: two clients connect from " +
			"the same source port at the same moment, the router gives both the same port, and the second insert finds the " +
			"first's reply tuple; a TCP clash cannot be resolved, so the kernel drops that SYN (insert_failed, drop; the " +
			"client retries a second later). Resolver libraries also send two queries of one new UDP flow at once (A and " +
			"AAAA): those clashes the kernel resolves (clash_resolve). Counters read once at the end; the table is not full.",
		Method: "all real: pairs of sockets in the client namespace (two client addresses for TCP, one for UDP) bound to the " +
			"same port, pinned to CPU 0 and CPU 1, send at the same moment through the router to the server (port 443, " +
			"answered; port 53, answered); Linux 6.18 resolves every UDP clash, even with different NAT (measured), so the " +
			"failed inserts are the TCP ones. A tenth as many pairs again meet without luck: the router holds the first SYN " +
			"in an NFQUEUE after NAT and before confirmation (where the other CPU's packet would be) until the second is " +
			"confirmed, then lets it go on to the same clash. The router's other traffic is netlink-made translated entries kept going.",
		play: func(r *Run) {
			rt := NewRouted(r.T, true)
			r.AddHost("cli", rt.Cli, true)
			rtr := r.AddHost("rtr", rt.Rtr, true)
			r.AddHost("srv", rt.Srv, false)
			rt.Rtr.Nft(r.T, fmt.Sprintf("table ip nat {\n chain post { type nat hook postrouting priority srcnat; oifname %q masquerade\n }\n}", rt.RtrOut))
			Listen(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 443), Echo)
			UDPEcho(r.T, rt.Srv, netip.AddrPortFrom(rt.Srv4, 53))
			second := addAddrs(r, rt.Cli, rt.CliLink, addrAdd(rt.Cli4, 10), 1)[0]
			races := 150 // each leaves about three entries: two TCP, one UDP
			switch {
			case r.Size >= L:
				races = 900
			case r.Size >= M:
				races = 450
			}
			r.Background(rtr, natGateway(rt.RtrOut4, max(r.Size-3*races, r.Size/2))...)
			r.Begin()
			r.Sample(0)
			for k := 1; k <= 3; k++ {
				r.At(r.SampleTime(k-1) + 0.5)
				n := races / 3
				if err := TCPPortRace(rt.Cli, rt.Cli4, second, 20000+(k-1)*n, netip.AddrPortFrom(rt.Srv4, 443), n); err != nil {
					r.T.Skipf("corpus: %v", err)
				}
				if err := UDPInsertRace(rt.Cli, rt.Cli4, 30000+(k-1)*n, netip.AddrPortFrom(rt.Srv4, 53), n); err != nil {
					r.T.Skipf("corpus: %v", err)
				}
				r.Logf("burst %d: %d pairs of connections from %s and %s on one source port, %d pairs of queries on one socket's port, to %s", k, n, rt.Cli4, second, n, rt.Srv4)
				// Two CPUs rarely send at one instant on a busy machine: a
				// tenth as many pairs again meet as they would in the race,
				// the first SYN held by the router where the other CPU's
				// packet would be (TCPHeldRace), so the capture always has
				// failed inserts.
				h := max(5, n/10)
				if err := TCPHeldRace(r.T, rt.Rtr, rt.Cli, rt.Cli4, second, 45000+(k-1)*h, netip.AddrPortFrom(rt.Srv4, 443), h); err != nil {
					r.T.Fatalf("corpus: %v", err)
				}
				r.Logf("burst %d: %d more pairs meeting at the router's confirmation (%d failed inserts so far)", k, h, failedInserts(r, rt))
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

// failedInserts reads the router's insert_failed counter, summed over CPUs.
func failedInserts(r *Run, rt *Routed) int {
	r.T.Helper()
	b, err := readProc(rt.Rtr, "/proc/net/stat/nf_conntrack")
	if err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	col := slices.Index(strings.Fields(lines[0]), "insert_failed")
	total := 0
	for _, l := range lines[1:] {
		if f := strings.Fields(l); col >= 0 && col < len(f) {
			v, _ := strconv.ParseUint(f[col], 16, 64)
			total += int(v)
		}
	}
	return total
}

func staleUDP() *Scenario {
	return &Scenario{
		Name: "stale-udp", Rule: rules.StaleUDP, View: "srv", Sizes: []int{S, M, L},
		Shows: "a DNS service address (10.213.N.100:53, DNAT to a backend) whose backend is replaced: clients that keep " +
			"sending from one source port keep the entry they had, refreshed by every query: one started before the service's " +
			"DNAT rule existed (never translated), others before the switch (still translated to the old backend, which is " +
			"gone), while every newer client's entry goes to the new backend.",
		Method: "all clients are real UDP sockets in the client that query every 300 ms; the old backend's socket is closed at " +
			"the switch (its queries now get port unreachable). The service's many other clients and the server's own traffic " +
			"are netlink-made entries (translated to the current backend, answered) kept going as that traffic would.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			b4 := p.B4.As4()
			vip := netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], 100})
			old := netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], 3})
			p.B.MustOutput(r.T, "ip", "addr", "add", vip.String()+"/32", "dev", p.BLink)
			p.B.MustOutput(r.T, "ip", "addr", "add", old.String()+"/32", "dev", p.BLink)
			p.A.MustOutput(r.T, "ip", "route", "add", vip.String()+"/32", "dev", p.ALink)
			oldBackend, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(old, 5353).String())
			if err != nil {
				r.T.Fatal(err)
			}
			r.T.Cleanup(func() { oldBackend.Close() })
			go echoPackets(oldBackend)
			UDPEcho(r.T, p.B, netip.AddrPortFrom(p.B4, 5353))
			stale := 3
			switch {
			case r.Size >= L:
				stale = 60
			case r.Size >= M:
				stale = 20
			}
			// The service's other clients: 3/4 of the table, answered by the
			// old backend until the switch, then by the new one (the old
			// entries expire within 30 s as the new ones are born).
			svc := func(name string, backend netip.Addr, clients string) *Class {
				return udpAnswered(name, r.Size*3/4, Flows{Clients: pfx(clients), PerClient: 4,
					Servers: []netip.Addr{vip}, Port: 53, DNAT: backend, DNATPort: 5353})
			}
			query := func(n int, what string) {
				for i := 0; i < n; i++ {
					c, err := p.A.Dial("udp4", netip.AddrPortFrom(vip, 53).String())
					if err != nil {
						r.T.Fatal(err)
					}
					r.Go(func(stop <-chan struct{}) {
						defer c.Close()
						for {
							c.Write([]byte("q"))
							select {
							case <-stop:
								return
							case <-time.After(300 * time.Millisecond):
							}
						}
					})
				}
				r.Logf("%d clients start querying %s:53 every 300 ms from one socket each (%s)", n, vip, what)
			}
			query(1+stale/10, "no DNAT rule yet: never translated")
			time.Sleep(300 * time.Millisecond)
			p.B.Nft(r.T, fmt.Sprintf("table ip svc {\n chain pre { type nat hook prerouting priority dstnat; ip daddr %s udp dport 53 dnat to %s:5353\n }\n}", vip, old))
			r.Logf("service DNAT rule: %s:53 → %s:5353 (the old backend)", vip, old)
			query(stale, "translated to the old backend")
			oldSvc := svc("service clients (old backend)", old, "10.72.0.0/16")
			r.Background(srv, append(webServer(p.B4, p.B6, r.Size/4), oldSvc)...)
			r.Begin()
			r.Sample(0)
			r.At(r.SampleTime(1) - 1)
			p.B.Nft(r.T, fmt.Sprintf("flush chain ip svc pre\nadd rule ip svc pre ip daddr %s udp dport 53 dnat to %s:5353\n", vip, p.B4))
			oldBackend.Close()
			r.Bulk(srv).Locked(func() { oldSvc.Rate = 1e-9 }) // no new client reaches the old backend
			r.Bulk(srv).addClass(svc("service clients (new backend)", p.B4, "10.73.0.0/16"))
			r.Logf("the backend is replaced: DNAT now → %s:5353, the old backend's socket closed", p.B4)
			r.At(r.SampleTime(1) - 0.5)
			query(stale*2, "after the switch: the new backend")
			for k := 1; k <= 4; k++ {
				r.Sample(k)
			}
			r.Finish()
		},
	}
}

// echoPackets answers datagrams on pc until it is closed.
func echoPackets(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:n], from)
	}
}

func topTalker() *Scenario {
	return &Scenario{
		Name: "top-talker", Rule: rules.TopTalker, View: "srv", Sizes: []int{S, M, L},
		Shows: "a server where one client (10.213.N.1) opens connections in a loop (request, close, again): its entries " +
			"(mostly TIME_WAIT, some open) grow from a third of the table to three quarters, among thousands of ordinary clients " +
			"holding a few each.",
		Method: "the loop is real (up to 150 connections a second from the client's sockets to port 443); beyond that, the " +
			"same client's connections to the server's other ports (8443, 9443, 10443, 11443) are netlink-made at the loop's rate with the " +
			"TIME_WAIT timeout they start with, each interval's released once the sample before it is read. The server's ordinary traffic is netlink-made and kept going.",
		play: func(r *Run) {
			p, _, srv := pairHosts(r)
			Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 443), Respond)
			const samples = 5
			bg := r.Size / 4
			talker := r.Size*3/4 - r.Size/8
			rate := float64(talker) / (float64(samples-1) * r.Interval.Seconds())
			realRate := min(rate, 150)
			r.Background(srv, webServer(p.B4, p.B6, bg)...)
			// The talker's other connections, to the server's other ports,
			// from its whole port range (one address holds at most 64,511
			// connections to one port).
			// Births are paced by the samples, not by the clock: each
			// interval's are released once the sample before it is read.
			// A sample read late (seconds late on a busy machine, under
			// -race) would otherwise leave the loop ended before the last
			// sample, its share flat.
			perInterval := int((rate - realRate) / 4 * r.Interval.Seconds())
			var talk []*Class
			for _, port := range []uint16{8443, 9443, 10443, 11443} {
				talk = append(talk, &Class{Name: fmt.Sprintf("the talker's closed connections to :%d", port),
					Flows: Flows{Proto: track.ProtoTCP, From: p.A4, FromPorts: 64001, Servers: []netip.Addr{p.B4}, Port: port},
					State: track.TCPTimeWait, Status: assured, Timeout: toTimeWait,
					// It has been at it for a while: its entries of the last
					// two minutes are there, and it speeds up from now on.
					N: r.Size / 32, Rate: (rate - realRate) / 4, Births: perInterval})
			}
			r.Background(srv, talk...)
			r.Begin()
			r.Go(func(stop <-chan struct{}) { loopConnections(r, p.A, netip.AddrPortFrom(p.B4, 443), realRate, stop) })
			r.Logf("the talker loops: %.0f connections a second (%.0f real to :443, the rest to :8443, :9443, :10443 and :11443)", rate, realRate)
			bulk := r.Bulk(srv)
			for k := 0; k < samples; k++ {
				r.Sample(k)
				bulk.Locked(func() {
					for _, c := range talk {
						c.Births = (k + 1) * perInterval
					}
				})
				// Births held back by a late sample start now, before the
				// next sample is read.
				bulk.Tick()
			}
			r.Finish()
		},
	}
}

// loopConnections connects, sends a request, reads the answer and closes,
// rate times a second, until stop.
func loopConnections(r *Run, ns interface {
	Dial(string, string) (net.Conn, error)
}, dst netip.AddrPort, rate float64, stop <-chan struct{}) {
	if rate <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	buf := make([]byte, 64)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c, err := ns.Dial("tcp4", dst.String())
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		c.Read(buf)
		c.Close()
	}
}
