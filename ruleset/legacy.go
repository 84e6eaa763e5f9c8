package ruleset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctdiag/ctdiag/track"
)

// legacyTimeout bounds one iptables-legacy-save run.
const legacyTimeout = 10 * time.Second

// legacyTools are the dump commands for legacy x_tables, by the /proc
// file that lists a family's tables.
var legacyTools = []struct {
	names  string // /proc/net file listing the tables in use
	tool   string
	family track.RuleFamily
}{
	{"ip_tables_names", "iptables-legacy-save", track.RuleFamilyIP},
	{"ip6_tables_names", "ip6tables-legacy-save", track.RuleFamilyIP6},
}

// readLegacy adds the namespace's legacy iptables tables, if it has any:
// the kernel lists them in /proc/net/ip_tables_names (created on first use
// in a namespace), and iptables-legacy-save -c, run in the namespace,
// dumps them. It dumps only listed tables, so it loads no module and
// creates no table. What went wrong becomes a note, not an error: the
// nftables part stands on its own.
func readLegacy(ctx context.Context, l Live, rs *track.Ruleset) {
	for _, lt := range legacyTools {
		var names []byte
		var out, stderr bytes.Buffer
		var runErr error
		err := inNetns(l.Netns, func() error {
			b, err := os.ReadFile("/proc/thread-self/net/" + lt.names)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil // x_tables not built: no legacy tables
				}
				return err
			}
			names = b
			if len(bytes.TrimSpace(b)) == 0 {
				return nil
			}
			path, err := exec.LookPath(lt.tool)
			if err != nil {
				runErr = err
				return nil
			}
			cctx, cancel := context.WithTimeout(ctx, legacyTimeout)
			defer cancel()
			// Started from this thread, the child inherits its namespace.
			cmd := exec.CommandContext(cctx, path, "-c")
			cmd.Stdout, cmd.Stderr = &out, &stderr
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
			runErr = cmd.Run()
			return nil
		})
		list := strings.Fields(string(names))
		switch {
		case err != nil:
			rs.Notes = append(rs.Notes, fmt.Sprintf("legacy %s tables not checked: %v", lt.family, err))
			rs.Incomplete = true
			continue
		case len(list) == 0:
			continue
		case runErr != nil && errors.Is(runErr, exec.ErrNotFound):
			rs.Notes = append(rs.Notes, fmt.Sprintf("legacy iptables tables in use (%s %s) but %s is not installed: install the iptables package to see them",
				lt.family, strings.Join(list, ", "), lt.tool))
			rs.Incomplete = true
			continue
		case runErr != nil:
			rs.Notes = append(rs.Notes, fmt.Sprintf("legacy iptables tables in use (%s %s) could not be read: %s: %v %s",
				lt.family, strings.Join(list, ", "), lt.tool, runErr, strings.TrimSpace(stderr.String())))
			rs.Incomplete = true
			continue
		}
		var probs Problems
		legacy, _, _ := parseIptablesSave(&out, lt.family, track.BackendIptablesLegacy, &probs)
		for i := range legacy.Tables {
			legacy.Tables[i].Family, legacy.Tables[i].Backend = lt.family, track.BackendIptablesLegacy
		}
		rs.Tables = append(rs.Tables, legacy.Tables...)
		rs.Unknown += legacy.Unknown + probs.Count
		where := ""
		if l.NetnsName != "" {
			where = " in netns " + l.NetnsName
		}
		rs.Notes = append(rs.Notes, fmt.Sprintf("legacy iptables tables (%s %s) read with %s -c%s", lt.family, strings.Join(list, ", "), lt.tool, where))
		if probs.Count > 0 {
			rs.Notes = append(rs.Notes, fmt.Sprintf("%s: %d lines not understood (first: %v)", lt.tool, probs.Count, probs.First[0]))
		}
	}
}

// inNetns runs fn on an OS thread switched into the namespace (nil: the
// caller's). Files it opens under /proc/thread-self/net and programs it
// starts belong to that namespace. A thread that cannot switch back is
// never unlocked, so the runtime retires it.
func inNetns(ns *os.File, fn func() error) error {
	if ns == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace: setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving namespace: setns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
