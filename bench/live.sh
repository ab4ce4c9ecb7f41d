#!/usr/bin/env bash
# live.sh - the live agent's cost, in two parts.
#
# 1. Throughput.  Two pods on a bridge, MTU-size frames (offloads off inside
#    the pods), a TCP stream from A to B with iperf3 for $DURATION seconds.
#    egresswatch (every container veth) and `tcpdump -i $VA -w /dev/null` run
#    side by side on the same veth.  Reported: the frames per second that
#    crossed $VA (its kernel counters), what each tool saw and what the kernel
#    dropped for it, and each tool's CPU (utime + stime over the run).
#
#      netns A: eth0 198.18.0.1 --- veth $VA ---+--- bridge ---+--- veth $VB --- eth0 198.18.0.2 :netns B
#               iperf3 -c                       (host netns:                 iperf3 -s
#                                                egresswatch, tcpdump)
#
# 2. Idle with many interfaces.  $N_VETH veth pairs whose peers are in one
#    netns this script creates, nothing sent on them (IPv6 off so that not
#    even router solicitations are); the agent captures them all.  Reported:
#    RSS, open descriptors, kernel memory taken (MemAvailable before and
#    after), and CPU over $IDLE seconds.
#
# Usage: bench/live.sh [EGRESSWATCH_BINARY]   (default: build/egresswatch;
#        build it with -DCMAKE_BUILD_TYPE=Release)
# Environment: DURATION (10), IDLE (30), N_VETH (200), UDP_RATE (empty: TCP;
#        e.g. 4.8G: a UDP stream of 1472-byte datagrams at that rate instead;
#        0: as fast as iperf3 sends), UDP_LEN (1472): the datagrams' size,
#        BUFFER (empty: the agent's default ring size; else its --buffer-size).
#        STREAMS (1): parallel TCP streams.  PKTGEN=1: instead of iperf3,
#        bench/pktgen (built beside the binary) sends UDP frames of UDP_LEN
#        (default there 18: 64-byte frames) from pod A's eth0 to pod B, as
#        fast as one core can, on 64 source ports.  ONE_IF=1: the agent captures
#        $VA only (--exclude $VB), the same frames as tcpdump, so that the CPU
#        figures compare like with like; by default it captures both veths.
# Needs root, iproute2, iperf3, tcpdump, ethtool (scripts/setup.sh).  Every
# name carries a per-run suffix; everything is removed on exit.  Traffic
# stays inside the namespaces the script creates (198.18.0.0/15, the
# benchmarking range).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/lib/netns.bash"	# netns_bridge, netns_pod
BIN=${1:-${EW_BIN:-$here/../build/egresswatch}}
DURATION=${DURATION:-10}
IDLE=${IDLE:-30}
N_VETH=${N_VETH:-200}
UDP_RATE=${UDP_RATE:-}
BUFFER=${BUFFER:-}
STREAMS=${STREAMS:-1}
UDP_LEN_SET=${UDP_LEN:-}
UDP_LEN=${UDP_LEN:-1472}
ONE_IF=${ONE_IF:-}
ring=()
[ -n "$BUFFER" ] && ring=(--buffer-size "$BUFFER")
[ -x "$BIN" ] || { echo "live.sh: no binary at $BIN" >&2; exit 2; }
for t in iperf3 tcpdump ethtool ip; do
	command -v $t >/dev/null || { echo "live.sh: $t is missing (scripts/setup.sh)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "live.sh: needs root" >&2; exit 2; }

rid=$(printf '%04x' $((RANDOM & 0xffff)))
NA=ewl${rid}a NB=ewl${rid}b VA=ewl${rid}a VB=ewl${rid}b BR=ewl${rid}br NI=ewl${rid}i
tmp=$(mktemp -d)
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for ns in "$NA" "$NB" "$NI"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	done
	{ wait; } 2>/dev/null
	# Deleting the netns removes every veth whose peer is in it.
	for ns in "$NA" "$NB" "$NI"; do ip netns del "$ns" 2>/dev/null; done
	for l in "$VA" "$VB" "$BR"; do ip link del "$l" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
cpu_ticks() { # PID -> utime + stime (ticks)
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	set -- $s
	echo $((${12} + ${13}))
}
calc() { awk "BEGIN { print $* }"; }
pct() { printf "%.2f" "$(calc "100 * $1 / $hz / $2")"; }
sysctr() { cat "/sys/class/net/$1/statistics/$2"; }
json_get() { # FILE EXPR (python, `s` is the document)
	python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1"
}

echo "== live.sh: $(uname -r), $(nproc) CPUs, $BIN"

# ---- 1. throughput -----------------------------------------------------------
netns_bridge "$BR"
netns_pod "$NA" "$VA" "$BR" 198.18.0.1/24
netns_pod "$NB" "$VB" "$BR" 198.18.0.2/24
for pod in "$NA" "$NB"; do	# MTU-size frames: no segmentation offloads
	v=$([ "$pod" = "$NA" ] && echo "$VA" || echo "$VB")
	ip netns exec "$pod" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1
	ethtool -K "$v" tso off gso off gro off >/dev/null 2>&1
done
ip netns exec "$NB" iperf3 -s -1 -B 198.18.0.2 >/dev/null 2>&1 &
pids+=($!)

only=()
[ -n "$ONE_IF" ] && only=(--exclude "$VB")
"$BIN" run "${ring[@]}" "${only[@]}" --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	>"$tmp/agent.log" 2>&1 &
agent=$!
pids+=($agent)
tcpdump -i "$VA" -w /dev/null >/dev/null 2>"$tmp/tcpdump.err" &
td=$!
pids+=($td)
for _ in $(seq 100); do
	[ -f "$tmp/status.json" ] &&
		[ "$(json_get "$tmp/status.json" "sum(1 for i in s['interfaces'] if i['name'] in ('$VA','$VB') and i['state']=='capturing')")" = "$([ -n "$ONE_IF" ] && echo 1 || echo 2)" ] &&
		break
	sleep 0.1
done
sleep 1

a0=$(cpu_ticks "$agent") t0=$(cpu_ticks "$td")
p0=$(($(sysctr "$VA" rx_packets) + $(sysctr "$VA" tx_packets)))
w0=$(date +%s.%N)
if [ -n "${PKTGEN:-}" ]; then
	mac_b=$(ip -n "$NB" -br link show eth0 | awk '{print $3}')
	mac_a=$(ip -n "$NA" -br link show eth0 | awk '{print $3}')
	ip netns exec "$NA" "$(dirname "$BIN")/pktgen" eth0 "$mac_a" "$mac_b" \
		198.18.0.1 198.18.0.2 "$DURATION" "${UDP_LEN_SET:-18}" >"$tmp/iperf.log"
elif [ -n "$UDP_RATE" ]; then
	ip netns exec "$NA" iperf3 -c 198.18.0.2 -u -b "$UDP_RATE" -l "$UDP_LEN" -t "$DURATION" >"$tmp/iperf.log"
else
	ip netns exec "$NA" iperf3 -c 198.18.0.2 -P "$STREAMS" -t "$DURATION" >"$tmp/iperf.log"
fi
w1=$(date +%s.%N)
p1=$(($(sysctr "$VA" rx_packets) + $(sysctr "$VA" tx_packets)))
a1=$(cpu_ticks "$agent") t1=$(cpu_ticks "$td")
secs=$(calc "$w1 - $w0")
sleep 2.5 # the counters are read every second and written every second
kill -INT "$td"
wait "$td" 2>/dev/null || true
ew_recv=$(json_get "$tmp/status.json" "next(i['received'] for i in s['interfaces'] if i['name']=='$VA')")
ew_drop=$(json_get "$tmp/status.json" "next(i['kernel_drops'] for i in s['interfaces'] if i['name']=='$VA')")
td_recv=$(awk '/received by filter/ {print $1}' "$tmp/tcpdump.err")
td_drop=$(awk '/dropped by kernel/ {print $1}' "$tmp/tcpdump.err")
frames=$((p1 - p0))
rate=$(grep -E 'sender$' "$tmp/iperf.log" | tail -1 | grep -oE '[0-9.]+ [KMG]?bits/sec' || true)

echo
if [ -n "${PKTGEN:-}" ]; then
	echo "-- throughput: pktgen, $((${UDP_LEN_SET:-18} + 42))-byte UDP frames, ${DURATION} s: $(cat "$tmp/iperf.log")"
else
	echo "-- throughput: $([ -n "$UDP_RATE" ] && echo "UDP at $UDP_RATE, $((UDP_LEN + 42))" || echo "TCP, 1514")-byte frames, ${DURATION} s, iperf3 sender $rate"
fi
printf '   frames across %s: %d in %.1f s = %.0f frames/s (both directions)\n' \
	"$VA" "$frames" "$secs" "$(calc "$frames / $secs")"
printf '   %-34s %14s %14s %10s\n' "" "received" "kernel drops" "CPU"
printf '   %-34s %14s %14s %9s%%\n' "egresswatch run (ring ${BUFFER:-2M})" \
	"$ew_recv" "$ew_drop" "$(pct $((a1 - a0)) "$secs")"
printf '   %-34s %14s %14s %9s%%\n' "tcpdump -i $VA -w /dev/null" \
	"$td_recv" "$td_drop" "$(pct $((t1 - t0)) "$secs")"
echo "   (received counts since each tool opened $VA, so slightly more than the frames above;"
if [ -n "$ONE_IF" ]; then
	echo "    egresswatch captured $VA only, as tcpdump)"
else
	echo "    egresswatch also captured $VB: the same frames again, in the same CPU figure)"
fi
kill -TERM "$agent"
wait "$agent" 2>/dev/null || true

# ---- 2. idle with many interfaces ------------------------------------------------
ip netns add "$NI"
ip netns exec "$NI" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NI" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
sysctl -qw net.ipv6.conf.default.disable_ipv6=1 # for the host sides created now
for n in $(seq 0 $((N_VETH - 1))); do
	echo "link add ewl${rid}v$n type veth peer name p$n netns $NI"
done | ip -batch -
sysctl -qw net.ipv6.conf.default.disable_ipv6=0
for n in $(seq 0 $((N_VETH - 1))); do echo "link set ewl${rid}v$n up"; done | ip -batch -
for n in $(seq 0 $((N_VETH - 1))); do echo "link set p$n up"; done | ip -n "$NI" -batch -

mem_avail() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
m0=$(mem_avail)
"$BIN" run "${ring[@]}" --db "$tmp/idle.db" --status-file "$tmp/idle.json" >"$tmp/idle.log" 2>&1 &
agent=$!
pids+=($agent)
n_cap=0
for _ in $(seq 300); do
	if [ -f "$tmp/idle.json" ]; then
		n_cap=$(json_get "$tmp/idle.json" "sum(1 for i in s['interfaces'] if i['name'].startswith('ewl${rid}v') and i['state']=='capturing')")
		[ "$n_cap" -ge "$N_VETH" ] && break
	fi
	sleep 0.1
done
sleep 2
m1=$(mem_avail)
c0=$(cpu_ticks "$agent")
w0=$(date +%s.%N)
sleep "$IDLE"
c1=$(cpu_ticks "$agent")
w1=$(date +%s.%N)
secs=$(calc "$w1 - $w0")
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$agent/status")
anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$agent/status")
shared=$(awk '/^Rss(File|Shmem):/ {n += $2} END {print n}' "/proc/$agent/status")
fds=$(ls "/proc/$agent/fd" | wc -l)
echo
echo "-- idle: $N_VETH veths ($n_cap captured, ring ${BUFFER:-2M} each), nothing sent, ${IDLE} s"
echo "   RSS:            $((rss / 1024)) MiB: $((anon / 1024)) MiB the agent's own (RssAnon),"
echo "                   $((shared / 1024)) MiB the kernel rings mapped into it (RssFile+RssShmem)"
echo "   descriptors:    $fds"
echo "   kernel memory:  $(((m0 - m1) / 1024)) MiB less MemAvailable with the agent running"
printf '   CPU:            %s%% of one core (%d ticks in %.1f s)\n' \
	"$(pct $((c1 - c0)) "$secs")" $((c1 - c0)) "$secs"
kill -TERM "$agent"
wait "$agent" 2>/dev/null || true
