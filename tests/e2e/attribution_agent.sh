#!/usr/bin/env bash
# attribution_agent.sh - the attribution issue's acceptance test: the real
# agent (`egresswatch run`) on the lab, every flow it records checked against
# the lab's own inventory (`scripts/lab inventory`), the independent oracle.
#
#   host netns: egresswatch run --exclude <prefix>-gw0 --pod-logs-dir <tmp>/pods
#  +--------------------------------------------------------------------------+
#  |                      <prefix>-br0 (no address)                           |
#  |   veth(redis-0)  veth(web-0)  veth(api-0)  veth(client-0)  veth(web-1)   |
#  +------|--------------|-------------|-------------|--------------|--------+
#   prod/redis-0    prod/web-0     prod/api-0    dev/client-0    prod/web-1  <prefix>-gw0 -- router
#   10.244.0.10     .11  --deleted-->              .20            .11 again       |
#   fd00:10:244::10 ::11                ::12       ::20           ::11         <prefix>-inet:
#                                                                              198.51.100.53 dns
#                                                                              198.51.100.10 api.partner.example
#                                                                              203.0.113.66  sink.evil.example
#
# The agent starts on the lab and the lab's scenarios run (benign, redis-exfil,
# unexpected-port, cross-namespace).  client-0 then fetches a page from
# web-0, and right after that, with the agent still running, prod/web-0 is
# deleted as a runtime would (processes, netns and with it the veth pair, pod
# log directory): the last packets on its veth are captured as the veth goes,
# and client-0's record of that request ends (TCP linger, or the agent's
# stop) when the address already belongs to the next pod.  prod/web-1 is made
# kubelet-style with web-0's addresses: sandbox ("pause") process and pod
# cgroup, pod log directory, the container (an HTTP server), then the CNI
# part as the bridge plugin does it (veth made in the pod's netns, host end
# moved out to the bridge; the addresses announced).  The moment the host
# sees the new veth, client-0 starts a burst of 16000 datagrams to web-1,
# which fills ring blocks and so reaches the agent well before its link-event
# rescan (debounced 200 ms) could have seen the veth; web-1 resolves
# api.partner.example at once and connects to it later with that answer.
#
# Checked on every flow recorded on the lab's pod interfaces
# (`egresswatch flows --json`):
#   - workload = the owner of the flow's interface (inventory; web-1's veth
#     for the new pod), never null; remote_workload = the owner of remote_ip
#     at the flow's start (web-0 before web-1 existed, web-1 after), null for
#     outside hosts;
#   - pod-to-pod TCP: the client pod's record is egress with local_ip = its
#     address, the server pod's record of the same connection is ingress with
#     local_ip = its address; sent on one = received on the other (bytes and
#     packets: the same packets on two veths);
#   - remote_name: a name is only ever one that this workload itself asked
#     the lab's DNS server for and got remote_ip in the answer (the oracle is
#     dnsmasq's own query log), and every TCP flow to such an address has it;
#     e.g. client-0 -> api.partner.example, redis-0 -> sink.evil.example, but
#     web-0 -> 203.0.113.66:4444 (never resolved) has none, and web-1 does not
#     inherit the names web-0 resolved from the same address;
#   - history: web-0's flows keep prod/web-0 (those ended with its veth
#     included), web-1's carry prod/web-1 from the first packet on, and
#     client-0's last request to web-0 still names prod/web-0;
#   - the burst: ingress on web-1's veth with web-1's address as local_ip,
#     egress on client-0's; copies the bridge flooded to bystander pods'
#     veths (web-1's MAC not learnt yet) are seen from the receiving end;
#   - the workloads table holds every lab pod and prod/web-1; the status file
#     has attribution counters (workloads, created, removed, scans).
#
# The lab runs under a per-run EW_LAB_PREFIX and a private pod log root, and
# the whole test in its own PID namespace with its own /proc and its own
# network namespace as the lab's "host", so that the agent sees only this
# lab's processes and links: other labs use the same pod addresses.  `trap cleanup EXIT` stops the agent and removes what the
# test added (processes, cgroups, netns, veth, pod log dir) and then the lab.
# Exit 77 (skip) only where this machine cannot create namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
LAB=$here/../../scripts/lab
T0=$(date +%s)

