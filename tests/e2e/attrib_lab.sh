#!/usr/bin/env bash
# attrib_lab.sh - attribution from the host alone: for every pod of the lab,
# the host-side veth maps to the right namespace/name, pod uid, container id
# and addresses, found through /proc, cgroups, netlink and the kubelet-style
# pod log directories (never the inventory, which is only the answer key);
# and when a pod is deleted and another takes its address, the address
# follows the new pod.
#
#   host netns (attrib_dump scans here)           <prefix>-br0
#     veth(redis-0)  veth(web-0)  veth(api-0)  veth(client-0)   ewa<id> (added)
#          |             |            |             |                |
#     <prefix>-redis-0  -web-0       -api-0       -client-0       <prefix>-x<id>
#     10.244.0.10       .11          .12          .20  --deleted-->  .20 again
#     kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope    pause + 2
#                                                                    containers
#
# The lab runs under a per-run EW_LAB_PREFIX and a private pod log root, and
# the whole test in its own PID namespace with its own /proc: every lab uses
# the same pod addresses, and a host-wide scan would otherwise also see the
# pods of labs other tests run at the same time.  `trap cleanup EXIT`
# removes what this test added (processes, cgroups, netns, log dir) and then
# the lab.  Exit 77 (skip) where this machine cannot create network
# namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
LAB=$here/../../scripts/lab
DUMP_BIN=${EW_BUILD:-$here/../../build}/attrib_dump

skip() { echo "SKIP: attrib_lab: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces, veths and cgroups"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
probe=ewprobe$$
ip netns add "$probe" 2>/dev/null || skip "this machine cannot create network namespaces (ip netns add failed)"
ip netns del "$probe"
case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
cgroup2fs | tmpfs) ;;
*) skip "no cgroup filesystem at /sys/fs/cgroup" ;;
esac
[ -x "$DUMP_BIN" ] || { echo "attrib_lab: $DUMP_BIN is missing (build the attrib_dump target)" >&2; exit 1; }
if [ -z "${EW_ATTRIB_UNSHARED:-}" ]; then
	unshare --pid --fork --mount-proc --kill-child true 2>/dev/null ||
		skip "cannot make a PID namespace with its own /proc (unshare --pid --mount-proc)"
	EW_ATTRIB_UNSHARED=1 exec unshare --pid --fork --mount-proc --kill-child \
		bash "$0" "$@"
fi

EW_LAB_PREFIX=ewa$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
export EW_LAB_PREFIX
tmp=$(mktemp -d)
export EW_LAB_PODLOG_ROOT=$tmp/pods
unset EW_LAB_STATE
STATE=/run/egresswatch-lab-$EW_LAB_PREFIX
P=$EW_LAB_PREFIX
NEW_NS=$P-x
NEW_VETH=${P}n		# <= 15 bytes: "ewa" + 5 hex + "n"
NEW_PIDS=()
NEW_CGS=()		# relative cgroup paths we created, deepest last
dumper=			# attrib_dump's pid (bash unsets DUMP_PID when it exits)

