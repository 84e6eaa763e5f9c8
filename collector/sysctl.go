package collector

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// Sysctls reads every conntrack sysctl of the namespace: all
// /proc/sys/net/netfilter/nf_conntrack_* (timeouts, buckets, count, max,
// acct, timestamp, events, tcp_be_liberal, tcp_loose, ...), the legacy
// /proc/sys/net/nf_conntrack_max (init namespace only) and
// nf_log_all_netns, and net.ipv4.ip_local_port_range (the ports local
// sockets take, which source NAT ranges should leave alone). The files
// are only ever opened for reading.
func (c *Collector) Sysctls() (track.Sysctls, error) {
	const localPortRange = "sys/net/ipv4/ip_local_port_range"
	out := track.Sysctls{}
	var names []string
	err := inNetns(c.ns, func() error {
		dir := filepath.Join(c.cfg.ProcRoot, "sys/net/netfilter")
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if n := e.Name(); strings.HasPrefix(n, "nf_conntrack_") || n == "nf_log_all_netns" {
				names = append(names, "sys/net/netfilter/"+n)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.Join(ErrUnavailable, err)
		}
		return nil, err
	}
	names = append(names, "sys/net/nf_conntrack_max", localPortRange)
	sort.Strings(names)
	for _, rel := range names {
		var snap track.Snapshot
		err := c.readProcText(rel, parser.FormatSysctlFile, &snap)
		switch {
		case err == nil:
			out = track.LayerSysctls(out, snap.Sysctls)
		case errors.Is(err, fs.ErrNotExist) && (rel == "sys/net/nf_conntrack_max" || rel == localPortRange):
			// only in the initial namespace; or a copied /proc without it
		case errors.Is(err, fs.ErrPermission):
			c.note("%s: not readable (%v)", rel, err)
		default:
			return out, err
		}
	}
	return out, nil
}
