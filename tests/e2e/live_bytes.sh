#!/usr/bin/env bash
# live_bytes.sh - `egresswatch run` records per direction exactly the bytes and
# packets that the kernel counted on each container veth, and TCP payloads of
# known size come out right.
#
#   netns pod A                       host netns (agent)                      netns pod B
#   eth0 203.0.113.1/24 --- veth $VA ---+--- $BR (bridge, ---+--- veth $VB --- eth0 203.0.113.2/24
#   curl, socat, iperf3 -c                  no address)                         http.server :8000
#                                                                              socat :9000 (sink)
#                                                                              iperf3 -s :5201
#
# Pod A downloads a 4,000,000-byte file from pod B over HTTP, uploads exactly
# 8 MiB with socat, and 20 MiB with `iperf3 -n`.  The veths are left with their
# default offloads, so the kernel hands TSO super-segments to the capture and
# counts them as one frame, as the capture does.
#
# Bytes (capture/capture.h): IP bytes, i.e. for these untagged Ethernet
# frames, frame bytes - 14.  The oracle is the kernel's own counters of each
# host-side veth (/sys/class/net/IF/statistics), read before and after the
# transfers: nothing else crosses the veths, because IPv6 is off in the pods
# and on the host side, neighbours are static (no ARP), and the bridge has no
# address.  On $VA (pod A's side) the initiator of every flow is pod A, so
# bytes_sent must equal rx_bytes - 14 * rx_packets and bytes_received
# tx_bytes - 14 * tx_packets; on $VB the roles are the other way round.
# Tolerance 1% (in practice the numbers are equal).  Second oracle: TCP payload
# = IP bytes - 52 per packet (20 IP + 32 TCP with timestamps) - 8 (the SYN's
# longer options) is the transfer size: exactly 8 MiB for socat, the file plus
# HTTP headers within 1% for curl - each plus at most one MSS per segment the
# sender's TCP retransmitted (/proc/net/snmp of its namespace), and for iperf3 between what its server
# reports as received and the 20 MiB + 37-byte cookie its client wrote, 1%
# either way (when the test ends, iperf3 may reset the data connection before
# all of it left; a retransmission crosses the wire twice).
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_bytes: $*"; exit 1; }
skip() { echo "SKIP: live_bytes: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/two_pods.bash"
netns_need
for t in python3 curl iperf3; do
	command -v $t >/dev/null || fail "$t is not installed (scripts/setup.sh)"
done
command -v socat >/dev/null || fail "socat is not installed (scripts/setup.sh)"

two_pods_up ewb

mkdir -p "$tmp/www"
head -c 4000000 /dev/urandom >"$tmp/www/blob"
ip netns exec "$NB" python3 -m http.server 8000 --bind 203.0.113.2 \
	--directory "$tmp/www" >"$tmp/http.log" 2>&1 &
ip netns exec "$NB" iperf3 -s -1 -B 203.0.113.2 -p 5201 >"$tmp/iperf-s.log" 2>&1 &
ip netns exec "$NB" socat -u TCP-LISTEN:9000,bind=203.0.113.2,reuseaddr OPEN:/dev/null \
	>/dev/null 2>&1 &

# --- agent ----------------------------------------------------------------
"$EW_BIN" run --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	>"$tmp/agent.log" 2>&1 &
agent=$!

# Wait until both veths are captured and the servers listen.
status_has() { # IFNAME STATE
	python3 - "$tmp/status.json" "$1" "$2" <<'EOF' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if any(i["name"] == sys.argv[2] and i["state"] == sys.argv[3]
                  for i in s["interfaces"]) else 1)
EOF
}
for _ in $(seq 100); do
	if status_has "$VA" capturing && status_has "$VB" capturing &&
		ip netns exec "$NB" ss -ltn | grep -q ':8000 ' &&
		ip netns exec "$NB" ss -ltn | grep -q ':9000 ' &&
		ip netns exec "$NB" ss -ltn | grep -q ':5201 '; then
		break
	fi
	sleep 0.1
done
status_has "$VA" capturing || { cat "$tmp/agent.log"; fail "$VA not captured"; }
status_has "$VB" capturing || fail "$VB not captured"

