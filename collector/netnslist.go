package collector

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// NetnsRef is a network namespace found on the machine, not yet opened.
type NetnsRef struct {
	Inode uint64 // the namespace's inode ("table full in netns N")
	Name  string // its ip netns name, if it has one
	PIDs  []int  // processes in it (sorted), if any
	Own   bool   // the namespace ctdiag runs in
	// Initial: the machine's initial namespace (kthreadd's, pid 2).
	Initial bool
	// Netns opens it: Name when it has one, else a process's
	// /proc/PID/ns/net; zero for the namespace ctdiag runs in.
	Netns Netns
}

// ListNetns finds every network namespace with a name (Config.NetnsDir) or
// a process (ProcRoot/PID/ns/net), once each, without reading any of them:
// what SummarizeNamespaces reads, for callers that keep their own
// collectors (the exporter's --all-netns). It needs root to see other
// users' processes' namespaces.
func ListNetns(cfg Config) ([]NetnsRef, error) {
	cfg.defaults()
	if cfg.replay() {
		return nil, fmt.Errorf("%w: listing namespaces reads the live machine, not a --proc-root copy", ErrBadConfig)
	}
	refs, err := listNamespaces(cfg)
	if err != nil {
		return nil, err
	}
	var init unix.Stat_t
	initErr := unix.Stat(filepath.Join(cfg.ProcRoot, "2/ns/net"), &init)
	out := make([]NetnsRef, 0, len(refs))
	for _, r := range refs {
		n := NetnsRef{Inode: r.inode, Name: r.name, PIDs: r.pids, Own: r.own,
			Initial: initErr == nil && r.inode == init.Ino}
		switch {
		case r.own:
		case r.name != "":
			n.Netns = Netns{Name: r.name}
		case len(r.pids) > 0:
			n.Netns = Netns{PID: r.pids[0]}
		default:
			n.Netns = Netns{Path: r.path}
		}
		out = append(out, n)
	}
	return out, nil
}

// NetnsInodeOf is the inode of the namespace n refers to now (0 and an
// error wrapping ErrNoNetns when it is gone): how a caller that holds a
// namespace open tells that its name was deleted or now names another one.
func NetnsInodeOf(cfg Config, n Netns) (uint64, error) {
	cfg.defaults()
	path := filepath.Join(cfg.ProcRoot, "thread-self/ns/net")
	if !n.IsZero() {
		var err error
		if path, err = n.nsPath(cfg.ProcRoot, cfg.NetnsDir); err != nil {
			return 0, err
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if err == unix.ENOENT || err == unix.ESRCH {
			return 0, fmt.Errorf("%w: %s is gone", ErrNoNetns, path)
		}
		return 0, fmt.Errorf("namespace %s: %w", path, err)
	}
	return st.Ino, nil
}
