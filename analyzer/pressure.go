package analyzer

import (
	"math"

	"github.com/ctdiag/ctdiag/rules"
)

// PressureInput is what the pressure figures of one table are computed from.
// The report, the terminal UI and the exporter fill it from what they hold
// (samples, a compact table, an event-fed model) and get the same figures
// from PressureOf: there is one formula for each number.
type PressureInput struct {
	// Count is nf_conntrack_count when it was read, else the entries listed.
	Count  uint64
	Max    uint64 // nf_conntrack_max
	HasMax bool
	// NonEvictable entries are the ones the kernel never drops to make room
	// (track.Flow.Evictable: ASSURED and not closing, or offloaded), so they
	// alone bound the real headroom (docs/KERNEL.md §4.3).
	NonEvictable uint64
	// History is the table's size over time, oldest first, ending with this
	// sample; untimed samples leave it empty (no growth, no forecast).
	History []SizePoint
	// SteadyState is the size the table settles at when entries are created
	// at the observed rate and live their state's timeout (creation rate ×
	// lifetime, summed over states); 0 when unknown. A table whose steady
	// state is below the limit is not forecast to fill, however fast it
	// grows now.
	SteadyState float64
	// Gate says how full a table must be before its growth is forecast
	// (ForecastGate reads it from the catalog); the zero value forecasts
	// at any utilisation.
	Gate Gate
}

// Gate is how full a table must be before its growth is forecast: Churn
// for a table that sheds entries as it gains them, ShedNothing for one
// that keeps what it gains (SteadyState +Inf).
type Gate struct {
	Churn, ShedNothing float64
}

// ForecastGate reads the forecast's gate from table-full's parameters
// (projection_min_utilisation, accumulation_min_utilisation), so every view
// forecasts exactly when the rule would.
func ForecastGate(cfg *rules.Config) Gate {
	if cfg == nil {
		cfg = rules.DefaultConfig()
	}
	return Gate{Churn: cfg.Param(rules.TableFull, "projection_min_utilisation"),
		ShedNothing: cfg.Param(rules.TableFull, "accumulation_min_utilisation")}
}

// SizePoint is the table's size at a time (seconds since the first sample).
type SizePoint struct {
	Offset float64
	Size   float64
}

// TableSize is what one sample says of the table's size.
type TableSize struct {
	Offset   float64 // seconds since the first sample
	Count    uint64  // nf_conntrack_count, when read (HasCount)
	HasCount bool
	Listed   int // entries listed, when the table was read (HasTable)
	HasTable bool
}

// SizeHistory is the table's size at each point in one measure for all:
// the kernel's count when every point has it, else the entries listed (a
// point without a table gives its count). A count read once at the end
// beside tables listed before it is not a step of the table: it is read a
// moment after the listing, while entries come and go. It is the only
// place a size series is made (report, TUI).
func SizeHistory(pts []TableSize) []SizePoint {
	counted := true
	for _, p := range pts {
		counted = counted && p.HasCount
	}
	out := make([]SizePoint, 0, len(pts))
	for _, p := range pts {
		size := float64(p.Count)
		if !counted && (p.HasTable || !p.HasCount) {
			size = float64(p.Listed)
		}
		out = append(out, SizePoint{Offset: p.Offset, Size: size})
	}
	return out
}

// Pressure is how full the table is and how soon it will be full.
type Pressure struct {
	Count  uint64
	Max    uint64
	HasMax bool
	// Utilisation is Count/Max; 0 without a max (or with max 0, no limit).
	Utilisation float64
	// Kept is how many entries the kernel never evicts (the input's
	// NonEvictable); KeptShare is Kept/Max, the share of the limit no early
	// drop can give back.
	Kept      uint64
	KeptShare float64
	// Headroom is how many new entries fit before packets are dropped:
	// Max − NonEvictable. Negative when those entries alone exceed the
	// limit (a limit lowered below what the table holds).
	Headroom    int64
	HasHeadroom bool
	// GrowthPerSec is the table's recent growth (entries per second, least
	// squares over the last samples); Rising says it grew at every one of
	// those steps, so a forecast is made.
	GrowthPerSec float64
	HasGrowth    bool
	Rising       bool
	// FullInSeconds forecasts when the table reaches Max at the recent
	// growth: 0 when it is full now; HasFullIn is false when it is not
	// filling (flat, shrinking, no max, a steady state below the limit, or
	// less full than the Gate asks).
	FullInSeconds float64
	HasFullIn     bool
	// SteadyState is the input's: +Inf when the table keeps what it gains.
	SteadyState float64
}

func (g Gate) min(steady float64) float64 {
	if math.IsInf(steady, 1) {
		return g.ShedNothing
	}
	return g.Churn
}

// growthWindow is how many recent samples the growth is measured over: a
// rate from the first sample to the last reports growth that stopped long
// ago, while one step alone is noise.
const growthWindow = 3

// PressureOf computes the pressure figures. It is the only place they are
// computed.
func PressureOf(in PressureInput) Pressure {
	p := Pressure{Count: in.Count, Max: in.Max, HasMax: in.HasMax, SteadyState: in.SteadyState}
	limited := in.HasMax && in.Max > 0
	p.Kept = in.NonEvictable
	if limited {
		p.Utilisation = float64(in.Count) / float64(in.Max)
		p.KeptShare = float64(in.NonEvictable) / float64(in.Max)
		p.Headroom, p.HasHeadroom = int64(in.Max)-int64(in.NonEvictable), true
	}
	if g, rising, ok := RecentGrowth(in.History); ok {
		p.GrowthPerSec, p.HasGrowth, p.Rising = g, true, rising
	}
	switch {
	case !limited:
	case in.Count >= in.Max:
		p.FullInSeconds, p.HasFullIn = 0, true
	case p.Rising && p.GrowthPerSec > 0 && (in.SteadyState == 0 || in.SteadyState >= float64(in.Max)) && p.Utilisation >= in.Gate.min(in.SteadyState):
		p.FullInSeconds, p.HasFullIn = float64(in.Max-in.Count)/p.GrowthPerSec, true
	}
	return p
}

// RecentGrowth is the least-squares slope of the last growthWindow points
// (per second), and whether every step among them went up. ok is false with
// fewer than two timed points.
func RecentGrowth(h []SizePoint) (perSec float64, rising, ok bool) {
	if len(h) > growthWindow {
		h = h[len(h)-growthWindow:]
	}
	if len(h) < 2 || h[len(h)-1].Offset <= h[0].Offset {
		return 0, false, false
	}
	var mx, my float64
	for _, p := range h {
		mx += p.Offset
		my += p.Size
	}
	n := float64(len(h))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for _, p := range h {
		sxy += (p.Offset - mx) * (p.Size - my)
		sxx += (p.Offset - mx) * (p.Offset - mx)
	}
	if sxx == 0 {
		return 0, false, false
	}
	rising = true
	for i := 1; i < len(h); i++ {
		if h[i].Size <= h[i-1].Size {
			rising = false
		}
	}
	perSec = sxy / sxx
	if math.IsNaN(perSec) || math.IsInf(perSec, 0) {
		return 0, false, false
	}
	return perSec, rising, true
}
