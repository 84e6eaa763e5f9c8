package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/track"
)

// NetnsSummary is one network namespace's table, summarised.
type NetnsSummary struct {
	Inode uint64 // the namespace's inode ("table full in netns N")
	Name  string // its ip netns name, if it has one
	PIDs  []int  // processes in it (sorted), if any
	Comm  string // the command of the first of them
	Own   bool   // the namespace ctdiag runs in

	Count, Max uint64
	// Matched counts the entries the filter selects; States counts them
	// by state ("tcp ESTABLISHED", "udp UNREPLIED", "icmp").
	Matched int
	States  map[string]int
	Source  track.Source
	Err     error // why it could not be read
}

// Label names the namespace for people: its ip netns name, else
// "pid N (comm)".
func (s *NetnsSummary) Label() string {
	l := s.Name
	if l == "" && len(s.PIDs) > 0 {
		l = "pid " + strconv.Itoa(s.PIDs[0])
		if s.Comm != "" {
			l += " (" + s.Comm + ")"
		}
	}
	if l == "" {
		l = "inode " + strconv.FormatUint(s.Inode, 10)
	}
	if s.Own {
		l += " *"
	}
	return l
}

// StateCount is one line of TopStates.
type StateCount struct {
	Name  string
	Count int
}

// TopStates returns the n most common states, most common first.
func (s *NetnsSummary) TopStates(n int) []StateCount {
	out := make([]StateCount, 0, len(s.States))
	for k, v := range s.States {
		out = append(out, StateCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// stateKey is how --all-netns groups entries: the protocol and its state,
// or [UNREPLIED] for stateless protocols without an answer.
func stateKey(f *track.Flow) string {
	name := f.Orig.Proto.String()
	if st := f.StateName(); st != "" {
		return name + " " + st
	}
	if f.Unreplied() {
		return name + " UNREPLIED"
	}
	return name
}

// netnsRef is one namespace found while listing them.
type netnsRef struct {
	inode uint64
	path  string // a file that refers to it
	name  string
	pids  []int
	own   bool
}

// listNamespaces finds every network namespace with a name (NetnsDir) or a
// process (ProcRoot/PID/ns/net), once each.
func listNamespaces(cfg Config) ([]*netnsRef, error) {
	byInode := map[uint64]*netnsRef{}
	var order []uint64
	add := func(inode uint64, path string) *netnsRef {
		r, ok := byInode[inode]
		if !ok {
			r = &netnsRef{inode: inode, path: path}
			byInode[inode] = r
			order = append(order, inode)
		}
		return r
	}
	var own unix.Stat_t
	ownErr := unix.Stat(filepath.Join(cfg.ProcRoot, "self/ns/net"), &own)
	if entries, err := os.ReadDir(cfg.NetnsDir); err == nil {
		for _, e := range entries {
			p := filepath.Join(cfg.NetnsDir, e.Name())
			var st unix.Stat_t
			if unix.Stat(p, &st) == nil {
				r := add(st.Ino, p)
				if r.name == "" {
					r.name = e.Name()
				}
			}
		}
	}
	procs, err := os.ReadDir(cfg.ProcRoot)
	if err != nil {
		return nil, err
	}
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p := filepath.Join(cfg.ProcRoot, e.Name(), "ns/net")
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			continue // gone, or not ours to see
		}
		r := add(st.Ino, p)
		r.pids = append(r.pids, pid)
	}
	out := make([]*netnsRef, 0, len(order))
	for _, ino := range order {
		r := byInode[ino]
		sort.Ints(r.pids)
		r.own = ownErr == nil && ino == own.Ino
		out = append(out, r)
	}
	return out, nil
}

// SummarizeNamespaces reads every network namespace of the machine (named
// by ip netns, or holding a process): its count, nf_conntrack_max (global:
// each namespace may hold that many) and, from a dump, the entries flt
// selects by state. A namespace that cannot be read gets Err; the others
// are still read; one that disappears while listing is left out. It needs
// root (setns, and netlink or /proc in each).
func SummarizeNamespaces(ctx context.Context, cfg Config, flt *filter.Filter) ([]NetnsSummary, error) {
	cfg.defaults()
	if cfg.replay() {
		return nil, fmt.Errorf("%w: --all-netns reads live namespaces, not a --proc-root copy", ErrBadConfig)
	}
	refs, err := listNamespaces(cfg)
	if err != nil {
		return nil, err
	}
	var out []NetnsSummary
	var firstPerm error
	for _, r := range refs {
		s := NetnsSummary{Inode: r.inode, Name: r.name, PIDs: r.pids, Own: r.own, States: map[string]int{}}
		if len(r.pids) > 0 {
			s.Comm = readTrimmed(filepath.Join(cfg.ProcRoot, strconv.Itoa(r.pids[0]), "comm"))
		}
		s.Err = summarize(ctx, cfg, r, flt, &s)
		if errors.Is(s.Err, ErrNoNetns) {
			continue // deleted, or its last process exited, since it was listed
		}
		if errors.Is(s.Err, ErrPermission) && firstPerm == nil {
			firstPerm = s.Err
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out = append(out, s)
	}
	if firstPerm != nil {
		all := true
		for _, s := range out {
			all = all && s.Err != nil
		}
		if all {
			return out, firstPerm
		}
	}
	return out, nil
}

func summarize(ctx context.Context, cfg Config, r *netnsRef, flt *filter.Filter, s *NetnsSummary) error {
	c := cfg
	if !r.own {
		c.Netns = Netns{Path: r.path}
	}
	col, err := Open(c)
	if err != nil {
		return err
	}
	defer col.Close()
	s.Source = col.Source()
	if s.Source.Netns == "" || strings.HasPrefix(s.Source.Netns, "/") {
		s.Source.Netns = s.Label()
	}
	if s.Count, s.Max, _, err = col.Count(ctx); err != nil {
		return err
	}
	_, err = col.Flows(ctx, KernelFilter(flt), func(f *track.Flow) error {
		if flt != nil && !flt.Match(f) {
			return nil
		}
		s.Matched++
		s.States[stateKey(f)]++
		return nil
	})
	return err
}
