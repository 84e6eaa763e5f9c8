// Package corpus makes the calibration corpus: real-kernel capture folders
// of every diagnosis rule's pattern, and of healthy workloads, at any size,
// in the layout of the captures in testdata/kernel-6.18/ (one folder per
// host view with nf_conntrack.tNN.txt samples and the statistics, sysctls
// and ruleset read at the end, dmesg.txt and a README with the provenance
// at the scenario's root).
//
// A Scenario plays real traffic between namespaces the netnstest kit makes
// (sockets, raw packets through conntrack) and, for the bulk of the larger
// sizes, entries created over netlink (ctfill) that look exactly like
// packet-made ones: the state, flags and remaining timeouts the kernel
// would show for the traffic they stand for, kept alive as that traffic
// would (refreshed, closed, replaced) so that what a capture shows between
// its samples (growth, refreshes, expiry) is the kernel's own doing.
//
// The scorecard tests (cmd/ctdiag) and internal/cmd/gencorpus use it.
// It changes kernel state inside the namespaces it makes and nowhere else:
// it never writes a global sysctl (nf_conntrack_max included).
//
// Only tests and internal/cmd/gencorpus may import corpus; production code
// must not. It imports netnstest, ctfill, capture, track and rules (the
// rule ids scenarios expect).
package corpus
