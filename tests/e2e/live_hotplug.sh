#!/usr/bin/env bash
# live_hotplug.sh - container interfaces that come, change and go while the
# agent runs: a new veth is captured within one second of being created; a
# down/up keeps capturing (same handle); a rename keeps capturing with the
# same handle under the new name, and loses nothing sent just before it; a
# removal ends and stores the interface's flows with end_reason
# "interface-gone" while the agent keeps running.
#
#   netns server S                      host netns (agent)               netns pod P (created later)
#   eth0 203.0.113.1/24 --- veth $VS ---+--- $BR (bridge, ---+--- veth $VP --- eth0 203.0.113.9/24
#   (answers with ICMP port              no address)              UDP datagrams to S every 20 ms
#    unreachable)
#
# Latency is measured from just before `ip link add` to (a) the agent's log
# line "capturing on $VP" and (b) the start time of the first flow recorded on
# $VP, while P sends a datagram every 20 ms from the moment its interface is
# configured.  Both must be below 1 s.
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_hotplug: $*"; [ -f "${tmp:-}/agent.log" ] && cat "$tmp/agent.log"; exit 1; }
skip() { echo "SKIP: live_hotplug: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/netns.bash"
. "$(dirname "$0")/../lib/agent.bash"
netns_need
command -v python3 >/dev/null || fail "python3 is not installed (scripts/setup.sh)"

rid=$(printf '%04x' $((RANDOM & 0xffff)))
NS=ewh${rid}s NP=ewh${rid}p VS=ewh${rid}s VP=ewh${rid}p VP2=ewh${rid}q BR=ewh${rid}br
tmp=$(mktemp -d)
agent=
NETNS_LINKS+=("$VP2")	# the name $VP is given later
trap netns_cleanup EXIT

now() { date +%s.%N; }
# Seconds since the epoch of an RFC 3339 UTC time (as the agent writes them).
epoch() { date -d "$1" +%s.%N; }
flows() { "$EW_BIN" flows --db "$tmp/flows.db" --json --limit 100000; }
jq_py() { python3 -c "$1" "${@:2}"; }
# Send one UDP datagram every 20 ms for $2 seconds from netns $1 to port $3.
udp_stream() {
	ip netns exec "$1" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    s.sendto(b"egresswatch", ("203.0.113.1", int(sys.argv[2])))
    time.sleep(0.02)
' "$2" "$3"
}
# Send $2 UDP datagrams, 5 ms apart, from netns $1 to port $3.
udp_count() {
	ip netns exec "$1" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    s.sendto(b"egresswatch", ("203.0.113.1", int(sys.argv[2])))
    time.sleep(0.005)
' "$2" "$3"
}
status_iface() { # NAME FIELD -> value, or "none"
	jq_py '
import json, sys
s = json.load(open(sys.argv[1]))
print(next((str(i[sys.argv[3]]) for i in s["interfaces"] if i["name"] == sys.argv[2]), "none"))
' "$tmp/status.json" "$1" "$2" 2>/dev/null || echo none
}
state_is() { [ "$(status_iface "$1" state)" = "$2" ]; } # NAME STATE

netns_bridge "$BR"
netns_pod "$NS" "$VS" "$BR" 203.0.113.1/24

"$EW_BIN" run --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	>"$tmp/agent.log" 2>&1 &
agent=$!
wait_for 10 state_is "$VS" capturing || fail "$VS not captured"

# --- 1. a new container interface ---------------------------------------------
t0=$(now)
netns_pod "$NP" "$VP" "$BR" 203.0.113.9/24
udp_stream "$NP" 1.5 7001
wait_for 5 grep -q "capturing on $VP " "$tmp/agent.log" || fail "no 'capturing on $VP' in the log"
t_log=$(epoch "$(grep "capturing on $VP " "$tmp/agent.log" | head -1 | cut -d' ' -f1)")
wait_for 5 sh -c "\"$EW_BIN\" flows --db '$tmp/flows.db' --json | grep -q '\"interface\":\"$VP\"'" ||
	fail "no flow recorded on $VP"
t_flow=$(epoch "$(flows | jq_py '
import json, sys
print(min(f["start"] for f in map(json.loads, sys.stdin) if f["interface"] == sys.argv[1]))
' "$VP")")
calc() { awk "BEGIN { print $* }"; }
lat_log=$(calc "$t_log - $t0")
lat_flow=$(calc "$t_flow - $t0")
printf 'new veth: handle open %.3f s, first packet recorded %.3f s after ip link add\n' \
	"$lat_log" "$lat_flow"
[ "$(calc "($lat_log < 1 && $lat_flow < 1) ? 1 : 0")" = 1 ] ||
	fail "capture of a new veth took longer than 1 s"

# --- 2. down and up: the handle stays -------------------------------------------
# Each handle opened is one "capturing on" line (other tests' veths come and
# go meanwhile, so the global counters would not do).
opens() { grep -c "capturing on $1 " "$tmp/agent.log" || true; }
att=$(opens "$VP")
ip link set "$VP" down
sleep 0.3
ip link set "$VP" up
udp_stream "$NP" 0.5 7002
sleep 1.2
state_is "$VP" capturing || fail "$VP not capturing after down/up"
[ "$(opens "$VP")" = "$att" ] || fail "down/up reopened the handle"
wait_for 3 sh -c "\"$EW_BIN\" flows --db '$tmp/flows.db' --json | grep '\"interface\":\"$VP\"' | grep -q '\"remote_port\":7002'" ||
	fail "traffic after down/up not recorded"

# --- 3. rename: the same handle goes on under the new name -------------------------
# A CNI plugin renames a link down, and a pod may have sent just before: those
# datagrams wait in the ring's last, partly filled block, which a new handle
# would have thrown away (they are counted once every flow has ended, in 4).
att=$(opens "$VP")
udp_count "$NP" 12 7004
ip link set "$VP" down
ip link set "$VP" name "$VP2"
ip link set "$VP2" up
wait_for 5 state_is "$VP2" capturing || fail "$VP2 not captured after the rename"
udp_stream "$NP" 0.5 7003
wait_for 3 sh -c "\"$EW_BIN\" flows --db '$tmp/flows.db' --json | grep '\"interface\":\"$VP2\"' | grep -q '\"remote_port\":7003'" ||
	fail "traffic after the rename not recorded under $VP2"
grep -q "$VP is now called $VP2" "$tmp/agent.log" || fail "rename not logged"
[ "$(opens "$VP")" = "$att" ] && [ "$(opens "$VP2")" = 0 ] ||
	fail "the rename reopened the handle"

# --- 4. removal: flows end as interface-gone, stored while the agent runs -------------
ip netns exec "$NP" true
ip link del "$VP2"
wait_for 5 sh -c "\"$EW_BIN\" flows --db '$tmp/flows.db' --json | grep '\"remote_port\":7003' | grep -q '\"end_reason\":\"interface-gone\"'" ||
	fail "flows of the removed interface were not ended as interface-gone"
flows | jq_py '
import json, sys
mine = [f for f in map(json.loads, sys.stdin) if f["interface"] in sys.argv[1:]]
ports = sorted({f["remote_port"] for f in mine if f["proto"] == "udp"})
bad = [f for f in mine if f["state"] != "ended" or f["end_reason"] != "interface-gone"]
before = sum(f["packets_sent"] for f in mine if f["proto"] == "udp" and f["remote_port"] == 7004)
print(f"removed interface: {len(mine)} flows, UDP ports {ports}, all ended as interface-gone: {not bad}; "
      f"{before} of the 12 datagrams sent just before the rename recorded")
sys.exit(1 if bad or ports != [7001, 7002, 7003, 7004] or before != 12 else 0)
' "$VP" "$VP2" || fail "flows of the removed interface are wrong"
kill -0 "$agent" || fail "agent died"
wait_for 3 state_is "$VP2" none || fail "$VP2 still in the status after removal"

kill -TERM "$agent"
wait "$agent" || fail "agent exited with status $?"
agent=
echo "PASS: live_hotplug"
