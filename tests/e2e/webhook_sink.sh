#!/usr/bin/env bash
# Alert sinks against an independent receiver: Python's http.server on
# 127.0.0.1 takes the webhooks, json.loads() checks every body, and the
# Alertmanager v2 bodies are checked against the API's schema (postable
# alerts: labels and annotations maps of strings, RFC 3339 startsAt/endsAt,
# a generatorURL).  Driven by tests/tools/sink_send, which parses the same
# flag values as the agent (--webhook, --alerts-json, --syslog).
#
# Pins down: each non-repeat alert reaches each webhook exactly once, in
# order, in its format; the JSON-lines file holds the same objects; a
# receiver answering 503 makes the sender retry and a dead port makes it
# give up and count, without the run taking longer than its drain time.
set -euo pipefail
: "${EW_BUILD:?}"
tool="$EW_BUILD/sink_send"
[ -x "$tool" ] || { echo "SKIP: $tool not built"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
exec python3 - "$tool" "$work" <<'PY'
import datetime, http.server, json, os, socket, subprocess, sys, threading, time
tool, work = sys.argv[1:3]
fails = []

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f": {detail}" if detail and not cond else ""))
    if not cond:
        fails.append(name)

got = []          # (path, body bytes)
fail_left = {"n": 0}
lock = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        with lock:
            if fail_left["n"] > 0:
                fail_left["n"] -= 1
                code = 503
            else:
                code = 200
                got.append((self.path, body, self.headers.get("Content-Type")))
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{port}"

def rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")

N = 12
jsonl = os.path.join(work, "alerts.jsonl")
fail_left["n"] = 2    # the first two requests get 503: retried
p = subprocess.run([tool, "--count", str(N), "--generator-url", "http://node-1:8080",
                    "--webhook", f"{base}/generic",
                    "--webhook", f"slack={base}/slack,min-severity=warning",
                    "--webhook", f"{base},format=alertmanager",
                    "--alerts-json", jsonl, "--syslog=local4"],
                   capture_output=True, text=True, timeout=60)
check("sink_send ran", p.returncode == 0, p.stderr)
stats = json.loads(p.stdout) if p.returncode == 0 else {"sinks": []}
expected = [i for i in range(N) if i % 5 != 4]          # repeats are skipped
warn_up = [i for i in expected if i % 3 >= 1]

def bodies(path):
    return [b for pth, b, _ in got if pth == path]

def num(msg):
    return int(msg.rsplit("#", 1)[1])

# generic JSON: the alert object
gen = [json.loads(b) for b in bodies("/generic")]
check("generic webhook: each alert once, in order", [num(a["message"]) for a in gen] == expected,
      [num(a["message"]) for a in gen])
keys = {"first_seen", "last_seen", "count", "severity", "kind", "rule", "workload",
        "remote_ip", "remote_port", "bytes_sent", "message", "dedup_key", "evidence"}
check("generic webhook: the contract's fields", all(keys <= set(a) for a in gen))
check("generic webhook: evidence is an object", all(isinstance(a["evidence"], dict) for a in gen))
check("generic webhook: message round-trips exactly",
      gen and gen[0]["message"].startswith("prod/redis-0 (listen-only datastore") and
      "\"quoted\" <b>&amp; \u2014 4.8 MiB" in gen[0]["message"])
check("generic webhook: unknown workload is null", len(gen) > 1 and gen[1]["workload"] is None)
check("content type is application/json", all(ct == "application/json" for _, _, ct in got))

# Slack: {"text": "..."} only, warning and up
sl = [json.loads(b) for b in bodies("/slack")]
check("slack webhook: only {text}", all(set(m) == {"text"} and isinstance(m["text"], str) for m in sl))
check("slack webhook: min-severity=warning", [num(m["text"].split(" (rule")[0]) for m in sl] == warn_up,
      [m["text"][:60] for m in sl])
check("slack webhook: severity first", sl and sl[0]["text"].startswith("[WARNING] listen-only-egress: "))

# Alertmanager v2: POST /api/v2/alerts with an array of postable alerts
am = [json.loads(b) for b in bodies("/api/v2/alerts")]
ok_schema = True
for arr in am:
    if not isinstance(arr, list) or len(arr) != 1:
        ok_schema = False; continue
    a = arr[0]
    if set(a) - {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}:
        ok_schema = False
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in a["labels"].items()):
        ok_schema = False
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in a["annotations"].items()):
        ok_schema = False
    import re
    if not all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) for k in a["labels"]):
        ok_schema = False
    if rfc3339(a["endsAt"]) <= rfc3339(a["startsAt"]):
        ok_schema = False
check("alertmanager: postable-alert schema", am and ok_schema, am[:1])
check("alertmanager: each alert once", [num(x[0]["annotations"]["summary"]) for x in am] == expected)
a0 = am[0][0] if am else {"labels": {}, "annotations": {}}
check("alertmanager: labels", a0["labels"].get("alertname") == "EgressWatchPolicyViolation" and
      a0["labels"].get("severity") == "info" and a0["labels"].get("workload") == "prod/redis-0" and
      a0["labels"].get("namespace") == "prod" and a0["labels"].get("remote") == "203.0.113.66",
      a0["labels"])
check("alertmanager: generatorURL and endsAt = last seen + 1 h",
      a0.get("generatorURL") == "http://node-1:8080" and
      (rfc3339(a0["endsAt"]) - rfc3339(a0["startsAt"])).total_seconds() == 3600.5)
check("alertmanager: IPv6 remote label", len(am) > 1 and am[1][0]["labels"].get("remote") == "2001:db8::66")

# JSON lines: the same objects, one per line
lines = open(jsonl).read().splitlines()
objs = [json.loads(l) for l in lines]
check("json lines: one valid object per alert", [num(o["message"]) for o in objs] == expected)
check("json lines = generic webhook bodies", objs == gen)

# counters
names = [s["name"] for s in stats["sinks"]]
check("sink names hide URL paths", all("/generic" not in n and "/slack" not in n for n in names), names)
retried = [s for s in stats["sinks"] if s["failures"]]
check("503s were retried, nothing lost", sum(s["failures"] for s in stats["sinks"]) == 2 and
      all(s["dropped_shutdown"] == 0 for s in stats["sinks"]), stats)

# A dead webhook: the run still ends within its drain time, and counts.
s = socket.socket(); s.bind(("127.0.0.1", 0)); dead = s.getsockname()[1]; s.close()
t0 = time.monotonic()
p = subprocess.run([tool, "--count", "5", "--drain-ms", "500",
                    "--webhook", f"http://127.0.0.1:{dead}/x"],
                   capture_output=True, text=True, timeout=60)
dt = time.monotonic() - t0
st = json.loads(p.stdout)["sinks"][0]
check("dead webhook: close gives up after drain time", dt < 3.0, f"{dt:.1f} s")
check("dead webhook: undelivered alerts counted", st["delivered"] == 0 and
      st["dropped_shutdown"] == 4 and st["failures"] >= 1, st)
srv.shutdown()
print(f"{len(got)} requests received")
print(f"{1 if not fails else 0} passed, {1 if fails else 0} failed")
sys.exit(1 if fails else 0)
PY
