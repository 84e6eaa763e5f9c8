package parser

import (
	"bytes"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ctdiag/ctdiag/track"
)

// sysctl -a prints "net.netfilter.nf_conntrack_max = 262144". A file under
// /proc/sys holds only the value; its name is the path below /proc/sys with
// dots for slashes.

// parseSysctlLine splits "name = value".
func parseSysctlLine(line []byte) (name, value string, err error) {
	i := bytes.Index(line, []byte(" = "))
	if i <= 0 {
		// "name =" with an empty value
		if bytes.HasSuffix(line, []byte(" =")) && isSysctlName(line[:len(line)-2]) {
			return string(line[:len(line)-2]), "", nil
		}
		return "", "", syntaxErr("name = value", line)
	}
	if !isSysctlName(line[:i]) {
		return "", "", syntaxErr("a dotted sysctl name (net.netfilter.nf_conntrack_max)", line[:i])
	}
	return string(line[:i]), string(line[i+3:]), nil
}

func isSysctlName(b []byte) bool {
	if len(b) == 0 || !bytes.ContainsRune(b, '.') {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}

func isSysctlLine(line []byte) bool {
	_, _, err := parseSysctlLine(line)
	return err == nil
}

// sysctlNameFromPath names a /proc/sys file: "/proc/sys/net/netfilter/x" is
// "net.netfilter.x"; a bare "nf_conntrack_*" file is taken to be under
// net.netfilter. ok is false when the path says nothing.
func sysctlNameFromPath(path string) (string, bool) {
	p := filepath.ToSlash(path)
	if i := strings.Index(p, "/sys/net/"); i >= 0 {
		return strings.ReplaceAll(p[i+len("/sys/"):], "/", "."), true
	}
	base := filepath.Base(p)
	if strings.HasPrefix(base, "nf_conntrack_") && !strings.Contains(base, ".") {
		return "net.netfilter." + base, true
	}
	return "", false
}

// WriteSysctls writes values as sysctl -a does, sorted by name.
func WriteSysctls(w io.Writer, s track.Sysctls) error {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf []byte
	for _, n := range names {
		buf = append(buf, n...)
		buf = append(buf, " = "...)
		buf = append(buf, s[n]...)
		buf = append(buf, '\n')
	}
	_, err := w.Write(buf)
	return err
}

// Kernels up to 2.6.x (ip_conntrack, and nf_conntrack's compatibility
// names until 3.x) name the same settings net.ipv4.netfilter.ip_conntrack_*:
// ip_conntrack_max is nf_conntrack_max, ip_conntrack_tcp_timeout_established
// is nf_conntrack_tcp_timeout_established, and so on.
const (
	oldSysctlPrefix    = "net.ipv4.netfilter.ip_conntrack_"
	modernSysctlPrefix = "net.netfilter.nf_conntrack_"
)

// modernSysctlName maps an old ip_conntrack name to today's.
func modernSysctlName(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, oldSysctlPrefix)
	if !ok || rest == "" {
		return "", false
	}
	return modernSysctlPrefix + rest, true
}