fail() { echo "FAIL: attribution_agent: $*"; exit 1; }
skip() { echo "SKIP: attribution_agent: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces, veths and cgroups"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
probe=ewprobe$$
ip netns add "$probe" 2>/dev/null || skip "this machine cannot create network namespaces (ip netns add failed)"
ip netns del "$probe"
case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
cgroup2fs | tmpfs) ;;
*) skip "no cgroup filesystem at /sys/fs/cgroup" ;;
esac
for t in python3 curl; do
	command -v $t >/dev/null || fail "$t is not installed (scripts/setup.sh)"
done
if [ -z "${EW_ATTRIB_UNSHARED:-}" ]; then
	unshare --pid --fork --mount-proc --net --kill-child true 2>/dev/null ||
		skip "cannot make PID, mount and network namespaces (unshare --pid --mount-proc --net)"
	EW_ATTRIB_UNSHARED=1 exec unshare --pid --fork --mount-proc --net --kill-child \
		bash "$0" "$@"
fi
# This test's own "node": its network namespace is the host netns of the
# lab, so the agent sees no other lab's links (they use the same pod
# addresses).  /sys is mounted afresh so that /sys/class/net shows this
# namespace's links (the agent reads their drop counters there), with the
# cgroup hierarchies carried over.  All of it in this process's private
# mount namespace.
mount -t tmpfs ew-attrib /mnt
mkdir /mnt/cgroup
mount --rbind /sys/fs/cgroup /mnt/cgroup
mount -t sysfs sysfs /sys
mount --rbind /mnt/cgroup /sys/fs/cgroup
ip link set lo up

EW_LAB_PREFIX=ewq$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
export EW_LAB_PREFIX
tmp=$(mktemp -d)
export EW_LAB_PODLOG_ROOT=$tmp/pods
unset EW_LAB_STATE
STATE=/run/egresswatch-lab-$EW_LAB_PREFIX
P=$EW_LAB_PREFIX
BR=$P-br0
NEW_NS=$P-web-1		# a lab netns name: `lab down` finds it too
NEW_VETH=
NEW_PIDS=()
NEW_CGS=()		# relative cgroup paths we created, parents first
agent=

cleanup() {
	local rc=$? pid mnt base i
	set +eu
	if [ -n "$agent" ] && kill -0 "$agent" 2>/dev/null; then
		kill -TERM "$agent"
		wait "$agent" 2>/dev/null
	fi
	for pid in "${NEW_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	for pid in "${NEW_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	if [ -s "$STATE/cgroups" ]; then
		while read -r mnt base; do
			for ((i = ${#NEW_CGS[@]} - 1; i >= 0; i--)); do
				rmdir "$mnt${base%/}/${NEW_CGS[i]}" 2>/dev/null
			done
		done <"$STATE/cgroups"
	fi
	ip netns del "$NEW_NS" 2>/dev/null
	[ -n "$NEW_VETH" ] && ip link del "$NEW_VETH" 2>/dev/null
	"$LAB" down >/dev/null 2>&1
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -f "$tmp/agent.log" ]; then
		echo "--- agent log (last 40 lines)"
		tail -n 40 "$tmp/agent.log"
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/tap.bash"
. "$(dirname "$0")/../lib/agent.bash"
now_utc() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }

echo "# attribution_agent: prefix $P"
if ! out=$("$LAB" up 2>&1); then
	case $out in *"cannot create network namespaces"*) skip "$out" ;; esac
	echo "$out" >&2
	bail "scripts/lab up"
fi

# --- the oracle: the lab's inventory ----------------------------------------------

"$LAB" inventory >"$tmp/inventory.yaml"
declare -a W_REF W_IF
i=-1
while IFS= read -r line; do
	v=${line#*: }
	case $line in
	"  - namespace: "*) i=$((i + 1)); W_REF[i]=$v ;;
	"    name: "*) W_REF[i]=${W_REF[i]}/$v ;;
	"    interfaces: "*) v=${v#[}; W_IF[i]=${v%]} ;;
	esac
done <"$tmp/inventory.yaml"
[ "${#W_REF[@]}" -eq 4 ] || bail "the lab's inventory lists 4 pods (got ${#W_REF[@]})"
web0_if=
for ((i = 0; i < 4; i++)); do
	if [ "${W_REF[i]}" = prod/web-0 ]; then web0_if=${W_IF[i]}; fi
done
[ -n "$web0_if" ] || bail "the inventory lists prod/web-0"

# --- the agent -----------------------------------------------------------------------

"$EW_BIN" run --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	--exclude "$P-gw0" --pod-logs-dir "$EW_LAB_PODLOG_ROOT" >"$tmp/agent.log" 2>&1 &
agent=$!
capturing() { # IFNAME...: all captured, per the status file
	python3 - "$tmp/status.json" "$@" <<'EOF' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1]))
