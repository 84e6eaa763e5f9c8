package corpus

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/internal/testkit/netnstest"
)

// holdQueue is the NFQUEUE number the router's hold rule uses.
const holdQueue = 7

// TCPHeldRace plays the NAT port clash of TCPPortRace without waiting for
// two CPUs to meet: the router holds the first SYN of each pair (from a)
// in an NFQUEUE after source NAT and before confirmation, translated but
// not yet in the table, where a second CPU's packet would be. The SYN
// from b on the same source port then gets the same port, is confirmed
// and answered. Released, each held SYN finds b's reply tuple at
// confirmation: a TCP clash, which the kernel cannot resolve, so it drops
// the SYN (insert_failed, drop), exactly as in the race. n pairs give n
// failed inserts; the client from a retransmits a second later and gets
// another port. The hold rule is removed before returning.
func TCPHeldRace(t testing.TB, rtr, cli *netnstest.NS, a, b netip.Addr, firstPort int, dst netip.AddrPort, n int) error {
	t.Helper()
	f, err := os.Open("/run/netns/" + rtr.Name)
	if err != nil {
		return err
	}
	defer f.Close()
	q, err := nfqueue.Open(&nfqueue.Config{NetNS: int(f.Fd()), NfQueue: holdQueue, MaxPacketLen: 128,
		MaxQueueLen: uint32(n + 64), Copymode: nfqueue.NfQnlCopyMeta, WriteTimeout: time.Second})
	if err != nil {
		return fmt.Errorf("opening an NFQUEUE in the router: %w", err)
	}
	defer q.Close()
	var (
		mu   sync.Mutex
		held []uint32
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = q.RegisterWithErrorFunc(ctx, func(at nfqueue.Attribute) int {
		if at.PacketID != nil {
			mu.Lock()
			held = append(held, *at.PacketID)
			mu.Unlock()
		}
		return 0
	}, func(error) int { return 0 })
	if err != nil {
		return fmt.Errorf("reading the router's NFQUEUE: %w", err)
	}
	// The queue target exists only as xtables' NFQUEUE here (nft's own
	// queue expression may not be built): an iptables-nft chain, jumped to
	// from a base chain after source NAT (100) and before confirmation.
	_, hadFilter := rtr.Output("nft", "list", "table", "ip", "filter")
	for _, args := range [][]string{
		{"iptables-nft", "-t", "filter", "-N", "CTDIAG_HOLD"},
		{"iptables-nft", "-t", "filter", "-A", "CTDIAG_HOLD", "-m", "conntrack", "--ctorigsrc", a.String(), "--ctstate", "NEW",
			"-p", "tcp", "--syn", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(holdQueue)},
		{"nft", "add", "chain", "ip", "filter", "ctdiag_hold", "{ type filter hook postrouting priority 200; policy accept; }"},
		{"nft", "add", "rule", "ip", "filter", "ctdiag_hold", "jump", "CTDIAG_HOLD"},
	} {
		if out, err := rtr.Output(args[0], args[1:]...); err != nil {
			return fmt.Errorf("%v: %w: %s", args, err, out)
		}
	}
	removed := false
	removeHold := func() {
		if removed {
			return
		}
		removed = true
		if hadFilter != nil {
			rtr.MustOutput(t, "nft", "delete", "table", "ip", "filter")
			return
		}
		rtr.MustOutput(t, "nft", "delete", "chain", "ip", "filter", "ctdiag_hold")
		rtr.MustOutput(t, "iptables-nft", "-t", "filter", "-F", "CTDIAG_HOLD")
		rtr.MustOutput(t, "iptables-nft", "-t", "filter", "-X", "CTDIAG_HOLD")
	}
	defer removeHold()

	to := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	var fds []int
	defer func() { closeAll(fds) }()
	connectFrom := func(src netip.Addr) ([]int, error) {
		var mine []int
		err := cli.Do(func() error {
			for i := 0; i < n; i++ {
				fd, err := tcpSocket(src, firstPort+i)
				if err != nil {
					return err
				}
				fds = append(fds, fd)
				mine = append(mine, fd)
				if err := unix.Connect(fd, to); err != nil && err != unix.EINPROGRESS {
					return err
				}
			}
			return nil
		})
		return mine, err
	}
	if _, err := connectFrom(a); err != nil {
		return err
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(held) }
	for deadline := time.Now().Add(5 * time.Second); count() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the router held %d of %d SYNs", count(), n)
		}
	}
	second, err := connectFrom(b)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, fd := range second {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if ms := time.Until(deadline).Milliseconds(); ms > 0 {
			unix.Poll(pfd, int(ms))
		}
	}
	// Released before the hold rule goes: removing a queue's hook drops
	// the packets still queued from it.
	mu.Lock()
	ids := append([]uint32(nil), held...)
	mu.Unlock()
	for _, id := range ids {
		if err := q.SetVerdict(id, nfqueue.NfAccept); err != nil {
			return fmt.Errorf("releasing a held SYN: %w", err)
		}
	}
	removeHold()
	// Let the clients from a retransmit and connect on other ports.
	deadline = time.Now().Add(3 * time.Second)
	for _, fd := range fds {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if ms := time.Until(deadline).Milliseconds(); ms > 0 {
			unix.Poll(pfd, int(ms))
		}
	}
	return nil
}
