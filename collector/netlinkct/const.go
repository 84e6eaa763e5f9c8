package netlinkct

// Netfilter netlink subsystems (NFNL_SUBSYS_*).
const (
	SubsysConntrack uint8 = 1 // NFNL_SUBSYS_CTNETLINK
	SubsysExpect    uint8 = 2 // NFNL_SUBSYS_CTNETLINK_EXP
)

// Conntrack message types (enum cntl_msg_types).
const (
	MsgNew            uint8 = 0 // IPCTNL_MSG_CT_NEW: dump entries and NEW/UPDATE events
	MsgGet            uint8 = 1
	MsgDelete         uint8 = 2 // DESTROY events
	MsgGetCtrZero     uint8 = 3 // a dump that zeroes counters: a write, never sent
	MsgGetStatsCPU    uint8 = 4
	MsgGetStats       uint8 = 5
	MsgGetDying       uint8 = 6
	MsgGetUnconfirmed uint8 = 7
)

// Expectation message types (enum ctnl_exp_msg_types).
const (
	MsgExpNew         uint8 = 0
	MsgExpGet         uint8 = 1
	MsgExpDelete      uint8 = 2
	MsgExpGetStatsCPU uint8 = 3
)

// Multicast groups carrying events (enum nfnetlink_groups).
const (
	GroupNew        uint32 = 1
	GroupUpdate     uint32 = 2
	GroupDestroy    uint32 = 3
	GroupExpNew     uint32 = 4
	GroupExpUpdate  uint32 = 5
	GroupExpDestroy uint32 = 6
)

// Netlink header flags and control message types (linux/netlink.h).
const (
	FlagRequest uint16 = 0x1
	FlagMulti   uint16 = 0x2
	FlagAck     uint16 = 0x4
	FlagEcho    uint16 = 0x8
	// FlagDumpIntr (NLM_F_DUMP_INTR) marks a message of a dump that the
	// table changed under.
	FlagDumpIntr uint16 = 0x10
	FlagDump     uint16 = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	// Modifiers of NEW requests: any of them makes a request a write.
	FlagReplace uint16 = 0x100
	FlagExcl    uint16 = 0x200
	FlagCreate  uint16 = 0x400
	FlagAppend  uint16 = 0x800

	typeNoop    uint16 = 1
	typeError   uint16 = 2
	typeDone    uint16 = 3
	typeOverrun uint16 = 4
)

// Top-level conntrack attributes (enum ctattr_type).
const (
	ctaTupleOrig      = 1
	ctaTupleReply     = 2
	ctaStatus         = 3
	ctaProtoinfo      = 4
	ctaHelp           = 5
	ctaTimeout        = 7
	ctaMark           = 8
	ctaCountersOrig   = 9
	ctaCountersReply  = 10
	ctaUse            = 11
	ctaID             = 12
	ctaTupleMaster    = 14
	ctaSecmark        = 17
	ctaZone           = 18
	ctaSecctx         = 19
	ctaTimestamp      = 20
	ctaMarkMask       = 21
	ctaLabels         = 22
	ctaFilter         = 25 // Linux 5.10+, dump requests only
	ctaStatusMask     = 26
	ctaTimestampEvent = 27 // Linux 6.14+, events only, with nf_conntrack_timestamp=1
)

// Tuple, address and L4 attributes.
const (
	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaTupleZone  = 3

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum        = 1
	ctaProtoSrcPort    = 2
	ctaProtoDstPort    = 3
	ctaProtoICMPID     = 4
	ctaProtoICMPType   = 5
	ctaProtoICMPCode   = 6
	ctaProtoICMPv6ID   = 7
	ctaProtoICMPv6Type = 8
	ctaProtoICMPv6Code = 9
)

// CTA_FILTER: which fields of CTA_TUPLE_ORIG and CTA_TUPLE_REPLY a dump
// matches exactly (CTA_FILTER_FLAG in nfnetlink_conntrack.h). The flag
// words are host-endian (nla_get_u32).
const (
	ctaFilterOrigFlags  = 1
	ctaFilterReplyFlags = 2

	filterIPSrc   = 1 << 0
	filterIPDst   = 1 << 1
	filterProto   = 1 << 3
	filterSrcPort = 1 << 4
	filterDstPort = 1 << 5
)

// Nested attributes inside CTA_PROTOINFO, CTA_COUNTERS_*, CTA_TIMESTAMP,
// CTA_HELP and CTA_SECCTX.
const (
	ctaProtoinfoTCP  = 1
	ctaProtoinfoDCCP = 2
	ctaProtoinfoSCTP = 3
	ctaStateInfo     = 1 // CTA_PROTOINFO_{TCP,DCCP,SCTP}_STATE

	ctaCountersPackets   = 1
	ctaCountersBytes     = 2
	ctaCounters32Packets = 3
	ctaCounters32Bytes   = 4

	ctaTimestampStart = 1
	ctaTimestampStop  = 2

	ctaHelpName   = 1
	ctaSecctxName = 1
)

// Statistics attributes (enum ctattr_stats_cpu, ctattr_stats_global,
// ctattr_expect_stats).
const (
	ctaStatsGlobalEntries    = 1
	ctaStatsGlobalMaxEntries = 2
)

const (
	nlmsgHdrLen  = 16
	nfgenmsgLen  = 4
	nlaHdrLen    = 4
	nlaTypeMask  = 0x3fff
	nlaFNested   = 0x8000
	afINet       = 2
	afINet6      = 10
	nfnetlinkV0  = 0
	maxMsgLength = 1 << 30
)
