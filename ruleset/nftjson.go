package ruleset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// lineCounter remembers where lines start so a JSON decoder's offset can
// be named as a line.
type lineCounter struct {
	r      io.Reader
	off    int64
	starts []int64 // offsets of the newlines seen
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			c.starts = append(c.starts, c.off+int64(i))
		}
	}
	c.off += int64(n)
	return n, err
}

// lineAt is the 1-based line of offset off.
func (c *lineCounter) lineAt(off int64) int {
	return sort.Search(len(c.starts), func(i int) bool { return c.starts[i] >= off }) + 1
}

// nft -j's objects, as far as they are read.
type jsonTable struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

type jsonChain struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Hook   string `json:"hook"`
	Prio   *int32 `json:"prio"`
	Policy string `json:"policy"`
	Dev    string `json:"dev"`
}

type jsonRule struct {
	Family  string                       `json:"family"`
	Table   string                       `json:"table"`
	Chain   string                       `json:"chain"`
	Handle  uint64                       `json:"handle"`
	Comment string                       `json:"comment"`
	Expr    []map[string]json.RawMessage `json:"expr"`
}

// parseNftJSON reads `nft -j list ruleset`: one object at a time from
// the "nftables" array, so memory holds the model, not the text.
func parseNftJSON(r io.Reader, probs *Problems) (*track.Ruleset, int, error) {
	lc := &lineCounter{r: r}
	dec := json.NewDecoder(lc)
	rs := &track.Ruleset{}
	bad := func(expected string, got string) {
		probs.add(lc.lineAt(dec.InputOffset()), got, syntaxErr(expected, got))
	}
	if err := expectDelim(dec, '{'); err != nil {
		bad(`{"nftables": [...]}`, err.Error())
		return rs, len(lc.starts) + 1, nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			bad(`{"nftables": [...]}`, err.Error())
			return rs, len(lc.starts) + 1, nil
		}
		if tok != "nftables" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				bad("a JSON value", err.Error())
				return rs, len(lc.starts) + 1, nil
			}
			rs.Unknown++
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			bad(`"nftables": [...]`, err.Error())
			return rs, len(lc.starts) + 1, nil
		}
		tables := map[string]int{} // "family name" → index in rs.Tables
		for dec.More() {
			var obj map[string]json.RawMessage
			if err := dec.Decode(&obj); err != nil {
				bad("an nftables object {\"table\": …}, {\"chain\": …}, {\"rule\": …}", err.Error())
				return rs, len(lc.starts) + 1, nil
			}
			line := lc.lineAt(dec.InputOffset())
			if err := jsonObject(obj, rs, tables); err != nil {
				var se *SyntaxError
				if errors.As(err, &se) {
					probs.add(line, se.Got, se)
				} else {
					probs.add(line, "", syntaxErr("a well-formed nftables object", err.Error()))
				}
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			bad("]", err.Error())
		}
	}
	for i := range rs.Tables {
		if looksLikeIptablesNft(&rs.Tables[i]) {
			rs.Tables[i].Backend = track.BackendIptablesNft
		}
	}
	return rs, len(lc.starts) + 1, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%v", tok)
	}
	return nil
}

func jsonObject(obj map[string]json.RawMessage, rs *track.Ruleset, tables map[string]int) error {
	for kind, raw := range obj {
		switch kind {
		case "metainfo":
			rs.Comments++
		case "table":
			var t jsonTable
			if err := json.Unmarshal(raw, &t); err != nil {
				return syntaxErr(`{"table": {"family": …, "name": …}}`, err.Error())
			}
			fam, ok := track.ParseRuleFamily(t.Family)
			if !ok {
				return syntaxErr("a table family", t.Family)
			}
			tables[t.Family+" "+t.Name] = len(rs.Tables)
			rs.Tables = append(rs.Tables, track.RuleTable{Family: fam, Name: t.Name, Backend: track.BackendNft})
		case "chain":
			var c jsonChain
			if err := json.Unmarshal(raw, &c); err != nil {
				return syntaxErr(`{"chain": {"family": …, "table": …, "name": …}}`, err.Error())
			}
			ti, ok := tables[c.Family+" "+c.Table]
			if !ok {
				return syntaxErr("the chain's table listed before it", c.Family+" "+c.Table)
			}
			ch := track.RuleChain{Name: c.Name, Type: c.Type, Policy: c.Policy, Device: c.Dev}
			if c.Hook != "" {
				h, ok := track.ParseHook(c.Hook)
				if !ok {
					return syntaxErr("a hook", c.Hook)
				}
				ch.Hook = h
				if c.Prio != nil {
					ch.Priority = *c.Prio
				}
			}
			rs.Tables[ti].Chains = append(rs.Tables[ti].Chains, ch)
		case "rule":
			var r jsonRule
			if err := json.Unmarshal(raw, &r); err != nil {
				return syntaxErr(`{"rule": {"family": …, "table": …, "chain": …, "expr": […]}}`, err.Error())
			}
			ti, ok := tables[r.Family+" "+r.Table]
			if !ok {
				return syntaxErr("the rule's table listed before it", r.Family+" "+r.Table)
			}
			c, ok := rs.Tables[ti].Chain(r.Chain)
			if !ok {
				return syntaxErr("the rule's chain listed before it", r.Chain)
			}
			rule := track.Rule{Handle: r.Handle, Position: len(c.Rules) + 1, Comment: r.Comment}
			var text []string
			for _, e := range r.Expr {
				text = append(text, jsonExpr(e, &rule, &rs.Unknown))
			}
			rule.Text = strings.Join(text, " ")
			c.Rules = append(c.Rules, rule)
		default:
			// set, map, element, flowtable, counter, quota, ct helper, …
			rs.Unknown++
		}
	}
	return nil
}

