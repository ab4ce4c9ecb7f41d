#!/usr/bin/env bash
# live_topologies.sh - the agent on a node laid out unlike the lab: it runs in
# a node network namespace of its own, one pod is routed Calico-style and
# another is bridged with its veth made Docker-style, and a Service address
# is translated to a pod by DNAT, as kube-proxy does.
#
#   netns pod R (routed)          netns node N (the agent runs here)                 netns inet I
#   eth0 10.246.1.5/32 --- cali<rid> (proxy ARP, /32 route) \                        eth0 100.65.0.2/30
#   default via 169.254.1.1        made in R, moved to N, renamed  \                   lo 203.0.113.77
#                                                                   forwarding  --- $UP 100.65.0.1/30
#   netns pod D (bridged)                                           /  (default route: the uplink)
#   eth0 10.246.0.2/24 --- veth<rid>a --- bridge 10.246.0.1/24 ----/
#   default via 10.246.0.1         made in N, the other end moved to D and renamed eth0
#
#   netns pod B (routed like R): eth0 10.246.1.6/32, socat :6379, behind the
#   "Service" 10.96.0.10:6379 (an nft DNAT rule in N's prerouting hook)
#
# I listens on 203.0.113.77:6379 and :80 (socat sinks).  R sends 300,000 bytes
# to 203.0.113.77:6379 and 100,000 to the Service, D 200,000 bytes to :80.
# An inventory names R prod/web-0 (app=web) and B prod/redis-0 (app=redis); a
# NetworkPolicy lets app=web reach app=redis pods on 6379 and nothing else.
# Checks: the pod veths are captured and the uplink is not; each pod's flow
# is recorded on its veth with the pod as the local side, egress, the bytes
# it sent (payload plus headers) and the server's answer; R's flow to a
# datastore port outside the cluster is an alert; R's flow to the Service
# keeps the address R asked for and names prod/redis-0, found through the
# connection tracking table, as its remote workload, so the NetworkPolicy
# allows it (without it the Service address is nobody's, and the flow an
# alert); the uplink's traffic (the same packets, forwarded) is in no flow.
# Then D connects to 120 closed ports of 203.0.113.77 (refused at once): one
# scan alert for D, within seconds, and none for R, whose connections were
# all answered.
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_topologies: $*"; [ -f "${tmp:-}/agent.log" ] && tail -20 "$tmp/agent.log"; exit 1; }
skip() { echo "SKIP: live_topologies: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/netns.bash"
. "$(dirname "$0")/../lib/agent.bash"
netns_need
for t in python3 socat nft; do
	command -v $t >/dev/null || fail "$t is not installed (scripts/setup.sh)"
done

rid=$(printf '%04x' $((RANDOM & 0xffff)))
N=ewt${rid}n I=ewt${rid}i R=ewt${rid}r D=ewt${rid}d
CALI=cali${rid}r5 CALIB=cali${rid}b6 DVETH=veth${rid}a UP=up${rid} BR=br${rid}
B=ewt${rid}b
tmp=$(mktemp -d)
agent=
NETNS_NS=("$R" "$B" "$D" "$I" "$N")	# links die with their namespaces
trap netns_cleanup EXIT

nsx() { ip netns exec "$@"; }
for ns in "$N" "$I" "$R" "$B" "$D"; do
	ip netns add "$ns"
	nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
nsx "$N" sysctl -qw net.ipv4.ip_forward=1

# The node's uplink: to I, which plays the internet.
ip -n "$N" link add "$UP" type veth peer name eth0 netns "$I"
ip -n "$N" addr add 100.65.0.1/30 dev "$UP"
ip -n "$N" link set "$UP" up
ip -n "$I" addr add 100.65.0.2/30 dev eth0
ip -n "$I" link set eth0 up
ip -n "$I" addr add 203.0.113.77/32 dev lo
ip -n "$I" route add 10.246.0.0/16 via 100.65.0.1
ip -n "$N" route add default via 100.65.0.2
nsx "$I" socat -u TCP-LISTEN:6379,bind=203.0.113.77,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &
nsx "$I" socat -u TCP-LISTEN:80,bind=203.0.113.77,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &
# The "Service": what kube-proxy's iptables or nftables rules do.
nsx "$N" nft -f - <<NFT
table ip svc$rid {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 10.96.0.10 tcp dport 6379 dnat to 10.246.1.6:6379
	}
}
NFT
cat >"$tmp/inventory.yaml" <<INV
version: 1
workloads:
  - {namespace: prod, name: web-0, labels: {app: web}, interfaces: [$CALI], ips: [10.246.1.5]}
  - {namespace: prod, name: redis-0, labels: {app: redis}, interfaces: [$CALIB], ips: [10.246.1.6]}
