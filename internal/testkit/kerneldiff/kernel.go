package kerneldiff

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// quietRuleset keeps the namespace's own stack from answering the crafted
// packets (no RSTs, no port unreachables, no echo replies): everything
// arriving is dropped at input, after conntrack has seen it on the way out
// (docs/KERNEL.md §9). Conntrack itself is switched on by netnstest's ct rules.
const quietRuleset = `table inet ctdiag_quiet {
	chain in {
		type filter hook input priority -10; policy drop;
	}
}
`

// Addresses the harness uses inside its namespace; all are on lo.
var (
	Client4 = netip.MustParseAddr("127.0.0.1")
	Server4 = netip.MustParseAddr("127.0.0.2")
	// IPv6 addresses come from fd00:c7::/64, made local on lo.
	Client6 = netip.MustParseAddr("fd00:c7::1")
	Server6 = netip.MustParseAddr("fd00:c7::2")
)

// Namespace is a network namespace set up for differential tests.
type Namespace struct {
	*netnstest.NS
	Sysctls track.Sysctls // the conntrack sysctls set in it (bare names)
}

// NewNamespace creates a namespace with conntrack on, the local stack
// quiet, IPv6 addresses on lo, and the given conntrack sysctls
// (bare names, e.g. "nf_conntrack_tcp_timeout_syn_sent": "3").
//
// nf_conntrack_max is global, but the count it limits is the namespace's
// own: other tests' tables, full or not, do not change what this one sees.
func NewNamespace(t testing.TB, sysctls track.Sysctls) *Namespace {
	t.Helper()
	ns := netnstest.NewNS(t)
	ns.Nft(t, quietRuleset)
	ns.MustOutput(t, "ip", "-6", "addr", "add", "fd00:c7::1/128", "dev", "lo", "nodad")
	ns.MustOutput(t, "ip", "-6", "route", "add", "local", "fd00:c7::/64", "dev", "lo")
	for k, v := range sysctls {
		ns.MustOutput(t, "sysctl", "-q", "-w", "net.netfilter."+k+"="+v)
	}
	return &Namespace{NS: ns, Sysctls: sysctls}
}

// EngineConfig is the engine configuration that mirrors the namespace: its
// sysctls, the global table limits, and loopback (every packet crosses lo).
func (n *Namespace) EngineConfig(t testing.TB) track.EngineConfig {
	t.Helper()
	s := track.LayerSysctls(n.Sysctls)
	for _, name := range []string{"nf_conntrack_max", "nf_conntrack_buckets"} {
		b, err := n.ReadProcFile("/proc/sys/net/netfilter/" + name)
		if err != nil {
			t.Fatalf("kerneldiff: %v", err)
		}
		s.Set(name, strings.TrimSpace(string(b)))
	}
	return track.EngineConfig{Sysctls: s, Loopback: true}
}

// Sender sends crafted packets from raw sockets inside a namespace.
type Sender struct {
	fd4, fd6 int
}

// NewSender opens an IPv4 and an IPv6 IPPROTO_RAW socket in the namespace
// (sockets stay in the namespace they were made in).
func NewSender(ns *netnstest.NS) (*Sender, error) {
	s := &Sender{fd4: -1, fd6: -1}
	err := ns.Do(func() error {
		var err error
		if s.fd4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw IPv4 socket: %w", err)
		}
		if s.fd6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw IPv6 socket: %w", err)
		}
		return nil
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Send sends one IP packet (header included) to dst. A packet netfilter
// drops on the way out (table full, NAT without an address) fails with
// EPERM.
func (s *Sender) Send(pkt []byte, dst netip.Addr) error {
	if dst.Is4() {
		return unix.Sendto(s.fd4, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
	}
	return unix.Sendto(s.fd6, pkt, 0, &unix.SockaddrInet6{Addr: dst.As16()})
}

// Close closes the sockets.
func (s *Sender) Close() {
	for _, fd := range []int{s.fd4, s.fd6} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// ReadTable reads /proc/net/nf_conntrack inside the namespace and parses it.
func ReadTable(ns *netnstest.NS) ([]track.Flow, error) {
	b, err := readInNS(ns, "/proc/thread-self/net/nf_conntrack")
	if err != nil {
		return nil, err
	}
	d, err := parser.NewDecoder(bytes.NewReader(b), "nf_conntrack", parser.Options{})
	if err != nil {
		return nil, err
	}
	var flows []track.Flow
	err = d.Flows(func(f *track.Flow) error {
		flows = append(flows, f.Clone())
		return nil
	})
	if err == nil && d.Problems().Count > 0 {
		err = fmt.Errorf("kerneldiff: %d malformed lines in the kernel's table: %v", d.Problems().Count, d.Problems().Samples)
	}
	return flows, err
}

// ReadStats reads the namespace's statistics totals from
// /proc/net/stat/nf_conntrack (per-CPU hex rows, summed by name).
func ReadStats(ns *netnstest.NS) (map[string]uint64, error) {
	b, err := readInNS(ns, "/proc/thread-self/net/stat/nf_conntrack")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("kerneldiff: short stat file %q", b)
	}
	names := strings.Fields(lines[0])
	tot := map[string]uint64{}
	for _, l := range lines[1:] {
		for i, v := range strings.Fields(l) {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil || i >= len(names) {
				return nil, fmt.Errorf("kerneldiff: stat row %q", l)
			}
			if names[i] != "entries" {
				tot[names[i]] += n
			}
		}
	}
	return tot, nil
}

// readInNS reads a /proc file from a thread inside the namespace, without
// starting a process.
func readInNS(ns *netnstest.NS, path string) ([]byte, error) {
	var b []byte
	err := ns.Do(func() (err error) {
		b, err = os.ReadFile(path)
		return err
	})
	return b, err
}

// EngineStats returns the engine's statistics under the /proc column names.
func EngineStats(e *track.Engine) map[string]uint64 {
	st := e.Stats()
	return map[string]uint64{
		"invalid":       st.Total(track.CounterInvalid),
		"drop":          st.Total(track.CounterDrop),
		"early_drop":    st.Total(track.CounterEarlyDrop),
		"icmp_error":    st.Total(track.CounterError),
		"insert_failed": st.Total(track.CounterInsertFailed),
		"found":         st.Total(track.CounterFound),
	}
}