on = {i["name"] for i in s["interfaces"] if i["state"] == "capturing"}
sys.exit(0 if set(sys.argv[2:]) <= on else 1)
EOF
}
wait_for 10 capturing "${W_IF[@]}" || bail "the agent captures the lab's 4 pod veths"
kill -0 "$agent" 2>/dev/null || bail "the agent is running"

# --- the lab's scenarios -------------------------------------------------------------

for sc in benign redis-exfil unexpected-port cross-namespace; do
	if "$LAB" scenario "$sc" >"$tmp/scenario-$sc.log" 2>&1; then
		ok "scenario $sc"
	else
		cat "$tmp/scenario-$sc.log"
		bail "scenario $sc"
	fi
done

# A last request to web-0 just before it goes: client-0's record of it ends
# (TCP linger, or the agent's stop) after web-1 holds the address.
t_last=$(now_utc)
"$LAB" exec client-0 curl -sS --max-time 5 -o /dev/null "http://10.244.0.11:8080/" ||
	bail "client-0 -> web-0 before the deletion"
dns_mark=$(wc -l <"$STATE/logs/dnsmasq-queries.log")
# A kubelet takes its time to stop a pod; meanwhile the agent has had that
# request's first packets (a ring block timeout, 200 ms, at the latest).
sleep 0.5

# --- delete prod/web-0 ------------------------------------------------------------------

for pid in $(ip netns pids "$P-web-0"); do kill -KILL "$pid" 2>/dev/null || true; done
wait_for 4 bash -c "[ -z \"\$(ip netns pids '$P-web-0')\" ]" || bail "web-0's processes exited"
ip netns del "$P-web-0"
rm -rf "$EW_LAB_PODLOG_ROOT"/prod_web-0_*
wait_for 5 bash -c "! ip link show '$web0_if' >/dev/null 2>&1" || bail "web-0's veth went with its netns"
# A runtime takes seconds before the address is handed out again; here the
# agent's link-event rescan (debounced 200 ms) is given the time to forget
# web-0 before another pod has its address.
sleep 0.5

# --- create prod/web-1 with web-0's addresses, kubelet-style -------------------------------

