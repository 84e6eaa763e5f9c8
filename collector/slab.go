package collector

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// Slab reads the nf_conntrack cache from /proc/slabinfo (root only): the
// bytes one entry takes and how many are allocated. The cache is global,
// shared by all namespaces. ok is false when the file is not readable or
// the cache is not listed (merged into another cache, or SLOB).
func (c *Collector) Slab() (s track.Slab, ok bool, err error) {
	path := filepath.Join(c.cfg.ProcRoot, "slabinfo")
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
			c.note("memory per entry unknown: %s is not readable (%v)", path, errors.Unwrap(err))
			return s, false, nil
		}
		return s, false, err
	}
	var snap track.Snapshot
	if err := c.parseText(f, path, parser.FormatSlabinfo, &snap); err != nil {
		return s, false, err
	}
	if !snap.HasSlab {
		c.note("memory per entry unknown: no nf_conntrack cache in %s (merged into another cache?)", path)
	}
	return snap.Slab, snap.HasSlab, nil
}
