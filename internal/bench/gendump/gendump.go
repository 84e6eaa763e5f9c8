// Package gendump makes deterministic, realistic conntrack tables of any
// size for benchmarks: the mix of states, protocols and address families of
// the real 100,000-entry capture (testdata/kernel-6.18/table-100k), with a
// share of entries carrying accounting counters and timestamps as tables
// with nf_conntrack_acct=1 do. The same seed gives the same table.
//
// It is test tooling: production code must not import it.
package gendump

import (
	"math/rand/v2"
	"net/netip"

	"github.com/ctdiag/ctdiag/track"
)

// Options say what to generate.
type Options struct {
	N    int
	Seed uint64
	// AcctShare is the share of entries with packets=/bytes= and
	// delta-time= (created while accounting and timestamps were on).
	AcctShare float64
}

// kind is one row of the mix: how many in 100,000 real entries.
type kind struct {
	weight    int
	proto     track.Proto
	v6        bool
	state     track.TCPState
	unreplied bool
	assured   bool
	timeout   uint32 // upper bound of the remaining timeout
	dports    []uint16
}

// mix is the real 100k capture's composition (see the package doc).
var mix = []kind{
	{50041, track.ProtoTCP, false, track.TCPEstablished, false, true, 432000, []uint16{443, 80, 9696, 5432}},
	{13009, track.ProtoUDP, false, 0, true, false, 30, []uint16{53, 123, 5353}},
	{12033, track.ProtoTCP, false, track.TCPTimeWait, false, true, 120, []uint16{443, 80}},
	{8010, track.ProtoTCP, false, track.TCPSynSent, true, false, 120, []uint16{443, 8080}},
	{3965, track.ProtoTCP, true, track.TCPEstablished, false, true, 432000, []uint16{443, 80}},
	{3019, track.ProtoICMP, false, 0, false, false, 30, nil},
	{2059, track.ProtoTCP, false, track.TCPCloseWait, false, true, 60, []uint16{443}},
	{2008, track.ProtoTCP, false, track.TCPSynRecv, false, false, 60, []uint16{443}},
	{1999, track.ProtoTCP, false, track.TCPClose, false, false, 10, []uint16{443}},
	{1916, track.ProtoTCP, false, track.TCPFinWait, false, true, 120, []uint16{443}},
	{981, track.ProtoICMPv6, true, 0, false, false, 30, nil},
	{960, track.ProtoUDP, true, 0, false, false, 120, []uint16{53}},
}

// Generate calls fn with n flows. f is reused between calls.
func Generate(opts Options, fn func(f *track.Flow) error) error {
	r := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	total := 0
	for _, k := range mix {
		total += k.weight
	}
	var f track.Flow
	for i := 0; i < opts.N; i++ {
		w := r.IntN(total)
		k := &mix[0]
		for j := range mix {
			if w < mix[j].weight {
				k = &mix[j]
				break
			}
			w -= mix[j].weight
		}
		make1(r, k, &f, r.Float64() < opts.AcctShare)
		if err := fn(&f); err != nil {
			return err
		}
	}
	return nil
}

func make1(r *rand.Rand, k *kind, f *track.Flow, acct bool) {
	*f = track.Flow{}
	var src, dst netip.Addr
	fam := track.FamilyIPv4
	if k.v6 {
		fam = track.FamilyIPv6
		src = netip.AddrFrom16([16]byte{0xfd, 0, 0x02, 0x31, 14: byte(r.IntN(256)), 15: byte(r.IntN(256))})
		dst = netip.AddrFrom16([16]byte{0xfd, 0, 0x02, 0x31, 0, 0, 0, 1, 15: byte(r.IntN(64))})
	} else {
		src = netip.AddrFrom4([4]byte{10, 231, byte(r.IntN(128)), byte(r.IntN(256))})
		dst = netip.AddrFrom4([4]byte{10, 231, 128 + byte(r.IntN(4)), byte(r.IntN(256))})
	}
	f.Orig = track.Tuple{Family: fam, Proto: k.proto, Src: src, Dst: dst}
	switch {
	case k.proto.HasPorts():
		f.Orig.SrcPort = uint16(1024 + r.IntN(64511))
		f.Orig.DstPort = k.dports[r.IntN(len(k.dports))]
	case k.proto.IsICMP():
		f.Orig.Type = 8
		if k.proto == track.ProtoICMPv6 {
			f.Orig.Type = 128
		}
		f.Orig.ID = uint16(r.IntN(65536))
	}
	f.Reply = f.Orig.Reply()
	f.Timeout = uint32(r.IntN(int(k.timeout)))
	f.Fields = track.FieldTimeout | track.FieldMark | track.FieldZone | track.FieldUse
	if k.proto == track.ProtoTCP {
		f.State = uint8(k.state)
		f.Fields |= track.FieldState
	}
	f.Status = track.StatusConfirmed
	if !k.unreplied {
		f.Status |= track.StatusSeenReply
	}
	if k.assured {
		f.Status |= track.StatusAssured
	}
	f.Use = 2
	if acct {
		f.Fields |= track.FieldOrigCounters | track.FieldReplyCounters | track.FieldDeltaTime
		p := uint64(1 + r.IntN(5000))
		f.OrigCounters = track.Counters{Packets: p, Bytes: p * uint64(60+r.IntN(1400))}
		if !k.unreplied {
			q := uint64(1 + r.IntN(5000))
			f.ReplyCounters = track.Counters{Packets: q, Bytes: q * uint64(60+r.IntN(1400))}
		}
		f.DeltaTime = uint64(r.IntN(86400))
	}
}
