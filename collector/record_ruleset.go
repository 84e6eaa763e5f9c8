package collector

import (
	"bufio"
	"context"

	"github.com/ctdiag/ctdiag/ruleset"
)

// memberRuleset is a sample's firewall ruleset, as ctdiag ruleset -o json
// writes it (package ruleset reads it back).
const memberRuleset = "ruleset.json"

// writeRuleset reads the namespace's ruleset (package ruleset: nftables
// netlink, legacy tables with iptables-legacy-save) and writes it as
// ruleset JSON. Its netlink requests go to the same observer as the
// collector's own.
func (c *Collector) writeRuleset(ctx context.Context, w *bufio.Writer) error {
	live := ruleset.Live{NetnsName: c.cfg.Netns.String()}
	if c.ns != nil {
		live.Netns = c.ns.f
	}
	if obs := c.cfg.observe; obs != nil {
		live.Observe = func(typ, flags uint16) { obs(observed{Type: typ, Flags: flags}) }
	}
	rs, err := ruleset.Read(ctx, live)
	if err != nil {
		return err
	}
	return ruleset.WriteJSON(w, rs)
}