// jsonExpr decodes one expression of a rule into r and returns it as nft
// would print it.
func jsonExpr(e map[string]json.RawMessage, r *track.Rule, unknown *int) string {
	for k, raw := range e {
		switch k {
		case "match":
			var mt struct {
				Op    string          `json:"op"`
				Left  json.RawMessage `json:"left"`
				Right json.RawMessage `json:"right"`
			}
			if json.Unmarshal(raw, &mt) != nil {
				break
			}
			return jsonMatch(mt.Op, mt.Left, mt.Right, r, unknown)
		case "counter":
			var c track.RuleCounter
			r.HasCounter = true
			if json.Unmarshal(raw, &c) == nil {
				r.Counter = c
				return fmt.Sprintf("counter packets %d bytes %d", c.Packets, c.Bytes)
			}
			return "counter name " + string(raw)
		case "notrack":
			r.Action.Kind = track.ActionNotrack
			return "notrack"
		case "accept", "drop", "return", "continue":
			_ = r.Verdict.UnmarshalText([]byte(k))
			return k
		case "reject":
			r.Verdict = track.VerdictReject
			return "reject"
		case "queue":
			r.Verdict = track.VerdictQueue
			return "queue"
		case "jump", "goto":
			var t struct {
				Target string `json:"target"`
			}
			_ = json.Unmarshal(raw, &t)
			r.Verdict, r.Target = track.VerdictJump, t.Target
			if k == "goto" {
				r.Verdict = track.VerdictGoto
			}
			return k + " " + t.Target
		case "masquerade", "snat", "dnat", "redirect":
			return jsonNAT(k, raw, r, unknown)
		case "mangle":
			var mg struct {
				Key   map[string]json.RawMessage `json:"key"`
				Value json.RawMessage            `json:"value"`
			}
			if json.Unmarshal(raw, &mg) == nil {
				if ct, ok := mg.Key["ct"]; ok {
					var key struct {
						Key string `json:"key"`
					}
					_ = json.Unmarshal(ct, &key)
					if key.Key == "zone" {
						var z uint16
						if json.Unmarshal(mg.Value, &z) == nil {
							r.Action.Kind, r.Action.Zone = track.ActionCtZone, z
							return fmt.Sprintf("ct zone set %d", z)
						}
					}
					if r.Action.Kind == track.ActionNone {
						r.Action.Kind = track.ActionCtOther
					}
					return "ct " + key.Key + " set " + string(mg.Value)
				}
			}
			*unknown++
			return "mangle " + string(raw)
		case "ct helper":
			var h string
			_ = json.Unmarshal(raw, &h)
			r.Action.Kind, r.Action.Helper = track.ActionCtHelper, h
			return fmt.Sprintf("ct helper set %q", h)
		case "xt":
			var x struct {
				Type string `json:"type"`
				Name string `json:"name"`
			}
			_ = json.Unmarshal(raw, &x)
			*unknown++
			r.Partial = true
			return "xt " + x.Type + " " + x.Name
		case "log", "comment":
			*unknown++
			return k
		}
		*unknown++
		r.Partial = true
		return k + " " + clip(string(raw))
	}
	return ""
}

// jsonValue renders a right-hand side: 53, "tcp", ["a","b"],
// {"set": […]}, {"range": [a, b]}, {"prefix": {"addr": …, "len": …}}.
func jsonValue(raw json.RawMessage) ([]string, string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return []string{n.String()}, n.String()
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var items []string
		for _, x := range list {
			it, _ := jsonValue(x)
			items = append(items, it...)
		}
		return items, strings.Join(items, ",")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if set, ok := obj["set"]; ok {
			items, _ := jsonValue(set)
			return items, "{ " + strings.Join(items, ", ") + " }"
		}
		if rg, ok := obj["range"]; ok {
			var ends []json.RawMessage
			if json.Unmarshal(rg, &ends) == nil && len(ends) == 2 {
				a, _ := jsonValue(ends[0])
				b, _ := jsonValue(ends[1])
				if len(a) == 1 && len(b) == 1 {
					v := a[0] + "-" + b[0]
					return []string{v}, v
				}
			}
		}
		if pf, ok := obj["prefix"]; ok {
			var p struct {
				Addr string `json:"addr"`
				Len  int    `json:"len"`
			}
			if json.Unmarshal(pf, &p) == nil {
				v := p.Addr + "/" + strconv.Itoa(p.Len)
				return []string{v}, v
			}
		}
	}
	return nil, string(bytes.TrimSpace(raw))
}

