package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// outputSpec is -o: conntrack's comma list (xml, extended, timestamp, id,
// ktimestamp, labels, userspace, save) and ctdiag's own formats (conntrack,
// proc, json, jsonl).
type outputSpec struct {
	format parser.Format // the entry format; formatSave for save
	save   bool
	// conntrack's modifiers: which optional parts a live table shows.
	id, timestamp, ktimestamp, labels, userspace bool
}

const outputHelp = "output: conntrack (default), extended, proc, json, jsonl, xml or save, with conntrack's id, ktimestamp, labels, timestamp (events), userspace (events), e.g. extended,id"

// conntrackOutputWords are conntrack's -o words in the order its parser
// tries them (an abbreviation takes the first it starts).
var conntrackOutputWords = []string{"xml", "extended", "timestamp", "id", "ktimestamp", "labels", "userspace", "save"}

// parseOutputSpec reads -o.
func parseOutputSpec(s string) (outputSpec, error) {
	spec := outputSpec{format: parser.FormatConntrack}
	base := ""
	for _, word := range strings.Split(s, ",") {
		w := strings.ToLower(word)
		switch w {
		case "conntrack", "proc", "json", "jsonl":
		default:
			full := ""
			for _, c := range conntrackOutputWords {
				if w != "" && strings.HasPrefix(c, w) {
					full = c
					break
				}
			}
			if full == "" {
				return spec, fmt.Errorf("unknown output %q in -o %s: want %s", word, s, outputHelp)
			}
			w = full
		}
		switch w {
		case "id":
			spec.id = true
		case "timestamp":
			spec.timestamp = true
		case "ktimestamp":
			spec.ktimestamp = true
		case "labels":
			spec.labels = true
		case "userspace":
			spec.userspace = true
		default:
			// conntrack lets xml win over extended; any other pair is ambiguous.
			switch {
			case base == "" || base == w, base == "extended" && w == "xml":
				base = w
			case base == "xml" && w == "extended":
			default:
				return spec, fmt.Errorf("-o %s: choose one of %s and %s", s, base, w)
			}
		}
	}
	switch base {
	case "save":
		if spec.id || spec.timestamp || spec.ktimestamp || spec.labels {
			return spec, fmt.Errorf("-o %s: save cannot be combined with other outputs (as in conntrack)", s)
		}
		spec.save = true
	case "xml":
		spec.format = parser.FormatXML
	case "extended":
		spec.format = parser.FormatExtended
	case "proc":
		spec.format = parser.FormatProc
	case "json":
		spec.format = parser.FormatJSON
	case "jsonl":
		spec.format = parser.FormatJSONL
	}
	return spec, nil
}

// keepsAll reports whether the output shows every field whatever was asked
// (JSON).
func (s outputSpec) keepsAll() bool {
	return s.format == parser.FormatJSON || s.format == parser.FormatJSONL
}

// liveHidden are the fields a live entry has that conntrack shows only when
// asked: ids (-o id; XML always shows them), start and stop times
// (ktimestamp), labels (labels).
func (s outputSpec) liveHidden() track.Fields {
	if s.keepsAll() || s.save {
		return 0
	}
	var hide track.Fields
	if !s.id && s.format != parser.FormatXML {
		hide |= track.FieldID
	}
	if !s.ktimestamp {
		hide |= track.FieldStart | track.FieldStop
	}
	if !s.labels {
		hide |= track.FieldLabels
	}
	return hide
}

// flowOutput writes entries in one output format.
type flowOutput interface {
	Write(f *track.Flow) error
	Close() error
}

// newFlowOutput writes entries to w as spec says.
func newFlowOutput(w io.Writer, spec outputSpec) (flowOutput, error) {
	switch {
	case spec.save:
		return &saveWriter{w: bufio.NewWriterSize(w, 256<<10)}, nil
	case spec.format == parser.FormatXML:
		return parser.NewXMLWriter(w), nil
	}
	return parser.NewFlowWriter(w, spec.format)
}

// saveWriter writes conntrack -o save lines.
type saveWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (s *saveWriter) Write(f *track.Flow) error { return s.write(f, track.EventNew) }

func (s *saveWriter) write(f *track.Flow, typ track.EventType) error {
	s.buf = parser.AppendSave(s.buf[:0], f, typ)
	_, err := s.w.Write(s.buf)
	return err
}

func (s *saveWriter) Close() error { return s.w.Flush() }