NEW_UID=$(cat /proc/sys/kernel/random/uuid)
hex64() { printf '%s' "$1" | sha256sum | cut -c1-64; }
SANDBOX=$(hex64 "$P/web-1/sandbox/$NEW_UID")
CTR=$(hex64 "$P/web-1/web/$NEW_UID")
NEW_VETH=veth$(hex64 "$P/prod/web-1" | cut -c1-8)
POD_REL=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${NEW_UID//-/_}.slice
NEW_CGS=("$POD_REL" "$POD_REL/cri-containerd-$SANDBOX.scope" "$POD_REL/cri-containerd-$CTR.scope")
cg_mkdir() { # MOUNT BASE REL: mkdir -p, v1 cpusets get their parent's cpus and mems
	local d=$1${2%/} part f
	local -a parts
	IFS=/ read -ra parts <<<"$3"
	for part in "${parts[@]}"; do
		d=$d/$part
		[ -d "$d" ] || mkdir "$d"
		if [ -e "$d/cpuset.cpus" ] && [ ! -e "$d/cgroup.controllers" ]; then
			for f in cpuset.cpus cpuset.mems; do
				if [ -z "$(cat "$d/$f")" ]; then cat "${d%/*}/$f" >"$d/$f"; fi
			done
		fi
	done
}
spawn() { # CONTAINER-ID LOG CMD...: a process in that container's cgroups and the new netns
	local id=$1 log=$2 mnt base
	shift 2
	(
		exec </dev/null >>"$log" 2>&1
		while read -r mnt base; do
			echo "$BASHPID" >"$mnt${base%/}/$POD_REL/cri-containerd-$id.scope/cgroup.procs"
		done <"$STATE/cgroups"
		exec ip netns exec "$NEW_NS" "$@"
	) &
	NEW_PIDS+=("$!")
}
run_in_web1() { # CMD...: like `kubectl exec`: in web-1's container cgroup and netns
	(
		while read -r mnt base; do
			echo "$BASHPID" >"$mnt${base%/}/$POD_REL/cri-containerd-$CTR.scope/cgroup.procs"
		done <"$STATE/cgroups"
		exec ip netns exec "$NEW_NS" "$@"
	)
}

# The sandbox: netns, pod cgroup, pod log directory, "pause".
ip netns add "$NEW_NS"
ip -n "$NEW_NS" link set lo up
mkdir -p "/etc/netns/$NEW_NS"
cat >"/etc/netns/$NEW_NS/resolv.conf" <<EOF
search prod.svc.cluster.local svc.cluster.local cluster.local
nameserver 198.51.100.53
options ndots:5
EOF
while read -r mnt base; do
	for rel in "${NEW_CGS[@]:1}"; do cg_mkdir "$mnt" "$base" "$rel"; done
done <"$STATE/cgroups"
mkdir -p "$EW_LAB_PODLOG_ROOT/prod_web-1_$NEW_UID/web"
web1_log=$EW_LAB_PODLOG_ROOT/prod_web-1_$NEW_UID/web/0.log
cp "$(command -v sleep)" "$tmp/pause"
spawn "$SANDBOX" /dev/null "$tmp/pause" 600
wait_for 5 bash -c "[ \"\$(cat /proc/${NEW_PIDS[0]}/comm 2>/dev/null)\" = pause ]" ||
	bail "web-1's sandbox started"

# Its container, started here before the CNI part so that it already
# listens (on every address) when the first client comes.
spawn "$CTR" "$web1_log" "${EW_LAB_PYTHON:-python3}" -u "$STATE/bin/labhttpd.py" --name web-1 \
	"http:[::]:8080"
wait_for 10 bash -c "[ -n \"\$(ip netns exec '$NEW_NS' ss -Hlnt 'sport = :8080')\" ]" ||
	bail "web-1 serves :8080"

# A busy client: from the moment web-1's veth appears, client-0 sends it
# 16000 small datagrams, one every 50 us.  They fill ring blocks on
# web-1's veth within tens of ms, so the agent gets web-1's first packets
# at once, not at the ring's block timeout (200 ms, as long as the debounce
# of its link-event rescan).
"$LAB" exec client-0 python3 -c '
import os, socket, sys, time
deadline = time.time() + 20
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[1]):
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.001)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t = time.perf_counter()
for i in range(16000):
    while time.perf_counter() < t + i * 50e-6:
        pass
    try:
        s.sendto(b"x" * 64, ("10.244.0.11", 9999))
    except OSError:
        pass
' "$tmp/web-1-is-up" "$tmp/client-0-is-ready" &
early_burst=$!
wait_for 10 test -e "$tmp/client-0-is-ready" || bail "client-0's burst sender started"

# CNI ADD, the way the bridge plugin does it: the veth pair is made inside
# the pod's netns, the pod's side configured there, and the host's end moved
# out to the host and plugged into the bridge.  The host sees the new link
# only from the move on.
ip -n "$NEW_NS" link add "$NEW_VETH" type veth peer name eth0
ip -n "$NEW_NS" addr add 10.244.0.11/24 dev eth0
ip -n "$NEW_NS" addr add fd00:10:244::11/64 dev eth0 nodad
ip -n "$NEW_NS" link set eth0 up
ip -n "$NEW_NS" route add default via 10.244.0.1
ip -n "$NEW_NS" -6 route add default via fd00:10:244::1
t_create=$(now_utc)
touch "$tmp/web-1-is-up"
ip -n "$NEW_NS" link set "$NEW_VETH" netns "$$"
echo 1 >"/proc/sys/net/ipv6/conf/$NEW_VETH/disable_ipv6"
printf '%s\n' "link set $NEW_VETH alias egresswatch-lab:$P:prod/web-1" \
	"link set $NEW_VETH master $BR" "link set $NEW_VETH up" | ip -batch -
