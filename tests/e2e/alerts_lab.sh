#!/usr/bin/env bash
# alerts_lab.sh - the policy/alerts issue's acceptance test: the real agent
# (`egresswatch run`) on the lab, its alerts checked in the database, in the
# JSON-lines sink and at a webhook receiver, with their timing measured on the
# wall clock against the packets they are about.
#
#   127.0.0.1:<port>  webhook receiver (python3 http.server, this test): every
#        ^            POST body with its arrival time -> hooks.jsonl
#        | --webhook http://127.0.0.1:<port>/hook/{a,b,c}   --alerts-json FILE
#   "host" netns (the test's own): egresswatch run --exclude <prefix>-gw0 --pod-logs-dir <tmp>/pods
#  +---------------------------------------------------------------------------+
#  |                        <prefix>-br0 (no address)                          |
#  |   veth(redis-0)    veth(web-0)     veth(api-0)    veth(client-0)  <prefix>-gw0
#  +------|----------------|---------------|---------------|---------------|---+
#   prod/redis-0      prod/web-0      prod/api-0      dev/client-0     router
#   10.244.0.10:6379  .11:8080        .12:8080        .20                 |
#                                                           <prefix>-inet: 203.0.113.66
#                                                           sink :6379 :4444, dns, web
#
# Run A - the built-in policy (no policy file, no labels needed):
#   1. `benign` (includes web-0 -> redis-0:6379, so redis-0 is seen serving a
#      datastore port) raises no alert at all: the database, the webhook and
#      the JSON file stay empty.
#   2. `redis-exfil` raises one listen-only-egress alert (the most specific:
#      redis-0 was seen serving 6379) naming prod/redis-0, 203.0.113.66, 6379,
#      whose first_seen is within 1 s of the flow's first packet (`flows
#      --json` start) and which reaches the webhook within 1 s of it (wall
#      clock, measured at the receiver).
# Run B - a policy file (budget, egress ports, zones):
#   3. `redis-exfil-slow` (the same dump at 1 MiB/s, ~6 s) raises exfil-volume
#      naming prod/redis-0, 203.0.113.66 and 6379 while the connection is
#      still open (before the sender's last byte) and within 2 s after the
#      bytes sent crossed the 2 MiB budget (the sender's progress log; the
#      crossing is bounded from below counting the full TCP/IP overhead).
#   4. `unexpected-port` raises unexpected-port (prod/web-0 -> :4444, a port
#      none of its egress rules names); `cross-namespace` raises zone
#      policy-violations (dev/client-0 -> prod/redis-0:6379, -> prod/api-0).
#   5. The webhook got every alert of the database exactly once (distinct
#      dedup keys, bodies parse as JSON), and so did the JSON-lines file;
#      and there is no alert but those expected (the datastore guard on the
#      exfil, the zone alerts of the two accepting pods; none for ICMPv6
#      neighbour discovery between the pods and to the gateway).
# Run C - the same policy, a new agent (one exfil alert per workload and window):
#   6. `redis-exfil` (6 MiB in ~0.3 s) raises exfil-volume within 2 s of the
#      flow's first packet, so within 2 s of the crossing: the packet that
#      closes the connection reports the final counters, the alert does not
#      wait for the flow's END (5 s after the FIN).
#   7. The receiver is stopped; `benign` raises new (zone) alerts: they are
#      stored, written to the file, queued for the webhook and retried
#      (status file: failures, retries, pending), capture keeps counting
#      packets meanwhile; on SIGTERM they are counted as dropped in the final
#      status file, nothing is delivered twice.
#
# The lab runs under a per-run EW_LAB_PREFIX and a private pod log root, and
# the whole test in its own PID namespace with its own /proc and its own
# network namespace standing in for the host's (the bridge, the host-side
# veths, the agent and the receiver's loopback live there), so that the agent
# captures and attributes only this lab: other labs use the same addresses,
# and tests running beside this one make veths of their own.  `trap cleanup
# EXIT` stops the agent and the receiver and removes the lab.
# Exit 77 (skip) only where this machine cannot create namespaces.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
LAB=$here/../../scripts/lab
T0=$(date +%s)

