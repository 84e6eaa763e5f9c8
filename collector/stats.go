package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// Stats reads the per-CPU statistics with every counter the kernel has,
// expectation counters included. Over netlink these are conntrack -S and
// conntrack -S expect; from /proc, /proc/net/stat/nf_conntrack (which also
// gives the count, returned in count/hasCount).
func (c *Collector) Stats(ctx context.Context) (st track.Stats, count uint64, hasCount bool, err error) {
	if err := c.checkNetns(); err != nil {
		return st, 0, false, err
	}
	if c.nl == nil {
		return c.procStats()
	}
	for _, req := range []netlinkct.Request{netlinkct.DumpStatsCPU(), netlinkct.DumpExpectStatsCPU()} {
		qerr := c.nl.query(ctx, req, func(m *netlinkct.Message) error {
			cpu, unknown, err := netlinkct.CPUStats(m, req.Subsys == netlinkct.SubsysExpect)
			if err != nil {
				return err
			}
			for _, u := range unknown {
				c.note("the kernel sent statistics attribute %d, which ctdiag does not know (a newer kernel); it is ignored", u)
			}
			mergeCPU(&st, cpu)
			return nil
		})
		if qerr != nil {
			if req.Subsys == netlinkct.SubsysExpect && len(st.CPUs) > 0 {
				c.note("expectation statistics unavailable: %v", qerr)
				continue
			}
			return st, 0, false, fmt.Errorf("reading statistics: %w", qerr)
		}
	}
	return st, 0, false, nil
}

func mergeCPU(st *track.Stats, c track.CPUStats) {
	dst := st.CPU(c.CPU)
	for k := track.Counter(0); k < track.NumCounters; k++ {
		if v, ok := c.Get(k); ok {
			dst.Set(k, v)
		}
	}
}

// procStats reads /proc/net/stat/nf_conntrack (world-readable).
func (c *Collector) procStats() (track.Stats, uint64, bool, error) {
	var snap track.Snapshot
	if err := c.readProcText("net/stat/nf_conntrack", parser.FormatProcStat, &snap); err != nil {
		return track.Stats{}, 0, false, err
	}
	return snap.Stats, snap.Count, snap.HasCount, nil
}

// readProcText reads a /proc text file through the parser into snap. The
// file's malformed lines are noted.
func (c *Collector) readProcText(rel string, format parser.Format, snap *track.Snapshot) error {
	f, err := c.openProc(rel)
	if err != nil {
		return err
	}
	return c.parseText(f, c.procPath(rel), format, snap)
}

// parseText is the parse half of readProcText: it reads r with the parser.
func (c *Collector) parseText(r io.ReadCloser, name string, format parser.Format, snap *track.Snapshot) error {
	d, err := parser.NewDecoder(r, name, parser.Options{Format: format, Workers: 1})
	if err != nil {
		r.Close()
		return err
	}
	defer d.Close()
	if err := d.ReadInto(snap); err != nil {
		return err
	}
	if p := d.Problems(); p.Count > 0 {
		c.note("%s: %d malformed lines (first: %v)", name, p.Count, &p.Samples[0])
	}
	return nil
}

// Count reads nf_conntrack_count of the namespace and nf_conntrack_max
// (global). Over netlink it is one request (conntrack -C); from /proc, the
// two sysctl files, which everyone may read.
func (c *Collector) Count(ctx context.Context) (count, max uint64, hasMax bool, err error) {
	if err := c.checkNetns(); err != nil {
		return 0, 0, false, err
	}
	if c.nl != nil {
		err = c.nl.query(ctx, netlinkct.GetGlobalStats(), func(m *netlinkct.Message) error {
			var derr error
			count, max, hasMax, derr = netlinkct.GlobalStats(m)
			return derr
		})
		if err == nil {
			if !hasMax {
				if s, serr := c.readSysctl("net/netfilter/nf_conntrack_max"); serr == nil {
					max, hasMax = s, true
				}
			}
			return count, max, hasMax, nil
		}
		c.note("count over netlink failed (%v); reading the sysctls", err)
	}
	count, err = c.readSysctl("net/netfilter/nf_conntrack_count")
	if err != nil {
		return 0, 0, false, err
	}
	max, merr := c.readSysctl("net/netfilter/nf_conntrack_max")
	return count, max, merr == nil, nil
}

// readSysctl reads one numeric sysctl below sys/ in the target namespace.
func (c *Collector) readSysctl(rel string) (uint64, error) {
	var snap track.Snapshot
	if err := c.readProcText("sys/"+rel, parser.FormatSysctlFile, &snap); err != nil {
		return 0, err
	}
	for _, v := range snap.Sysctls {
		var n uint64
		if _, err := fmt.Sscan(v, &n); err != nil {
			return 0, fmt.Errorf("%s: %w: %q", rel, parser.ErrMalformed, v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s: %w: empty", rel, parser.ErrMalformed)
}

// isAbsent reports errors that mean "this kernel has no such file".
func isAbsent(err error) bool { return errors.Is(err, fs.ErrNotExist) }