wait_for 5 grep -q "capturing on $NEW_VETH " "$tmp/agent.log" || bail "the agent captures $NEW_VETH"
# Announce the reused addresses (gratuitous ARP, unsolicited neighbour
# advertisement), as CNI plugins do: the other pods' caches still hold
# web-0's MAC address for them.
ip netns exec "$NEW_NS" python3 -c '
import socket, struct, sys
idx = socket.if_nametoindex("eth0")
mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
v4 = socket.inet_aton(sys.argv[1])
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + v4 + bytes(6) + v4
p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
p.bind(("eth0", 0))
p.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
na = struct.pack("!BBHI", 136, 0, 0, 0x20000000)  # advertisement, override
na += socket.inet_pton(socket.AF_INET6, sys.argv[2]) + bytes([2, 1]) + mac
s.sendto(na, ("ff02::1", 0, 0, idx))
' 10.244.0.11 fd00:10:244::11 || bail "web-1 announced its addresses"

# At once, before the agent's link-event rescan (debounced 200 ms) can have
# seen the new veth (besides the burst): web-1 resolves api.partner.example
# (and keeps the answer, as applications do), client-0 fetches a page.
run_in_web1 getent ahosts api.partner.example >/dev/null &
early_dns=$!
"$LAB" exec client-0 curl -sS --max-time 5 -o /dev/null "http://10.244.0.11:8080/" &
early_http=$!
wait "$early_dns" || bail "web-1 resolved api.partner.example right after its veth came up"
wait "$early_http" || bail "client-0 -> web-1 (v4) right after its veth came up"
wait "$early_burst" || bail "client-0 -> web-1 UDP burst right after its veth came up"
t_first=$(now_utc)
# Later, well after any rescan: web-1 connects to the address it resolved
# then (no new lookup), and to api-0 by address; client-0 over IPv6.
sleep 0.5
run_in_web1 curl -sS --max-time 5 -o /dev/null --resolve api.partner.example:80:198.51.100.10 \
	"http://api.partner.example/" || bail "web-1 -> api.partner.example (resolved before)"
run_in_web1 curl -sS --max-time 5 -o /dev/null "http://10.244.0.12:8080/bytes/4096" ||
	bail "web-1 -> api-0 by address"
"$LAB" exec client-0 curl -sS --max-time 5 -o /dev/null "http://[fd00:10:244::11]:8080/" ||
	bail "client-0 -> web-1 (v6)"
ok "prod/web-1 created at $t_create with web-0's addresses; its first exchanges were done at $t_first"

# The status file's attribution counters, while the agent runs.
sleep 1.2
cp "$tmp/status.json" "$tmp/status-running.json"

# Stop the agent: every open flow ends (FLOW_END_SHUTDOWN) and is stored.
kill -TERM "$agent"
rc=0
wait "$agent" || rc=$?
agent=
check "the agent stopped cleanly (exit status $rc)" [ "$rc" -eq 0 ]
"$EW_BIN" flows --db "$tmp/flows.db" --json --limit 100000 >"$tmp/flows.json" ||
	bail "egresswatch flows"

# --- the checks -------------------------------------------------------------------------

py=0
python3 - "$tmp" "$P" "$NEW_VETH" "$t_create" "$dns_mark" "$t_last" <<'EOF' || py=$?
import ipaddress, json, re, sqlite3, sys
from datetime import datetime, timezone

tmp, prefix, new_veth, t_create, dns_mark, t_last = sys.argv[1:7]
dns_mark = int(dns_mark)
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what + (": " + detail if detail else ""))


def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def norm(a):
    return str(ipaddress.ip_address(a))


# The inventory (written by the lab; a small YAML subset, parsed here by hand).
pods = []
for line in open(tmp + "/inventory.yaml"):
    m = re.match(r"  - namespace: (\S+)", line)
    if m:
        pods.append({"ns": m.group(1)})
    m = re.match(r"    (name|interfaces|ips): (.*)", line)
    if m:
        k, v = m.groups()
        if k == "name":
            pods[-1]["ref"] = pods[-1]["ns"] + "/" + v
        else:
            pods[-1][k] = [x.strip().strip('"') for x in v.strip("[]").split(",")]
iface_owner = {p["interfaces"][0]: p["ref"] for p in pods}
iface_owner[new_veth] = "prod/web-1"
web0 = next(p for p in pods if p["ref"] == "prod/web-0")
web0_ips = {norm(a) for a in web0["ips"]}
ip_owner = {norm(a): p["ref"] for p in pods for a in p["ips"]}
pod_ips = {r: {norm(a) for a in p["ips"]} for p in pods for r in [p["ref"]]}
pod_ips["prod/web-1"] = web0_ips
created = ts(t_create)


