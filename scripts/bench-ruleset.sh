#!/usr/bin/env bash
# Times reading a 10,000-rule ruleset (kube-proxy scale) as ctdiag does it
# (ctdiag ruleset, which is also the read record/report take) against the
# tools a user would run instead, in the same run, on the same namespace.
# Two shapes: kube-proxy's iptables-nft layout (1,000 services x 3
# endpoints: 10,007 rules in 4,007 chains, loaded with iptables-nft-restore)
# and a native nft ruleset (10,000 rules in 10 chains, loaded with nft -f).
# Needs root, iproute2, nftables, iptables. Usage: scripts/bench-ruleset.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
ns=ctdiag-bench-ruleset-$$
tmp=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/ctdiag" ./cmd/ctdiag

# kube-proxy shape, iptables-restore syntax.
awk -v n=1000 'BEGIN {
	print "*nat"
	print ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]"
	print ":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]"
	for (s = 0; s < n; s++) { printf ":KUBE-SVC-%06d - [0:0]\n", s; for (e = 0; e < 3; e++) printf ":KUBE-SEP-%06d-%d - [0:0]\n", s, e }
	print "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
	print "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
	print "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"
	print "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"
	print "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN"
	print "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0"
	print "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"
	for (s = 0; s < n; s++) {
		printf "-A KUBE-SERVICES -d 10.96.%d.%d/32 -p tcp -m comment --comment \"ns/svc%d:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%06d\n", int(s/250), s%250+1, s, s
		for (e = 0; e < 3; e++) {
			if (e < 2) printf "-A KUBE-SVC-%06d -m comment --comment \"ns/svc%d:http\" -m statistic --mode random --probability 0.33333 -j KUBE-SEP-%06d-%d\n", s, s, s, e
			else printf "-A KUBE-SVC-%06d -m comment --comment \"ns/svc%d:http\" -j KUBE-SEP-%06d-%d\n", s, s, s, e
			i = s*3 + e
			printf "-A KUBE-SEP-%06d-%d -s 10.244.%d.%d/32 -m comment --comment \"ns/svc%d:http\" -j KUBE-MARK-MASQ\n", s, e, int(i/250), i%250+1, s
			printf "-A KUBE-SEP-%06d-%d -p tcp -m comment --comment \"ns/svc%d:http\" -m tcp -j DNAT --to-destination 10.244.%d.%d:8080\n", s, e, s, int(i/250), i%250+1
		}
	}
	print "COMMIT"
}' > "$tmp/kube-proxy.rules"

# Native nft: 10 chains of 1,000 rules.
awk 'BEGIN {
	print "table inet bench {"
	print "\tchain input { type filter hook input priority filter; policy accept; ct state invalid counter drop; ct state established,related counter accept; }"
	for (c = 0; c < 10; c++) {
		printf "\tchain svc%d {\n", c
		for (r = 0; r < 1000; r++) printf "\t\tip daddr 10.%d.%d.%d tcp dport %d ct state new counter accept\n", c, int(r/250), r%250+1, 1000+r
		print "\t}"
	}
	print "}"
}' > "$tmp/nft.rules"

# median_ms CMD...: the median wall time of $runs runs, in milliseconds.
median_ms() {
	local t=()
	for _ in $(seq "$runs"); do
		local s e
		s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
		t+=($(( (e - s) / 1000 )))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f", m/1000}'
}

bench() {
	local shape=$1
	local rules
	rules=$("$tmp/ctdiag" ruleset --netns "$ns" -o json | grep -c '"position"')
	echo "== $shape: $rules rules in the namespace; median of $runs runs, ms"
	printf '%-44s %8s\n' "ctdiag ruleset --netns NS -o json" "$(median_ms "$tmp/ctdiag" ruleset --netns "$ns" -o json)"
	printf '%-44s %8s\n' "ctdiag ruleset --netns NS (text)" "$(median_ms "$tmp/ctdiag" ruleset --netns "$ns")"
	printf '%-44s %8s\n' "ip netns exec NS nft list ruleset" "$(median_ms ip netns exec "$ns" nft list ruleset)"
	printf '%-44s %8s\n' "ip netns exec NS nft -j list ruleset" "$(median_ms ip netns exec "$ns" nft -j list ruleset)"
	printf '%-44s %8s\n' "ip netns exec NS iptables-nft-save -c" "$(median_ms ip netns exec "$ns" iptables-nft-save -c)"
	printf '%-44s %8s\n' "ip netns exec NS true (the exec alone)" "$(median_ms ip netns exec "$ns" true)"
}

ip netns add "$ns"
ip netns exec "$ns" iptables-nft-restore < "$tmp/kube-proxy.rules"
bench "kube-proxy (iptables-nft)"
ip netns exec "$ns" iptables-nft -t nat -F
ip netns exec "$ns" iptables-nft -t nat -X
ip netns exec "$ns" nft flush ruleset
ip netns exec "$ns" nft -f "$tmp/nft.rules"
bench "native nft"
echo "Go: go test -run '^$' -bench KernelRead -benchtime 20x ./ruleset (the read alone, in-process)"
go test -run '^$' -bench KernelRead -benchtime 20x ./ruleset | grep -E '^Benchmark'
