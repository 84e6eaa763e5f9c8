#!/usr/bin/env bash
# bench-exporter.sh — ctdiag exporter on a live 1,000,000-entry table: scrape
# latency against reading the same numbers the way node_exporter (count, max,
# /proc/net/stat) and a textfile script (per-state counts) would at scrape
# time; memory; CPU at rest and with 10,000 conntrack events a second; what
# a periodic full dump and an evaluation of the rules cost.
#
# Run as root on a machine with conntrack. It changes nothing outside the
# namespace it creates except nf_conntrack_max, which it raises for the run
# and restores (under the lock internal/testkit/netnstest uses, as bench-live.sh).
#
#   scripts/bench-exporter.sh                   # N=1000000 RUNS=3 RATE=5000 WINDOW=60
#   N=200000 RUNS=1 WINDOW=20 scripts/bench-exporter.sh
#   STATES=0 DUMP=0 RUNS=5 WINDOW=30 scripts/bench-exporter.sh  # memory and CPU only
#
# Peak RSS counts only the evaluations that ran: the sixth evaluation of an
# exporter starts its next analyzer (the most memory at once), and at a
# million entries evaluations are about a minute apart, so give the runs
# (RUNS×WINDOW and the churn runs) six minutes or more; the script says how
# long the exporter ran.
#
# Needs hyperfine, curl, iproute2 and conntrack-tools. Results go to
# bench/out/exporter-*.txt (not committed); docs/PERFORMANCE.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
RATE=${RATE:-5000} # entries created per second; as many expire: 2×RATE events/s
WINDOW=${WINDOW:-60}
PORT=${PORT:-19466}
out=bench/out
mkdir -p "$out"
ns=ctdiag-xbench-$$
lock=/run/ctdiag-netnstest-conntrack-max.lock
maxfile=/proc/sys/net/netfilter/nf_conntrack_max
url=http://127.0.0.1:$PORT
clk=$(getconf CLK_TCK)

go build -o "$out/ctdiag" ./cmd/ctdiag
go build -o "$out/ctfill" ./internal/cmd/ctfill
go build -o "$out/ctchurn" ./internal/cmd/ctchurn

exec 9<>"$lock"
flock 9
orig=$(cat "$lock")
[ -n "$orig" ] || { orig=$(cat "$maxfile"); echo "$orig" >"$lock"; }
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	echo "$orig" >"$maxfile"
	: >"$lock"
}
trap cleanup EXIT
want=$((N + N / 4))
[ "$(cat "$maxfile")" -ge "$want" ] || echo "$want" >"$maxfile"

ip netns add "$ns"
{
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), $(go version)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/exporter-env.txt"
"$out/ctfill" -netns "$ns" -n "$N"

