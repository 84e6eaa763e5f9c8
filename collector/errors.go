package collector

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrPermission: the live table needs CAP_NET_ADMIN (netlink) or root
	// (/proc/net/nf_conntrack is mode 0440).
	ErrPermission = errors.New("not permitted")
	// ErrNoConntrack: the kernel shows no conntrack at all (module not
	// loaded, or neither ctnetlink nor the procfs files are built in).
	ErrNoConntrack = errors.New("no conntrack in this kernel")
	// ErrNoNetns: the namespace named does not exist.
	ErrNoNetns = errors.New("no such network namespace")
	// ErrNetnsGone: the namespace was deleted (ip netns del) or its
	// process exited while it was being read. Only ctdiag's own handle
	// kept it alive; nothing else uses it.
	ErrNetnsGone = errors.New("network namespace gone")
	// ErrBadConfig: contradictory or invalid options.
	ErrBadConfig = errors.New("bad collector options")
	// ErrUnavailable: a part that this source or kernel cannot provide
	// (events from /proc, statistics from a replay without the file).
	ErrUnavailable = errors.New("not available from this source")
)
