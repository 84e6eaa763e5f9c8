// Package demo is the capture `ctdiag top --demo` replays: a real table
// filling up to nf_conntrack_max, embedded so that an installed binary can
// show it without root and without the repository.
//
// demo depends on parser and track; it must not import tui or collector.
package demo

import (
	"bytes"
	"embed"
	"io"
	"path"
	"time"

	"github.com/ctdiag/ctdiag/parser"
)

//go:embed capture/*.gz
var files embed.FS

// Start is when the capture's scenario began.
func Start() time.Time { return time.Date(2026, 11, 21, 13, 0, 29, 0, time.UTC) }

// Origin names where the files come from in the repository.
const Origin = "testdata/kernel-6.18/table-full"

// Host, Kernel and Netns describe the machine the capture was made on.
const (
	Host   = "lab-full-srv"
	Kernel = "6.18.44-fc-v669"
	Netns  = "lab-full-srv"
)

// step is one file of the capture. Tables carry their sample time; every
// other file joins the table before it (parser.WalkSamples), so it is listed
// after the sample it was read during.
type step struct {
	file   string
	source string // path under Origin
	at     time.Duration
	table  bool
}

func steps() []step {
	return []step{
		{"nf_conntrack.t00.txt.gz", "srv/nf_conntrack.t00.txt", 0, true},
		{"nf_conntrack.t01.txt.gz", "srv/nf_conntrack.t01.txt", 200 * time.Millisecond, true},
		{"nf_conntrack.t05.txt.gz", "srv/nf_conntrack.t05.txt", 5 * time.Second, true},
		{"sysctl-nf_conntrack.while-full.txt.gz", "srv/sysctl-nf_conntrack.while-full.txt", 0, false},
		{"dmesg.txt.gz", "dmesg.txt", 0, false},
		{"nf_conntrack.t10.txt.gz", "srv/nf_conntrack.t10.txt", 10 * time.Second, true},
		{"nf_conntrack.t35.txt.gz", "srv/nf_conntrack.t35.txt", 35 * time.Second, true},
		{"sysctl-nf_conntrack.txt.gz", "srv/sysctl-nf_conntrack.txt", 0, false},
		{"stat-nf_conntrack.txt.gz", "srv/stat-nf_conntrack.txt", 0, false},
	}
}

// Inputs returns the capture as parser inputs, read from the binary, with
// the tables' times set.
func Inputs() []parser.Input {
	var out []parser.Input
	for _, s := range steps() {
		name := path.Join("demo", Origin, s.source)
		data, err := files.ReadFile("capture/" + s.file)
		if err != nil {
			panic("demo: missing embedded file " + s.file) // the embed pattern guarantees it
		}
		in := parser.Input{Path: name, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}
		if s.table {
			in.Time = Start().Add(s.at)
		}
		out = append(out, in)
	}
	return out
}

// Sources maps each embedded file to its original under Origin (for the
// test that keeps them identical).
func Sources() map[string]string {
	m := map[string]string{}
	for _, s := range steps() {
		m["capture/"+s.file] = s.source
	}
	return m
}

// Open opens an embedded file by its name in Sources.
func Open(name string) (io.ReadCloser, error) { return files.Open(name) }