INV
cat >"$tmp/netpol.yaml" <<'NETPOL'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {app: redis}}}]
      ports: [{protocol: TCP, port: 6379}]
NETPOL

ip netns exec "$N" "$EW_BIN" run --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	--kubeconfig none --docker-socket none --pod-logs-dir none \
	--inventory "$tmp/inventory.yaml" --policy "$tmp/netpol.yaml" \
	--alerts-json "$tmp/alerts.jsonl" >"$tmp/agent.log" 2>&1 &
agent=$!

capturing() { [ "$(status_get "$tmp/status.json" "next((i['state'] for i in s['interfaces'] if i['name'] == '$1'), '')")" = capturing ]; }
wait_for 15 test -s "$tmp/status.json" || fail "the agent wrote no status"

# Pods R and B, CNI-style: the pair is made in the pod, the host end moved
# out to the node and renamed, then routed with proxy ARP.
routed_pod() { # NS HOST-SIDE-NAME ADDRESS
	ip -n "$1" link add tmp0 type veth peer name eth0
	ip -n "$1" link set tmp0 netns "$N"
	ip -n "$N" link set tmp0 name "$2"
	ip -n "$N" link set "$2" up
	nsx "$N" sysctl -qw "net.ipv4.conf.$2.proxy_arp=1"
	ip -n "$N" route add "$3/32" dev "$2"
	ip -n "$1" addr add "$3/32" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" route add 169.254.1.1 dev eth0 scope link
	ip -n "$1" route add default via 169.254.1.1 dev eth0
}
routed_pod "$R" "$CALI" 10.246.1.5
routed_pod "$B" "$CALIB" 10.246.1.6
nsx "$B" socat -u TCP-LISTEN:6379,bind=10.246.1.6,fork,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &

# Pod D, Docker-style: the pair is made on the node, one end moved into the
# container and renamed eth0, the other a port of the node's bridge.
ip -n "$N" link add "$BR" type bridge
ip -n "$N" addr add 10.246.0.1/24 dev "$BR"
ip -n "$N" link set "$BR" up
ip -n "$N" link add "$DVETH" type veth peer name vethtmp
ip -n "$N" link set "$DVETH" master "$BR" up
ip -n "$N" link set vethtmp netns "$D"
ip -n "$D" link set vethtmp name eth0
ip -n "$D" addr add 10.246.0.2/24 dev eth0
ip -n "$D" link set eth0 up
ip -n "$D" route add default via 10.246.0.1

wait_for 10 capturing "$CALI" || fail "$CALI (routed, renamed) not captured"
wait_for 10 capturing "$CALIB" || fail "$CALIB (routed, renamed) not captured"
wait_for 10 capturing "$DVETH" || fail "$DVETH (Docker-style) not captured"

send() { # NS BYTES ADDRESS PORT
	nsx "$1" python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
s.sendall(b"x" * int(sys.argv[1]))
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
' "$2" "$3" "$4"
}
send "$R" 300000 203.0.113.77 6379 || fail "pod R could not reach 203.0.113.77:6379"
send "$D" 200000 203.0.113.77 80 || fail "pod D could not reach 203.0.113.77:80"
send "$R" 100000 10.96.0.10 6379 || fail "pod R could not reach the Service 10.96.0.10:6379"
# A port scan from D: 120 closed ports, each refused with a RST.
t_scan=$(date +%s.%N)
nsx "$D" python3 -c '
import socket
for port in range(2000, 2120):
    s = socket.socket()
    s.settimeout(2)
    if s.connect_ex(("203.0.113.77", port)) == 0:
        raise SystemExit(f"port {port} is open")
    s.close()
