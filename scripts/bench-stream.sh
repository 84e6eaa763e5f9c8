#!/usr/bin/env bash
# bench-stream.sh — memory bound of each command on a 10 GB input: the
# input is generated on the fly into a pipe (never written to disk) and the
# command's peak RSS is read with GNU time. A bound "by what is kept" shows
# as a peak that does not grow with the input; see docs/PERFORMANCE.md.
#
#   scripts/bench-stream.sh               # GB=10
#   GB=1 scripts/bench-stream.sh          # a quick run
#   REPORT=1 scripts/bench-stream.sh      # also report on a 10 GB table
#
# Inputs: a /proc table from internal/cmd/gendump (the mix of the real 100k
# capture), the same entries as conntrack -E [NEW] events, "table full"
# kernel-log lines, a TCP capture from internal/cmd/genpcap, and a record
# bundle from internal/cmd/genbundle (the bundle reader opens its file more
# than once, so that one is written to a temporary file: 10 GB of tables,
# about 1.5 GB compressed, removed at the end). whatif replays a capture
# twice, so it cannot read one from a pipe; on tables it reads them once.
#
# Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
GB=${GB:-10}
REPORT=${REPORT:-0}
bytes=$((GB << 30))
out=bench/out
mkdir -p "$out"
go build -o "$out/ctdiag" ./cmd/ctdiag
go build -o "$out/gendump" ./internal/cmd/gendump
go build -o "$out/genpcap" ./internal/cmd/genpcap
go build -o "$out/genbundle" ./internal/cmd/genbundle
ct="$out/ctdiag"
log="$out/stream.txt"
: >"$log"
: >"$out/stream-stderr.txt"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r), $(go version), $(date -u +%Y-%m-%dT%H:%MZ)" | tee -a "$log"
echo "input: $GB GiB per command, generated into a pipe" | tee -a "$log"

# Enough entries, packets or lines that head -c, not the generator, ends
# the stream (a 1M-entry table is 195 MB).
entries=$((GB * 6000000))
table() { "$out/gendump" -n "$entries" -seed 1 -o "${1:-proc}" 2>/dev/null | head -c "$bytes"; }
events() { table conntrack | sed 's/^/    [NEW] /'; }
klog() { yes '[ 1400.936197] nf_conntrack: nf_conntrack: table full, dropping packet' | head -c "$bytes"; }
capture() { "$out/genpcap" -conns $((GB * 1500000)) -active 10000 2>/dev/null | head -c "$bytes"; }

# measure NAME INPUT CMD...: INPUT is a function whose output is piped
# into the command; the line logged has the command's peak RSS and time.
measure() {
	local name=$1 input=$2
	shift 2
	local tf kb secs
	tf=$(mktemp)
	$input | /usr/bin/time -o "$tf" -f '%M %e' "$@" >/dev/null 2>>"$out/stream-stderr.txt" || true
	read -r kb secs < <(tail -1 "$tf") # GNU time may first say the exit status
	rm -f "$tf"
	printf '%-34s peak RSS %6d MB  %7.1f s  (%s)\n' "$name" $((kb / 1024)) "$secs" "${*#"$ct" }" | tee -a "$log"
}

measure "list -c (table)" table "$ct" list -c --quiet -
measure "list -o proc (table)" table "$ct" list --quiet -o proc -
measure "whatif (table)" table "$ct" whatif - --set nf_conntrack_tcp_timeout_time_wait=30
measure "report (event log)" events "$ct" report --fail-on never -
measure "report (kernel log)" klog "$ct" report --fail-on never -
measure "replay (capture)" capture "$ct" replay -c /dev/stdin
if [ "$REPORT" = 1 ]; then
	measure "report (table)" table "$ct" report --fail-on never -
fi

# The bundle reader: GB GiB of tables in 1M-entry samples.
bundle=$(mktemp --suffix=.tar.gz)
trap 'rm -f "$bundle"' EXIT
"$out/genbundle" -samples $((GB * 1024 / 195)) -n 1000000 >"$bundle"
none() { :; }
measure "list -c (bundle, $((GB * 1024 / 195)) samples)" none "$ct" list -c --quiet "$bundle"
echo "bundle: $(du -m "$bundle" | cut -f1) MB compressed" | tee -a "$log"