fail() { echo "FAIL: alerts_lab: $*"; exit 1; }
skip() { echo "SKIP: alerts_lab: $*"; exit 77; }
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
for t in python3 curl socat redis-cli; do
	command -v $t >/dev/null || fail "$t is not installed (scripts/setup.sh)"
done
if [ -z "${EW_ALERTS_UNSHARED:-}" ]; then
	unshare --pid --fork --mount-proc --net --kill-child true 2>/dev/null ||
		skip "cannot make PID and network namespaces (unshare --pid --mount-proc --net)"
	EW_ALERTS_UNSHARED=1 exec unshare --pid --fork --mount-proc --net --kill-child \
		bash "$0" "$@"
fi
ip link set lo up
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

EW_LAB_PREFIX=ewl$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
export EW_LAB_PREFIX
tmp=$(mktemp -d)
export EW_LAB_PODLOG_ROOT=$tmp/pods
unset EW_LAB_STATE EW_LAB_EXFIL_KIBPS
STATE=/run/egresswatch-lab-$EW_LAB_PREFIX
P=$EW_LAB_PREFIX
agent=
receiver=

stop_agent() { # TERM the agent, wait for it; its exit status in agent_rc
	agent_rc=0
	if [ -n "$agent" ] && kill -0 "$agent" 2>/dev/null; then
		kill -TERM "$agent"
		wait "$agent" || agent_rc=$?
	fi
	agent=
}