' || fail "the scan from pod D did not run"
scan_alert() { grep -q '"kind":"scan"' "$tmp/alerts.jsonl" 2>/dev/null; }
wait_for 5 scan_alert || fail "no scan alert within 5 s of the scan"
printf 'scan alert %.1f s after the scan began\n' "$(python3 -c "import sys, time; print(time.time() - float(sys.argv[1]))" "$t_scan")"
sleep 1.5	# a status rewrite (every second) after the traffic
cp "$tmp/status.json" "$tmp/status.running.json"
kill -TERM "$agent"
rc=0; wait "$agent" || rc=$?
[ "$rc" = 0 ] || fail "the agent did not stop cleanly (exit status $rc)"
agent=
"$EW_BIN" flows --db "$tmp/flows.db" --json --limit 1000 >"$tmp/flows.jsonl"
python3 - "$tmp/flows.jsonl" "$tmp/status.running.json" "$CALI" "$DVETH" "$UP" "$BR" "$CALIB" "$tmp/alerts.jsonl" <<'EOF' || fail "flows, status or alerts wrong"
import json, sys
flows = [json.loads(l) for l in open(sys.argv[1])]
status = json.load(open(sys.argv[2]))
cali, dveth, up, br, calib = sys.argv[3:8]
names = sorted(i["name"] for i in status["interfaces"])
bad = []
if up in names or br in names:
    bad.append(f"captured the uplink or the bridge: {names}")
if any(f["interface"] in (up, br) for f in flows):
    bad.append("flows recorded on the uplink or the bridge")

def one(iface, local, port, payload, remote="203.0.113.77"):
    mine = [f for f in flows if f["interface"] == iface and f["proto"] == "tcp"
            and f["remote_port"] == port and f["remote_ip"] == remote]
    if len(mine) != 1:
        bad.append(f"{iface}: {len(mine)} TCP flows to port {port}, expected 1")
        return None
    f = mine[0]
    # Payload plus at least 40 bytes of headers per packet, well under 2x.
    ok = (f["local_ip"] == local and
          f["direction"] == "egress" and f["state"] == "ended" and
          payload + 40 * f["packets_sent"] <= f["bytes_sent"] < 2 * payload and
          f["packets_received"] > 0)
    print(f"{iface}: {f['workload']} {f['local_ip']}:{f['local_port']} -> "
          f"{f['remote_ip']}:{port} ({f['remote_workload']}) "
          f"{f['direction']}, sent {f['bytes_sent']} bytes in {f['packets_sent']} packets, "
          f"received {f['bytes_received']}, verdict {f['verdict']}, end {f['end_reason']}")
    if not ok:
        bad.append(f"{iface}: wrong flow {f}")
    return f

r = one(cali, "10.246.1.5", 6379, 300000)
d = one(dveth, "10.246.0.2", 80, 200000)
v = one(cali, "10.246.1.5", 6379, 100000, remote="10.96.0.10")
if v and (v["workload"] != "prod/web-0" or v["remote_workload"] != "prod/redis-0" or
          v["verdict"] != "allow"):
    bad.append(f"flow to the Service: remote workload {v['remote_workload']}, verdict "
               f"{v['verdict']}; expected prod/redis-0 (behind the DNAT), allow")
scans = [a for a in map(json.loads, open(sys.argv[8])) if a["kind"] == "scan"]
if len(scans) != 1 or scans[0]["workload"] is not None or "10.246.0.2" not in scans[0]["message"]:
    bad.append(f"expected one scan alert, for pod D (10.246.0.2): {scans}")
else:
    print(f"scan: {scans[0]['message']}")
dnat = status["attribution"]["dnat"]
print(f"dnat: {dnat}")
if dnat["translated"] < 1:
    bad.append("status: no translated connection counted")
if r and r["verdict"] != "alert":
    bad.append(f"routed pod to a datastore port outside: verdict {r['verdict']}, expected alert")
if d and d["verdict"] != "allow":
    bad.append(f"bridged pod to port 80: verdict {d['verdict']}, expected allow")
print(f"interfaces captured: {names}")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
echo "PASS: live_topologies"
