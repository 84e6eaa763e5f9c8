package parser

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// FuzzXML reads any input as the CLI does (default Options) and, when it is
// conntrack's XML, checks that every entry and event read is written and
// read back to an equal value.
//
//	go test ./parser -run '^$' -fuzz '^FuzzXML$' -fuzztime 1m
func FuzzXML(f *testing.F) {
	f.Add(conntrackXML)
	for _, l := range strings.Split(conntrackXML, "\n") {
		f.Add(l)
		f.Add(strings.Replace(l, "<flow>", `<flow type="update">`, 1))
	}
	for _, name := range []string{"s22-ctlogger4-E-xml.txt", "s31-pakon-E-xml-pretty.txt"} {
		if b, err := os.ReadFile(realworld + "/" + name); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := NewDecoder(strings.NewReader(in), "fuzz", Options{})
		if err != nil || (d.Format() != FormatXML && d.Format() != FormatXMLEvents) {
			return
		}
		var snap track.Snapshot
		if err := d.ReadInto(&snap); err != nil {
			return
		}
		var out bytes.Buffer
		xw := NewXMLWriter(&out)
		for i := range snap.Flows {
			xw.Write(&snap.Flows[i])
		}
		for i := range snap.Events {
			xw.WriteEvent(&snap.Events[i], snap.Events[i].Time)
		}
		xw.Close()
		back, err := NewDecoder(bytes.NewReader(out.Bytes()), "again", Options{})
		if err != nil {
			t.Fatal(err)
		}
		var again track.Snapshot
		if err := back.ReadInto(&again); err != nil || back.Problems().Count != 0 {
			t.Fatalf("written form does not read back (%v, %+v):\n%s", err, back.Problems().Samples, out.Bytes())
		}
		if len(snap.Flows) > 0 && len(snap.Events) > 0 {
			return // a mixed input is written as one kind; counted, not compared
		}
		if len(again.Flows) != len(snap.Flows) || len(again.Events) != len(snap.Events) {
			t.Fatalf("%d entries and %d events became %d and %d:\n%s", len(snap.Flows), len(snap.Events), len(again.Flows), len(again.Events), out.Bytes())
		}
		for i := range snap.Flows {
			if !again.Flows[i].Equal(&snap.Flows[i]) {
				t.Fatalf("entry %d:\n got  %+v\n want %+v", i, again.Flows[i], snap.Flows[i])
			}
		}
		for i := range snap.Events {
			a, b := again.Events[i], snap.Events[i]
			if a.Type != b.Type || !a.Time.Equal(b.Time) || !a.Flow.Equal(&b.Flow) {
				t.Fatalf("event %d:\n got  %+v\n want %+v", i, a, b)
			}
		}
	})
}
