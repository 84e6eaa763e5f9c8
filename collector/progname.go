package collector

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// prognames names the program behind a [USERSPACE] event, as conntrack -E
// does ("portid=N progname=NAME"): the event carries the netlink port id of
// the socket that sent the request; /proc/net/netlink (of the namespace)
// gives that socket's inode, and the process holding a descriptor on
// socket:[inode] gives the name. The requester may have exited by the time
// the event is read (conntrack -D does at once): then the name stays
// empty, as the format allows.
type prognames struct {
	c     *Collector
	known map[uint32]string
	// missed remembers port ids not found, so a flood of events from a
	// requester that has gone (conntrack -F, -D) is not a scan each; a
	// miss is retried after missRetry.
	missed map[uint32]time.Time
	// Scanning every process's descriptors is the costly part: at most
	// scanBudget scans a second, so a burst of requests from short-lived
	// processes cannot stall the event reader into an overrun.
	window time.Time
	scans  int
}

const (
	scanBudget = 20
	missRetry  = 10 * time.Second
)

func (p *prognames) lookup(portID uint32) string {
	if name, ok := p.known[portID]; ok {
		return name
	}
	now := p.c.cfg.Now()
	if at, ok := p.missed[portID]; ok && now.Sub(at) < missRetry {
		return ""
	}
	if now.Sub(p.window) >= time.Second {
		p.window, p.scans = now, 0
	}
	if p.scans >= scanBudget {
		return ""
	}
	p.scans++
	name := ""
	if inode := p.socketInode(portID); inode != 0 {
		name = processWithSocket(p.c.cfg.ProcRoot, inode)
	}
	if name == "" {
		if p.missed == nil {
			p.missed = map[uint32]time.Time{}
		}
		p.missed[portID] = now
		return ""
	}
	if p.known == nil {
		p.known = map[uint32]string{}
	}
	p.known[portID] = name
	delete(p.missed, portID)
	return name
}

// netlinkNetfilter is NETLINK_NETFILTER, the protocol column of ctnetlink
// sockets in /proc/net/netlink.
const netlinkNetfilter = 12

// socketInode finds the inode of the namespace's netfilter netlink socket
// bound to portID (0: none). /proc/net/netlink columns: sk Eth Pid Groups
// Rmem Wmem Dump Locks Drops Inode.
func (p *prognames) socketInode(portID uint32) uint64 {
	f, err := p.c.openProc("net/netlink")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[1] != strconv.Itoa(netlinkNetfilter) || fs[2] != strconv.FormatUint(uint64(portID), 10) {
			continue
		}
		inode, err := strconv.ParseUint(fs[9], 10, 64)
		if err == nil {
			return inode
		}
	}
	return 0
}

// processWithSocket returns the name (comm) of a process holding the
// socket inode, "" if none is found.
func processWithSocket(procRoot string, inode uint64) string {
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	pids, err := os.ReadDir(procRoot)
	if err != nil {
		return ""
	}
	for _, d := range pids {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		dir := filepath.Join(procRoot, d.Name())
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && target == want {
				comm, err := os.ReadFile(filepath.Join(dir, "comm"))
				if err != nil {
					return ""
				}
				return string(bytes.TrimSpace(comm))
			}
		}
	}
	return ""
}
