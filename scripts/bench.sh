#!/usr/bin/env bash
# bench.sh — times whole ctdiag commands on a deterministic 1,000,000-entry
# dump and records the Go benchmarks. Results go to bench/out/ (not
# committed); docs/PERFORMANCE.md quotes them with this command.
#
#   scripts/bench.sh            # N=1000000 RUNS=10
#   N=100000 RUNS=3 scripts/bench.sh
#
# Needs hyperfine (apt-get install hyperfine) and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-10}
out=bench/out
mkdir -p "$out"

go build -o "$out/ctdiag" ./cmd/ctdiag
dump="$out/dump-$N.txt"
if [ ! -s "$dump" ]; then
	go run ./internal/cmd/gendump -n "$N" -seed 1 >"$dump"
fi
# Two more tables of the same size, for a three-sample report.
for seed in 2 3; do
	if [ ! -s "$out/dump-$N-s$seed.txt" ]; then
		go run ./internal/cmd/gendump -n "$N" -seed "$seed" >"$out/dump-$N-s$seed.txt"
	fi
done
three="$dump $out/dump-$N-s2.txt $out/dump-$N-s3.txt"
echo "dump: $dump, $(wc -l <"$dump") entries, $(du -m "$dump" | cut -f1) MB"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), $(go version)"

cat $three >/dev/null # page cache, for every command alike
hyperfine --warmup 2 --runs "$RUNS" --export-markdown "$out/commands.md" \
	-n 'ctdiag list -c' "$out/ctdiag list -c --quiet $dump" \
	-n 'awk | sort | uniq -c' "awk '{print \$6}' $dump | sort | uniq -c" \
	-n 'ctdiag list -c -p tcp --state ESTABLISHED' "$out/ctdiag list -c --quiet -p tcp --state ESTABLISHED $dump" \
	-n 'ctdiag list -o extended' "$out/ctdiag list --quiet -o extended $dump >/dev/null" \
	-n 'ctdiag report (1 sample)' "$out/ctdiag report --fail-on never $dump >/dev/null" \
	-n 'ctdiag report (3 samples)' "$out/ctdiag report --fail-on never --interval 10s $three >/dev/null"

echo
for cmd in "list -c --quiet $dump" "list --quiet -o proc $dump" "report --fail-on never $dump" "report --fail-on never --interval 10s $three"; do
	/usr/bin/time -f "peak RSS %M KB, %e s wall, %U s user: ctdiag $cmd" "$out/ctdiag" $cmd >/dev/null
done 2>&1 | tee "$out/memory.txt"

echo
go test ./parser -run '^$' -bench 'ParseFlowLine|AppendFlow|DecoderFlows|Decode1M' -benchmem -count 5 | tee "$out/go-bench.txt"
go test ./analyzer -run '^$' -bench 'AnalyzeSample1M' -benchmem -benchtime 3x -count 5 | tee -a "$out/go-bench.txt"
CTDIAG_BENCH_DUMP="$PWD/$dump" go test ./cmd/ctdiag -run '^$' -bench 'Report' -benchtime 3x -count 5 | tee -a "$out/go-bench.txt"

# The reference engine (issue 5): packets/s on one core for a realistic TCP
# mix, and heap per tracked flow at 1,000,000 flows.
GOMAXPROCS=1 go test ./track -run '^$' -bench 'EngineTCPMix|EngineMemory1M' -benchtime 5x -count 5 | tee "$out/engine-bench.txt"
