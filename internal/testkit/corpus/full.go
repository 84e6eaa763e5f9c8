package corpus

import (
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// conntrackMax reads the global nf_conntrack_max (never written here).
func conntrackMax(r *Run) int {
	r.T.Helper()
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		r.T.Fatalf("corpus: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		r.T.Fatalf("corpus: nf_conntrack_max: %v", err)
	}
	return n
}

// busyServer is a server whose connections are long-lived (websockets,
// MQTT, long polling): a table of ASSURED ESTABLISHED entries early drop
// cannot evict, some closing to TIME_WAIT, and a little UDP, some of it
// unanswered (the only entries early drop may take).
func busyServer(host netip.Addr, n int) []*Class {
	tcp := track.ProtoTCP
	return fit(n, []*Class{
		established("websocket clients", share(n, 80), Flows{Proto: tcp, Clients: pfx("100.64.0.0/11"), PerClient: 3, Servers: []netip.Addr{host}, Port: 443}, 40, 0.03, 0.002),
		timeWait("closed (TIME_WAIT)", share(n, 12), Flows{Proto: tcp, Clients: pfx("100.96.0.0/12"), PerClient: 1, Servers: []netip.Addr{host}, Port: 443}),
		udpAnswered("dns lookups", share(n, 5), Flows{From: host, Servers: resolvers(), Port: 53}),
		udpUnanswered("syslog and stats datagrams", share(n, 3), Flows{From: host, Servers: metrics(), Port: 514}),
	})
}

func tableFull() *Scenario {
	return &Scenario{
		Name: "table-full", Rule: rules.TableFull, View: "srv", Sizes: []int{S, M, L},
		Committed: "testdata/kernel-6.18/table-full",
		Shows: "at L (and any size from L up): a server's table at nf_conntrack_max (the machine's own limit, not lowered), mostly " +
			"ASSURED long-lived connections early drop cannot evict; new connections and datagrams arrive, a few evict unanswered " +
			"entries (early_drop), the rest are dropped (drop) with \"table full\" kernel-log lines. Below L: a filling table, " +
			"tens of thousands of long-lived connections growing fast enough to reach nf_conntrack_max within minutes. " +
			"At S the committed capture testdata/kernel-6.18/table-full is used (made with a lowered limit, by hand).",
		Method: "the table is filled over netlink to a little under nf_conntrack_max with the server's long-lived connections " +
			"(idle ages spread, refreshed, closed and replaced as that traffic would); then real traffic fills the rest: up to 400 " +
			"real connections from the client and first UDP datagrams through a raw socket, which the kernel takes, evicts for or " +
			"drops. The filling table grows by netlink-made connections arriving every half second that stay (some refreshed) and " +
			"by real connections.",
		play: func(r *Run) {
			if r.Size >= L {
				playTableFull(r)
			} else {
				playTableFilling(r)
			}
		},
	}
}

func playTableFull(r *Run) {
	p, _, srv := pairHosts(r)
	Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 8080), Echo)
	max := conntrackMax(r)
	headroom := min(1500, max/10)
	r.Logf("nf_conntrack_max is %d (global, left as it is); filling srv to %d", max, max-headroom)
	r.Bulk(srv).TolerateFull()
	r.Background(srv, busyServer(p.B4, max-headroom)...)
	raw := NewRawSender(r.T, p.A)
	r.Begin()
	r.Sample(0)
	for k := 1; k <= 3; k++ {
		r.At(r.SampleTime(k-1) + 0.5)
		ConnectNonBlocking(r.T, p.A, netip.AddrPortFrom(p.B4, 8080), realCap/2)
		probes := headroom
		for i := 0; i < probes; i++ {
			pk := UDPPacket(netip.AddrPortFrom(p.A4, uint16(20000+(k-1)*probes+i)), netip.AddrPortFrom(p.B4, 9999), 32)
			if err := raw.Send(&pk); err != nil {
				r.T.Fatalf("corpus: %v", err)
			}
		}
		r.Logf("wave %d: %d connections to %s:8080 and %d datagrams to %s:9999 arrive", k, realCap/2, p.B4, probes, p.B4)
		r.Sample(k)
	}
	r.Logf("netlink creations refused by the full table (the server's own new connections): %d batches", r.Bulk(srv).Full)
	r.Finish()
}

func playTableFilling(r *Run) {
	p, _, srv := pairHosts(r)
	Listen(r.T, p.B, netip.AddrPortFrom(p.B4, 443), Echo)
	const samples = 5
	start := r.Size / 3
	grow := float64(r.Size-start) / (float64(samples-1) * r.Interval.Seconds())
	surge := established("reconnecting websocket clients", 0, Flows{Proto: track.ProtoTCP, Clients: pfx("100.112.0.0/12"), PerClient: 2,
		Servers: []netip.Addr{p.B4}, Port: 443}, 1, 1.0/30, 0)
	surge.Grow = grow * 0.98
	r.Background(srv, append(busyServer(p.B4, start), surge)...)
	r.Logf("from t=0 on, %.0f connections a second arrive and stay (websocket clients reconnecting after a deploy)", grow)
	r.Begin()
	r.Sample(0)
	for k := 1; k < samples; k++ {
		r.At(r.SampleTime(k-1) + 0.5)
		real := int(grow * 0.02 * r.Interval.Seconds())
		conns, err := dialMany(p.A, netip.AddrPortFrom(p.B4, 443), min(real, realCap), true)
		r.T.Cleanup(func() { closeConns(conns) })
		if err != nil {
			r.T.Fatalf("corpus: %v", err)
		}
		r.Sample(k)
	}
	r.Finish()
}
