#!/usr/bin/env bash
# live_flood.sh - `egresswatch run` under a live flow flood on a container
# veth: the flow table stays within its cap, emergency eviction engages and
# ends, every flow is accounted for, and a connection that was open before
# the flood comes through it as one flow.
#
#   netns pod A                         host netns (agent)                     netns pod B
#   eth0 203.0.113.1/24 --- veth $VA ---+--- $BR (bridge, ---+--- veth $VB --- eth0 203.0.113.2/24
#   client: 100 bytes every 100 ms          no address)                        socat :9000 (sink)
#   flood: AF_PACKET, EW_FLOOD_FRAMES frames (60000):
#     SYNs from 100.64/10 -> :80, UDP -> :1024..
#
# The agent runs with --max-flows 4096.  Pod A opens a TCP connection to pod
# B and sends 100 bytes every 100 ms for 6 s; after 1 s it also sends 60000 (EW_FLOOD_FRAMES)
# frames as fast as Python can, each a new 5-tuple (half SYNs from spoofed
# 100.64.0.0/10 sources that B cannot answer, half UDP datagrams to closed
# ports).  Only namespaces this test creates carry any of it.
#
# Checks, from the agent's status file and database:
#  - while flooding: peak never above max_flows (4096), emergency mode
#    entered, flows evicted or refused;
#  - within 10 s of the flood's end: emergency mode has ended;
#  - the final status (written at stop): created == expired + evicted +
#    ended_shutdown with nothing active, and no flow event or row was
#    dropped without being counted (rows in the database + pipeline drops +
#    store drops account for every flow created);
#  - the connection is one flow, never evicted, and unless the kernel ring
#    dropped frames, its payload (IP bytes - 52 per packet, - 8 more for the
#    SYN's options; TCP timestamps on) is exactly what the client sent.
#
# EW_FLOOD_FRAMES (default 60000) sets the number of flood frames and
# EW_FLOOD_CLIENT_S (default 6) how long the connection runs; the README's
# figure for a million tuples is
#   EW_FLOOD_FRAMES=1000000 EW_FLOOD_CLIENT_S=30 EW_BIN=... tests/e2e/live_flood.sh
#
# Exit 77 (skip) where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_flood: $*"; exit 1; }
skip() { echo "SKIP: live_flood: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/two_pods.bash"
netns_need
command -v python3 >/dev/null || fail "python3 is not installed (scripts/setup.sh)"
command -v socat >/dev/null || fail "socat is not installed (scripts/setup.sh)"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"

CAP=4096
FRAMES=${EW_FLOOD_FRAMES:-60000}
CLIENT_S=${EW_FLOOD_CLIENT_S:-6}
case "$FRAMES$CLIENT_S" in *[!0-9]*) fail "EW_FLOOD_FRAMES and EW_FLOOD_CLIENT_S are whole numbers" ;; esac
two_pods_up ewf
ip netns exec "$NB" socat -u TCP-LISTEN:9000,bind=203.0.113.2,reuseaddr OPEN:/dev/null \
	>/dev/null 2>&1 &

# --- agent ----------------------------------------------------------------
"$EW_BIN" run --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	--max-flows "$CAP" --geoip-country none >"$tmp/agent.log" 2>&1 &
agent=$!

st() { # python expression over the status object `s`
	python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($1)" \
		"$tmp/status.json" 2>/dev/null
}
for _ in $(seq 100); do
	[ "$(st "sum(i['state'] == 'capturing' for i in s['interfaces'] if i['name'] in ('$VA', '$VB'))")" = 2 ] &&
		ip netns exec "$NB" ss -ltn | grep -q ':9000 ' && break
	sleep 0.1
done
[ "$(st "sum(i['state'] == 'capturing' for i in s['interfaces'] if i['name'] in ('$VA', '$VB'))")" = 2 ] ||
	{ cat "$tmp/agent.log"; fail "$VA and $VB not both captured"; }

# --- traffic ----------------------------------------------------------------
ip netns exec "$NA" python3 - "$tmp/client.out" "$CLIENT_S" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("203.0.113.2", 9000))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
port, sent = s.getsockname()[1], 0
end = time.time() + int(sys.argv[2])
while time.time() < end:
    s.sendall(b"x" * 100)
    sent += 100
    time.sleep(0.1)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
open(sys.argv[1], "w").write(f"{port} {sent}\n")
EOF
client=$!
sleep 1
ip netns exec "$NA" python3 - "$MAC_A" "$MAC_B" "$FRAMES" >"$tmp/flood.out" <<'EOF'
import socket, struct, sys, time
src_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
dst_mac = bytes.fromhex(sys.argv[2].replace(":", ""))
def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def frame(src, dst, proto, l4):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64,
                     proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + l4
