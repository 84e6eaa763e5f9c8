package exporter

import (
	"strconv"
	"strings"

	"github.com/ctdiag/ctdiag/collector"
)

// Values of the netns label that name no `ip netns` namespace.
const (
	LabelHost  = "host"  // the machine's initial network namespace
	LabelSelf  = "self"  // the exporter's own namespace when it is not the initial one
	LabelOther = "other" // the namespaces beyond --top-netns, summed
)

// labelOf names a namespace found by discovery: "host" for the initial
// namespace, its ip netns name, else "pid:N" for the namespace of process
// N. A name that would read as one of those is prefixed with "name:".
func labelOf(r collector.NetnsRef) string {
	switch {
	case r.Initial:
		return LabelHost
	case r.Name != "":
		return nameLabel(r.Name)
	case len(r.PIDs) > 0:
		return "pid:" + strconv.Itoa(r.PIDs[0])
	case r.Own:
		return LabelSelf
	}
	return "inode:" + strconv.FormatUint(r.Inode, 10)
}

// nameLabel is the label of an ip netns name.
func nameLabel(name string) string {
	switch {
	case name == LabelHost || name == LabelSelf || name == LabelOther,
		strings.HasPrefix(name, "pid:"), strings.HasPrefix(name, "inode:"), strings.HasPrefix(name, "name:"):
		return "name:" + name
	}
	return name
}

// TopCommand is the command that shows the namespace a netns label names
// on its node: what an alert's runbook says to run.
func TopCommand(label string) string {
	switch {
	case label == LabelHost || label == LabelSelf:
		return "sudo ctdiag top"
	case label == LabelOther:
		return "sudo ctdiag list --all-netns"
	case strings.HasPrefix(label, "pid:"):
		return "sudo ctdiag top --netns-pid " + strings.TrimPrefix(label, "pid:")
	case strings.HasPrefix(label, "inode:"):
		return "sudo ctdiag list --all-netns"
	}
	return "sudo ctdiag top --netns " + strings.TrimPrefix(label, "name:")
}

// LabelFor is the netns label of a namespace given by name, pid or path
// (as --netns and --netns-pid give them); the zero Netns is the caller's
// own: "host", unless it is known not to be the initial namespace
// ("self"). Telling needs the initial namespace's link (/proc/2/ns/net),
// which CAP_SYS_PTRACE opens; without it the exporter is taken to run on
// the host, as a DaemonSet with hostNetwork does.
func LabelFor(cfg collector.Config, n collector.Netns) string {
	switch {
	case n.Name != "":
		return nameLabel(n.Name)
	case n.PID != 0:
		return "pid:" + strconv.Itoa(n.PID)
	case n.Path != "":
		return "path:" + n.Path
	}
	own, err := collector.NetnsInodeOf(cfg, collector.Netns{})
	if err != nil {
		return LabelHost
	}
	if init, err := collector.NetnsInodeOf(cfg, collector.Netns{PID: 2}); err == nil && init != own {
		return LabelSelf
	}
	return LabelHost
}