counters() { # IF -> "rx_bytes rx_packets tx_bytes tx_packets"
	local d=/sys/class/net/$1/statistics
	echo "$(cat $d/rx_bytes) $(cat $d/rx_packets) $(cat $d/tx_bytes) $(cat $d/tx_packets)"
}
# The window of the kernel counters starts here; flows that started before it
# (an IGMP report of a pod's new interface, say) are not compared.
t_before=$(date +%s.%N)
before_a=$(counters "$VA")
before_b=$(counters "$VB")

# --- traffic ----------------------------------------------------------------
# Segments the HTTP server's TCP retransmitted (a loaded machine does): they
# cross the veth twice, so the payload on the wire exceeds the file by them.
# The same for the socat upload, retransmitted by pod A's TCP.
retrans() { ip netns exec "$1" awk '/^Tcp:/ { if (h) print $13; h = 1 }' /proc/net/snmp; }
retrans_before=$(retrans "$NB")
ip netns exec "$NA" curl -sS -o "$tmp/got" http://203.0.113.2:8000/blob
http_retrans=$(( $(retrans "$NB") - retrans_before ))
[ "$(stat -c %s "$tmp/got")" -eq 4000000 ] || fail "download incomplete"
retrans_before=$(retrans "$NA")
head -c 8388608 /dev/zero | ip netns exec "$NA" socat -u - TCP:203.0.113.2:9000 ||
	fail "socat upload failed"
socat_retrans=$(( $(retrans "$NA") - retrans_before ))
retrans_before=$(retrans "$NA")
ip netns exec "$NA" iperf3 -c 203.0.113.2 -p 5201 -n 20M -J >"$tmp/iperf-c.json" ||
	fail "iperf3 failed: $(cat "$tmp/iperf-c.json")"
iperf_retrans=$(( $(retrans "$NA") - retrans_before ))
iperf_rx=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' \
	"$tmp/iperf-c.json")
sleep 0.5
after_a=$(counters "$VA")
after_b=$(counters "$VB")

kill -TERM "$agent"
wait "$agent" || fail "agent exited with status $?: $(cat "$tmp/agent.log")"
agent=
"$EW_BIN" flows --db "$tmp/flows.db" --json --limit 100000 >"$tmp/flows.json"

# --- compare ------------------------------------------------------------------
python3 - "$tmp/flows.json" "$tmp/status.json" "$VA" "$VB" \
	"$before_a" "$after_a" "$before_b" "$after_b" "$t_before" "$iperf_rx" \
	"$http_retrans" "$socat_retrans" "$iperf_retrans" <<'EOF'
import json, sys
from datetime import datetime
flows_path, status_path, va, vb = sys.argv[1:5]
ba, aa, bb, ab = [list(map(int, s.split())) for s in sys.argv[5:9]]
t_before = float(sys.argv[9])
iperf_rx = int(sys.argv[10])
http_retrans = int(sys.argv[11])
socat_retrans = int(sys.argv[12])
iperf_retrans = int(sys.argv[13])
def epoch(t):
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
flows = [f for f in (json.loads(l) for l in open(flows_path) if l.strip())
         if epoch(f["start"]) >= t_before]
status = json.load(open(status_path))
bad = []

def within(name, got, want, tol=0.01):
    ok = abs(got - want) <= tol * max(want, 1)
    print(f"  {name:44s} recorded {got:>11d}  expected {want:>11d}  {'ok' if ok else 'MISMATCH'}")
    if not ok:
        bad.append(name)

def kernel(before, after):
    d = [a - b for a, b in zip(after, before)]
    # IP bytes: frame bytes - 14 per untagged Ethernet frame.
    return {"rx_ip": d[0] - 14 * d[1], "rx_pkts": d[1],
            "tx_ip": d[2] - 14 * d[3], "tx_pkts": d[3]}

