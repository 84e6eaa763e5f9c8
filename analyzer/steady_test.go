package analyzer_test

import (
	"testing"
	"time"

	"github.com/ctdiag/ctdiag/analyzer"
	"github.com/ctdiag/ctdiag/rules"
	"github.com/ctdiag/ctdiag/track"
)

// A pool of long-lived entries with a small churn in balance (the
// healthy-db-pool scenario at 200,000 entries, scaled): departures are few
// beside the table but as many as arrivals, so the table is not filling;
// and the count read once at the end, a moment after the last listing,
// is not a step up. Both once made table-full warn on a healthy table.
func TestBalancedPoolIsNotFilling(t *testing.T) {
	const pool, churn = 20000, 150 // churn: below 1 % of the table
	var snaps []track.Snapshot
	next := 0
	for k := 0; k < 5; k++ {
		var flows []track.Flow
		for i := 0; i < pool; i++ { // the pool: the same tuples in every sample
			flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPEstablished, timeout: 431990, status: assured,
				src: addr(i % 200), dst: "10.0.0.5", sport: uint16(20000 + i/200), dport: 5432}))
		}
		for i := 0; i < churn-[]int{0, 0, 10, 5, 0}[k]; i++ { // short connections, new in every sample
			flows = append(flows, mkflow(flowSpec{proto: track.ProtoTCP, state: track.TCPTimeWait, timeout: 100, status: assured,
				src: addr(300 + i), dst: "10.0.0.5", sport: uint16(50000 + next), dport: 9187}))
			next++
		}
		s := withSysctls(snap(time.Duration(k)*3*time.Second, flows...), "nf_conntrack_max", "26000")
		if k == 4 { // read once at the end, after the listing: a few more
			s.Count, s.HasCount = uint64(len(flows)+60), true
		}
		snaps = append(snaps, s)
	}
	r := run(t, nil, snaps...)
	if f := finding(r, rules.TableFull); f != nil && f.Severity >= rules.SeverityWarning {
		t.Errorf("table-full on a pool in balance: %s %s", f.Severity, f.Summary)
	}
	if p := r.Summary.Pressure; p.HasFullIn {
		t.Errorf("pressure: full in %v s forecast for a pool in balance", p.FullInSeconds)
	}
}

func TestSizeHistoryOneMeasure(t *testing.T) {
	pts := []analyzer.TableSize{
		{Offset: 0, Listed: 100, HasTable: true},
		{Offset: 3, Listed: 100, HasTable: true},
		{Offset: 6, Listed: 100, HasTable: true, Count: 130, HasCount: true},
	}
	h := analyzer.SizeHistory(pts)
	if h[2].Size != 100 {
		t.Errorf("a count beside listings replaced the listing: %+v", h)
	}
	for i := range pts {
		pts[i].Count, pts[i].HasCount = 90+uint64(i), true
	}
	if h := analyzer.SizeHistory(pts); h[0].Size != 90 || h[2].Size != 92 {
		t.Errorf("counts in every sample are the measure: %+v", h)
	}
}
