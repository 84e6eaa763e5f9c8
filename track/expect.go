package track

// Expectation is a connection a helper (FTP, SIP, TFTP, ...) expects: the
// kernel will relate a new flow matching Tuple under Mask to the Master
// connection. conntrack -L expect and conntrack -E expect list them.
type Expectation struct {
	Timeout uint32 // remaining seconds
	Tuple   Tuple  // the expected connection, original direction
	Mask    Tuple  // which parts of Tuple must match (all-ones addresses and ports where they must)
	Master  Tuple  // the original tuple of the connection that set it up
	Helper  string // helper name ("ftp")
	Class   uint32
	Zone    uint16
	Flags   uint32 // NF_CT_EXPECT_PERMANENT, _INACTIVE, _USERSPACE
	ID      uint32
}
