package parser

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ctdiag/ctdiag/track"
)

// A record bundle (ctdiag record) is a gzip'd tar of plain text files in
// the formats this package reads, one directory per sample, with a JSON
// manifest as its first member:
//
//	NAME/manifest.json
//	NAME/sample-001/nf_conntrack        the table, /proc/net/nf_conntrack format
//	NAME/sample-001/stat_nf_conntrack   per-CPU statistics, /proc/net/stat/nf_conntrack format
//	NAME/sample-001/sysctl.txt          conntrack sysctls, sysctl -a format
//	NAME/sample-001/kernel-log.txt      conntrack kernel-log lines, journalctl -o short-iso-precise
//	NAME/sample-001/events.txt          events since the previous sample, conntrack -E -o timestamp,extended,id,
//	                                    with "# ctdiag: events lost: ..." lines where events were lost
//	NAME/sample-001/slabinfo            the nf_conntrack slab cache, /proc/slabinfo format
//	NAME/sample-002/...
//
// tar xzf unpacks it for people and other tools; ExpandPaths expands it
// into its members, in order, each with its sample's time.

// BundleFormat is the manifest's format name.
const BundleFormat = "ctdiag-record"

// BundleVersion is the manifest version this package writes and reads.
const BundleVersion = 1

const manifestName = "manifest.json"

// BundleEventsFile is the member holding a sample's event log.
const BundleEventsFile = "events.txt"