def owner_of(ip, start):
    """The pod holding `ip` when a flow started at `start` (inventory + the
    re-creation: web-0's addresses are web-1's from its creation on)."""
    ip = norm(ip)
    if ip in web0_ips:
        return "prod/web-1" if start >= created else "prod/web-0"
    return ip_owner.get(ip)


flows = [json.loads(l) for l in open(tmp + "/flows.json")]
mine = [f for f in flows if f["interface"] in iface_owner]
print("# %d flows recorded" % len(flows))
check("flows recorded on every lab pod interface, and on web-1's",
      set(iface_owner) <= {f["interface"] for f in mine},
      "none on " + ", ".join(sorted(set(iface_owner) - {f["interface"] for f in mine})))


def show(f):
    return "%s %s %s %s:%s -> %s:%s workload=%s remote_workload=%s name=%s start=%s end=%s" % (
        f["interface"], f["proto"], f["direction"], f["local_ip"], f["local_port"],
        f["remote_ip"], f["remote_port"], f["workload"], f["remote_workload"],
        f["remote_name"], f["start"], f["end_reason"])


def all_ok(what, bad, limit=6):
    check("%s (%d flows)" % (what, len(bad)) if bad else what, not bad,
          "; ".join(show(f) for f in bad[:limit]))


# This test's network namespace holds the lab only, and the router's port is
# excluded: every flow recorded is on a pod's veth.
all_ok("every flow recorded is on a lab pod's interface", [f for f in flows if f not in mine])

# 1. workload = the interface's owner, never null.
all_ok("no flow on a lab pod interface has workload null",
       [f for f in mine if f["workload"] is None])
all_ok("every flow's workload is the pod owning its interface (inventory)",
       [f for f in mine if f["workload"] != iface_owner[f["interface"]]])
early = [f for f in mine if f["interface"] == new_veth]
all_ok("every flow of the re-created pod is prod/web-1, its first ones included",
       [f for f in early if f["workload"] != "prod/web-1"])
check("web-1's first flow (DNS, right after its veth came up) is recorded",
      any(f["proto"] == "udp" and f["remote_port"] == 53 for f in early))
all_ok("web-0's flows keep prod/web-0 (history is not rewritten)",
       [f for f in mine if f["interface"] == web0["interfaces"][0] and f["workload"] != "prod/web-0"])

# 2. remote_workload = the owner of remote_ip when the flow started; null outside.
all_ok("every remote_workload is the pod owning remote_ip at the flow's start, null for outside hosts",
       [f for f in mine if f["remote_workload"] != owner_of(f["remote_ip"], ts(f["start"]))])
last = [f for f in mine if f["workload"] == "dev/client-0" and f["proto"] == "tcp" and
        norm(f["remote_ip"]) == "10.244.0.11" and f["remote_port"] == 8080 and
        ts(t_last) <= ts(f["start"]) < created]
check("client-0's last request to web-0, ended (%s) after web-1 took the address, still names prod/web-0"
      % ",".join(f["end_reason"] for f in last),
      len(last) == 1 and last[0]["remote_workload"] == "prod/web-0" and last[0]["direction"] == "egress",
      "; ".join(show(f) for f in last) or "no such record")
burst = [f for f in mine if f["proto"] == "udp" and 9999 in (f["local_port"], f["remote_port"])]
b_in = [f for f in burst if f["interface"] == new_veth]
b_out = [f for f in burst if iface_owner[f["interface"]] == "dev/client-0"]
check("client-0's burst to web-1 from its veth's first moment: ingress on web-1's veth with local_ip "
      "10.244.0.11 (%s packets), egress on client-0's (%s)" %
      ("/".join(str(f["packets_received"]) for f in b_in), "/".join(str(f["packets_sent"]) for f in b_out)),
      len(b_in) == 1 and len(b_out) == 1 and b_in[0]["direction"] == "ingress" and
      norm(b_in[0]["local_ip"]) == "10.244.0.11" and b_in[0]["workload"] == "prod/web-1" and
      b_in[0]["remote_workload"] == "dev/client-0" and b_out[0]["direction"] == "egress" and
      b_out[0]["workload"] == "dev/client-0" and b_out[0]["remote_workload"] == "prod/web-1" and
      1000 <= b_in[0]["packets_received"] <= b_out[0]["packets_sent"],
      "; ".join(show(f) + " sent %d/%d" % (f["packets_sent"], f["packets_received"]) for f in burst))