# metric NAME{LABELS}: its value in a scrape (awk reads to the end, so curl
# never sees a closed pipe).
metric() { curl -s "$url/metrics" | awk -v m="$1" 'index($0, m) == 1 && v == "" { v = $NF } END { print v }'; }
# metricn: the same as an integer (the exposition format writes 1e+06).
metricn() { metric "$1" | awk '{ printf "%d", $1 }'; }
cputicks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
# start_exporter ARGS...: runs the exporter on the namespace and waits until
# its model holds the table and the rules were evaluated once.
start_exporter() {
	"$out/ctdiag" exporter --listen "127.0.0.1:$PORT" --netns "$ns" --log-level warn "$@" &
	pid=$!
	started=$SECONDS
	local t0=$SECONDS
	until [ "$(metricn "ctdiag_exporter_model_entries{netns=\"$ns\"}")" = "$N" ] &&
		[ -n "$(metric "ctdiag_exporter_rules_evaluated_timestamp_seconds{netns=\"$ns\"}")" ]; do
		sleep 0.5
		[ $((SECONDS - t0)) -lt 300 ] || { echo "exporter did not settle" >&2; exit 1; }
	done
	echo "exporter settled in $((SECONDS - t0)) s"
}
stop_exporter() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
# cpu_window SECONDS: the exporter's CPU over the window, in % of one core.
cpu_window() {
	local a b
	a=$(cputicks)
	sleep "$1"
	b=$(cputicks)
	echo "scale=2; ($b - $a) * 100 / $clk / $1" | bc
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# 1. Scrapes, and the same numbers read at scrape time.
start_exporter
hyperfine --warmup 3 --runs 50 --export-markdown "$out/exporter-scrape.md" --export-json "$out/exporter-scrape.json" \
	-n 'scrape ctdiag exporter /metrics (everything, precomputed)' "curl -s -o /dev/null $url/metrics" \
	-n 'node_exporter-style read: count, max, /proc/net/stat (no states)' \
	"ip netns exec $ns cat /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max /proc/net/stat/nf_conntrack" \
	-n 'ip netns exec (the overhead in the line above)' "ip netns exec $ns true"
[ "${STATES:-1}" = 0 ] || hyperfine --warmup 1 --runs 3 --export-markdown "$out/exporter-scrape-states.md" \
	-n 'states at scrape time: conntrack -L | awk | sort | uniq -c' \
	"ip netns exec $ns sh -c 'conntrack -L 2>/dev/null | awk \"{print \\\$4}\" | sort | uniq -c >/dev/null'" \
	-n 'states at scrape time: ctdiag report -o prometheus --samples 1' \
	"ip netns exec $ns $out/ctdiag report -o prometheus --samples 1 --fail-on never >/dev/null 2>&1"
# Medians: a loaded machine's outliers make means meaningless.
python3 -c 'import json,sys; [print("median %8.1f ms  min %8.1f ms  %s" % (r["median"]*1e3, r["min"]*1e3, r["command"])) for r in json.load(open(sys.argv[1]))["results"]]' \
	"$out/exporter-scrape.json" | tee "$out/exporter-scrape-median.txt"
curl -s "$url/metrics" | grep -c '^ctdiag_' | sed 's/^/ctdiag series per scrape: /' | tee "$out/exporter-series.txt"
[ -z "${SCRAPE_ONLY:-}" ] || exit 0

# 2. Memory and CPU at rest (reads every 5 s, an evaluation every 30 s).
{
	echo "after settling: VmRSS $(status VmRSS) kB, VmHWM $(status VmHWM) kB"
	echo "dump (first resync): $(metric "ctdiag_exporter_read_duration_seconds{netns=\"$ns\",read=\"dump\"}") s wall"
	echo "evaluation of the rules: $(metric "ctdiag_exporter_read_duration_seconds{netns=\"$ns\",read=\"rules\"}") s wall"
	for i in $(seq "$RUNS"); do cpu_window "$WINDOW"; done | tee /dev/stderr | median | sed 's/^/CPU at rest, median: /; s/$/ % of one core/'
} 2>&1 | tee "$out/exporter-rest.txt"

# 3. CPU with 2×RATE events a second (creations and expiries).
{
	for i in $(seq "$RUNS"); do
		ip netns exec "$ns" true
		"$out/ctchurn" -netns "$ns" -rate "$RATE" -from $((N + 1 + (i - 1) * RATE * (WINDOW + 20))) -duration $((WINDOW + 15))s &
		churn=$!
		sleep 10 # entries start expiring: creations and destroys in balance
		e0=$(metricn "ctdiag_conntrack_events_total{netns=\"$ns\",type=\"new\"}")
		d0=$(metricn "ctdiag_conntrack_events_total{netns=\"$ns\",type=\"destroy\"}")
		c=$(cpu_window "$WINDOW")
		e1=$(metricn "ctdiag_conntrack_events_total{netns=\"$ns\",type=\"new\"}")
		d1=$(metricn "ctdiag_conntrack_events_total{netns=\"$ns\",type=\"destroy\"}")
		wait "$churn"
		echo "$c $(echo "($e1 - $e0 + $d1 - $d0) / $WINDOW" | bc) events/s lost=$(metric "ctdiag_conntrack_events_lost_total{netns=\"$ns\"}")"
	done | tee /dev/stderr | median | sed 's/^/CPU with churn, median: /; s/$/ % of one core/'
	echo "after churn: VmRSS $(status VmRSS) kB, VmHWM $(status VmHWM) kB (peak RSS), the exporter having run $((SECONDS - started)) s"
} 2>&1 | tee "$out/exporter-churn.txt"
stop_exporter
if [ "${DUMP:-1}" = 0 ]; then
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/exporter-env.txt"
	exit 0
fi

# 4. The periodic full dump's cost: a dump every 20 s, no evaluation.
start_exporter --resync-interval 20s --eval-interval 1h
{
	for i in $(seq "$RUNS"); do cpu_window 60; done | tee /dev/stderr | median |
		awk '{ printf "CPU with a full dump every 20 s, median: %s %% of one core (≈ %.2f s of CPU per dump)\n", $1, $1 / 100 * 20 }'
	echo "dump wall time: $(metric "ctdiag_exporter_read_duration_seconds{netns=\"$ns\",read=\"dump\"}") s"
} 2>&1 | tee "$out/exporter-dump.txt"
stop_exporter
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/exporter-env.txt"
