package collector

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	defer f.Close()
	s, ok, err = parseSlabinfo(f, "nf_conntrack")
	if err != nil {
		return s, false, fmt.Errorf("%s: %w", path, err)
	}
	if !ok {
		c.note("memory per entry unknown: no nf_conntrack cache in %s", path)
	}
	return s, ok, nil
}

// parseSlabinfo finds one cache in /proc/slabinfo (version 2.1):
//
//	name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ...
func parseSlabinfo(r io.Reader, name string) (track.Slab, bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[0] != name {
			continue
		}
		var v [5]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return track.Slab{}, false, fmt.Errorf("expected a number in column %d of the %s line, got %q", i+2, name, f[i+1])
			}
			v[i] = n
		}
		return track.Slab{Name: name, ActiveObjs: v[0], NumObjs: v[1], ObjSize: v[2], ObjPerSlab: v[3], PagesPerSlab: v[4]}, true, nil
	}
	return track.Slab{}, false, sc.Err()
}
