#!/usr/bin/env bash
# lab_smoke.sh - the lab (scripts/lab) builds a closed miniature node, carries
# real traffic and leaves nothing behind.
#
#   host netns                 <prefix>-br0 (no address)
#     veth(redis-0) veth(web-0) veth(api-0) veth(client-0) <prefix>-gw0
#          |            |           |            |               |
#     <prefix>-redis-0  -web-0      -api-0       -client-0     <prefix>-router
#     10.244.0.10       .11         .12          .20           10.244.0.1
#                                                                  |
#                                   <prefix>-inet: 198.51.100.53 dns, 198.51.100.10 web,
#                                                  203.0.113.66 sink; no default route
#
# Runs under a per-run EW_LAB_PREFIX and a private pod log root, so it never
# touches another lab. Every fact is checked from outside the lab's own
# reports where it can be (/proc, /sys, ip, raw DNS), the scenarios' exit codes
# are checked too, and `trap cleanup EXIT` tears the lab down whatever happens.
# Exit 77 (skip) where this machine cannot create network namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
LAB=$here/../../scripts/lab
started=$(date +%s)

skip() { echo "SKIP: lab_smoke: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces, veths and cgroups"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
probe=ewprobe$$
ip netns add "$probe" 2>/dev/null || skip "this machine cannot create network namespaces (ip netns add failed)"
ip netns del "$probe"
case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
cgroup2fs | tmpfs) ;;
*) skip "no cgroup filesystem at /sys/fs/cgroup" ;;
esac

EW_LAB_PREFIX=ewt$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
export EW_LAB_PREFIX
tmp=$(mktemp -d)
export EW_LAB_PODLOG_ROOT=$tmp/pods
unset EW_LAB_STATE
STATE=/run/egresswatch-lab-$EW_LAB_PREFIX
P=$EW_LAB_PREFIX

cleanup() {
	local rc=$?
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/tap.bash"

echo "# lab_smoke: prefix $P"

# --- inventory, read independently of the lab -------------------------------

declare -a W_NAME W_IF W_IP4 W_IP6 W_NETNS W_CID W_UID
read_inventory() {
	local f=$1 i=-1 line v
	while IFS= read -r line; do
		v=${line#*: }
		case $line in
		"  - namespace: "*) i=$((i + 1)); W_NAME[i]=$v ;;
		"    name: "*) W_NAME[i]=${W_NAME[i]}/$v ;;
		"    interfaces: "*) v=${v#[}; W_IF[i]=${v%]} ;;
		"    ips: "*) v=${v#[}; v=${v%]}; W_IP4[i]=${v%%,*}; v=${v#*, }; v=${v//\"/}; W_IP6[i]=$v ;;
		"    netns: "*) W_NETNS[i]=$v ;;
		"    container_ids: "*) v=${v#[}; W_CID[i]=${v%]} ;;
		"    pod_uid: "*) W_UID[i]=$v ;;
		esac
	done <"$f"
	N=$((i + 1))
}

# --- what "nothing is left" means ---------------------------------------------

