#!/usr/bin/env bash
# webhook.sh - alert webhooks that hang or answer 500 never slow capture:
# alerts are retried with back-off, counted while they fail, dropped and
# counted when they cannot be kept, delivered once the endpoint recovers, and
# the agent still stops within seconds.
#
#   netns A (test/client-a)              host netns: egresswatch run   netns B (test/server-b)
#   eth0 203.0.113.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 203.0.113.2/24
#   UDP to B:10000, 10001, ... (each    --policy: client-a may send nothing
#   port a flow and an alert)                           --webhook http://127.0.0.1:$H/hang  (accepts, never answers)
#                                       --webhook http://127.0.0.1:$E/err   (500 until told otherwise)
#   The two HTTP servers (python3) listen on the host's loopback only.
#
#   1. 20 alerts -> the hanging webhook times out (5 s) and retries, the 500
#      one is retried with back-off (its server sees the same alert again);
#      every flow stored at once, capture and the pipeline never wait
#   2. 600 alerts in a burst -> each webhook's queue (256) overflows: the
#      rest are counted as dropped_queue_full; all 620 flows still stored
#      with their verdict, no pipeline drop
#   3. the 500 server starts answering 204 -> deliveries resume by themselves
#   4. SIGTERM -> the agent exits 0 within 10 s (the hanging webhook's
#      pending alerts are dropped and counted after the 3 s drain); for each
#      webhook, alerts given to it = delivered + dropped (every kind) +
#      filtered
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail
T=webhook
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3
"$EW_BIN" run --help | grep -q -- '--webhook' || ft_fail "egresswatch run has no --webhook"

pol=$FT_TMP/policy.yaml
inv=$FT_TMP/inventory.yaml
cat >"$pol" <<'EOF'
apiVersion: egresswatch/v1
workloads:
  - name: client
    select: {namespace: test, name: client-a}
    egress: []
EOF
cat >"$inv" <<EOF
version: 1
workloads:
  - {namespace: test, name: client-a, kind: Pod, interfaces: [$P-aa], ips: [203.0.113.1]}
  - {namespace: test, name: server-b, kind: Pod, interfaces: [$P-ba], ips: [203.0.113.2]}
EOF

# The endpoints: one accepts and never answers, one answers 500 until
# $FT_TMP/recover exists, then 204.  Each request is logged (port, path,
# the alert's dedup key) in $FT_TMP/requests.
cat >"$FT_TMP/hooks.py" <<'EOF'
import http.server, json, os, socket, sys, threading, time
tmp = sys.argv[1]
log = open(os.path.join(tmp, "requests"), "a", buffering=1)
lock = threading.Lock()

