#!/usr/bin/env bash
# live_held_open.sh - a burst sent over a connection that is then held open
# reaches the store and the exfil-volume detector within seconds, not at the
# connection's idle timeout (TCP: 5 minutes).
#
#   netns pod A (prod/exfil-0)        host netns (agent)                     netns pod B
#   eth0 203.0.113.1/24 --- veth $VA ---+--- $BR (bridge, ---+--- veth $VB --- eth0 203.0.113.2/24
#   python3: connect, send 3 MiB,          no address)                         socat :9000 (sink)
#   then hold the connection 8 s
#
# Pod A is named prod/exfil-0 by an inventory file and given a budget of
# 1 MiB per 5 minutes by the policy; 203.0.113.2 is outside the cluster
# networks.  The whole burst leaves within a few milliseconds of the NEW
# event, so no packet of it comes a full update interval after the previous
# event: only the flow table's trailing UPDATE (capture/flow.c) reports it.
# Checks, while the connection is still open: the flow's row has all the
# bytes (at least 3 MiB of payload) and the exfil-volume alert is in the
# alerts JSON file, each within 3 s of the end of the burst; the status shows
# trailing_updates.  Before the trailing UPDATE the row showed the SYN alone
# until the connection closed.
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_held_open: $*"; [ -f "${tmp:-}/agent.log" ] && tail -20 "$tmp/agent.log"; exit 1; }
skip() { echo "SKIP: live_held_open: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/two_pods.bash"
. "$(dirname "$0")/../lib/agent.bash"
netns_need
command -v python3 >/dev/null || fail "python3 is not installed (scripts/setup.sh)"
command -v socat >/dev/null || fail "socat is not installed (scripts/setup.sh)"

two_pods_up ewo
PAYLOAD=$((3 * 1024 * 1024))

cat >"$tmp/inventory.yaml" <<EOF
version: 1
workloads:
  - namespace: prod
    name: exfil-0
    labels: {app: exfil}
    interfaces: [$VA]
    ips: [203.0.113.1]
EOF
cat >"$tmp/policy.yaml" <<'EOF'
apiVersion: egresswatch/v1
kind: Policy
workloads:
  - name: exfil
    select:
      namespace: prod
      matchLabels: {app: exfil}
    budget: {outside: 1MiB, window: 5m}
EOF
ip netns exec "$NB" socat -u TCP-LISTEN:9000,bind=203.0.113.2,reuseaddr OPEN:/dev/null \
	>/dev/null 2>&1 &

"$EW_BIN" run --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	--inventory "$tmp/inventory.yaml" --policy "$tmp/policy.yaml" \
	--alerts-json "$tmp/alerts.jsonl" >"$tmp/agent.log" 2>&1 &
agent=$!

capturing() { [ "$(status_get "$tmp/status.json" "next((i['state'] for i in s['interfaces'] if i['name'] == '$VA'), '')")" = capturing ]; }
wait_for 15 capturing || fail "$VA not captured within 15 s"

# The sender writes the time the burst left (all of it in the kernel's
# hands and acknowledged: the send buffer drained) and holds the socket.
ip netns exec "$NA" python3 -c '
import socket, sys, time
n, out = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("203.0.113.2", 9000))
s.sendall(b"x" * n)
while True:    # TIOCOUTQ: bytes not yet acknowledged
    import fcntl, struct, termios
    if struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0" * 4))[0] == 0:
        break
    time.sleep(0.001)
open(out, "w").write(repr(time.time()))
time.sleep(8)
s.close()
' "$PAYLOAD" "$tmp/sent_at" &
sender=$!

wait_for 10 test -s "$tmp/sent_at" || fail "the sender did not finish its burst"
sent_at=$(cat "$tmp/sent_at")

# Poll the store and the alerts file until both show the burst.
python3 - "$EW_BIN" "$tmp/flows.db" "$tmp/alerts.jsonl" "$sent_at" "$PAYLOAD" <<'EOF' || fail "the burst was not reported while the connection was open"
import json, subprocess, sys, time
ew, db, alerts, sent_at, payload = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
row_at = alert_at = None
last = None
while time.time() < sent_at + 6 and (row_at is None or alert_at is None):
    if row_at is None:
        out = subprocess.run([ew, "flows", "--db", db, "--json", "--port", "9000"],
                             capture_output=True, text=True).stdout
        for f in map(json.loads, out.split("\n")[:-1]):
            last = f
            if f["state"] == "active" and f["bytes_sent"] >= payload:
                row_at = time.time()
    if alert_at is None:
        try:
            for a in map(json.loads, open(alerts).read().split("\n")[:-1]):
                if a["kind"] == "exfil-volume" and a["workload"] == "prod/exfil-0":
                    alert_at = time.time()
        except FileNotFoundError:
            pass
    time.sleep(0.1)
print(f"burst of {payload} bytes, connection held open: flow row complete after "
      f"{'-' if row_at is None else f'{row_at - sent_at:.2f} s'}, exfil-volume alert after "
      f"{'-' if alert_at is None else f'{alert_at - sent_at:.2f} s'}; row seen: "
      f"{last and {k: last[k] for k in ('state', 'bytes_sent', 'packets_sent')}}")
sys.exit(0 if row_at is not None and alert_at is not None and
         row_at - sent_at <= 3 and alert_at - sent_at <= 3 else 1)
EOF
kill -0 "$sender" 2>/dev/null || fail "the connection was closed before the checks ended: they prove nothing"
# The status file is rewritten every second: give it three.
trailing() { [ "$(status_get "$tmp/status.json" "s['flows']['trailing_updates']")" -ge 1 ] 2>/dev/null; }
wait_for 3 trailing ||
	fail "status: no trailing update counted (flows: $(status_get "$tmp/status.json" "s['flows']"))"
wait "$sender"
echo "PASS: live_held_open"
