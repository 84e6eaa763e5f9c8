package collector

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/collector/netlinkct"
	"github.com/ctdiag/ctdiag/track"
)

// SourceChoice says which live source to use.
type SourceChoice uint8

// Source choices.
const (
	SourceAuto    SourceChoice = iota // netlink, else /proc
	SourceNetlink                     // netlink only
	SourceProcfs                      // /proc only
)

// Config says what to read and where. The zero value reads the caller's
// namespace over netlink, falling back to /proc.
type Config struct {
	// ProcRoot is where /proc is ("/proc" when empty). Any other root is a
	// replay of a copied /proc tree: only the /proc files are read, and the
	// namespace (if any) must be a PID whose ROOT/PID/net exists.
	ProcRoot string
	// NetnsDir is where `ip netns` keeps its names ("/run/netns").
	NetnsDir string
	// Netns is the namespace to read; zero for the caller's own.
	Netns Netns
	// Source forces netlink or /proc.
	Source SourceChoice
	// LabelFile maps connection-label bits to names
	// ("/etc/xtables/connlabel.conf", as conntrack and nft use).
	LabelFile string
	// KernelLog lists where to read the kernel log, first readable wins
	// (default: /dev/kmsg, then the syslog(2) buffer, then
	// /var/log/kern.log and /var/log/messages).
	KernelLog []string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// TableOptional lets Open succeed without privileges when only the
	// table is out of reach: the collector then reads what everyone may
	// (per-CPU statistics, count, max, sysctls), Flows returns the
	// permission error, and Sample takes samples without entries, with a
	// note. For reports that should say what they can as any user.
	TableOptional bool

	// observe sees every netlink request and subscription (tests).
	observe func(observed)
}

func (c *Config) defaults() {
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	c.ProcRoot = filepath.Clean(c.ProcRoot)
	if c.NetnsDir == "" {
		c.NetnsDir = "/run/netns"
	}
	if c.LabelFile == "" {
		c.LabelFile = "/etc/xtables/connlabel.conf"
	}
	if c.KernelLog == nil {
		c.KernelLog = []string{"/dev/kmsg", kernelLogSyslog, "/var/log/kern.log", "/var/log/messages"}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// replay reports whether the proc root is not the live /proc.
func (c *Config) replay() bool { return c.ProcRoot != "/proc" }

// Collector reads one namespace's conntrack state. It is not safe for
// concurrent use; Events opens its own sockets.
type Collector struct {
	cfg Config
	ns  *nsHandle
	// nsPath is the name (/run/netns/NAME) or /proc/PID/ns/net the
	// namespace was opened by: when it no longer refers to ns, the
	// namespace is gone (checkNetns).
	nsPath string
	nl     *nlConn // nil when reading /proc
	kind   track.SourceKind
	source track.Source
	notes  []string
	dec    netlinkct.Decoder
	klog   *kernelLog
	// noTable is why the table cannot be read (TableOptional), else nil.
	noTable error
	// otherNetnsNoted: the note about other namespaces' kernel-log lines
	// was given.
	otherNetnsNoted bool
	// initNetns is the initial network namespace's inode once known (it
	// does not change while the machine runs).
	initNetns uint64
	// opened is when the collector was opened: kernel-log lines about a
	// namespace other than the initial one count only from then on.
	opened time.Time
}

// Open chooses the source (netlink, else /proc) for the namespace in cfg.
// Errors say what to do instead: without CAP_NET_ADMIN and root the error
// wraps ErrPermission and names the files that still work.
func Open(cfg Config) (*Collector, error) {
	cfg.defaults()
	c := &Collector{cfg: cfg, opened: cfg.Now()}
	if cfg.replay() {
		if cfg.Netns.Name != "" || cfg.Netns.Path != "" {
			return nil, fmt.Errorf("%w: a --proc-root replay can only select a namespace by pid (ROOT/PID/net)", ErrBadConfig)
		}
		if cfg.Source == SourceNetlink {
			return nil, fmt.Errorf("%w: a --proc-root replay has no netlink", ErrBadConfig)
		}
	} else if !cfg.Netns.IsZero() {
		path, err := cfg.Netns.nsPath(cfg.ProcRoot, cfg.NetnsDir)
		if err != nil {
			return nil, err
		}
		if c.ns, err = openNetns(path); err != nil {
			return nil, err
		}
		c.nsPath = path
		if err := canEnter(c.ns); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: reading network namespace %s means entering it (setns), which needs root (CAP_SYS_ADMIN); "+
				"nothing of it can be read otherwise, not even its statistics\n"+
				"  run with sudo, run ctdiag inside the namespace (sudo ip netns exec NAME ctdiag ...), "+
				"or read files captured there (conntrack -L output, a ctdiag record bundle)", ErrPermission, cfg.Netns)
		}
	}
	var nlErr error
	if !cfg.replay() && cfg.Source != SourceProcfs {
		nlErr = c.openNetlink()
		if nlErr == nil {
			c.kind = track.SourceNetlink
		} else if cfg.Source == SourceNetlink {
			c.Close()
			return nil, nlErr
		}
	}
	if c.kind == 0 {
		if err := c.checkProcfs(); err != nil {
			if nlErr != nil {
				err = joinSourceErrors(nlErr, err)
			}
			if !cfg.TableOptional || !errors.Is(err, ErrPermission) {
				c.Close()
				return nil, err
			}
			c.noTable = err
			c.notes = append(c.notes, "the table is not readable without root or CAP_NET_ADMIN (run with sudo): reading statistics, count, max and sysctls only")
		}
		c.kind = track.SourceProcfs
		if nlErr != nil {
			c.notes = append(c.notes, fmt.Sprintf("netlink unavailable (%v); reading %s instead", nlErr, c.procPath("net/nf_conntrack")))
		}
	}
	c.source = c.describe()
	c.loadLabels()
	return c, nil
}

