package analyzer

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// entryLines prints examples as conntrack -L lines.
func entryLines(ex []example) []string {
	var out []string
	var buf []byte
	for _, e := range ex {
		buf = parser.AppendFlow(buf[:0], &e.flow, parser.StyleConntrack)
		out = append(out, strings.TrimSuffix(string(buf), "\n"))
	}
	return out
}

func flowLine(f *track.Flow) string {
	return strings.TrimSuffix(string(parser.AppendFlow(nil, f, parser.StyleConntrack)), "\n")
}

func addrPortText(k netip.AddrPort) string {
	if k.Port() == 0 {
		return k.Addr().String()
	}
	return k.String()
}

// groupTop ranks a group's destinations and sources.
func (a *Analyzer) groupTop(g *group) []Top {
	var out []Top
	for _, r := range g.dst.top(a.opts.Top) {
		out = append(out, Top{Dimension: "destination", Key: addrPortText(r.key.addrPort()), Count: r.count, Share: float64(r.count) / float64(g.count)})
	}
	for _, r := range g.src.top(a.opts.Top) {
		out = append(out, Top{Dimension: "source", Key: r.key.addr().String(), Count: r.count, Share: float64(r.count) / float64(g.count)})
	}
	return out
}

// namedShare is the share of a group's entries one destination must hold
// to be named as where they go: below a third, a summary saying "most to X"
// would be false (62 of 79,130 entries is nobody's "most").
const namedShare = 1.0 / 3

// place is where a group's entries go: the largest destination service,
// whether it holds a real share of them, and how many there are.
type place struct {
	count    int    // entries of the group
	dst      string // largest destination address
	port     string // its port ("" for none)
	share    float64
	src      string // largest source address
	srcShare float64
	spread   int  // distinct destination services
	named    bool // the largest destination holds namedShare or more
	known    bool // the group was ranked (its tallies are kept)
}

func (a *Analyzer) placeOf(g *group) place {
	p := place{count: g.count}
	if g.count == 0 {
		return p
	}
	r := g.dst.top(1)
	if len(r) == 0 {
		return p
	}
	p.known = true
	k := r[0].key.addrPort()
	p.dst = k.Addr().String()
	if k.Port() != 0 {
		p.port = strconv.Itoa(int(k.Port()))
	}
	p.share = float64(r[0].count) / float64(g.count)
	p.named = p.share >= namedShare
	p.spread = g.dst.distinct()
	if s := g.src.top(1); len(s) > 0 {
		p.src = s[0].key.addr().String()
		p.srcShare = float64(s[0].count) / float64(g.count)
	}
	return p
}

// service names the largest destination as ADDR:PORT.
func (p place) service() string {
	if p.port == "" {
		return p.dst
	}
	return netip.AddrPortFrom(netip.MustParseAddr(p.dst), mustPort(p.port)).String()
}

func mustPort(s string) uint16 {
	n, _ := strconv.Atoi(s)
	return uint16(n)
}

// phrase says where the entries go, for a summary: the largest
// destination with its share when it holds a real one, else how spread
// they are.
func (p place) phrase() string {
	switch {
	case !p.known:
		return ""
	case p.named && p.share > 0.995:
		return "all to " + p.service()
	case p.named:
		return fmt.Sprintf("%s of them to %s", human.Percent(p.share), p.service())
	}
	return fmt.Sprintf("spread over %d destinations (the largest, %s, has %s)", p.spread, p.service(), human.Percent(p.share))
}

// filter is the conntrack -L filter that selects the group's largest
// destination when it is named, else nothing.
func (p place) filter() string {
	if !p.named {
		return ""
	}
	f := "-d " + p.dst
	if p.port != "" {
		f += " --dport " + p.port
	}
	return f
}

// portFilter selects the largest destination's port only.
func (p place) portFilter() string {
	if !p.named || p.port == "" {
		return ""
	}
	return "--dport " + p.port
}

// placeData fills the remedy figures a place gives: Dst, DstPort and Src
// only when the largest destination is named (no command aims at a
// destination that holds a sliver), Filter always.
func (p place) placeData(data map[string]any) {
	data["Filter"], data["PortFilter"] = p.filter(), p.portFilter()
	if p.named {
		data["Dst"], data["DstPort"], data["Service"] = p.dst, p.port, p.service()
		if p.src != "" {
			data["Src"] = p.src
		}
	}
}

// talkers ranks the sample's sources, destinations and destination ports.
func (a *Analyzer) talkers(s *sample, n int) (src, dst, port []Top) {
	total := float64(max(1, s.entries))
	addrTop := func(b tallyView, dim string) []Top {
		var out []Top
		for _, r := range b.top(n) {
			out = append(out, Top{Dimension: dim, Key: r.key.addr().String(), Count: r.count, Share: float64(r.count) / total})
		}
		return out
	}
	src = addrTop(s.sources(), "source")
	dst = addrTop(s.destinations(), "destination")
	ports := map[string]int{}
	for p, c := range s.tcpPort {
		if c > 0 {
			ports["tcp/"+strconv.Itoa(p)] = int(c)
		}
	}
	for p, c := range s.udpPort {
		if c > 0 {
			ports["udp/"+strconv.Itoa(p)] = int(c)
		}
	}
	for _, r := range topN(ports, n, lessString, countOf[int]) {
		port = append(port, Top{Dimension: "destination port", Key: r.key, Count: r.count, Share: float64(r.count) / total})
	}
	return src, dst, port
}

// filterFor writes the list filter that selects a ranking's key.
func filterFor(t Top) string {
	switch t.Dimension {
	case "source":
		return "-s " + t.Key
	case "destination":
		return "-d " + t.Key
	}
	proto, port, _ := strings.Cut(t.Key, "/")
	return "-p " + proto + " --dport " + port
}

// roundDown rounds n down to a multiple of m, at least m.
func roundDown(n, m uint64) uint64 { return max(m, n/m*m) }

// roundUp rounds n up to a multiple of m.
func roundUp(n, m uint64) uint64 { return (n + m - 1) / m * m }

func onOff(v int64) string {
	if v != 0 {
		return "on"
	}
	return "off"
}

// entryBytes is the kernel memory per entry: the nf_conntrack slab object
// the source read from /proc/slabinfo plus the extension area (a
// kmalloc-128 object with this kernel's extensions, measured), else the
// rule's parameter (both measured together on the development kernel).
func (a *Analyzer) entryBytes(t timeline, ruleID string) float64 {
	const extensionBytes = 128
	for i := len(t.s) - 1; i >= 0; i-- {
		if m := t.s[i].meta; m.HasSlab && m.Slab.ObjSize > 0 {
			return float64(m.Slab.ObjSize + extensionBytes)
		}
	}
	return a.param(ruleID, "bytes_per_entry")
}

// share is n over the sample's entries (0 for an empty table).
func (s *sample) share(n int) float64 {
	return float64(n) / math.Max(1, float64(s.entries))
}

// seriesOf is one value per sample, named.
func (t timeline) seriesOf(name string, f func(*sample) float64) []Series {
	if len(t.s) < 2 {
		return nil
	}
	return []Series{t.series(name, f)}
}
