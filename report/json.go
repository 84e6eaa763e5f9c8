package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes the document as indented JSON (schema SchemaVersion).
func WriteJSON(w io.Writer, d *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// ReadJSON reads a document written by WriteJSON, refusing other schemas.
func ReadJSON(r io.Reader) (*Document, error) {
	var d Document
	// Unknown fields are allowed: a newer v1 only adds fields.
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("report JSON: %w", err)
	}
	if d.Schema != SchemaVersion {
		return nil, fmt.Errorf("report JSON: schema %q, want %q", d.Schema, SchemaVersion)
	}
	return &d, nil
}
