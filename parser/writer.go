package parser

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// OutputFormats lists the formats flows can be written in, by name.
var outputFormats = map[string]Format{
	"proc":      FormatProc,
	"extended":  FormatExtended,
	"conntrack": FormatConntrack,
	"json":      FormatJSON,
	"jsonl":     FormatJSONL,
}

// OutputFormatNames is the list shown in help texts.
const OutputFormatNames = "proc|extended|conntrack|json|jsonl"

// ParseOutputFormat accepts proc, extended, conntrack, json and jsonl.
func ParseOutputFormat(name string) (Format, error) {
	if f, ok := outputFormats[strings.ToLower(name)]; ok {
		return f, nil
	}
	return FormatUnknown, fmt.Errorf("unknown output format %q: want %s", name, OutputFormatNames)
}

// FlowWriter writes flows in one output format, buffered. Close finishes a
// JSON array and flushes.
type FlowWriter struct {
	w      *bufio.Writer
	format Format
	style  Style
	buf    []byte
	n      int
}

// NewFlowWriter writes to w in format (FormatProc, FormatExtended,
// FormatConntrack, FormatJSON or FormatJSONL).
func NewFlowWriter(w io.Writer, format Format) (*FlowWriter, error) {
	switch format {
	case FormatProc, FormatExtended, FormatConntrack, FormatJSON, FormatJSONL:
	default:
		return nil, fmt.Errorf("cannot write flows as %s", format)
	}
	return &FlowWriter{w: bufio.NewWriterSize(w, 256<<10), format: format, style: StyleFor(format)}, nil
}

// Write writes one flow.
func (fw *FlowWriter) Write(f *track.Flow) error {
	b := fw.buf[:0]
	switch fw.format {
	case FormatJSON:
		if fw.n == 0 {
			b = append(b, "[\n"...)
		} else {
			b = append(b, ",\n"...)
		}
		b = AppendFlowJSON(b, f)
		b = b[:len(b)-1] // the separator goes before the next element
	case FormatJSONL:
		b = AppendFlowJSON(b, f)
	default:
		b = AppendFlow(b, f, fw.style)
	}
	fw.buf = b
	fw.n++
	_, err := fw.w.Write(b)
	return err
}

// Close ends the output (the closing bracket of a JSON array) and flushes.
func (fw *FlowWriter) Close() error {
	if fw.format == FormatJSON {
		if fw.n == 0 {
			fw.w.WriteString("[]\n")
		} else {
			fw.w.WriteString("\n]\n")
		}
	}
	return fw.w.Flush()
}
