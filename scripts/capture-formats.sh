#!/usr/bin/env bash
# capture-formats.sh OUTDIR — records every conntrack text format from the
# running kernel, for parser fixtures. Needs root, iproute2, nft, conntrack,
# ping, socat and python3.
#
# Everything happens in two throwaway network namespaces joined by a veth
# pair (10.230.0.1/24 <-> 10.230.0.2/24, fd00:230::1/64 <-> fd00:230::2/64);
# no traffic leaves them. The "server" namespace has accounting and
# timestamps on, a zone-5 rule, a mark rule and a connection label, so the
# optional fields appear. Times are printed in UTC (TZ=UTC).
set -euo pipefail
export TZ=UTC

out=${1:?usage: capture-formats.sh OUTDIR}
mkdir -p "$out"
c=ctdcap-c-$$ s=ctdcap-s-$$
pids=()
labelconf=/etc/xtables/connlabel.conf
made_labelconf=

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del "$c" 2>/dev/null || true
	ip netns del "$s" 2>/dev/null || true
	if [ -n "$made_labelconf" ]; then rm -f "$labelconf" /etc/connlabel.conf; fi
}
trap cleanup EXIT

inc() { ip netns exec "$c" "$@"; }
ins() { ip netns exec "$s" "$@"; }

ip netns add "$c"
ip netns add "$s"
ip link add vc netns "$c" type veth peer name vs netns "$s"
inc ip addr add 10.230.0.1/24 dev vc
ins ip addr add 10.230.0.2/24 dev vs
inc ip addr add fd00:230::1/64 dev vc nodad
ins ip addr add fd00:230::2/64 dev vs nodad
for n in "$c" "$s"; do
	ip -n "$n" link set lo up
done
inc ip link set vc up
ins ip link set vs up

# Label names come from connlabel.conf (nft and libnetfilter_conntrack read
# it); make a temporary one if the machine has none.
if [ ! -e "$labelconf" ]; then
	mkdir -p /etc/xtables
	printf '0\tlab-a\n1\tlab-b\n' >"$labelconf"
	cp "$labelconf" /etc/connlabel.conf
	made_labelconf=1
fi

ins sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1
ins nft -f - <<'EOF'
table inet cap {
	chain raw {
		type filter hook prerouting priority raw;
		udp dport 7777 ct zone set 5
	}
	chain in {
		type filter hook input priority 0;
		ct state invalid counter
		tcp dport 8081 ct mark set 0x10
		tcp dport 8081 ct label set lab-b
	}
	chain out {
		type filter hook output priority 0;
		ct state invalid counter
	}
}
EOF
inc nft add table inet cap
inc nft add chain inet cap out '{ type filter hook output priority 0; }'
inc nft add rule inet cap out ct state invalid counter

# Servers in the server namespace.
# (ip netns exec directly, not through a function, so $! is the server.)
ip netns exec "$s" socat TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 EXEC:cat & pids+=($!)
ip netns exec "$s" socat TCP-LISTEN:8081,fork,reuseaddr EXEC:cat & pids+=($!)
ip netns exec "$s" socat UDP4-RECVFROM:5353,fork EXEC:cat & pids+=($!)
ip netns exec "$s" socat UDP6-RECVFROM:5353,ipv6only=1,fork EXEC:cat & pids+=($!)
ip netns exec "$s" python3 - <<'EOF' & pids+=($!)
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)  # UDPLITE echo
s.bind(("10.230.0.2", 4000))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
EOF
sleep 0.5

# Event listeners (the summary line goes to stderr, kept apart).
ip netns exec "$s" conntrack -E -o timestamp,extended,id >"$out/conntrack-E-timestamp-extended-id.txt" 2>"$out/conntrack-E.stderr" & pids+=($!)
ip netns exec "$s" conntrack -E >"$out/conntrack-E.txt" 2>/dev/null & pids+=($!)
sleep 0.5

# Traffic, all between the two namespaces.
echo hello | inc socat - TCP:10.230.0.2:8080
echo marked | inc socat - TCP:10.230.0.2:8081
echo hello6 | inc socat - TCP6:[fd00:230::2]:8080
echo dns | inc socat -t1 - UDP4:10.230.0.2:5353
echo dns6 | inc socat -t1 - UDP6:[fd00:230::2]:5353
echo zone | inc socat -t0.2 - UDP4:10.230.0.2:7777,sourceport=47777 || true
inc ping -c1 -W1 10.230.0.2 >/dev/null
inc ping -6 -c1 -W1 fd00:230::2 >/dev/null
inc python3 - <<'EOF'
import socket, time
# UDPLITE request and answer
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)
u.settimeout(1)
u.sendto(b"lite", ("10.230.0.2", 4000))
u.recvfrom(100)
# DCCP (protocol 33): 6.18 tracks it with the generic tracker ("unknown 33")
d = socket.socket(socket.AF_INET, socket.SOCK_RAW, 33)
d.sendto(b"\x00" * 16, ("10.230.0.2", 0))
# GRE version 0 (protocol 47): keys are 0
g = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
g.sendto(b"\x00\x00\x08\x00" + b"\x45" + b"\x00" * 19, ("10.230.0.2", 0))
EOF
sleep 1

ins cat /proc/net/nf_conntrack >"$out/proc-nf_conntrack.txt"
ins conntrack -L >"$out/conntrack-L.txt" 2>"$out/conntrack-L.stderr"
ins conntrack -L -o extended >"$out/conntrack-L-extended.txt" 2>/dev/null
ins conntrack -L -o id >"$out/conntrack-L-id.txt" 2>/dev/null
ins conntrack -L -o ktimestamp >"$out/conntrack-L-ktimestamp.txt" 2>/dev/null
ins conntrack -L -o labels >"$out/conntrack-L-labels.txt" 2>/dev/null
ins conntrack -L -o extended,id,ktimestamp,labels >"$out/conntrack-L-extended-all.txt" 2>/dev/null
ins conntrack -S >"$out/conntrack-S.txt"
ins conntrack -S expect >"$out/conntrack-S-expect.txt"
ins conntrack -C >"$out/conntrack-C.txt"
ins cat /proc/net/stat/nf_conntrack >"$out/stat-nf_conntrack.txt"
ins sysctl -a 2>/dev/null | grep '^net.netfilter.nf_conntrack' >"$out/sysctl-nf_conntrack.txt"
ins cat /proc/sys/net/netfilter/nf_conntrack_count >"$out/nf_conntrack_count"

# A deletion from userspace: its DESTROY event carries [USERSPACE] portid=.
ins conntrack -D -p icmp >/dev/null 2>&1 || true
sleep 1
for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
sleep 0.5
uname -r >"$out/kernel.txt"
conntrack --version >>"$out/kernel.txt"
echo "captured into $out"