first = sorted(ts(f["start"]) for f in early)
if first:
    print("# web-1's first flow started %.0f ms after its veth was created" %
          ((first[0] - created).total_seconds() * 1000))

# 3. Orientation of pod-to-pod TCP: each connection is two records.
unicast = [f for f in mine if not ipaddress.ip_address(f["local_ip"]).is_multicast
           and not ipaddress.ip_address(f["remote_ip"]).is_multicast
           and not ipaddress.ip_address(f["local_ip"]).is_link_local]
# (A bridge floods unicast to a MAC it has not learnt yet, so a pod's veth
# also carries copies of other pods' traffic, neither end of which is its
# own: those are seen from the receiving end.)
own = [f for f in unicast if {norm(f["local_ip"]), norm(f["remote_ip"])} & pod_ips[iface_owner[f["interface"]]]]
all_ok("local_ip of every unicast flow with an end of the interface's pod is that pod's address",
       [f for f in own if norm(f["local_ip"]) not in pod_ips[iface_owner[f["interface"]]]])
flooded = [f for f in unicast if f not in own]
all_ok("copies flooded to a bystander pod's veth are seen from the receiving end",
       [f for f in flooded if f["direction"] != "ingress"])
p2p = [f for f in mine if f["proto"] == "tcp" and owner_of(f["remote_ip"], ts(f["start"]))]
key = {}
for f in p2p:
    key.setdefault((norm(f["local_ip"]), f["local_port"], norm(f["remote_ip"]), f["remote_port"]), []).append(f)
unpaired, wrong, counts = [], [], []
for f in p2p:
    peer = key.get((norm(f["remote_ip"]), f["remote_port"], norm(f["local_ip"]), f["local_port"]), [])
    if len(peer) != 1:
        unpaired.append(f)
        continue
    g = peer[0]
    if f["direction"] == "egress":
        client, server = f, g
    else:
        client, server = g, f
    if not (client["direction"] == "egress" and server["direction"] == "ingress"
            and client["remote_port"] == server["local_port"]
            and client["workload"] == server["remote_workload"]
            and server["workload"] == client["remote_workload"]):
        wrong.append(f)
    if (f["bytes_sent"], f["packets_sent"], f["bytes_received"], f["packets_received"]) != \
       (g["bytes_received"], g["packets_received"], g["bytes_sent"], g["packets_sent"]):
        counts.append(f)
print("# %d pod-to-pod TCP records" % len(p2p))
all_ok("every pod-to-pod TCP record has its peer record on the other pod's veth", unpaired)
all_ok("pod-to-pod TCP: client's record egress, server's ingress, each with its own local_ip", wrong)
all_ok("pod-to-pod TCP: bytes and packets sent on one record = received on the other", counts)


def has_conn(client, server, port, family):
    for f in p2p:
        if (f["workload"] == client and f["remote_workload"] == server and
                f["direction"] == "egress" and f["remote_port"] == port and
                ipaddress.ip_address(f["remote_ip"]).version == family and
                norm(f["local_ip"]) in pod_ips[client]):
            return any(g["workload"] == server and g["direction"] == "ingress" and
                       g["local_port"] == port and norm(g["local_ip"]) == norm(f["remote_ip"])
                       for g in p2p)
    return False


for c, s, port, fam in [("dev/client-0", "prod/web-0", 8080, 4), ("dev/client-0", "prod/web-0", 8080, 6),
                        ("prod/web-0", "prod/api-0", 8080, 4), ("prod/web-0", "prod/redis-0", 6379, 4),
                        ("dev/client-0", "prod/redis-0", 6379, 4), ("dev/client-0", "prod/api-0", 8080, 6),
                        ("prod/web-1", "prod/api-0", 8080, 4), ("dev/client-0", "prod/web-1", 8080, 4),
                        ("dev/client-0", "prod/web-1", 8080, 6)]:
    check("%s -> %s:%d (IPv%d): egress record on the client, ingress on the server" % (c, s, port, fam),
          has_conn(c, s, port, fam))