cleanup() {
	local rc=$?
	set +eu
	stop_agent
	if [ -n "$receiver" ]; then
		kill "$receiver" 2>/dev/null
		wait "$receiver" 2>/dev/null
	fi
	"$LAB" down >/dev/null 2>&1
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for f in "$tmp"/agent-*.log; do
			[ -f "$f" ] || continue
			echo "--- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f"
		done
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/tap.bash"
. "$(dirname "$0")/../lib/agent.bash"

# --- checks, in Python: each prints "ok - ..." / "not ok - ..." lines -----------

cat >"$tmp/ck.py" <<'EOF'
import datetime, json, subprocess, sys, time

EW = None
def ts(s):
    """RFC 3339 UTC ("...Z", microseconds optional) -> Unix time."""
    s = s.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()

def lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []

def hooks(path, run):
    """Webhook POSTs of one run: (arrival, parsed body or None, raw body)."""
    out = []
    for h in lines(path):
        if h["path"] != "/hook/" + run:
            continue
        try:
            body = json.loads(h["body"])
        except ValueError:
            body = None
        out.append((h["t"], body, h["body"]))
    return out

def ew(*args):
    p = subprocess.run([EW] + list(args), capture_output=True, text=True)
    if p.returncode not in (0, 1) or (p.returncode == 1 and args[0] != "status"):
        raise SystemExit("egresswatch %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout

def db_alerts(db):
    return [json.loads(l) for l in ew("alerts", "--db", db, "--json").splitlines() if l.strip()]

def status(path):
    return json.loads(ew("status", "--status-file", path, "--json"))

def webhook_stats(st):
    s = [k for k in st.get("sinks", {}).get("sink", []) if k["kind"] == "webhook"]
    return s[0] if s else None

n_ok = n_bad = 0
def check(what, cond, detail=""):
    global n_ok, n_bad
    if cond:
        n_ok += 1
        print("ok - " + what)
    else:
        n_bad += 1
        print("not ok - " + what + (": " + detail if detail else ""))

def names(a, kinds):
    return a.get("kind") in kinds

def is_exfil_alert(a):
    return (a.get("workload") == "prod/redis-0" and a.get("remote_ip") == "203.0.113.66"
            and a.get("remote_port") == 6379)

def cmd_quiet(db, hookfile, jsonl, run):
    """No alert anywhere."""
    al = db_alerts(db)
    check("run %s: no alert in the database" % run, not al,
          "; ".join("%s %s %s" % (a["kind"], a["workload"], a["message"]) for a in al))
    h = hooks(hookfile, run)
    check("run %s: no webhook call" % run, not h, repr(h[:3]))
    j = lines(jsonl)
    check("run %s: no line in the JSON-lines file" % run, not j, repr(j[:3]))

def cmd_first_packet(db, hookfile, run, out):
    """The listen-only alert of redis-exfil, timed against the flow's start."""
    flows = [json.loads(l) for l in ew("flows", "--db", db, "--json", "--remote",
                                       "203.0.113.66/32", "--port", "6379").splitlines() if l.strip()]
    flows = [f for f in flows if f["workload"] == "prod/redis-0" and f["direction"] == "egress"]
    check("redis-exfil: one egress flow prod/redis-0 -> 203.0.113.66:6379 recorded", len(flows) == 1,
          repr(flows))
    if not flows:
        return
    f = flows[0]
    start = ts(f["start"])
    kinds = ("listen-only-egress", "policy-violation")
    al = [a for a in db_alerts(db) if names(a, kinds) and is_exfil_alert(a)]
    check("redis-exfil: an alert in the database naming prod/redis-0, 203.0.113.66, 6379",
          len(al) == 1, repr(al))
    hk = [(t, b) for t, b, _ in hooks(hookfile, run) if b and names(b, kinds) and is_exfil_alert(b)]
    check("redis-exfil: the webhook got it", len(hk) == 1, repr(hk))
    if not al or not hk:
        return
    a = al[0]
    # benign's web-0 -> redis-0:6379 closed more than a second earlier, so
    # redis-0 is known to serve redis: the most specific alert is listen-only.
    check("redis-exfil: kind %s, rule %s, severity %s (listen-only datastore, by the one-fact-one-alert rule)"
          % (a["kind"], a["rule"], a["severity"]),
          a["kind"] == "listen-only-egress" and a["severity"] == "critical" and
          "listen-only datastore: serves redis/6379" in a["message"], a["message"])
    dfs = ts(a["first_seen"]) - start
    dhook = hk[0][0] - start
    check("redis-exfil: first_seen - first packet = %.3f s (<= 1 s)" % dfs, -0.01 <= dfs <= 1.0)
    check("redis-exfil: webhook arrival - first packet = %.3f s (<= 1 s, wall clock)" % dhook,
          0 <= dhook <= 1.0)
    check("redis-exfil: webhook body is the stored alert (dedup key %s)" % a["dedup_key"],
          hk[0][1].get("dedup_key") == a["dedup_key"])
    with open(out, "a") as o:
        o.write("first_packet kind=%s rule=%s first_seen-start=%.3f hook-start=%.3f\n"
                % (a["kind"], a["rule"], dfs, dhook))

def cmd_only_exfil(db, run):
    """After run A: every alert is about redis-0 -> 203.0.113.66:6379."""
    al = db_alerts(db)
    other = [a for a in al if not is_exfil_alert(a)]
    check("run %s: benign traffic raised no alert, also at its flows' END (%d alerts, all redis-0 -> sink:6379)"
          % (run, len(al)), al and not other,
          "; ".join("%s %s %s" % (a["kind"], a["workload"], a["message"]) for a in other))

def cmd_exfil_budget(db, hookfile, run, progress, out):
    """exfil-volume while the slow exfil runs, timed against the budget crossing."""
    budget = 2 << 20
    prog, done = [], None
    for l in open(progress):
        w = dict(x.split("=", 1) for x in l.split()[1:])
        if l.startswith("progress"):
            prog.append((float(w["t"]), int(w["sent"])))
        elif l.startswith("done"):
            done = float(w["t"])
    check("exfil-slow: the sender logged its progress and its end", prog and done is not None)
    if not prog or done is None:
        return
    # IP bytes of the flow >= payload + 60 (SYN) + 52 per segment of at most
    # 1448 payload bytes (20 IP + 32 TCP with timestamps): at `sent` payload
    # bytes handed to the socket the flow had sent at most that much.  The
    # crossing came no earlier than the last progress line where even this
    # upper bound was under the budget, and no later than the first line at
    # or over it on payload alone.
    hi = lambda s: 60 + s + 52 * ((s + 1447) // 1448 + 1)
    below = [t for t, s in prog if hi(s) < budget]
    above = [t for t, s in prog if s >= budget]
    check("exfil-slow: the transfer crossed the 2 MiB budget while the sender ran",
          bool(below) and bool(above))
    if not below or not above:
        return
    cross_lo, cross_hi = below[-1], above[0]
    hk = [(t, b) for t, b, _ in hooks(hookfile, run)
          if b and b.get("kind") == "exfil-volume" and is_exfil_alert(b)]
    check("exfil-slow: the webhook got one exfil-volume alert naming prod/redis-0, 203.0.113.66, 6379",
          len(hk) == 1, repr([b for _, b in hk]) or "none")
    al = [a for a in db_alerts(db) if a["kind"] == "exfil-volume"]
    check("exfil-slow: the database holds it (rule %s)" % (al[0]["rule"] if al else "-"),
          len(al) == 1 and is_exfil_alert(al[0]) and al[0]["rule"] == "redis/budget", repr(al))
    if not hk:
        return
    t, b = hk[0]
    check("exfil-slow: bytes_sent %d > budget %d" % (b.get("bytes_sent", 0), budget),
          b.get("bytes_sent", 0) > budget)
    check("exfil-slow: alert at the webhook %.3f s before the sender's last byte (connection open)"
          % (done - t), t < done)
    lat_max, lat_min = t - cross_lo, t - cross_hi
    check("exfil-slow: webhook arrival - budget crossing = %.3f..%.3f s (<= 2 s)" % (lat_min, lat_max),
          lat_max <= 2.0)
    fs = ts(b["first_seen"])
    check("exfil-slow: first_seen - budget crossing <= %.3f s (<= 2 s)" % (fs - cross_lo),
          fs - cross_lo <= 2.0 and fs >= cross_lo - 0.01)
    with open(out, "a") as o:
        o.write("exfil hook-crossing=%.3f..%.3f first_seen-crossing<=%.3f before_end=%.3f\n"
                % (lat_min, lat_max, fs - cross_lo, done - t))

def cmd_quick_exfil(db, hookfile, run, out):
    """exfil-volume of the 0.3 s redis-exfil: the budget was crossed between
    the flow's first and last packet, so the alert must come within 2 s of the
    first packet - not when the closed flow ENDs (5 s after its FIN)."""
    flows = [json.loads(l) for l in ew("flows", "--db", db, "--json", "--remote",
                                       "203.0.113.66/32", "--port", "6379").splitlines() if l.strip()]
    flows = [f for f in flows if f["workload"] == "prod/redis-0" and f["direction"] == "egress"]
    check("redis-exfil: one flow prod/redis-0 -> 203.0.113.66:6379, %s bytes sent in %.2f s"
          % (flows[0]["bytes_sent"] if flows else "-",
             ts(flows[0]["end"]) - ts(flows[0]["start"]) if flows else 0),
          len(flows) == 1 and flows[0]["bytes_sent"] > (2 << 20), repr(flows))
    if not flows:
        return
    start, end = ts(flows[0]["start"]), ts(flows[0]["end"])
    hk = [(t, b) for t, b, _ in hooks(hookfile, run)
          if b and b.get("kind") == "exfil-volume" and is_exfil_alert(b)]
    check("redis-exfil: the webhook got one exfil-volume alert naming prod/redis-0, 203.0.113.66, 6379",
          len(hk) == 1, repr([b for _, b in hk]) or "none")
    if not hk:
        return
    t = hk[0][0]
    check("redis-exfil: webhook arrival - first packet = %.3f s, - last packet = %.3f s (<= 2 s after the crossing)"
          % (t - start, t - end), t - start <= 2.0)
    with open(out, "a") as o:
        o.write("quick_exfil hook-first_packet=%.3f hook-last_packet=%.3f (crossing in between)\n"
                % (t - start, t - end))

def cmd_only(db, run, *specs):
    """Every alert of the database is one of SPECS ("kind,workload,remote_ip,port",
    "*" matches anything), and each SPEC is met exactly once."""
    want = [sp.split(",") for sp in specs]
    fit = lambda a, w: all(x == "*" or x == str(v) for x, v in
                           zip(w, (a["kind"], a["workload"], a["remote_ip"], a["remote_port"])))
    al = db_alerts(db)
    stray = [a for a in al if not any(fit(a, w) for w in want)]
    check("run %s: no other alert (%d alerts)" % (run, len(al)), not stray,
          "; ".join("%s %s %s:%s %s" % (a["kind"], a["workload"], a["remote_ip"], a["remote_port"],
                                         a["message"]) for a in stray))
    unmet = [",".join(w) for w in want if sum(fit(a, w) for a in al) != 1]
    check("run %s: each expected alert once" % run, not unmet, "not once: %s" % unmet)

def cmd_alert(db, hookfile, run, kind, workload, remote, port, rule_prefix):
    port = int(port)
    want = lambda a: (a.get("kind") == kind and a.get("workload") == workload and
                      a.get("remote_ip") == remote and a.get("remote_port") == port and
                      a.get("rule", "").startswith(rule_prefix))
    al = [a for a in db_alerts(db) if want(a)]
    hk = [b for _, b, _ in hooks(hookfile, run) if b and want(b)]
    check("%s: %s -> %s:%d in the database (rule %s)" % (kind, workload, remote, port,
          al[0]["rule"] if al else rule_prefix + "*"), len(al) == 1, repr(al))
    check("%s: %s -> %s:%d at the webhook" % (kind, workload, remote, port), len(hk) == 1)

def cmd_exactly_once(db, hookfile, jsonl, stfile, run):
    """Wait until delivery settles, then compare database, webhook and file."""
    end = time.time() + 8
    while True:
        al, hk, st = db_alerts(db), hooks(hookfile, run), status(stfile)
        w = webhook_stats(st)
        settled = (w and w["pending"] == 0 and st["sinks"]["queue_depth"] == 0 and
                   len(hk) == len(al) == w["delivered"])
        if settled or time.time() > end:
            break
        time.sleep(0.2)
    check("run %s: delivery settled (webhook delivered %s, pending %s; %d in the database)"
          % (run, w and w["delivered"], w and w["pending"], len(al)), settled)
    for a in al:
        print("#   %-18s %-8s %-14s %s:%s %s" % (a["kind"], a["severity"], a["workload"],
              a["remote_ip"], a["remote_port"], a["rule"]))
    bad = [r for _, b, r in hk if b is None]
    check("run %s: every webhook body parses as JSON (%d bodies)" % (run, len(hk)), not bad, repr(bad[:2]))
    keys = [b["dedup_key"] for _, b, _ in hk if b]
    check("run %s: no webhook body twice (%d distinct dedup keys)" % (run, len(set(keys))),
          len(keys) == len(set(keys)))
    dbk = sorted(a["dedup_key"] for a in al)
    check("run %s: the webhook got exactly the database's alerts" % run, sorted(keys) == dbk,
          "webhook %s, database %s" % (sorted(keys), dbk))
    jk = sorted(a["dedup_key"] for a in lines(jsonl))
    check("run %s: the JSON-lines file holds exactly the same alerts" % run, jk == dbk,
          "file %s" % jk)
    check("run %s: every stored alert seen once (count 1)" % run, all(a["count"] == 1 for a in al),
          repr([(a["dedup_key"], a["count"]) for a in al if a["count"] != 1]))

def cmd_get(stfile, expr):
    st = status(stfile)
    w = webhook_stats(st) or {}
    print(eval(expr, {"st": st, "w": w}))

EW = sys.argv[1]
globals()["cmd_" + sys.argv[2]](*sys.argv[3:])
sys.exit(1 if n_bad else 0)
EOF
ck() { # CMD ARGS...: run a check; its ok/not ok lines are counted here
	local out rc=0
	out=$(python3 "$tmp/ck.py" "$EW_BIN" "$@" 2>&1) || rc=$?
	[ -z "$out" ] || echo "$out"
	passed=$((passed + $(grep -c '^ok - ' <<<"$out" || true)))
	failed=$((failed + $(grep -c '^not ok - ' <<<"$out" || true)))
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' <<<"$out"; then not_ok "check $1 ran"; fi
	return 0
}
st_get() { python3 "$tmp/ck.py" "$EW_BIN" get "$1" "$2"; } # STATUSFILE PYEXPR

# --- the webhook receiver --------------------------------------------------------

cat >"$tmp/receiver.py" <<'EOF'
import http.server, json, sys, threading, time
log = open(sys.argv[1], "a", buffering=1)
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        t = time.time()
        with lock:
            log.write(json.dumps({"t": t, "path": self.path, "body": body.decode("utf-8", "replace")}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.serve_forever()
EOF
python3 "$tmp/receiver.py" "$tmp/hooks.jsonl" "$tmp/port" &
receiver=$!
wait_for 5 test -s "$tmp/port" || bail "the webhook receiver listens"
PORT=$(cat "$tmp/port")
HOOK=http://127.0.0.1:$PORT/hook

# --- the lab ------------------------------------------------------------------------

echo "# alerts_lab: prefix $P, webhook receiver 127.0.0.1:$PORT"
if ! out=$("$LAB" up 2>&1); then
	case $out in *"cannot create network namespaces"*) skip "$out" ;; esac
	echo "$out" >&2
	bail "scripts/lab up"
fi
declare -a W_IF
while IFS= read -r line; do
	case $line in "    interfaces: "*) v=${line#*: }; v=${v#[}; W_IF+=("${v%]}") ;; esac
done < <("$LAB" inventory)
[ "${#W_IF[@]}" -eq 4 ] || bail "the lab's inventory lists 4 pod interfaces (got ${#W_IF[@]})"

start_agent() { # RUN [ARGS...]: start the agent of run RUN, wait for it to capture
	local run=$1
	shift
	"$EW_BIN" run --db "$tmp/$run.db" --status-file "$tmp/$run.status.json" \
		--exclude "$P-gw0" --pod-logs-dir "$EW_LAB_PODLOG_ROOT" \
		--webhook "$HOOK/$run" --alerts-json "$tmp/$run.alerts.jsonl" "$@" \
		>"$tmp/agent-$run.log" 2>&1 &
	agent=$!
	capturing() {
		python3 - "$tmp/$run.status.json" "${W_IF[@]}" <<'PY' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1]))
on = {i["name"] for i in s["interfaces"] if i["state"] == "capturing"}
sys.exit(0 if set(sys.argv[2:]) <= on and "sinks" in s else 1)
PY
	}
	wait_for 10 capturing || bail "run $run: the agent captures the lab's 4 pod veths"
	ok "run $run: agent up, capturing the 4 pod veths, sinks in the status file"
}

scenario() { # NAME: run a lab scenario, its output in scenario-NAME.log
	if "$LAB" scenario "$1" >"$tmp/scenario-$1.log" 2>&1; then
		ok "scenario $1"
	else
		cat "$tmp/scenario-$1.log"
		bail "scenario $1"
	fi
}

# --- run A: built-in policy ------------------------------------------------------------

start_agent a
scenario benign
sleep 1.5	# TCP closes report at once; the pipeline and the store follow within it
ck quiet "$tmp/a.db" "$tmp/hooks.jsonl" "$tmp/a.alerts.jsonl" a
scenario redis-exfil
hook_has() { # RUN PYEXPR-ON-b: a webhook body of RUN satisfies it
	python3 - "$tmp/hooks.jsonl" "$1" "$2" <<'PY'
import json, sys
n = 0
for l in open(sys.argv[1]):
    h = json.loads(l)
    if h["path"] == "/hook/" + sys.argv[2]:
        b = json.loads(h["body"])
        n += bool(eval(sys.argv[3], {"b": b}))
sys.exit(0 if n else 1)
PY
}
wait_for 3 hook_has a 'b["workload"] == "prod/redis-0" and b["remote_port"] == 6379' ||
	not_ok "redis-exfil: an alert reached the webhook within 3 s"
sleep 1	# the store's batch
ck first_packet "$tmp/a.db" "$tmp/hooks.jsonl" a "$tmp/measured"
stop_agent
[ "$agent_rc" -eq 0 ] && ok "run a: the agent stopped cleanly" || not_ok "run a: agent exit status $agent_rc"
ck only_exfil "$tmp/a.db" a
ck exactly_once "$tmp/a.db" "$tmp/hooks.jsonl" "$tmp/a.alerts.jsonl" "$tmp/a.status.json" a

# --- run B: a policy with a budget, egress ports and zones -------------------------------

cat >"$tmp/policy.yaml" <<'EOF'
apiVersion: egresswatch/v1
kind: Policy
name: alerts-lab
zones:
  prod: [prod]
  dev: [dev]
deny_between:
  - [dev, prod]
workloads:
  - name: redis
    select: {namespace: prod, name: redis-0}
    budget: {outside: 2MiB, window: 5m}
  - name: web
    select: {namespace: prod, name: "web-*"}
    egress:
      - name: dns
        to: [{cidr: 198.51.100.53/32}]
        ports: [udp/53, tcp/53]
      - name: backends
        to: [{cluster: true}]
        ports: [tcp/8080, tcp/6379]
EOF
"$EW_BIN" policy check "$tmp/policy.yaml" >/dev/null || bail "the test's policy file is valid"
start_agent b --policy "$tmp/policy.yaml"

scenario redis-exfil-slow
sleep 1
ck exfil_budget "$tmp/b.db" "$tmp/hooks.jsonl" b "$STATE/logs/exfil-slow.log" "$tmp/measured"

scenario unexpected-port
scenario cross-namespace
sleep 1.5
ck alert "$tmp/b.db" "$tmp/hooks.jsonl" b unexpected-port prod/web-0 203.0.113.66 4444 web/
ck alert "$tmp/b.db" "$tmp/hooks.jsonl" b policy-violation dev/client-0 10.244.0.10 6379 zone/
ck alert "$tmp/b.db" "$tmp/hooks.jsonl" b policy-violation dev/client-0 fd00:10:244::12 8080 zone/
ck exactly_once "$tmp/b.db" "$tmp/hooks.jsonl" "$tmp/b.alerts.jsonl" "$tmp/b.status.json" b
# The zone alerts of the accepting pods name client-0's ephemeral port.
ck only "$tmp/b.db" b policy-violation,prod/redis-0,203.0.113.66,6379 \
	exfil-volume,prod/redis-0,203.0.113.66,6379 \
	unexpected-port,prod/web-0,203.0.113.66,4444 \
	policy-violation,dev/client-0,10.244.0.10,6379 \
	policy-violation,dev/client-0,fd00:10:244::12,8080 \
	policy-violation,prod/redis-0,10.244.0.20,\* \
	policy-violation,prod/api-0,fd00:10:244::20,\*
stop_agent
[ "$agent_rc" -eq 0 ] && ok "run b: the agent stopped cleanly" || not_ok "run b: agent exit status $agent_rc"

# --- run C: the same policy, a quick exfil, then the receiver goes away ------------------------
# (a new agent: the volume detector raises one alert per workload and window)

start_agent c --policy "$tmp/policy.yaml"
scenario redis-exfil
wait_for 4 hook_has c 'b["kind"] == "exfil-volume"' || true
sleep 0.5	# the store's batch
ck quick_exfil "$tmp/c.db" "$tmp/hooks.jsonl" c "$tmp/measured"
ck exactly_once "$tmp/c.db" "$tmp/hooks.jsonl" "$tmp/c.alerts.jsonl" "$tmp/c.status.json" c
ck only "$tmp/c.db" c policy-violation,prod/redis-0,203.0.113.66,6379 \
	exfil-volume,prod/redis-0,203.0.113.66,6379

SB=$tmp/c.status.json
delivered0=$(st_get "$SB" 'w["delivered"]')
submitted0=$(st_get "$SB" 'st["sinks"]["submitted"]')
kill "$receiver"
wait "$receiver" 2>/dev/null || true
receiver=
nhooks0=$(wc -l <"$tmp/hooks.jsonl")
rx0=$(st_get "$SB" 'st["decode"]["bytes"]')
scenario benign
new_alerts() { [ "$(st_get "$SB" 'st["sinks"]["submitted"]')" -gt "$submitted0" ]; }
wait_for 3 new_alerts || bail "receiver down: benign raised new (zone) alerts"
retried() { [ "$(st_get "$SB" 'int(w["retries"] >= 2 and w["pending"] >= 1)')" = 1 ]; }
if wait_for 6 retried; then
	ok "receiver down: alerts queue and are retried ($(st_get "$SB" '"attempts %d, retries %d, failures %d, pending %d, last_status %d" % (w["attempts"], w["retries"], w["failures"], w["pending"], w["last_status"])'))"
else
	not_ok "receiver down: alerts queue and are retried ($(st_get "$SB" 'w'))"
fi
rx1=$(st_get "$SB" 'st["decode"]["bytes"]')
scenario unexpected-port	# 512 KiB more while the webhook keeps failing
# The status file shows counters up to ~2 s old (snapshot and file are each
# refreshed every second).
counted() { rx2=$(st_get "$SB" 'st["decode"]["bytes"]'); [ $((rx2 - rx1)) -ge 524288 ]; }
wait_for 4 counted || true
pdrop=$(st_get "$SB" 'st["pipeline"]["dropped"] + st["capture"]["kernel_drops"]')
# benign moves several hundred KiB, unexpected-port 512 KiB (both ways: the
# capture sees each packet on the pod's veth).
if [ $((rx1 - rx0)) -ge 262144 ] && [ $((rx2 - rx1)) -ge 524288 ] && [ "$pdrop" -eq 0 ]; then
	ok "receiver down: capture keeps counting (decoded bytes $rx0 -> $rx1 -> $rx2, no drops)"
else
	not_ok "receiver down: capture keeps counting (decoded bytes $rx0 -> $rx1 -> $rx2, drops $pdrop)"
fi
pending=$(st_get "$SB" 'w["pending"]')
queued=$(($(st_get "$SB" 'st["sinks"]["submitted"]') - submitted0))
stop_agent
[ "$agent_rc" -eq 0 ] && ok "run c: the agent stopped cleanly" || not_ok "run c: agent exit status $agent_rc"
final=$(st_get "$SB" '"%s %d %d %d %d" % (st["state"], w["delivered"], w["dropped_shutdown"], w["dropped"], w["pending"])')
read -r fstate fdeliv fdrop_sd fdrop fpend <<<"$final"
if [ "$fstate" = stopped ] && [ "$fdeliv" -eq "$delivered0" ] && [ "$fdrop_sd" -ge "$pending" ] &&
	[ "$fdrop_sd" -ge 1 ] && [ "$fdrop" -eq "$fdrop_sd" ] && [ "$fpend" -eq 0 ]; then
	ok "receiver down: $queued new alerts; the $fdrop_sd still pending at shutdown counted as dropped in the final status file"
else
	not_ok "receiver down: final status: state $fstate, delivered $fdeliv (before $delivered0), dropped_shutdown $fdrop_sd (pending was $pending), dropped $fdrop, pending $fpend"
fi
[ "$(wc -l <"$tmp/hooks.jsonl")" -eq "$nhooks0" ] && ok "receiver down: nothing reached the webhook" ||
	not_ok "receiver down: the webhook log grew"
nfile=$(grep -c . "$tmp/c.alerts.jsonl")
ndb=$("$EW_BIN" alerts --db "$tmp/c.db" --json | grep -c .)
[ "$nfile" -eq "$ndb" ] && [ "$ndb" -gt 0 ] &&
	ok "receiver down: the JSON-lines file and the database still got every alert ($ndb)" ||
	not_ok "receiver down: file $nfile alerts, database $ndb"

echo "# measured:"
sed 's/^/#   /' "$tmp/measured" 2>/dev/null || true
echo "# runtime $(($(date +%s) - T0)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
