package collector

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// maxLabels is the kernel's label space (NF_CT_LABELS_MAX_SIZE * 8).
const maxLabels = 128

// loadLabels reads the label names conntrack and nft use; without the file,
// set label bits are named by number.
func (c *Collector) loadLabels() {
	f, err := os.Open(c.cfg.LabelFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.note("connection-label names: %v", err)
		}
		return
	}
	defer f.Close()
	names, err := parseConnlabel(f)
	if err != nil {
		c.note("connection-label names: %s: %v", c.cfg.LabelFile, err)
	}
	c.dec.Labels = names
}

// parseConnlabel parses connlabel.conf: "BIT NAME" per line, # comments.
// The first name of a bit wins, as in libnetfilter_conntrack.
func parseConnlabel(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	line := 0
	var errs []error
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		f := strings.Fields(t)
		bit, err := strconv.Atoi(f[0])
		if err != nil || bit < 0 || bit >= maxLabels || len(f) < 2 {
			errs = append(errs, fmt.Errorf("line %d: expected \"BIT NAME\" with BIT 0-%d, got %q", line, maxLabels-1, t))
			continue
		}
		for len(names) <= bit {
			names = append(names, "")
		}
		if names[bit] == "" {
			names[bit] = f[1]
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return names, errors.Join(errs...)
}

// ReadLabelNames reads connlabel.conf (the label names conntrack and nft
// use): names[bit] is the name of label bit, "" where the file names none.
func ReadLabelNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := parseConnlabel(f)
	if err != nil {
		return names, fmt.Errorf("%s: %w", path, err)
	}
	return names, nil
}
