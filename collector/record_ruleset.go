package collector

import (
	"context"

	"github.com/ctdiag/ctdiag/ruleset"
	"github.com/ctdiag/ctdiag/track"
)

// memberRuleset is a sample's firewall ruleset, as ctdiag ruleset -o json
// writes it (package ruleset reads it back).
const memberRuleset = "ruleset.json"

// Ruleset reads the namespace's firewall ruleset (package ruleset:
// nftables netlink, legacy tables with iptables-legacy-save). Its netlink
// requests go to the same observer as the collector's own. A sample that
// should carry it sets track.Snapshot.Ruleset (Extra does, so every
// live sample of report, top, record and the exporter carries it).
func (c *Collector) Ruleset(ctx context.Context) (*track.Ruleset, error) {
	live := ruleset.Live{NetnsName: c.cfg.Netns.String()}
	if c.ns != nil {
		live.Netns = c.ns.f
	}
	if obs := c.cfg.observe; obs != nil {
		live.Observe = func(typ, flags uint16) { obs(observed{Type: typ, Flags: flags}) }
	}
	return ruleset.Read(ctx, live)
}
