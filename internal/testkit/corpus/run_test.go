package corpus

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// The summary's state counts, on lines the kernel printed (from the
// committed captures): family, protocol, TCP state and flags.
func TestStateTally(t *testing.T) {
	lines := []string{
		"ipv4     2 tcp      6 110 SYN_SENT src=10.213.1.1 dst=10.213.1.2 sport=42714 dport=8080 [UNREPLIED] src=10.213.1.2 dst=10.213.1.1 sport=8080 dport=42714 mark=0 zone=0 use=2",
		"ipv4     2 tcp      6 100 TIME_WAIT src=10.213.1.1 dst=10.30.0.7 sport=32768 dport=443 src=10.30.0.7 dst=10.213.1.1 sport=443 dport=32768 [ASSURED] mark=0 zone=0 use=2",
		"ipv4     2 udp      17 29 src=10.231.1.1 dst=10.231.2.2 sport=44761 dport=161 [UNREPLIED] src=10.231.2.2 dst=10.231.2.254 sport=161 dport=44761 mark=0 zone=0 use=2",
		"ipv4     2 udp      17 21 src=10.213.1.1 dst=10.255.0.53 sport=33765 dport=53 src=10.255.0.53 dst=10.213.1.1 sport=53 dport=33765 mark=0 zone=0 use=2",
		"ipv6     10 tcp      6 431995 ESTABLISHED src=2001:0db8:0064:0000:0000:0000:0000:0001 dst=fd00:0000:0213:0001:0000:0000:0000:0002 sport=32768 dport=443 src=fd00:0000:0213:0001:0000:0000:0000:0002 dst=2001:0db8:0064:0000:0000:0000:0000:0001 sport=443 dport=32768 [ASSURED] mark=0 zone=0 use=2",
		"ipv4     2 tcp      6 100 TIME_WAIT src=10.213.1.1 dst=10.30.0.8 sport=32769 dport=443 src=10.30.0.8 dst=10.213.1.1 sport=443 dport=32769 [ASSURED] mark=0 zone=0 use=2",
		"",
	}
	s := newStateTally()
	for _, l := range lines {
		s.add([]byte(l))
	}
	var b bytes.Buffer
	s.write(&b)
	want := `         2  ipv4 tcp TIME_WAIT [ASSURED]
         1  ipv4 tcp SYN_SENT [UNREPLIED]
         1  ipv4 udp
         1  ipv4 udp [UNREPLIED]
         1  ipv6 tcp ESTABLISHED [ASSURED]
`
	if s.total != 6 || b.String() != want {
		t.Errorf("total %d, tally:\n%s\nwant:\n%s", s.total, b.String(), want)
	}
	if got := strings.Count(b.String(), "\n"); got != 5 {
		t.Errorf("%d keys", got)
	}
}

// Every class of every profile makes tuples the kernel accepts side by
// side: no original or reply tuple twice (ctnetlink refuses a clash with
// EEXIST), for as many entries as an L capture's classes make.
func TestProfilesMakeUniqueTuples(t *testing.T) {
	host, host6 := netip.MustParseAddr("10.213.1.2"), netip.MustParseAddr("fd00:0:213:1::2")
	snat := netip.MustParseAddr("10.231.2.254")
	n := L
	if testing.Short() {
		n = M
	}
	for name, cs := range map[string][]*Class{
		"webServer":   webServer(host, host6, n),
		"appClient":   appClient(host, n),
		"dbServer":    dbServer(host, n),
		"dnsResolver": dnsResolver(host, n),
		"natGateway":  natGateway(snat, n),
		"router":      natGateway(netip.Addr{}, n),
		"busyServer":  busyServer(host, n),
	} {
		type maker struct {
			class string
			i     int
		}
		seen := map[track.Tuple]maker{}
		total := 0.0
		for _, c := range cs {
			alive := float64(c.N) * (1 + c.Close*toTimeWait)
			total += alive
			// What Prime makes, and what a minute of births and closes adds.
			count := int(alive) + int(60*float64(c.N)/float64(c.Timeout))
			for i := 0; i < count; i++ {
				o, r := c.Flows.Tuple(uint64(i))
				if !o.IsValid() || !r.IsValid() {
					t.Fatalf("%s/%s: entry %d: invalid tuples %v %v", name, c.Name, i, o, r)
				}
				for _, tu := range []track.Tuple{o, r} {
					// A transient class's entry i is gone before entry
					// i+alive is born; every other pair may be alive at once.
					if prev, dup := seen[tu]; dup && (prev.class != c.Name || c.Long || float64(i-prev.i) < 2*alive) {
						t.Fatalf("%s/%s: entry %d: tuple %v already made by %s entry %d", name, c.Name, i, tu, prev.class, prev.i)
					}
					seen[tu] = maker{c.Name, i}
				}
			}
		}
		if total < 0.98*float64(n) || total > 1.02*float64(n) {
			t.Errorf("%s: primes %.0f entries, want about %d", name, total, n)
		}
	}
}

func TestAddrAdd(t *testing.T) {
	for _, c := range []struct {
		a    string
		n    uint64
		want string
	}{
		{"10.64.0.0", 1, "10.64.0.1"},
		{"10.64.0.255", 1, "10.64.1.0"},
		{"10.64.255.255", 65538, "10.66.0.1"},
		{"2001:db8:64::", 0x10001, "2001:db8:64::1:1"},
	} {
		if got := addrAdd(netip.MustParseAddr(c.a), c.n); got != netip.MustParseAddr(c.want) {
			t.Errorf("%s + %d = %s, want %s", c.a, c.n, got, c.want)
		}
	}
}

func TestPoissonMean(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []float64{0.3, 4, 120} {
		sum := 0
		for range 4000 {
			sum += poisson(r, m)
		}
		if got := float64(sum) / 4000; got < 0.95*m || got > 1.05*m {
			t.Errorf("poisson(%v): mean %.2f", m, got)
		}
	}
}

func TestSocketStatesAndStats(t *testing.T) {
	ss := socketStates([]byte("ESTAB 0 0 10.0.0.1:1 10.0.0.2:2\nESTAB 0 0 10.0.0.1:3 10.0.0.2:2\nLISTEN 0 4096 *:80 *:*\n"))
	if string(ss) != "      2 ESTAB\n      1 LISTEN\n" {
		t.Errorf("socketStates: %q", ss)
	}
	got := sumStats([]byte("cpu=0   \tfound=0 invalid=3 drop=1 \ncpu=1   \tfound=0 invalid=4 drop=0 \n"))
	if strings.Join(got, " ") != "drop=1 found=0 invalid=7" {
		t.Errorf("sumStats: %q", got)
	}
}
