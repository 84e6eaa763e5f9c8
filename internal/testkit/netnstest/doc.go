// Package netnstest builds throwaway network namespaces for tests that need
// the real kernel: conntrack, nftables, sockets.
//
// It owns the namespaces, veth pairs and nft tables it creates and removes
// them in t.Cleanup, also when the test fails or panics. It changes nothing
// outside them: the global nf_conntrack_max is only read (ConntrackMax); a
// test that needs a full table fills its own namespace up to it
// (ctfill.FillToLimit), since every namespace counts its own entries.
//
// It is also the kernel-test boundary: Require, RequireRoot, NewNS and
// NewPair fail any test whose name does not start with TestKernel (or
// BenchmarkKernel), and skip under -short and without root. So `go test
// -short ./...` runs only unit tests and `go test -run '^TestKernel' ./...`
// (make integration) exactly the kernel tests.
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
//	func TestKernelSomething(t *testing.T) {
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
