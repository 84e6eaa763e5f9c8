// Package netnstest builds throwaway network namespaces for tests that need
// the real kernel: conntrack, nftables, sockets.
//
// It owns the namespaces, veth pairs and nft tables it creates and the
// temporary changes it makes to nf_conntrack_max, and removes or restores all
// of them in t.Cleanup, also when the test fails or panics.
//
// Every namespace is closed: it has loopback and, for a Pair, one veth end
// whose peer is in the other namespace of the same Pair. Nothing is created
// in the root namespace and no host interface or address is touched, so
// traffic a test generates cannot leave its namespaces.
//
// Names carry the test process's pid and a per-process sequence number
// ("ctdiag-<pid>-<seq>"), so test binaries running in parallel do not collide
// and a namespace left by a killed binary can be traced back to it.
//
// A typical test:
//
//	func TestSomething(t *testing.T) {
//		p := netnstest.NewPair(t) // skips unless root with ip, nft and conntrack
//		port := p.TCPEcho(t)
//		c, err := p.A.Dial("tcp", netip.AddrPortFrom(p.B4, port).String())
//		...
//		table, err := p.B.ReadProcFile("/proc/net/nf_conntrack")
//	}
//
// Only _test.go files and other test harness packages may import netnstest;
// production code must not. It imports only the standard library and
// golang.org/x/sys/unix, and no other ctdiag package.
package netnstest