func jsonMatch(op string, left, right json.RawMessage, r *track.Rule, unknown *int) string {
	m := &r.Match
	neg := op == "!="
	items, rtext := jsonValue(right)
	var lhs map[string]struct {
		Protocol string `json:"protocol"`
		Field    string `json:"field"`
		Key      string `json:"key"`
	}
	_ = json.Unmarshal(left, &lhs)
	opText := ""
	if op == "!=" {
		opText = "!= "
	}
	partial := func(text string) string {
		r.Partial = true
		*unknown++
		return text
	}
	for kind, l := range lhs {
		switch kind {
		case "ct":
			text := "ct " + l.Key + " " + opText + rtext
			if l.Key == "state" {
				st, ok := parseCtStates(strings.Join(items, ","))
				if !ok {
					return partial(text)
				}
				m.CtState, m.CtStateNeg = st, neg
				return text
			}
			m.CtOther = append(m.CtOther, l.Key)
			return partial(text)
		case "meta":
			text := "meta " + l.Key + " " + opText + rtext
			switch l.Key {
			case "l4proto":
				if len(items) != 1 {
					return partial(text)
				}
				p, ok := track.ParseProto(items[0])
				if !ok {
					return partial(text)
				}
				m.Proto, m.ProtoNeg = p, neg
				return text
			case "iifname", "oifname":
				setIface(m, l.Key, rtext, neg)
				return l.Key + " " + opText + strconv.Quote(rtext)
			}
			return partial(text)
		case "payload":
			text := l.Protocol + " " + l.Field + " " + opText + rtext
			switch {
			case (l.Protocol == "ip" && l.Field == "protocol") || (l.Protocol == "ip6" && l.Field == "nexthdr"):
				if len(items) != 1 {
					return partial(text)
				}
				p, ok := track.ParseProto(items[0])
				if !ok {
					return partial(text)
				}
				m.Proto, m.ProtoNeg = p, neg
				return text
			case (l.Protocol == "ip" || l.Protocol == "ip6") && (l.Field == "saddr" || l.Field == "daddr"):
				var ps []netip.Prefix
				for _, x := range items {
					pf, ok := parsePrefix(x)
					if !ok {
						return partial(text)
					}
					ps = append(ps, pf)
				}
				if l.Field == "saddr" {
					m.Src, m.SrcNeg = ps, neg
				} else {
					m.Dst, m.DstNeg = ps, neg
				}
				return text
			case l.Field == "dport" || l.Field == "sport":
				if p, ok := track.ParseProto(l.Protocol); ok && m.Proto == 0 {
					m.Proto = p
				}
				var prs []track.PortRange
				for _, x := range items {
					pr, ok := parsePortRange(x)
					if !ok {
						return partial(text)
					}
					prs = append(prs, pr)
				}
				if l.Field == "dport" {
					m.DPorts, m.DPortNeg = prs, neg
				} else {
					m.SPorts, m.SPortNeg = prs, neg
				}
				return text
			}
			return partial(text)
		}
	}
	return partial("match " + clip(string(left)) + " " + op + " " + rtext)
}

func jsonNAT(k string, raw json.RawMessage, r *track.Rule, unknown *int) string {
	a := &r.Action
	switch k {
	case "masquerade":
		a.Kind = track.ActionMasquerade
	case "snat":
		a.Kind = track.ActionSNAT
	case "dnat":
		a.Kind = track.ActionDNAT
	case "redirect":
		a.Kind = track.ActionRedirect
	}
	var n struct {
		Addr  json.RawMessage `json:"addr"`
		Port  json.RawMessage `json:"port"`
		Flags json.RawMessage `json:"flags"`
	}
	if len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &n) != nil {
		return k
	}
	text := k
	to := ""
	if len(n.Addr) > 0 {
		items, v := jsonValue(n.Addr)
		if len(items) == 1 && parseNATTo(items[0], a) {
			to = v
			if strings.Contains(v, ":") {
				to = "[" + v + "]"
			}
		} else {
			*unknown++
			to = v
		}
	}
	if len(n.Port) > 0 {
		items, v := jsonValue(n.Port)
		if len(items) == 1 {
			if pr, ok := parsePortRange(items[0]); ok {
				a.Ports = pr
			} else {
				*unknown++
			}
		}
		to += ":" + v
	}
	if to != "" {
		text += " to " + to
	}
	if len(n.Flags) > 0 {
		items, _ := jsonValue(n.Flags)
		var f track.NATFlags
		if err := f.UnmarshalText([]byte(strings.Join(items, ","))); err != nil {
			*unknown++
		}
		a.Flags |= f
		text += " " + strings.Join(items, ",")
	}
	return text
}