// Manifest describes a record bundle.
type Manifest struct {
	Format   string         `json:"format"`
	Version  int            `json:"version"`
	Tool     string         `json:"tool,omitempty"`
	Host     string         `json:"host,omitempty"`
	Kernel   string         `json:"kernel,omitempty"`
	Source   string         `json:"source"` // netlink or procfs
	Netns    string         `json:"netns,omitempty"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Interval string         `json:"interval,omitempty"`
	Samples  []BundleSample `json:"samples"`
	Events   *BundleEvents  `json:"events,omitempty"`
	Notes    []string       `json:"notes,omitempty"`
}

// BundleSample is one sample of a bundle.
type BundleSample struct {
	Time    time.Time `json:"time"`    // when the table dump started
	Entries int       `json:"entries"` // entries in the table file
	Files   []string  `json:"files"`   // member names below the bundle's directory, table first
}

// BundleEvents summarises the event log of a bundle.
type BundleEvents struct {
	Received     int          `json:"received"`
	Expectations int          `json:"expectations,omitempty"`
	Losses       []BundleLoss `json:"losses"`
	ReadBuffer   int          `json:"read_buffer_bytes,omitempty"`
}

// BundleLoss is one event overrun.
type BundleLoss struct {
	Time     time.Time `json:"time"`
	Total    int       `json:"total"`
	Resynced int       `json:"resynced"` // entries re-read after it; -1 if that failed
}

// LossesOf converts event losses for a manifest.
func LossesOf(ls []track.EventLoss) []BundleLoss {
	out := make([]BundleLoss, 0, len(ls))
	for _, l := range ls {
		out = append(out, BundleLoss{Time: l.Time, Total: l.Total, Resynced: l.Resynced})
	}
	return out
}

// ErrNotBundle is returned when a file is not a record bundle.
var ErrNotBundle = errors.New("not a ctdiag record bundle")

// BundleWriter writes a bundle: the manifest first, then the files.
type BundleWriter struct {
	gz  *gzip.Writer
	tw  *tar.Writer
	dir string
}

// NewBundleWriter starts a bundle in w whose members live below dir (the
// directory tar xzf creates) and writes the manifest.
func NewBundleWriter(w io.Writer, dir string, m *Manifest) (*BundleWriter, error) {
	m.Format, m.Version = BundleFormat, BundleVersion
	b := &BundleWriter{gz: gzip.NewWriter(w), dir: dir}
	b.tw = tar.NewWriter(b.gz)
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	js = append(js, '\n')
	if err := b.Add(manifestName, m.Finished, int64(len(js)), bytes.NewReader(js)); err != nil {
		return nil, err
	}
	return b, nil
}

// Add writes one member of size bytes read from r.
func (b *BundleWriter) Add(name string, mod time.Time, size int64, r io.Reader) error {
	hdr := &tar.Header{
		Name: path.Join(b.dir, name), Mode: 0o644, Size: size, ModTime: mod,
		Typeflag: tar.TypeReg, Format: tar.FormatPAX,
	}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	if _, err := io.CopyN(b.tw, r, size); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	return nil
}

// Close finishes the tar and gzip streams (not the underlying writer).
func (b *BundleWriter) Close() error {
	return errors.Join(b.tw.Close(), b.gz.Close())
}

// Bundle is a record bundle opened for reading.
type Bundle struct {
	Path     string
	Manifest Manifest
	dir      string // member prefix ("NAME/")
	cur      *bundleCursor
}

// OpenBundle reads a bundle's manifest. A file that is not a bundle (not
// gzip'd tar, or no manifest first) gives ErrNotBundle.
func OpenBundle(p string) (*Bundle, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var magic [2]byte
	if n, _ := io.ReadFull(f, magic[:]); n < 2 || !bytes.Equal(magic[:], gzipMagic) {
		return nil, ErrNotBundle
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, ErrNotBundle
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || path.Base(hdr.Name) != manifestName {
		return nil, ErrNotBundle
	}
	b := &Bundle{Path: p, dir: strings.TrimSuffix(hdr.Name, manifestName)}
	dec := json.NewDecoder(io.LimitReader(tr, 16<<20))
	if err := dec.Decode(&b.Manifest); err != nil || b.Manifest.Format != BundleFormat {
		return nil, fmt.Errorf("%s: a ctdiag record bundle with a bad manifest: %v", p, err)
	}
	if b.Manifest.Version > BundleVersion {
		return nil, fmt.Errorf("%s: bundle version %d is newer than this ctdiag reads (%d)", p, b.Manifest.Version, BundleVersion)
	}
	b.cur = &bundleCursor{path: p, order: map[string]int{}}
	return b, nil
}

// Inputs lists the bundle's files sample by sample, table first, each
// with its sample's time; opening them in order reads the bundle once.
func (b *Bundle) Inputs() []Input {
	var out []Input
	for _, s := range b.Manifest.Samples {
		for _, name := range s.Files {
			member := b.dir + name
			if _, ok := b.cur.order[member]; !ok {
				b.cur.order[member] = len(b.cur.order)
			}
			out = append(out, Input{
				Path:     b.Path + ":" + name,
				FromDir:  true,
				Bundle:   b.Path,
				Time:     s.Time,
				EventLog: path.Base(name) == BundleEventsFile,
				Open:     func() (io.ReadCloser, error) { return b.cur.open(member) },
			})
		}
	}
	return out
}

// ErrMissingMember is returned for a member the manifest lists and the
// archive lacks.
var ErrMissingMember = errors.New("listed in the bundle's manifest but missing from the archive")

// bundleCursor reads members of a tar.gz in order without unpacking it:
// opening a member skips forward to it, and only a member before the
// current position costs a new pass from the start. ctdiag record writes
// members in the manifest's order, so a member missing from the archive is
// noticed where the next listed one comes, at no cost; and once a pass has
// reached the end, every name is known and a missing one costs nothing.
type bundleCursor struct {
	path  string
	order map[string]int // member → its place in the manifest
	f     *os.File
	tr    *tar.Reader
	// pending is a header read past while looking for a member that
	// turned out to be missing: the next open may want it.
	pending *tar.Header
	seen    map[string]bool // every member name read so far
	all     bool            // a pass reached the end: seen holds every member
	passes  int             // decompressions started, for tests
}

func (c *bundleCursor) open(member string) (io.ReadCloser, error) {
	missing := fmt.Errorf("%s: member %s: %w", c.path, member, ErrMissingMember)
	if c.all && !c.seen[member] {
		return nil, missing
	}
	if h := c.pending; h != nil {
		at, ok := c.order[h.Name]
		want, listed := c.order[member]
		switch {
		case h.Name == member:
			c.pending = nil
			return io.NopCloser(c.tr), nil
		case ok && listed && want < at && !c.seen[member]:
			return nil, missing // listed between the last one found and the pending one
		}
		c.pending = nil
	}
	for pass := 0; pass < 2; pass++ {
		if c.tr == nil {
			f, err := os.Open(c.path)
			if err != nil {
				return nil, err
			}
			zr, err := gzip.NewReader(f)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", c.path, err)
			}
			c.f, c.tr = f, tar.NewReader(zr)
			c.passes++
		}
		want, listed := c.order[member]
		for {
			hdr, err := c.tr.Next()
			if err != nil {
				c.f.Close()
				c.f, c.tr = nil, nil
				if errors.Is(err, io.EOF) {
					// Every pass starts at the top or goes on from where
					// one did: at the end, every name has been read.
					c.all = true
					break // not ahead: start over once
				}
				return nil, fmt.Errorf("%s: %w", c.path, err)
			}
			if c.seen == nil {
				c.seen = map[string]bool{}
			}
			c.seen[hdr.Name] = true
			if hdr.Name == member {
				return io.NopCloser(c.tr), nil
			}
			if at, ok := c.order[hdr.Name]; ok && listed && at > want {
				// A member listed after this one: this one is missing.
				c.pending = hdr
				return nil, missing
			}
		}
		if c.all && !c.seen[member] {
			return nil, missing
		}
	}
	return nil, missing
}
