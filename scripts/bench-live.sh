#!/usr/bin/env bash
# bench-live.sh — times ctdiag on a live 1,000,000-entry table and measures
# event throughput. Run as root on a machine with conntrack; it changes
# nothing outside the namespace it creates except nf_conntrack_max, which it
# raises for the run (a namespace cannot hold more entries than the global
# limit) and restores at exit. Tests never change the limit, and kernel tests
# that fill a table fill it to the limit in force: do not run this script
# while they run.
#
#   scripts/bench-live.sh            # N=1000000 RUNS=5
#   N=200000 RUNS=3 scripts/bench-live.sh
#   QUICK=1 scripts/bench-live.sh    # list -c vs conntrack -L only
#   FILTERS=1 scripts/bench-live.sh  # what the kernel-side filters save
#
# Needs hyperfine, GNU time (/usr/bin/time), iproute2 and conntrack-tools.
# Results go to bench/out/ (not committed); docs/PERFORMANCE.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-5}
out=bench/out
mkdir -p "$out"
ns=ctdiag-bench-$$
maxfile=/proc/sys/net/netfilter/nf_conntrack_max

go build -o "$out/ctdiag" ./cmd/ctdiag
go build -o "$out/ctfill" ./internal/cmd/ctfill

orig=$(cat "$maxfile")
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	echo "$orig" >"$maxfile"
}
trap cleanup EXIT
want=$((N + N / 4))
[ "$(cat "$maxfile")" -ge "$want" ] || echo "$want" >"$maxfile"

ip netns add "$ns"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), $(go version)"
echo "conntrack: $(conntrack --version 2>&1)"
"$out/ctfill" -netns "$ns" -n "$N"
echo "table: $(ip netns exec "$ns" conntrack -C) entries in namespace $ns"

if [ -n "${QUICK:-}" ]; then
	hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$out/live-quick.md" \
		-n 'ctdiag list -c (netlink)' "ip netns exec $ns $out/ctdiag list -c --quiet" \
		-n 'conntrack -L > /dev/null' "ip netns exec $ns conntrack -L >/dev/null 2>&1"
	exit 0
fi
if [ -n "${FILTERS:-}" ]; then
	# What the kernel's filters save: family and tuple filters cross
	# netlink narrowed; a state filter cannot be sent and is applied here.
	hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$out/live-filters.md" \
		-n 'ctdiag list -c (netlink)' "ip netns exec $ns $out/ctdiag list -c --quiet" \
		-n 'ctdiag list -c -f ipv6 (family, in the kernel)' "ip netns exec $ns $out/ctdiag list -c --quiet -f ipv6" \
		-n 'ctdiag list -c -p udp --dport 53 (tuple, in the kernel)' "ip netns exec $ns $out/ctdiag list -c --quiet -p udp --dport 53" \
		-n 'ctdiag list -c -s 10.0.1.2 (IPv4 host, in the kernel)' "ip netns exec $ns $out/ctdiag list -c --quiet -s 10.0.1.2" \
		-n 'ctdiag list -c -p tcp --state SYN_SENT (protocol in the kernel, state here)' "ip netns exec $ns $out/ctdiag list -c --quiet -p tcp --state SYN_SENT" \
		-n 'conntrack -L -p udp --dport 53 > /dev/null' "ip netns exec $ns conntrack -L -p udp --dport 53 >/dev/null 2>&1"
	ip netns del "$ns"
	exit 0
fi
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$out/live.md" \
	-n 'ctdiag list -c (netlink)' "ip netns exec $ns $out/ctdiag list -c --quiet" \
	-n 'conntrack -L > /dev/null' "ip netns exec $ns conntrack -L >/dev/null 2>&1" \
	-n 'conntrack -C' "ip netns exec $ns conntrack -C" \
	-n 'ctdiag list -c -p tcp --state SYN_SENT' "ip netns exec $ns $out/ctdiag list -c --quiet -p tcp --state SYN_SENT" \
	-n 'ctdiag list -c -f ipv6 (kernel filter)' "ip netns exec $ns $out/ctdiag list -c --quiet -f ipv6" \
	-n 'ctdiag list -c -p udp --dport 53 (kernel tuple filter)' "ip netns exec $ns $out/ctdiag list -c --quiet -p udp --dport 53" \
	-n 'ctdiag list -o extended > /dev/null' "ip netns exec $ns $out/ctdiag list --quiet -o extended >/dev/null" \
	-n 'ctdiag list -c --source proc' "ip netns exec $ns $out/ctdiag list -c --quiet --source proc"

echo
for cmd in "list -c --quiet" "list --quiet -o extended" "list -c --quiet --source proc"; do
	ip netns exec "$ns" /usr/bin/time -f "peak RSS %M KB, %e s wall, %U s user, %S s sys: ctdiag $cmd" "$out/ctdiag" $cmd >/dev/null
done 2>&1 | tee "$out/live-memory.txt"
ip netns exec "$ns" /usr/bin/time -f "peak RSS %M KB, %e s wall, %U s user, %S s sys: conntrack -L" conntrack -L 2>&1 >/dev/null | grep peak | tee -a "$out/live-memory.txt"

echo
rec="$out/record.tar.gz"
ip netns exec "$ns" /usr/bin/time -f "peak RSS %M KB, %e s wall: ctdiag record (2 samples)" \
	"$out/ctdiag" record -o "$rec" --samples 2 --interval 5s 2>&1 | tee -a "$out/live-memory.txt"
ls -l "$rec" | tee -a "$out/live-memory.txt"
ip netns del "$ns"

echo
CTDIAG_BENCH_N=$N go test ./collector -run '^$' -bench 'KernelEvents|KernelDump' -benchtime 1x -count 3 | tee "$out/events-bench.txt"
