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
	// Partial says why the entries read may not be the whole table: it
	// shrank a lot while it was read (a flush, a mass expiry), or the
	// kernel marked the dump interrupted (NLM_F_DUMP_INTR). "" when whole.
	Partial string
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
	if err := c.checkNetns(); err != nil {
		return DumpInfo{}, err
	}
	// The count before and after tells a dump that raced a flush: the
	// kernel walks its hash table bucket by bucket and never says that
	// entries went away behind it.
	before, _, _, berr := c.Count(ctx)
	info, err := c.flows(ctx, kf, fn)
	if err != nil {
		return info, err
	}
	if berr == nil && kf.IsEmpty() {
		if after, _, _, aerr := c.Count(ctx); aerr == nil {
			if why := shrankWhileRead(before, after, uint64(info.Entries)); why != "" && info.Partial == "" {
				info.Partial = why
			}
		}
	}
	if info.Partial != "" {
		c.note("%s", info.Partial)
	}
	return info, nil
}

// shrankWhileRead says why a dump of read entries is likely partial when
// the table went from before to after entries while it was read: it lost
// at least a tenth of itself (and 10 entries) and fewer entries than it
// had were read. Expiry and churn move a table by less.
func shrankWhileRead(before, after, read uint64) string {
	if after >= before || read >= before {
		return ""
	}
	lost := before - after
	if lost < 10 || lost < before/10 {
		return ""
	}
	return fmt.Sprintf("the table shrank from %d to %d entries while it was read (flushed?): %d entries were read, "+
		"so this sample may be missing entries that existed when it began", before, after, read)
}

func (c *Collector) flows(ctx context.Context, kf DumpFilter, fn func(f *track.Flow) error) (DumpInfo, error) {
	if c.nl == nil {
		return c.procFlows(fn)
	}
	var info DumpInfo
	for _, part := range kf.PerFamily() {
		got, err := c.netlinkFlows(ctx, part, fn)
		info.Entries += got.Entries
		if got.Partial != "" {
			info.Partial = got.Partial
		}
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
		if m.Flags&netlinkct.FlagDumpIntr != 0 && info.Partial == "" {
			info.Partial = "the kernel marked the table dump interrupted (the table changed while it was read); this sample may be missing entries"
		}
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
