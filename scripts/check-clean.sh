#!/usr/bin/env bash
# check-clean.sh — runs a command (by default the test suite) and fails if
# it left anything behind: new entries in the temporary directory, tmux
# sockets, network namespaces, or processes of the tools the tests start.
# CI runs the suite through it (.ci/run). On a machine where other people
# run tests at the same time, what they create meanwhile shows up too:
# look at the names (ours start with ctdiag- or a test's name) before
# blaming the suite.
#
#   scripts/check-clean.sh                  # go test ./...
#   scripts/check-clean.sh go test -short ./...
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- go test ./...

tmp=${TMPDIR:-/tmp}
tmuxdir=${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)
tools='^(ctdiag|ctfill|tmux|tcpdump|conntrack|ping|nft|ip)$'

snapshot() {
	# shellcheck disable=SC2012
	ls -A "$tmp" | sed 's|^|tmp: |'
	ls -A "$tmuxdir" 2>/dev/null | sed 's|^|tmux socket: |' || true
	ip netns list 2>/dev/null | awk '{print "netns: " $1}' || true
	ps -eo pid=,comm= | awk -v re="$tools" '$2 ~ re {print "process: " $1 " " $2}'
}

before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot | sort >"$before"
status=0
"$@" || status=$?
# What was killed at the end (a tmux server's panes) takes a moment to exit.
for _ in $(seq 50); do
	snapshot | sort >"$after"
	# The snapshots' own files are not leftovers.
	left=$(comm -13 "$before" "$after" | grep -v -e "^tmp: $(basename "$before")\$" -e "^tmp: $(basename "$after")\$" || true)
	[ -n "$left" ] || break
	sleep 0.1
done
if [ -n "$left" ]; then
	echo "check-clean: '$*' left behind:"
	echo "$left" | sed 's/^/  /'
	[ "$status" -ne 0 ] || status=1
else
	echo "check-clean: nothing left behind by '$*'"
fi
exit "$status"
