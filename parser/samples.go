package parser

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// Samples is what ReadSamples made of its inputs.
type Samples struct {
	Snapshots []track.Snapshot
	// Skipped lists inputs that hold nothing conntrack-related, with why.
	Skipped []string
	// Problems are the malformed lines of every input, in input order.
	Problems []*Problems
	// Formats names each input read and what it was detected as.
	Formats []string
}

// ReadSamples reads inputs in order as successive samples of one table:
//
//   - each flow table (a /proc or conntrack -L dump, JSON, or an empty file
//     named like a table dump) starts a new snapshot;
//   - statistics, counts, sysctls, kernel logs and events belong to the
//     snapshot before them, or to the first one when they come first;
//   - inputs with no table at all make one snapshot of their own.
//
// Snapshot times are left zero: text dumps carry none (a record bundle's
// manifest or the caller's sampling interval sets them). An input that cannot
// be opened is an error; an unrecognised one is skipped.
func ReadSamples(inputs []Input, opts Options) (*Samples, error) {
	out := &Samples{}
	var pending []track.Snapshot // non-table inputs seen before the first table
	for _, in := range inputs {
		d, err := Open(in.Path, opts)
		if err != nil {
			return out, err
		}
		format := d.Format()
		switch {
		case format == FormatUnknown:
			d.Close()
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: not a conntrack format", d.Name()))
			continue
		case format == FormatEmpty && !namedLikeTable(in.Path):
			d.Close()
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: empty", d.Name()))
			continue
		}
		var s track.Snapshot
		err = d.ReadInto(&s)
		d.Close()
		out.Problems = append(out.Problems, d.Problems())
		out.Formats = append(out.Formats, fmt.Sprintf("%s: %s", d.Name(), format))
		if err != nil && !errors.Is(err, ErrNotFlows) {
			return out, err
		}
		if format.IsFlowTable() || format == FormatEmpty {
			out.Snapshots = append(out.Snapshots, s)
			continue
		}
		if n := len(out.Snapshots); n > 0 {
			mergeSnapshot(&out.Snapshots[n-1], &s)
		} else {
			pending = append(pending, s)
		}
	}
	switch {
	case len(out.Snapshots) > 0:
		for i := range pending {
			mergeSnapshot(&out.Snapshots[0], &pending[i])
		}
	case len(pending) > 0:
		first := pending[0]
		for i := range pending[1:] {
			mergeSnapshot(&first, &pending[1+i])
		}
		out.Snapshots = []track.Snapshot{first}
	}
	return out, nil
}

// namedLikeTable: an empty file is an empty table only if its name says it
// was a table dump (nf_conntrack.t00.txt), not an empty log or stats file.
func namedLikeTable(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	if strings.Contains(base, "stat") {
		return false
	}
	return strings.Contains(base, "nf_conntrack") || strings.Contains(base, "ip_conntrack") ||
		strings.HasPrefix(base, "conntrack-l")
}

// mergeSnapshot adds what src holds besides flows to dst.
func mergeSnapshot(dst, src *track.Snapshot) {
	for _, c := range src.Stats.CPUs {
		mergeCPU(&dst.Stats, c)
	}
	if src.HasCount {
		dst.Count, dst.HasCount = src.Count, true
	}
	if src.HasMax {
		dst.Max, dst.HasMax = src.Max, true
	}
	for k, v := range src.Sysctls {
		if dst.Sysctls == nil {
			dst.Sysctls = track.Sysctls{}
		}
		dst.Sysctls[k] = v
	}
	dst.KernelLog = append(dst.KernelLog, src.KernelLog...)
	dst.Events = append(dst.Events, src.Events...)
	dst.Flows = append(dst.Flows, src.Flows...)
}