leftovers() {
	local i d
	ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print "netns " $1 }'
	ip -o link show | awk -v p="$P-" -v a="egresswatch-lab:$P:" '{
		n = $2; sub(/:$/, "", n); sub(/@.*/, "", n)
		if (index(n, p) == 1 || index($0, a)) print "link " n }'
	for ((i = 0; i < N; i++)); do
		if ip link show "${W_IF[i]}" >/dev/null 2>&1; then echo "link ${W_IF[i]}"; fi
		find /sys/fs/cgroup -maxdepth 9 -type d -name "*pod${W_UID[i]//-/_}.slice" 2>/dev/null | sed 's/^/cgroup /'
		if ls -d "$EW_LAB_PODLOG_ROOT"/*_"${W_UID[i]}" >/dev/null 2>&1; then echo "podlog ${W_UID[i]}"; fi
	done
	for d in "$STATE" "$STATE.lock" /etc/netns/"$P"-*; do
		if [ -e "$d" ]; then echo "file $d"; fi
	done
	for d in $pids_seen; do
		if [ -e "/proc/$d" ] && [ "$(sed 's/.*) //' "/proc/$d/stat" 2>/dev/null | cut -c1)" != Z ]; then
			echo "process $d ($(cat "/proc/$d/comm" 2>/dev/null))"
		fi
	done
}

# --- up ---------------------------------------------------------------------

routes_before=$(ip route show table all; ip -6 route show table all)
t0=$(date +%s.%N)
if ! out=$("$LAB" up 2>&1); then
	echo "$out"
	bail "scripts/lab up"
fi
ok "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $out"
out=$("$LAB" up 2>&1) || true
check "up again is a no-op ($out)" contains "$out" "already up"
routes_after=$(ip route show table all; ip -6 route show table all)
check "the host's routing tables are unchanged by up" [ "$routes_before" = "$routes_after" ]

[ -f "$STATE/inventory.yaml" ] || bail "inventory at $STATE/inventory.yaml"
cp "$STATE/inventory.yaml" "$tmp/inventory.yaml"
read_inventory "$tmp/inventory.yaml"
check "inventory lists prod/redis-0, prod/web-0, prod/api-0, dev/client-0" \
	[ "$(printf '%s\n' "${W_NAME[@]}" | sort | xargs)" = "dev/client-0 prod/api-0 prod/redis-0 prod/web-0" ]

if status=$("$LAB" status); then ok "status exits 0"; else not_ok "status exits 0: $status"; fi
for ((i = 0; i < N; i++)); do
	[[ $status == *"${W_IF[i]}"* && $status == *"${W_IP4[i]}"* ]] || not_ok "status shows ${W_NAME[i]}"
done

# --- pods: interfaces, netns, cgroups, logs -------------------------------------

pids_seen=
ports=$(ip -o link show master "$P-br0" | awk '{ n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); print n }' | sort | xargs)
check "bridge ports are exactly the pods' veths and the router's" \
	[ "$ports" = "$( (printf '%s\n' "${W_IF[@]}"; echo "$P-gw0") | sort | xargs)" ]
check "the bridge has no address" [ -z "$(ip -o addr show dev "$P-br0")" ]
for ((i = 0; i < N; i++)); do
	name=${W_NAME[i]#*/}
	check "${W_NAME[i]}: host veth ${W_IF[i]} is up with its peer in ${W_NETNS[i]}" \
		bash -c "ip -o link show '${W_IF[i]}' | grep -q 'state UP.*link-netns ${W_NETNS[i]}'"
	addrs=$(ip -n "${W_NETNS[i]}" -o addr show dev eth0 | awk '{ print $4 }' | xargs)
	check "${W_NAME[i]}: eth0 has ${W_IP4[i]}/24" contains " $addrs " " ${W_IP4[i]}/24 "
	check "${W_NAME[i]}: eth0 has ${W_IP6[i]}/64" contains " $addrs " " ${W_IP6[i]}/64 "
	read -r pid _ <"$STATE/pids/$name.pid"
	pids_seen="$pids_seen $pid"
	scope="pod${W_UID[i]//-/_}.slice/cri-containerd-${W_CID[i]}.scope"
	lines=$(wc -l <"/proc/$pid/cgroup")
	inpod=$(grep -c -- "/kubepods.*-$scope\$" "/proc/$pid/cgroup" || true)
	check "${W_NAME[i]}: its process $pid ($(cat "/proc/$pid/comm")) is in .../$scope in all $lines hierarchies" \
		[ "$inpod" -eq "$lines" ]
	check "${W_NAME[i]}: its process $pid is in netns ${W_NETNS[i]}" \
		[ "$(stat -Lc %i "/proc/$pid/ns/net")" = "$(stat -Lc %i "/run/netns/${W_NETNS[i]}")" ]
	check "${W_NAME[i]}: kubelet-style log dir ${W_NAME[i]%/*}_${name}_${W_UID[i]}/ exists" \
		bash -c "ls -d '$EW_LAB_PODLOG_ROOT/${W_NAME[i]%/*}_${name}_${W_UID[i]}'/*/ >/dev/null"
done
cg=$("$LAB" exec redis-0 cat /proc/self/cgroup)
check "exec runs in redis-0's container cgroup" grep -q "cri-containerd-${W_CID[0]}.scope" <<<"$cg"
check "exec runs in client-0's netns" bash -c "'$LAB' exec client-0 ip -4 -o addr show dev eth0 | grep -q ' 10.244.0.20/24 '"

# --- isolation: no path out of the lab -----------------------------------------

for ns in $(ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print $1 }'); do
	links=$(ip -n "$ns" -o link show | awk '{ n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); print n }' | sort | xargs)
	case $ns in
	"$P-router") want="eth0 eth1 lo" ;;
	*) want="eth0 lo" ;;
	esac
	check "$ns holds only its lab links ($want)" [ "$links" = "$want" ]