frames = []
b = socket.inet_aton("203.0.113.2")
for i in range(int(sys.argv[3])):
    if i % 2:
        src = struct.pack("!I", (100 << 24 | 64 << 16) + i)
        tcp = struct.pack("!HHIIBBHHH", 1024 + i % 60000, 80, i, 0, 5 << 4,
                          0x02, 65535, 0, 0)
        frames.append(frame(src, b, 6, tcp))
    else:
        udp = struct.pack("!HHHH", 30000 + i // 60000, 1024 + i % 60000, 24, 0)
        frames.append(frame(socket.inet_aton("203.0.113.1"), b, 17,
                            udp + b"flood-payload-16"))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
t0 = time.time()
for f in frames:
    while True:
        try:
            s.send(f)
            break
        except BlockingIOError:
            time.sleep(0.0001)
print(f"{len(frames)} frames in {time.time() - t0:.2f} s")
EOF
peak_during=$(st "s['flows']['peak']")
entered=$(st "s['flows']['emergency_entered']")
wait "$client" || fail "the client failed"
read -r cport sent <"$tmp/client.out"
# Emergency timeouts are a tenth of the normal ones (3 s for an unanswered
# SYN): the table drains below 90% and leaves emergency within seconds.
for _ in $(seq 100); do
	emergency_after=$(st "s['flows']['emergency']")
	[ "$emergency_after" = 0 ] && break
	sleep 0.1
done

kill -TERM "$agent"
wait "$agent" || fail "agent exited with status $?: $(tail -n 20 "$tmp/agent.log")"
agent=
echo "flood: $(cat "$tmp/flood.out"); client port $cport sent $sent bytes"

# --- checks -------------------------------------------------------------------
rows=$(sqlite3 "$tmp/flows.db" 'SELECT count(*) FROM flows')
"$EW_BIN" flows --db "$tmp/flows.db" --json --port 9000 >"$tmp/conn.jsonl"
python3 - "$tmp/status.json" "$tmp/conn.jsonl" "$CAP" "$cport" "$sent" "$rows" \
	"$peak_during" "$entered" "$emergency_after" "$VA" <<'EOF'
import json, sys
status = json.load(open(sys.argv[1]))
conn = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
cap, cport, sent, rows = map(int, sys.argv[3:7])
peak_during, entered, emergency_after = map(int, sys.argv[7:10])
va = sys.argv[10]
f, p, st = status["flows"], status["pipeline"], status["store"]
bad = []
print(f"flows: max {f['max_flows']}, peak {f['peak']}, created {f['created']}, "
      f"expired {f['expired']}, evicted {f['evicted']}, refused {f['refused']}, "
      f"shutdown {f['ended_shutdown']}, emergency entered {f['emergency_entered']}")
drops = sum(i["kernel_drops"] + i["if_drops"] for i in status["interfaces"])
print(f"rows {rows}, pipeline dropped {p['dropped']}, store dropped "
      f"{st['dropped_queue_full']}, capture drops {drops}")
if f["max_flows"] != cap or f["peak"] > cap or peak_during > cap:
    bad.append(f"peak {f['peak']} (during {peak_during}) above the cap {cap}")
if f["peak"] != cap:
    bad.append(f"the flood did not fill the table (peak {f['peak']})")
if max(entered, f["emergency_entered"]) < 1:
    bad.append("emergency mode never entered")
if f["evicted"] + f["refused"] == 0:
    bad.append("nothing evicted or refused")
if emergency_after != 0:
    bad.append("still in emergency mode 10 s after the flood")
if f["active"] != 0 or f["created"] != f["expired"] + f["evicted"] + f["ended_shutdown"]:
    bad.append("created != expired + evicted + ended_shutdown at stop")
# A NEW event lost before the store loses its row; each loss is counted.
lost = p["dropped"] + st["dropped_queue_full"] + st["dropped_write_error"]
if rows > f["created"] or (rows < f["created"] and lost == 0):
    bad.append(f"{rows} rows for {f['created']} flows, {lost} losses counted")
mine = [c for c in conn if c["interface"] == va and c["local_port"] == cport]
if len(mine) != 1:
    bad.append(f"the connection is {len(mine)} flows on {va}, not one")
else:
    c = mine[0]
    payload = c["bytes_sent"] - 52 * c["packets_sent"] - 8
    print(f"connection: {c['packets_sent']} packets, payload {payload} of "
          f"{sent} bytes sent, end {c['end_reason']}")
    if c["end_reason"] == "evicted":
        bad.append("the connection was evicted")
    if drops == 0 and payload != sent:
        bad.append(f"connection payload {payload}, the client sent {sent}")
    if drops and not 0 < payload <= sent:
        bad.append(f"connection payload {payload} of {sent}")
if bad:
    print("FAIL: live_flood: " + "; ".join(bad))
    sys.exit(1)
EOF
echo "PASS: live_flood"