# 4. Names: the oracle is dnsmasq's query log (which client asked for what,
# and what it was told).  web-0's and web-1's queries come from the same
# address: the log position at the deletion tells them apart.
asked = {}          # (workload, address) -> names
lines = open("/run/egresswatch-lab-%s/logs/dnsmasq-queries.log" % prefix).read().splitlines()
who = None
for n, line in enumerate(lines):
    m = re.search(r"query\[\w+\] (\S+) from (\S+)$", line)
    if m:
        client = norm(m.group(2))
        if client in web0_ips:
            wl = "prod/web-0" if n < dns_mark else "prod/web-1"
        else:
            wl = ip_owner.get(client)
        who = (m.group(1), wl)
        continue
    m = re.search(r"(?:config|reply|cached) (\S+) is (\S+)$", line)
    if m and who and who[1] and m.group(1) == who[0]:
        try:
            asked.setdefault((who[1], norm(m.group(2))), set()).add(m.group(1))
        except ValueError:
            pass
print("# the lab's DNS server answered: " + "; ".join(
    "%s %s=%s" % (w, a, ",".join(sorted(n))) for (w, a), n in sorted(asked.items())))
all_ok("every remote_name is a name the flow's own workload resolved to remote_ip",
       [f for f in mine if f["remote_name"] is not None and
        f["remote_name"] not in asked.get((f["workload"], norm(f["remote_ip"])), ())])
all_ok("every TCP flow to an address its workload resolved carries the name",
       [f for f in mine if f["proto"] == "tcp" and f["direction"] == "egress" and
        asked.get((f["workload"], norm(f["remote_ip"]))) and f["remote_name"] is None])


def named(wl, rip, port, name):
    got = {f["remote_name"] for f in mine if f["workload"] == wl and norm(f["remote_ip"]) == rip
           and f["remote_port"] == port and f["direction"] == "egress"}
    return got == {name}, "got %s" % sorted(got, key=str)


for wl, rip, port, name in [("dev/client-0", "198.51.100.10", 80, "api.partner.example"),
                            ("dev/client-0", "2001:db8:51::10", 80, "api.partner.example"),
                            ("prod/api-0", "198.51.100.10", 443, "api.partner.example"),
                            ("prod/redis-0", "203.0.113.66", 6379, "sink.evil.example"),
                            ("prod/web-0", "10.244.0.12", 8080, "api.prod.svc.cluster.local"),
                            ("prod/web-1", "198.51.100.10", 80, "api.partner.example"),
                            ("prod/web-0", "203.0.113.66", 4444, None),
                            ("dev/client-0", "10.244.0.10", 6379, None),
                            ("prod/web-1", "10.244.0.12", 8080, None)]:
    good, detail = named(wl, rip, port, name)
    check("%s -> %s:%d named %s" % (wl, rip, port, name or "by nobody (never resolved by this pod)"),
          good, detail)

# 5. The workloads table and the status file.
db = sqlite3.connect("file:%s/flows.db?mode=ro" % tmp, uri=True)
stored = {"%s/%s" % r for r in db.execute("select namespace, name from workloads")}
want = {p["ref"] for p in pods} | {"prod/web-1"}
check("the workloads table holds every lab pod and prod/web-1", want <= stored,
      "missing " + ", ".join(sorted(want - stored)))
st = json.load(open(tmp + "/status-running.json"))
a = st.get("attribution")
if a is None:
    print("# the status file has no attribution section")
else:
    print("# status file, attribution: " + ", ".join("%s %s" % kv for kv in sorted(a.items())))
    check("status file: attribution counters (workloads now %s, created %s, removed %s, scans %s)" % (
          a.get("workloads"), a.get("created"), a.get("removed"), a.get("scans")),
          a.get("workloads", 0) >= 4 and a.get("created", 0) >= 5 and a.get("removed", 0) >= 1 and
          a.get("scans", 0) >= 2)

print("# %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
[ "$py" -eq 0 ] || failed=$((failed + 1))
echo "attribution_agent: $passed shell checks passed, $(($(date +%s) - T0)) s"
[ "$failed" -eq 0 ] || { echo "FAIL: attribution_agent"; exit 1; }
echo "PASS: attribution_agent"