done
# Any outside address, including this host's own uplink gateway: pods go to the
# lab router, the router to the lab "internet", and there it is unroutable.
uplink_gw=$(ip route show default | awk '{ print $3; exit }')
for dst in 1.1.1.1 ${uplink_gw:+"$uplink_gw"}; do
	for ((i = 0; i < N; i++)); do
		r=$(ip -n "${W_NETNS[i]}" route get "$dst" 2>&1 || true)
		check "${W_NAME[i]}: $dst routes via the lab router only" contains "$r" "via 10.244.0.1 dev eth0"
	done
	r=$(ip -n "$P-router" route get "$dst" 2>&1 || true)
	check "router: $dst routes into the lab internet only" contains "$r" "via 100.64.0.2 dev eth1"
	check "internet netns: $dst is unreachable (no default route)" \
		bash -c "! ip -n '$P-inet' route get '$dst' >/dev/null 2>&1"
done
check "internet netns: no IPv6 default route either" bash -c "! ip -n '$P-inet' -6 route get 2001:4860::1 >/dev/null 2>&1"

# --- DNS: answered by 198.51.100.53, nothing forwarded -----------------------------

resolv=$("$LAB" exec client-0 cat /etc/resolv.conf)
check "client-0's resolv.conf names only 198.51.100.53" \
	[ "$(grep '^nameserver' <<<"$resolv" | xargs)" = "nameserver 198.51.100.53" ]
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
dns=$("$LAB" exec client-0 "$py" -c '
import socket, struct
def ask(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    s.sendto(struct.pack(">HHHHHH", 0x4c61, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1), ("198.51.100.53", 53))
    data, src = s.recvfrom(512)
    return "%s:%d rcode=%d answers=%d last4=%s" % (src[0], src[1], data[3] & 15,
        struct.unpack(">H", data[6:8])[0], socket.inet_ntoa(data[-4:]))
print(ask("sink.evil.example"))
print(ask("unknown.example"))
' 2>&1) || true
check "raw DNS query from client-0: sink.evil.example A 203.0.113.66 from 198.51.100.53:53" \
	[ "$(sed -n 1p <<<"$dns")" = "198.51.100.53:53 rcode=0 answers=1 last4=203.0.113.66" ]
check "raw DNS query from client-0: unknown.example is NXDOMAIN (no upstream)" \
	contains "$(sed -n 2p <<<"$dns")" "198.51.100.53:53 rcode=3 "

# --- scenarios -------------------------------------------------------------------

run_scenario() {
	local out line
	if out=$("$LAB" scenario "$1" 2>&1); then ok "scenario $1"; else not_ok "scenario $1"; fi
	while IFS= read -r line; do echo "#   $line"; done <<<"$out"
}
run_scenario benign
page=$("$LAB" exec client-0 curl -s --max-time 5 http://10.244.0.11:8080/ || true)
check "curl from client-0 to web-0 returns web-0's page" [ "$page" = "web-0: egresswatch lab" ]

rx0=$(cat "/sys/class/net/${W_IF[0]}/statistics/rx_bytes")
mark=$(wc -l <"$STATE/logs/sink.log")
run_scenario redis-exfil
rx1=$(cat "/sys/class/net/${W_IF[0]}/statistics/rx_bytes")
got=$(tail -n +"$((mark + 1))" "$STATE/logs/sink.log" | grep 'peer=10.244.0.10 .* port=6379 ' |
	sed -n 's/.* bytes=\([0-9]*\).*/\1/p' | head -n 1)
check "the sink received >= 2 MiB from 10.244.0.10 on 6379 (got ${got:-nothing} B)" [ "${got:-0}" -ge 2097152 ]
check "redis-0's host-side veth ${W_IF[0]} carried the exfil ($((rx1 - rx0)) B received from the pod)" \
	[ $((rx1 - rx0)) -ge "${got:-2097152}" ]
run_scenario unexpected-port
run_scenario cross-namespace

# --- down: nothing of the prefix remains -------------------------------------------

if out=$("$LAB" down 2>&1); then ok "down: $out"; else not_ok "down: $out"; fi
if out=$("$LAB" down 2>&1); then ok "down again is harmless"; else not_ok "down again: $out"; fi
left=$(leftovers)
check "nothing of $P is left after down${left:+: $(xargs <<<"$left")}" [ -z "$left" ]

# A crash in the middle of up (SIGKILL, daemons already started or not): down
# still finds and removes everything.
setsid "$LAB" up >/dev/null 2>&1 &
crash=$!
sleep 0.8
kill -KILL -- -"$crash" 2>/dev/null || true
{ wait "$crash" || true; } 2>/dev/null
pids_seen=$(cat "$STATE"/pids/*.pid 2>/dev/null | awk '{ print $1 }' | xargs || true)
if out=$("$LAB" down 2>&1); then ok "down after up was killed mid-way: $out"; else not_ok "down after a killed up: $out"; fi
left=$(leftovers)
check "nothing of $P is left after a crashed up${left:+: $(xargs <<<"$left")}" [ -z "$left" ]

echo "# lab_smoke: $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