// openNetlink dials and probes ctnetlink with a statistics request.
func (c *Collector) openNetlink() error {
	nl, err := dialNetlink(c.ns, c.cfg.observe)
	if err != nil {
		return explainNetlink(err)
	}
	err = nl.query(context.Background(), netlinkct.GetGlobalStats(), func(*netlinkct.Message) error { return nil })
	if err != nil {
		nl.close()
		return explainNetlink(err)
	}
	c.nl = nl
	return nil
}

// explainNetlink turns the errors of a refused or missing ctnetlink into
// sentences.
func explainNetlink(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: ctnetlink needs CAP_NET_ADMIN (run with sudo)", ErrPermission)
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT),
		errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%w: ctnetlink is not available (CONFIG_NF_CT_NETLINK, module nf_conntrack_netlink): %v", ErrNoConntrack, err)
	}
	return err
}

// joinSourceErrors explains why neither source works, keeping the
// sentinel of the more telling one.
func joinSourceErrors(nlErr, procErr error) error {
	if errors.Is(nlErr, ErrPermission) || errors.Is(procErr, ErrPermission) {
		return fmt.Errorf("%w: reading the live table needs root or CAP_NET_ADMIN (netlink: %v; /proc: %v)\n"+
			"  run with sudo; without privileges ctdiag still reads captured files (conntrack -L output, a "+
			"ctdiag record bundle) and --proc-root copies; /proc/net/stat/nf_conntrack and "+
			"/proc/sys/net/netfilter/nf_conntrack_{count,max} are readable by everyone", ErrPermission, nlErr, procErr)
	}
	return fmt.Errorf("%w (netlink: %v; /proc: %v)", ErrNoConntrack, nlErr, procErr)
}

// procPath is a path under the proc root. Files under net/ are the reader's
// namespace: in another namespace they are opened as thread-self/net/ from
// a thread inside it, or PID/net/ for a namespace given by pid in a replay.
func (c *Collector) procPath(rel string) string {
	if strings.HasPrefix(rel, "net/") {
		switch {
		case c.cfg.replay() && c.cfg.Netns.PID != 0:
			return filepath.Join(c.cfg.ProcRoot, fmt.Sprint(c.cfg.Netns.PID), rel)
		case c.ns != nil:
			return filepath.Join(c.cfg.ProcRoot, "thread-self", rel)
		}
	}
	return filepath.Join(c.cfg.ProcRoot, rel)
}

// openProc opens a file under the proc root inside the target namespace.
func (c *Collector) openProc(rel string) (*os.File, error) {
	var f *os.File
	err := inNetns(c.ns, func() (err error) {
		f, err = os.Open(c.procPath(rel))
		return err
	})
	return f, err
}

func (c *Collector) checkProcfs() error {
	f, err := c.openProc("net/nf_conntrack")
	if err == nil {
		f.Close()
		return nil
	}
	switch {
	case errors.Is(err, fs.ErrPermission) && c.cfg.replay():
		return fmt.Errorf("%w: %v", ErrPermission, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s is readable by root only", ErrPermission, c.procPath("net/nf_conntrack"))
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: no %s (conntrack not loaded, or CONFIG_NF_CONNTRACK_PROCFS off)", ErrNoConntrack, c.procPath("net/nf_conntrack"))
	}
	return err
}

// describe fills in the source: host and kernel from the proc root (so a
// replay names the machine it was copied from) or uname.
func (c *Collector) describe() track.Source {
	s := track.Source{Kind: c.kind, Netns: c.cfg.Netns.String()}
	if c.kind == track.SourceNetlink {
		s.Name = "netlink"
	} else {
		s.Name = c.procPath("net/nf_conntrack")
	}
	s.Host = readTrimmed(filepath.Join(c.cfg.ProcRoot, "sys/kernel/hostname"))
	s.Kernel = readTrimmed(filepath.Join(c.cfg.ProcRoot, "sys/kernel/osrelease"))
	if !c.cfg.replay() {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			if s.Host == "" {
				s.Host = unix.ByteSliceToString(u.Nodename[:])
			}
			if s.Kernel == "" {
				s.Kernel = unix.ByteSliceToString(u.Release[:])
			}
		}
	}
	return s
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Source says where the data comes from.
func (c *Collector) Source() track.Source { return c.source }

// Notes lists what degraded and why (a fallback to /proc, a missing
// statistic, an unreadable kernel log), for the caller to show.
func (c *Collector) Notes() []string { return c.notes }

func (c *Collector) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, n := range c.notes {
		if n == msg {
			return
		}
	}
	c.notes = append(c.notes, msg)
}

// NetnsInode is the inode number of the namespace read (as the kernel
// prints it in "table full in netns N"), 0 for the caller's own namespace
// when it could not be read.
func (c *Collector) NetnsInode() uint64 {
	if c.ns != nil {
		return c.ns.inode
	}
	var st syscall.Stat_t
	if syscall.Stat("/proc/thread-self/ns/net", &st) == nil {
		return st.Ino
	}
	return 0
}

// Close releases the sockets and namespace handle.
func (c *Collector) Close() error {
	var errs []error
	if c.nl != nil {
		errs = append(errs, c.nl.close())
		c.nl = nil
	}
	if c.klog != nil {
		errs = append(errs, c.klog.close())
		c.klog = nil
	}
	if c.ns != nil {
		errs = append(errs, c.ns.close())
		c.ns = nil
	}
	return errors.Join(errs...)
}
