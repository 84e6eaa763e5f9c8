package parser

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Input is one file to read, and whether it came from expanding a
// directory (such files may be skipped quietly when not recognised).
type Input struct {
	Path    string // "-" for standard input
	FromDir bool
	// Bundle is the record bundle the input is a member of, if any.
	Bundle string

	// Open, when set, opens the content instead of Path: a member of a
	// record bundle, for instance. Path then only names it in messages.
	Open func() (io.ReadCloser, error)
	// Time is when the content was read, when a manifest says so; zero
	// when unknown.
	Time time.Time
	// EventLog marks a bundle's event log: empty, it still says that
	// events were followed over the sample's interval and none came.
	EventLog bool
}

// ExpandPaths turns command-line arguments into inputs: "-" is standard
// input, a file is itself, a directory is every regular file below it
// (hidden ones excluded) in natural order, so that t5 comes before t10 and
// successive samples stay in sequence, and a record bundle (ctdiag record)
// is its members in order, each with its sample's time.
func ExpandPaths(args []string) ([]Input, error) {
	var out []Input
	for _, a := range args {
		if a == "-" {
			out = append(out, Input{Path: "-"})
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			b, err := OpenBundle(a)
			switch {
			case err == nil:
				out = append(out, b.Inputs()...)
			case errors.Is(err, ErrNotBundle):
				out = append(out, Input{Path: a})
			default:
				return nil, err
			}
			continue
		}
		var files []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if p != a && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading directory %s: %w", a, err)
		}
		sort.Slice(files, func(i, j int) bool { return NaturalLess(files[i], files[j]) })
		for _, f := range files {
			out = append(out, Input{Path: f, FromDir: true})
		}
	}
	return out, nil
}

// NaturalLess compares strings with runs of digits compared as numbers
// ("t5" < "t10", "t05" < "t10").
func NaturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na := strings.TrimLeft(a[:da], "0")
			nb := strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			if da != db { // same value, fewer leading zeros first
				return da < db
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