for iface, before, after, sent_dir in ((va, ba, aa, "rx"), (vb, bb, ab, "tx")):
    mine = [f for f in flows if f["interface"] == iface]
    if not mine:
        bad.append(f"no flows on {iface}")
        continue
    for f in mine:
        if f["state"] != "ended":
            bad.append(f"flow {f['id']} on {iface} not ended")
    k = kernel(before, after)
    recv_dir = "tx" if sent_dir == "rx" else "rx"
    print(f"{iface}: {len(mine)} flows")
    within(f"{iface} bytes sent by the initiator (pod A)",
           sum(f["bytes_sent"] for f in mine), k[sent_dir + "_ip"])
    within(f"{iface} packets sent by the initiator",
           sum(f["packets_sent"] for f in mine), k[sent_dir + "_pkts"])
    within(f"{iface} bytes received by the initiator",
           sum(f["bytes_received"] for f in mine), k[recv_dir + "_ip"])
    within(f"{iface} packets received by the initiator",
           sum(f["packets_received"] for f in mine), k[recv_dir + "_pkts"])
    def tcp(port):
        return sorted((f for f in mine if f["remote_port"] == port and f["proto"] == "tcp"),
                      key=lambda f: f["bytes_sent"])
    http, sink, data = tcp(8000), tcp(9000), tcp(5201)
    if len(http) != 1 or len(sink) != 1 or len(data) != 2:
        bad.append(f"{iface}: expected 1 HTTP, 1 socat and 2 iperf3 flows, "
                   f"got {len(http)}, {len(sink)} and {len(data)}")
        continue
    h, s, d = http[0], sink[0], data[-1]
    # The file and its headers, within 1%, plus the segments the server
    # retransmitted (each at most one MSS of 1448 bytes: counted by the
    # kernel in the server's netns, /proc/net/snmp Tcp RetransSegs).
    got = h["bytes_received"] - 52 * h["packets_received"] - 8
    ok = 0.99 * 4000000 <= got <= 1.01 * 4000000 + 1448 * http_retrans
    print(f"  {iface + ' HTTP payload received':44s} recorded {got:>11d}  expected "
          f"4000000 + headers + {http_retrans} retransmitted segments  "
          f"{'ok' if ok else 'MISMATCH'}")
    if not ok:
        bad.append(f"{iface} HTTP payload")
    # Exactly 8 MiB when pod A retransmitted nothing; else at most one MSS
    # more per segment it retransmitted.
    got = s["bytes_sent"] - 52 * s["packets_sent"] - 8
    ok = 8388608 <= got <= 8388608 + 1448 * socat_retrans
    print(f"  {iface + ' socat payload sent':44s} recorded {got:>11d}  expected "
          f"8388608 + {socat_retrans} retransmitted segments  "
          f"{'ok' if ok else 'MISMATCH'}")
    if not ok:
        bad.append(f"{iface} socat payload")
    # iperf3 -n 20M: the client writes 20 MiB after a 37-byte cookie, but
    # the test's end may reset the connection before all of it left, and
    # the server counts what it read until then; each segment pod A's TCP
    # retransmitted adds at most one MSS.
    got = d["bytes_sent"] - 52 * d["packets_sent"] - 8
    ok = 0.99 * iperf_rx <= got <= 1.01 * (20 * 1024 * 1024 + 37) + 1448 * iperf_retrans
    print(f"  {iface + ' iperf3 payload sent':44s} recorded {got:>11d}  expected "
          f"{iperf_rx} (server) to {20 * 1024 * 1024 + 37} + {iperf_retrans} "
          f"retransmitted segments  {'ok' if ok else 'MISMATCH'}")
    if not ok:
        bad.append(f"{iface} iperf3 payload")

ifs = {i["name"]: i for i in status["interfaces"]}
if status["state"] != "stopped":
    bad.append("final status is not 'stopped'")
for iface in (va, vb):
    i = ifs.get(iface)
    if i is None:
        bad.append(f"{iface} missing from the final status")
    elif i["kernel_drops"] != 0:
        bad.append(f"{iface}: {i['kernel_drops']} kernel drops")
if status["pipeline"]["dropped"] or status["store"]["dropped_queue_full"]:
    bad.append("events dropped between capture and the database")
if bad:
    print("FAIL: live_bytes: " + "; ".join(bad))
    sys.exit(1)
EOF
echo "PASS: live_bytes"
