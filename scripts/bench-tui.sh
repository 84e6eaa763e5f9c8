#!/usr/bin/env bash
# bench-tui.sh — the terminal UI at 1,000,000 entries: Go benchmarks of a
# refresh's parts, a frame, a key press and a live-shaped session, then the
# built ctdiag top itself in a real terminal (tmux, 160x48) replaying the
# dump once a second, with its CPU and peak memory read from /proc.
# Results go to bench/out/ (not committed); docs/PERFORMANCE.md quotes them.
#
#   scripts/bench-tui.sh               # N=1000000 SECS=30
#
# Needs tmux and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SECS=${SECS:-30}
out=bench/out
mkdir -p "$out"
go build -o "$out/ctdiag" ./cmd/ctdiag
dump="$(pwd)/$out/dump-$N.txt"
if [ ! -s "$dump" ]; then
	go run ./internal/cmd/gendump -n "$N" -seed 1 >"$dump"
fi
echo "dump: $dump, $(wc -l <"$dump") entries"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version)"
cat "$dump" >/dev/null

export CTDIAG_BENCH_DUMP="$dump"
go test ./tui/flowtable -run '^$' -bench 'Add1M|TableMemory1M|Select1M|Talkers1M' -benchmem -count 3 | tee "$out/tui-flowtable.txt"
go test ./tui -run '^$' -bench 'Collect1M|Analyze1M|Refresh1M|Frame1M|Key1M' -benchmem -count 3 | tee "$out/tui-bench.txt"
go test ./tui -run '^$' -bench 'LiveSession1M' -benchtime 1x -count 3 | tee "$out/tui-session.txt"

# The binary: SECS seconds of ctdiag top replaying the dump as 60 samples
# 1 s apart (every sample is read and analysed), on the flows pane.
args=()
for _ in $(seq 60); do args+=("$dump"); done
# A private server whose socket is ours to remove (-L would leave /tmp/tmux-UID).
sock="$PWD/$out/tmux.sock"
tmux -S "$sock" -f /dev/null new-session -d -s b -x 160 -y 48 "$out/ctdiag top --open first --interval 1s --pane 5 ${args[*]}; sleep 5"
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -f "$sock"' EXIT
sleep 1
pid=$(pgrep -n -f "^$out/ctdiag top --open first --interval 1s")
clk=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
t0=$(date +%s.%N)
sleep "$SECS"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
shown=$(tmux -S "$sock" capture-pane -p -t b | head -1 | grep -o 'sample [0-9]*/[0-9]*' || true)
{
	echo "ctdiag top, $N entries, 160x48, ${SECS}s: $shown"
	echo "cores: $(echo "scale=2; (($u1+$s1)-($u0+$s0))/$clk/($t1-$t0)" | bc)"
	echo "peak RSS: $((hwm / 1024)) MB"
} | tee "$out/tui-binary.txt"
