package analyzer

import (
	"fmt"
	"strings"

	"github.com/ctdiag/ctdiag/internal/human"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// topTalker: one peer or port holds the table (rules/top_talker.go).
func (a *Analyzer) topTalker(t timeline, sum *Summary) *Finding {
	l := t.last()
	if !l.meta.HasTable || l.entries == 0 {
		return nil
	}
	minShare := a.param(rules.TopTalker, "min_share")
	src, dst, port := a.talkers(l, a.opts.Top)
	var best Top
	for _, c := range [][]Top{src, dst, port} {
		if len(c) > 0 && c[0].Share > best.Share {
			best = c[0]
		}
	}
	// A single source taking a larger share of the table at every sample:
	// a client opening connections faster than the others, in a loop.
	var srcRise, shareRise rise
	rising := false
	if len(src) > 0 && src[0].Share >= minShare {
		key := src[0].Key
		srcRise = t.rise(func(s *sample) float64 { return s.sourceCount(key) })
		shareRise = t.rise(func(s *sample) float64 { return s.share(int(s.sourceCount(key))) })
		rising = srcRise.sustained(a.param(rules.TopTalker, "min_rise")) && shareRise.every &&
			shareRise.total() >= a.param(rules.TopTalker, "min_share_gain")
		if rising {
			best = src[0]
		}
	}
	big := float64(l.entries) >= a.param(rules.TopTalker, "min_entries")
	pressed := a.pressSeverity(sum.Pressure) >= rules.SeverityWarning
	if !pressed && !rising && len(src) > 0 {
		// A destination or port owning the table is the box's own job (a
		// server is the destination of all its connections): worth naming
		// only when the table is filling. A source owning it is named.
		best = src[0]
	}
	if best.Share < minShare || !big && !rising {
		return nil
	}
	sev := rules.SeverityInfo
	if rising || pressed {
		sev = rules.SeverityWarning
	}
	summary := fmt.Sprintf("%s %s holds %d of %d entries (%s)", best.Dimension, best.Key, best.Count, l.entries, human.Percent(best.Share))
	if rising {
		summary += fmt.Sprintf(", and took a larger share at every sample, %s → %s (%.0f → %.0f entries) over the last %d: it opens connections far faster than the other peers",
			human.Percent(shareRise.from), human.Percent(shareRise.to), srcRise.from, srcRise.to, srcRise.steps+1)
	}
	if pressed {
		summary += fmt.Sprintf("; the table is %s full", human.Percent(sum.Pressure.Utilisation))
	}
	f := &Finding{
		Severity: sev,
		Summary:  summary,
		Evidence: Evidence{Top: append(append(src, dst...), port...)},
	}
	if rising {
		key := best.Key
		f.Evidence.Series = t.seriesOf("entries from "+key, func(s *sample) float64 { return s.sourceCount(key) })
	}
	limit := 1000
	if best.Dimension == "source" && len(src) > 1 {
		limit = max(limit, 2*src[1].Count)
	}
	match := "ip saddr " + best.Key
	if strings.Contains(best.Key, ":") {
		match = "ip6 saddr " + best.Key
	}
	data := map[string]any{"Filter": filterFor(best), "Key": best.Key, "Limit": limit, "SaddrMatch": match, "MaskBits": 32}
	ids := []string{"show"}
	if best.Dimension == "source" {
		fam := track.RuleFamilyIP
		if strings.Contains(best.Key, ":") {
			fam, data["MaskBits"] = track.RuleFamilyIP6, 128
		}
		rs, _ := t.ruleset()
		ids = append(ids, filterChainsID(rs, "limit", fam, data))
	}
	f.Remedies = a.remedies(rules.TopTalker, data, ids...)
	return f
}

// sourceCount is how many entries a source held in the sample: exact where
// the sample's tallies are kept, else from the few biggest sources it kept
// (0 when the source was not among them).
func (s *sample) sourceCount(key string) float64 {
	top := s.topSrcs
	if s.srcs.pending > 0 || s.srcs.runs != nil || s.srcs.v6.used > 0 {
		top = s.sources().top(topSources)
	}
	for _, r := range top {
		if r.key.addr().String() == key {
			return float64(r.count)
		}
	}
	return 0
}
