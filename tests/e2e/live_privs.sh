#!/usr/bin/env bash
# live_privs.sh - `egresswatch run --user nobody` keeps only CAP_NET_RAW,
# CAP_NET_ADMIN and CAP_SYS_PTRACE (the set README names), in
# every thread, with no way back (bounding set, no_new_privs), and still
# captures a container interface created after the drop.
#
#   netns server S                      host netns (agent as nobody)       netns pod P (created after the drop)
#   eth0 203.0.113.1/24 --- veth $VS ---+--- $BR (bridge, ---+--- veth $VP --- eth0 203.0.113.9/24
#                                          no address)              UDP datagrams to S
#
# Checked from outside, in /proc/PID/task/*/status for every thread: CapPrm,
# CapEff and CapBnd are exactly 1 << CAP_NET_RAW (13) | 1 << CAP_NET_ADMIN
# (12) | 1 << CAP_SYS_PTRACE (19) = 0x83000, CapInh and
# CapAmb are 0, NoNewPrivs is 1, and uid/gid are nobody's.  The database and
# status directories that did not exist are created for the user.
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_privs: $*"; [ -f "${tmp:-}/agent.log" ] && cat "$tmp/agent.log"; exit 1; }
skip() { echo "SKIP: live_privs: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/netns.bash"
netns_need
command -v python3 >/dev/null || fail "python3 is not installed (scripts/setup.sh)"
id nobody >/dev/null 2>&1 || fail "no user 'nobody' on this machine"

rid=$(printf '%04x' $((RANDOM & 0xffff)))
NS=ewp${rid}s NP=ewp${rid}p VS=ewp${rid}s VP=ewp${rid}p BR=ewp${rid}br
tmp=$(mktemp -d)
chmod 755 "$tmp" # the agent, as nobody, must reach its directories
agent=
trap netns_cleanup EXIT

netns_bridge "$BR"
netns_pod "$NS" "$VS" "$BR" 203.0.113.1/24

"$EW_BIN" run --user nobody --db "$tmp/data/flows.db" \
	--status-file "$tmp/run/status.json" >"$tmp/agent.log" 2>&1 &
agent=$!
state_of() { # IFNAME -> state or none
	python3 - "$tmp/run/status.json" "$1" <<'EOF' 2>/dev/null || echo none
import json, sys
s = json.load(open(sys.argv[1]))
print(next((i["state"] for i in s["interfaces"] if i["name"] == sys.argv[2]), "none"))
EOF
}
for _ in $(seq 100); do [ "$(state_of "$VS")" = capturing ] && break; sleep 0.1; done
[ "$(state_of "$VS")" = capturing ] || fail "$VS not captured"

# --- what the kernel says about every thread ---------------------------------
uid=$(id -u nobody) gid=$(id -g nobody)
threads=0
for st in /proc/$agent/task/*/status; do
	threads=$((threads + 1))
	while read -r key val _; do
		case $key in
		CapInh: | CapAmb:) want=0000000000000000 ;;
		CapPrm: | CapEff: | CapBnd:) want=0000000000083000 ;;
		NoNewPrivs:) want=1 ;;
		*) continue ;;
		esac
		[ "$val" = "$want" ] || fail "$st: $key $val, expected $want"
	done <"$st"
	read -r _ ruid euid suid fsuid < <(grep '^Uid:' "$st")
	read -r _ rgid egid sgid fsgid < <(grep '^Gid:' "$st")
	for v in $ruid $euid $suid $fsuid; do [ "$v" = "$uid" ] || fail "$st: uid $v"; done
	for v in $rgid $egid $sgid $fsgid; do [ "$v" = "$gid" ] || fail "$st: gid $v"; done
	[ "$(awk '/^Groups:/ {print $2}' "$st")" = "$gid" ] || fail "$st: supplementary groups kept"
done
[ "$threads" -ge 3 ] || fail "expected the agent's threads, found $threads"
echo "all $threads threads: CapPrm=CapEff=CapBnd=0x83000 (CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_PTRACE), CapInh=CapAmb=0, NoNewPrivs=1, uid/gid nobody"
[ "$(stat -c %u "$tmp/data")" = "$uid" ] || fail "database directory not given to nobody"
[ "$(stat -c %u "$tmp/run/status.json")" = "$uid" ] || fail "status file not written by nobody"

# --- a container interface created after the drop ---------------------------------
netns_pod "$NP" "$VP" "$BR" 203.0.113.9/24
ip netns exec "$NP" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(40):
    s.sendto(b"after the drop", ("203.0.113.1", 7777))
    time.sleep(0.02)
'
for _ in $(seq 50); do [ "$(state_of "$VP")" = capturing ] && break; sleep 0.1; done
[ "$(state_of "$VP")" = capturing ] || fail "$VP (created after the drop) not captured"
kill -TERM "$agent"
wait "$agent" || fail "agent exited with status $?"
agent=
"$EW_BIN" flows --db "$tmp/data/flows.db" --json --port 7777 >"$tmp/flows.json"
python3 - "$tmp/flows.json" "$VP" <<'EOF' || fail "traffic on the new interface not recorded"
import json, sys
f = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
f = [x for x in f if x["interface"] == sys.argv[2] and x["proto"] == "udp"]
print(f"new interface after the drop: {sum(x['packets_sent'] for x in f)} of 40 datagrams recorded")
sys.exit(0 if f and sum(x["packets_sent"] for x in f) >= 30 else 1)
EOF
echo "PASS: live_privs"
