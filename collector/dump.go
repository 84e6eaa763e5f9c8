package collector

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/parser"
	"github.com/ctdiag/ctdiag/track"
)

// DumpFilter narrows a dump in the kernel (family, mark, status, zone,
// exact tuple fields).
type DumpFilter = netlinkct.DumpFilter

// KernelFilter is the part of f the kernel can apply while dumping. It
// selects a superset of f, so the caller still applies f to what arrives;
// kernels without a feature ignore that part (the superset grows). States,
// IPv6 addresses, IPv4 prefixes wider than a host, NAT and labels stay in
// ctdiag.
func KernelFilter(f *filter.Filter) DumpFilter {
	var k DumpFilter
	if f == nil {
		return k
	}
	k.Family = uint8(f.Family)
	if f.HasMark {
		k.Mark, k.MarkMask, k.HasMark = f.Mark, f.MarkMask, true
	}
	if mask := f.StatusSet | f.StatusClear; mask != 0 {
		k.Status, k.StatusMask, k.HasStatus = uint32(f.StatusSet), uint32(mask), true
	}
	// The kernel keeps entries whose zone id is the one asked in either
	// direction; conntrack's -w 0 also selects entries that have a zone in
	// one direction only, so zone 0 is left to ctdiag.
	if f.HasZone && f.Zone != 0 {
		k.Zone, k.HasZone = f.Zone, true
	}
	k.Orig.Src, k.Orig.Dst = hostAddr(f.Src), hostAddr(f.Dst)
	k.Reply.Src, k.Reply.Dst = hostAddr(f.ReplySrc), hostAddr(f.ReplyDst)
	// The kernel compares ports of TCP and UDP entries only, and only
	// with a protocol to go by.
	if f.HasProto {
		k.Orig.Proto, k.Orig.HasProto = uint8(f.Proto), true
		if f.Proto == track.ProtoTCP || f.Proto == track.ProtoUDP {
			k.Orig.SrcPort, k.Orig.HasSrcPort = f.SrcPort()
			k.Orig.DstPort, k.Orig.HasDstPort = f.DstPort()
			rs, hasRS := f.ReplySrcPort()
			rd, hasRD := f.ReplyDstPort()
			if hasRS || hasRD {
				k.Reply.Proto, k.Reply.HasProto = uint8(f.Proto), true
				k.Reply.SrcPort, k.Reply.HasSrcPort = rs, hasRS
				k.Reply.DstPort, k.Reply.HasDstPort = rd, hasRD
			}
		}
	}
	return k
}

// hostAddr is the address of a prefix naming one IPv4 host. The kernel
// matches addresses exactly, so a wider prefix is left to ctdiag, and its
// IPv6 comparison is inverted (ctnetlink_filter_match_tuple tests
// !ipv6_addr_cmp, true when the addresses are equal: an IPv6 address
// filter returns every entry but the ones asked for, on 5.10 to 6.18 at
// least; TestKernelIPv6AddressFilterInverted), so IPv6 is left to ctdiag.
func hostAddr(p netip.Prefix) netip.Addr {
	if p.IsValid() && p.Addr().Is4() && p.Bits() == 32 {
		return p.Addr()
	}
	return netip.Addr{}
}

// DumpInfo says how a dump went.
type DumpInfo struct {
	Entries int // entries passed to the callback
	// KernelFiltered is true when the kernel applied the filter; false when
	// there was none or the kernel refused it and everything was read.
	KernelFiltered bool
	// Problems counts malformed /proc lines (netlink entries are never
	// malformed in practice; one that is ends the dump with an error).
	Problems *parser.Problems
}

// Flows streams every entry of the table to fn as it arrives. f is reused:
// copy what you keep (a track.Flow value copy is enough). kf narrows the
// dump in the kernel where it can; the caller applies its full filter to
// what arrives. Over netlink the table is never held: one 64 KiB buffer is
// decoded in place.
func (c *Collector) Flows(ctx context.Context, kf DumpFilter, fn func(f *track.Flow) error) (DumpInfo, error) {
	if c.noTable != nil {
		return DumpInfo{}, c.noTable
	}
	if c.nl == nil {
		return c.procFlows(fn)
	}
	var info DumpInfo
	for _, part := range kf.PerFamily() {
		got, err := c.netlinkFlows(ctx, part, fn)
		info.Entries += got.Entries
		if err != nil && !kf.IsEmpty() && info.Entries == 0 && refusedFilter(err) {
			c.note("the kernel refused the dump filter (%v); filtering in ctdiag instead", err)
			return c.netlinkFlows(ctx, DumpFilter{}, fn)
		}
		if err != nil {
			return info, err
		}
	}
	info.KernelFiltered = !kf.IsEmpty()
	return info, nil
}

func refusedFilter(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)
}

func (c *Collector) netlinkFlows(ctx context.Context, kf DumpFilter, fn func(*track.Flow) error) (DumpInfo, error) {
	var info DumpInfo
	var f track.Flow
	now := c.cfg.Now()
	err := c.nl.dump(ctx, netlinkct.DumpTable(kf), func(m *netlinkct.Message) error {
		if m.Subsys() != netlinkct.SubsysConntrack || m.Msg() != netlinkct.MsgNew {
			return nil
		}
		if err := c.dec.Flow(m.Family, m.Attrs, now, &f); err != nil {
			return fmt.Errorf("decoding entry %d of the dump: %w", info.Entries+1, err)
		}
		info.Entries++
		return fn(&f)
	})
	return info, err
}

// procFlows streams /proc/net/nf_conntrack through the parser.
func (c *Collector) procFlows(fn func(*track.Flow) error) (DumpInfo, error) {
	var info DumpInfo
	f, err := c.openProc("net/nf_conntrack")
	if err != nil {
		return info, err
	}
	d, err := parser.NewDecoder(f, c.procPath("net/nf_conntrack"), parser.Options{Format: parser.FormatProc})
	if err != nil {
		f.Close()
		return info, err
	}
	defer d.Close()
	err = d.Flows(func(fl *track.Flow) error {
		info.Entries++
		return fn(fl)
	})
	info.Problems = d.Problems()
	return info, err
}