class Hook(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            key = json.loads(body).get("dedup_key", "?")
        except ValueError:
            key = "?"
        with lock:
            log.write(f"{self.server.server_port} {self.path} {key}\n")
        if self.path == "/hang":
            time.sleep(120)
            return
        code = 204 if os.path.exists(os.path.join(tmp, "recover")) else 500
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

ports = []
for _ in range(2):
    s = Server(("127.0.0.1", 0), Hook)
    ports.append(s.server_port)
    threading.Thread(target=s.serve_forever, daemon=True).start()
with open(os.path.join(tmp, "ports.tmp"), "w") as f:
    f.write(" ".join(map(str, ports)) + "\n")
os.rename(os.path.join(tmp, "ports.tmp"), os.path.join(tmp, "ports"))
threading.Event().wait()
EOF
python3 "$FT_TMP/hooks.py" "$FT_TMP" &
FT_PIDS+=($!)
ft_wait 10 test -s "$FT_TMP/ports" || ft_fail "the webhook endpoints did not start"
read -r H E <"$FT_TMP/ports"

ft_bridge
ft_pod a 203.0.113.1/24
ft_pod b 203.0.113.2/24
ft_agent --db "$FT_TMP/flows.db" --policy "$pol" --inventory "$inv" \
	--webhook "http://127.0.0.1:$H/hang" --webhook "http://127.0.0.1:$E/err"

sink() { # N FIELD: a counter of webhook N (0 hang, 1 err)
	ft_status "s['sinks']['sink'][$1]['$2']"
}
stored() { # N: flows of client-a to B with verdict alert in the database
	ft_flows "$FT_TMP/flows.db" --workload test/client-a
	[ "$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["verdict"] == "alert"))' "$FT_TMP/flows.json")" -ge "$1" ]
}
alerts() { # FIRST_PORT N: one datagram from A to each of N ports of B: N
	# flows, N distinct alerts (the port is part of an alert's identity)
	ft_in a python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
first, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    s.sendto(b"a" * 50, ("203.0.113.2", first + i))
    if i % 50 == 49:
        time.sleep(0.01)
PY
}
no_wait() { # the pipeline keeps up and drops nothing
	[ "$(ft_status "s['pipeline']['dropped']")" = 0 ] || ft_fail "the pipeline dropped events"
}

# 1. ---------------------------------------------------------------------------
alerts 10000 20
ft_wait 5 stored 20 || ft_fail "the 20 flows were not stored at once"
ft_wait 5 ft_true "s['alerts']['raised'] >= 20" || ft_fail "no alerts raised: $(ft_status "s['alerts']")"
ft_wait 20 ft_true "s['sinks']['sink'][0]['timeouts'] >= 1 and s['sinks']['sink'][0]['retries'] >= 1" ||
	ft_fail "the hanging webhook was not timed out and retried: $(ft_status "s['sinks']['sink'][0]")"
ft_wait 10 ft_true "s['sinks']['sink'][1]['http_5xx'] >= 2 and s['sinks']['sink'][1]['retries'] >= 1" ||
	ft_fail "the failing webhook was not retried: $(ft_status "s['sinks']['sink'][1]")"
first=$(awk -v p="$E" '$1 == p { print $3; exit }' "$FT_TMP/requests")
[ "$(awk -v p="$E" -v k="$first" '$1 == p && $3 == k' "$FT_TMP/requests" | wc -l)" -ge 2 ] ||
	ft_fail "the 500 endpoint did not see the same alert again"
no_wait
echo "1. hang: attempts=$(sink 0 attempts) timeouts=$(sink 0 timeouts) retries=$(sink 0 retries);" \
	"500: attempts=$(sink 1 attempts) http_5xx=$(sink 1 http_5xx) retries=$(sink 1 retries) last_status=$(sink 1 last_status)"

# 2. ---------------------------------------------------------------------------
t0=$SECONDS
alerts 20000 600
ft_wait 10 stored 620 || ft_fail "not every flow of the burst was stored"
echo "   600 more flows stored $((SECONDS - t0)) s after the burst began"
ft_wait 5 ft_true "s['sinks']['sink'][0]['dropped_queue_full'] > 0 and s['sinks']['sink'][1]['dropped_queue_full'] > 0" ||
	ft_fail "the webhooks' queues did not overflow: $(ft_status "s['sinks']")"
no_wait
ft_alive
echo "2. burst: raised=$(ft_status "s['alerts']['raised']") sink_refused=$(ft_status "s['alerts']['sink_refused']");" \
	"dropped_queue_full hang=$(sink 0 dropped_queue_full) 500=$(sink 1 dropped_queue_full); pending $(sink 0 pending)/$(sink 1 pending)"

# 3. ---------------------------------------------------------------------------
touch "$FT_TMP/recover"
ft_wait 40 ft_true "s['sinks']['sink'][1]['delivered'] >= 1" ||
	ft_fail "deliveries did not resume: $(ft_status "s['sinks']['sink'][1]")"
echo "3. endpoint recovered: delivered=$(sink 1 delivered) last_status=$(sink 1 last_status)"

# 4. ---------------------------------------------------------------------------
t0=$SECONDS
ft_stop
[ $((SECONDS - t0)) -le 10 ] || ft_fail "stopping took $((SECONDS - t0)) s"
python3 - "$FT_TMP/status.json" <<'EOF' || ft_fail "sink counters do not add up"
import json, sys
s = json.load(open(sys.argv[1]))
sk = s["sinks"]
ok = True
for k in sk["sink"]:
    given = k["delivered"] + k["filtered"] + k["dropped"]
    print(f"{k['name']}: delivered={k['delivered']} dropped={k['dropped']} "
          f"(queue_full={k['dropped_queue_full']}, attempts={k['dropped_attempts']}, "
          f"shutdown={k['dropped_shutdown']}, rejected={k['rejected']}) filtered={k['filtered']} "
          f"pending={k['pending']}; of {sk['submitted']} submitted")
    ok &= given == sk["submitted"] and k["pending"] == 0
ok &= s["sinks"]["sink"][0]["delivered"] == 0 and s["sinks"]["sink"][0]["dropped_shutdown"] > 0
sys.exit(0 if ok else 1)
EOF
echo "4. stopped in $((SECONDS - t0)) s"
# One log line when each webhook starts failing (not one per attempt: there
# were hundreds), and one when the 500 endpoint recovered.
n_hang=$(ft_log_count "sinks: webhook [a-z]+ http://127\\.0\\.0\\.1:$H: delivery failing \\(Operation timed out")
n_err=$(ft_log_count "sinks: webhook [a-z]+ http://127\\.0\\.0\\.1:$E: delivery failing \\(HTTP 500\\)")
n_back=$(ft_log_count "sinks: webhook [a-z]+ http://127\\.0\\.0\\.1:$E: delivering again after [0-9]+ failures; [0-9]+ alerts lost meanwhile")
n_all=$(ft_log_count "sinks: ")
echo "log: hanging 'delivery failing' x$n_hang, 500 'delivery failing' x$n_err, 'delivering again' x$n_back, sink lines $n_all"
[ "$n_hang" -eq 1 ] && [ "$n_err" -eq 1 ] && [ "$n_back" -eq 1 ] && [ "$n_all" -eq 3 ] ||
	ft_fail "expected one log line per failure episode and one for the recovery"
echo "PASS: $T"
