package ruleset

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/track"
)

// FuzzParse feeds anything to Parse with detection, as the CLI and the
// parser's detection do: no panic, every problem has a line within the
// input, and a ruleset that was read writes as JSON and reads back.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".md") {
			f.Add(b)
		}
	}
	f.Add([]byte("*nat\n:POSTROUTING ACCEPT [1:2]\n[3:4] -A POSTROUTING -o eth0 -j MASQUERADE --to-ports 1-2 --random-fully\nCOMMIT\n"))
	f.Add([]byte("table inet t {\n\tchain c {\n\t\ttype filter hook input priority filter + 5; policy drop;\n\t\tct state { invalid } counter packets 1 bytes 2 drop # handle 3\n\t}\n}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := Parse(bytes.NewReader(in), "fuzz", FormatNone)
		if err != nil {
			return
		}
		lines := bytes.Count(in, []byte("\n")) + 1
		for _, p := range res.Problems.First {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem on line %d of %d: %v", p.Line, lines, p)
			}
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, res.Ruleset); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(&buf, "json", FormatNone)
		if err != nil || back.Problems.Count > 0 {
			t.Fatalf("own JSON not read back: %v %v\n%s", err, back.Problems.First, buf.Bytes())
		}
		if back.Ruleset.RuleCount() != res.Ruleset.RuleCount() {
			t.Fatalf("%d rules became %d", res.Ruleset.RuleCount(), back.Ruleset.RuleCount())
		}
	})
}

// FuzzRuleMsg feeds anything to the netlink rule decoder (the bytes the
// kernel sends): no panic, and what it decodes renders.
func FuzzRuleMsg(f *testing.F) {
	// A rule "meta l4proto tcp counter masquerade to :30000-30019" as
	// nft 1.0.6 sends it, and a truncated copy.
	f.Add(ruleMsgSeed())
	f.Add(ruleMsgSeed()[:40])
	f.Add([]byte{2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRuleMsg(b)
		if err != nil {
			return
		}
		_ = NftText(&r.rule, r.parts...)
		_ = IptablesText("C", &r.rule, r.parts...)
	})
}

// FuzzXt feeds anything to the x_tables structure decoders.
func FuzzXt(f *testing.F) {
	f.Add("conntrack", uint32(3), make([]byte, 168))
	f.Add("MASQUERADE", uint32(0), make([]byte, 24))
	f.Add("CT", uint32(2), make([]byte, 72))
	f.Add("multiport", uint32(1), make([]byte, 48))
	f.Fuzz(func(t *testing.T, name string, rev uint32, info []byte) {
		for _, fam := range []track.RuleFamily{track.RuleFamilyIP, track.RuleFamilyIP6} {
			var r track.Rule
			decodeXtMatch(name, rev, fam, info, &r)
			decodeXtTarget(name, rev, fam, info, &r)
			_ = IptablesText("C", &r)
		}
	})
}

// FuzzSetElemMsg feeds anything to the set element decoder (what the
// kernel sends for an anonymous set): no panic, and the elements turn into
// port and address matches or are refused.
func FuzzSetElemMsg(f *testing.F) {
	attr := func(typ uint16, data []byte) []byte {
		l := 4 + len(data)
		b := []byte{byte(l), byte(l >> 8), byte(typ), byte(typ >> 8)}
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	key := func(v []byte) []byte { return attr(1|0x8000, attr(1, v)) } // NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE }
	elem := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return attr(1|0x8000, b)
	}
	// { 1000-2000, 3000 } as an interval set: starts, and exclusive ends flagged.
	end := attr(3, []byte{0, 0, 0, 1})
	list := append(append(append(elem(key([]byte{0x03, 0xe8})), elem(key([]byte{0x07, 0xd1}), end)...), elem(key([]byte{0x0b, 0xb8}))...), elem(key([]byte{0x0b, 0xb9}), end)...)
	msg := append([]byte{1, 0, 0, 0}, attr(3|0x8000, list)...)
	f.Add(msg)
	f.Add(msg[:len(msg)-5])
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeSetElemMsg(b)
		if err != nil {
			return
		}
		for _, field := range []setLookup{{field: fieldDPort}, {field: fieldSaddr, l3: track.FamilyIPv4}, {field: fieldDaddr, l3: track.FamilyIPv6}} {
			var r track.Rule
			if applyLookup(&r, field, es) {
				_ = NftText(&r)
			}
		}
	})
}