cleanup() {
	local rc=$? pid mnt base rel i
	set +eu		# whatever failed, everything below must run
	if [ -n "$dumper" ]; then kill "$dumper" 2>/dev/null || true; fi
	for pid in "${NEW_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${NEW_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -s "$STATE/cgroups" ]; then
		while read -r mnt base; do
			for ((i = ${#NEW_CGS[@]} - 1; i >= 0; i--)); do
				rel=${NEW_CGS[i]}
				rmdir "$mnt${base%/}/$rel" 2>/dev/null || true
			done
		done <"$STATE/cgroups"
	fi
	ip netns del "$NEW_NS" 2>/dev/null || true
	ip link del "$NEW_VETH" 2>/dev/null || true
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/tap.bash"
field() { # NAME LINE: the word after NAME in an attrib_dump line
	awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"
}

echo "# attrib_lab: prefix $P"
if ! out=$("$LAB" up 2>&1); then
	if contains "$out" "cannot create network namespaces"; then skip "$out"; fi
	echo "$out" >&2
	bail "scripts/lab up"
fi

# --- the answer key: the lab's inventory (not given to attrib_dump) ------------

declare -a W_REF W_IF W_IPS W_CID W_UID
i=-1
while IFS= read -r line; do
	v=${line#*: }
	case $line in
	"  - namespace: "*) i=$((i + 1)); W_REF[i]=$v ;;
	"    name: "*) W_REF[i]=${W_REF[i]}/$v ;;
	"    interfaces: "*) v=${v#[}; W_IF[i]=${v%]} ;;
	"    ips: "*) v=${v#[}; v=${v%]}; v=${v//\"/}; W_IPS[i]=${v//, / } ;;
	"    container_ids: "*) v=${v#[}; W_CID[i]=${v%]} ;;
	"    pod_uid: "*) W_UID[i]=$v ;;
	esac
done < <("$LAB" inventory)
[ "${#W_REF[@]}" -eq 4 ] || bail "the lab's inventory lists 4 pods (got ${#W_REF[@]})"

# --- one-shot scan: every pod's veth, from /proc + cgroups + netlink + pod logs --

dump=$("$DUMP_BIN" --podlogs "$EW_LAB_PODLOG_ROOT" 2>"$tmp/dump.err") ||
	{ cat "$tmp/dump.err" >&2; bail "attrib_dump ran"; }
check "attrib_dump said which sources it used" \
	grep -q "attribution: /proc scan: .*attributed" "$tmp/dump.err"
check "attrib_dump read the pod log root" \
	grep -q "attribution: $EW_LAB_PODLOG_ROOT: 4 pods" "$tmp/dump.err"
for ((i = 0; i < 4; i++)); do
	line=$(grep "^iface ${W_IF[i]} " <<<"$dump" || true)
	if [ -z "$line" ]; then
		not_ok "${W_REF[i]}: ${W_IF[i]} attributed"
		continue
	fi
	check "${W_REF[i]}: ${W_IF[i]} -> workload ${W_REF[i]}" \
		[ "$(field workload "$line")" = "${W_REF[i]}" ]
	check "${W_REF[i]}: pod uid ${W_UID[i]}" [ "$(field uid "$line")" = "${W_UID[i]}" ]
	check "${W_REF[i]}: container ${W_CID[i]:0:12}..." \
		[ "$(field containers "$line")" = "${W_CID[i]}" ]
	check "${W_REF[i]}: runtime containerd" [ "$(field runtime "$line")" = containerd ]
	check "${W_REF[i]}: netns $P-${W_REF[i]#*/}" [ "$(field netns "$line")" = "$P-${W_REF[i]#*/}" ]
	ips=$(field ips "$line")
	for a in ${W_IPS[i]}; do
		check "${W_REF[i]}: address $a (from the pod's netns)" contains ",$ips," ",$a,"
	done
	check "${W_REF[i]}: named, not made up" [ "$(field flags "$line")" = - ]
done
qos_of() { field qos "$(grep "^iface $1 " <<<"$dump")"; }
check "QoS classes from the cgroup layouts (burstable, besteffort, guaranteed)" \
	[ "$(qos_of "${W_IF[0]}") $(qos_of "${W_IF[1]}") $(qos_of "${W_IF[2]}")" = \
	  "burstable besteffort guaranteed" ]
check "the router's port (no container behind it) is not attributed" \
	bash -c "! grep -q '^iface $P-gw0 ' <<<\"\$0\"" "$dump"

# With the inventory as well, each pod is still one workload: the scan's
# record and the inventory's merge on the pod uid.
dump3=$("$DUMP_BIN" --podlogs "$tmp/none" --inventory "$STATE/inventory.yaml" 2>/dev/null)
for ((i = 0; i < 4; i++)); do
	check "scan + inventory: one line for ${W_REF[i]}, not two" \
		[ "$(grep -c " uid ${W_UID[i]} " <<<"$dump3")" -eq 1 ]
	line=$(grep "^iface ${W_IF[i]} " <<<"$dump3" || true)
	check "scan + inventory: ${W_IF[i]} -> ${W_REF[i]} with its container" \
		[ "$(field workload "$line") $(field containers "$line")" = "${W_REF[i]} ${W_CID[i]}" ]
done

# Without pod log directories the pod is still known, by uid.
dump2=$("$DUMP_BIN" --podlogs "$tmp/none" 2>/dev/null)
line=$(grep "^iface ${W_IF[0]} " <<<"$dump2" || true)
check "without pod logs: ${W_IF[0]} -> pod-${W_UID[0]} (unnamed, same uid)" \
	[ "$(field workload "$line") $(field flags "$line")" = "pod-${W_UID[0]} unnamed" ]

# --- churn: delete client-0, give its address to a new pod ---------------------

coproc DUMP { exec "$DUMP_BIN" --interactive --podlogs "$EW_LAB_PODLOG_ROOT" 2>>"$tmp/dump.err"; }
# shellcheck disable=SC2153 # DUMP_PID is set by coproc
dumper=$DUMP_PID
ANSWER=()
ask() { # CMD...: the answer's lines in ANSWER
	local l
	ANSWER=()
	printf '%s\n' "$*" >&"${DUMP[1]}"
	while IFS= read -r -t 60 l <&"${DUMP[0]}"; do
		[ "$l" = . ] && return 0
		ANSWER+=("$l")
	done
	bail "attrib_dump answered '$*'"
}

CLIENT=3
ask scan
ask ip 10.244.0.20
check "before: 10.244.0.20 -> ${W_REF[CLIENT]}" \
	[ "$(field workload "${ANSWER[0]}")" = "${W_REF[CLIENT]}" ]

# Delete the pod as a runtime would: its processes, its netns (and with it
# the veth pair), its pod log directory.
for pid in $(ip netns pids "$P-client-0"); do kill -KILL "$pid" 2>/dev/null || true; done
for ((i = 0; i < 40; i++)); do [ -z "$(ip netns pids "$P-client-0")" ] && break; sleep 0.05; done
ip netns del "$P-client-0"
rm -rf "$EW_LAB_PODLOG_ROOT"/dev_client-0_*
ask scan
ask ip 10.244.0.20
check "deleted: 10.244.0.20 maps to nobody" [ "${ANSWER[0]}" = "ip 10.244.0.20 none" ]
ask iface "${W_IF[CLIENT]}"
check "deleted: ${W_IF[CLIENT]} maps to nobody" [ "${ANSWER[0]}" = "iface ${W_IF[CLIENT]} none" ]

# A new pod with the same addresses: a sandbox (pause) and two containers in
# kubelet cgroups, in every hierarchy the lab uses.
NEW_UID=$(cat /proc/sys/kernel/random/uuid)
hex64() { printf '%s' "$1" | sha256sum | cut -c1-64; }
SANDBOX=$(hex64 "$P/sandbox")
CTR1=$(hex64 "$P/ctr1")
CTR2=$(hex64 "$P/ctr2")
POD_REL=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${NEW_UID//-/_}.slice

ip netns add "$NEW_NS"
ip link add "$NEW_VETH" type veth peer name eth0 netns "$NEW_NS"
ip -n "$NEW_NS" link set lo up
ip -n "$NEW_NS" addr add 10.244.0.20/24 dev eth0
ip -n "$NEW_NS" addr add fd00:10:244::20/64 dev eth0 nodad
ip -n "$NEW_NS" link set eth0 up
ip link set "$NEW_VETH" up

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
NEW_CGS=("$POD_REL" "$POD_REL/cri-containerd-$SANDBOX.scope"
	"$POD_REL/cri-containerd-$CTR1.scope" "$POD_REL/cri-containerd-$CTR2.scope")
while read -r mnt base; do
	for rel in "${NEW_CGS[@]:1}"; do cg_mkdir "$mnt" "$base" "$rel"; done
done <"$STATE/cgroups"

spawn() { # CONTAINER-ID CMD...: a process in that container's cgroups and the new netns
	local id=$1 mnt base
	shift
	(
		exec </dev/null >/dev/null 2>&1
		while read -r mnt base; do
			echo "$BASHPID" >"$mnt${base%/}/$POD_REL/cri-containerd-$id.scope/cgroup.procs"
		done <"$STATE/cgroups"
		exec ip netns exec "$NEW_NS" "$@"
	) &
	NEW_PIDS+=("$!")
}
cp "$(command -v sleep)" "$tmp/pause"	# comm "pause", like the sandbox image
spawn "$SANDBOX" "$tmp/pause" 600
spawn "$CTR1" sleep 600
spawn "$CTR2" sleep 600
mkdir -p "$EW_LAB_PODLOG_ROOT/dev_client-1_$NEW_UID/client"
# Wait until all three have exec'd their programs: they joined their
# cgroups before entering the netns, and "pause" is only the sandbox's name
# once `ip netns exec` has exec'd it.
comms() { local p; for p in "${NEW_PIDS[@]}"; do cat "/proc/$p/comm" 2>/dev/null; done | xargs; }
for ((i = 0; i < 200; i++)); do
	[ "$(comms)" = "pause sleep sleep" ] && break
	sleep 0.05
done
[ "$(comms)" = "pause sleep sleep" ] || bail "the new pod's processes started (have: $(comms))"

ask scan
ask ip 10.244.0.20
line=${ANSWER[0]}
check "re-created: 10.244.0.20 -> dev/client-1" [ "$(field workload "$line")" = dev/client-1 ]
check "re-created: the new pod's uid" [ "$(field uid "$line")" = "$NEW_UID" ]
ctrs=$(field containers "$line")
check "re-created: first container listed" contains ",$ctrs," ",$CTR1,"
check "re-created: second container listed" contains ",$ctrs," ",$CTR2,"
check "re-created: the pause sandbox is not a container" bash -c "[[ ,\$0, != *,$SANDBOX,* ]]" "$ctrs"
ask ip fd00:10:244::20
check "re-created: fd00:10:244::20 -> dev/client-1" \
	[ "$(field workload "${ANSWER[0]}")" = dev/client-1 ]
ask iface "$NEW_VETH"
check "re-created: $NEW_VETH -> dev/client-1" \
	[ "$(field workload "${ANSWER[0]}")" = dev/client-1 ]
ask ip 10.244.0.10
check "others unchanged: 10.244.0.10 -> ${W_REF[0]}" \
	[ "$(field workload "${ANSWER[0]}")" = "${W_REF[0]}" ]

# Learning from traffic fills gaps only: the netns told us the pod's IPv4
# address, so no IPv4 source is learned; drop its IPv6 address and an IPv6
# source seen on its veth is.
ask learn "$NEW_VETH" 10.244.0.99
check "not learned: 10.244.0.99 (the pod's IPv4 address is known)" \
	[ "${ANSWER[0]}" = "learn -17" ]
ip -n "$NEW_NS" addr del fd00:10:244::20/64 dev eth0
ask scan
ask ip fd00:10:244::20
check "address removed in the netns: fd00:10:244::20 maps to nobody" \
	[ "${ANSWER[0]}" = "ip fd00:10:244::20 none" ]
ask learn "$NEW_VETH" fd00:10:244::99
check "learned fd00:10:244::99 on $NEW_VETH" [ "${ANSWER[0]}" = "learn 1" ]
ask ip fd00:10:244::99
check "fd00:10:244::99 -> dev/client-1 (learned)" \
	contains "${ANSWER[0]}" "ip fd00:10:244::99 learned workload dev/client-1 "
ask learn "$NEW_VETH" fe80::1
check "link-local sources are not learned" [ "${ANSWER[0]}" = "learn -22" ]
ask pod "${W_UID[CLIENT]}"
check "deleted: pod ${W_UID[CLIENT]} is gone from the registry" \
	[ "${ANSWER[0]}" = "pod ${W_UID[CLIENT]} none" ]
ask stats
echo "# ${ANSWER[0]}"
ask quit
wait "$dumper" || true
dumper=
check "attrib_dump logged no warnings" bash -c "! grep -q ' warn ' '$tmp/dump.err'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
