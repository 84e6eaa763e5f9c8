// Package netlinkct is a thin decoder of ctnetlink, the kernel's netlink
// interface to connection tracking: it splits datagrams into messages and
// turns their attributes into track values (Flow, Event, CPUStats) without
// allocating for an ordinary entry, and it builds the few requests ctdiag
// sends, all of which only read.
//
// It exists where github.com/ti-mo/conntrack v0.6.0 falls short: that library
// decodes a dump into one slice of its own Flow type (a second copy of a
// million-entry table), drops the clash_resolve and chaintoolong statistics
// and has no TCP state names. Attribute numbers follow
// include/uapi/linux/netfilter/nfnetlink_conntrack.h; numeric values are big
// endian on the wire, netlink headers are in host order.
//
// netlinkct does no I/O and never reads the clock (the receive time is an
// argument). It imports track only; it must not import parser, collector or
// anything that writes to the kernel. It has no encoder for requests that
// create, change or delete entries: Check refuses them.
package netlinkct
