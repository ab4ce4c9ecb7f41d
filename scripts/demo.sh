#!/usr/bin/env bash
# demo.sh - the live lab demo: a miniature Kubernetes node in network
# namespaces (scripts/lab), egresswatch capturing on its pods' veths with the
# built-in policy, benign traffic, then the backdoored Redis pod shipping its
# data to 203.0.113.66:6379 - and what egresswatch saw.
#
#   bash scripts/demo.sh            run, then keep the agent and dashboard
#                                   up until Ctrl-C; everything is torn down
#   EW_DEMO_STAY=0 bash scripts/demo.sh   tear down right after the report
#
# For tests/e2e/demo.sh: EW_DEMO_BIN (a built egresswatch: no setup, no
# build), EW_DEMO_WORK (default /var/tmp/egresswatch-demo), EW_DEMO_LISTEN
# (default 127.0.0.1:8080), and the lab's EW_LAB_PREFIX and
# EW_LAB_PODLOG_ROOT, which the agent is pointed at too.
#
# Traffic stays inside the lab's own namespaces; nothing is routed to the
# machine's uplink.  Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it creates network namespaces)" >&2
	exit 1
fi

if [ -n "${EW_DEMO_BIN:-}" ]; then
	ew=$EW_DEMO_BIN
else
	bash scripts/setup.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j"$(nproc)" --target egresswatch >/dev/null
	ew=$root/build/egresswatch
fi

export EW_LAB_PREFIX=${EW_LAB_PREFIX:-ewdemo}
podlogs=${EW_LAB_PODLOG_ROOT:-/var/log/pods}
work=${EW_DEMO_WORK:-/var/tmp/egresswatch-demo}
listen=${EW_DEMO_LISTEN:-127.0.0.1:8080}
agent_pid=""

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		kill -TERM "$agent_pid"
		wait "$agent_pid" 2>/dev/null || true
	fi
	bash scripts/lab down >/dev/null 2>&1 || true
	echo "demo: lab torn down; the flow history stays in $work/flows.db"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$work"
mkdir -p "$work"
echo "== building the lab (prefix $EW_LAB_PREFIX)"
bash scripts/lab up

echo "== starting the agent (built-in policy, dashboard on $listen; log in $work/agent.log)"
"$ew" run --db "$work/flows.db" --status-file "$work/status.json" \
	--exclude "${EW_LAB_PREFIX}-gw0" --listen "$listen" --pod-logs-dir "$podlogs" \
	--alerts-json "$work/alerts.jsonl" >"$work/agent.log" 2>&1 &
agent_pid=$!
# Ready when it captures the four pods' veths.
for _ in $(seq 100); do
	n=$(grep -c "live: capturing on" "$work/agent.log" 2>/dev/null || true)
	[ "${n:-0}" -ge 4 ] && break
	kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log"; exit 1; }
	sleep 0.1
done
grep -E "attribution: host scan|capturing on [0-9]+ interfaces|policy:|dashboard:" "$work/agent.log" | sed 's/^[^ ]* [a-z]* /  /'


echo "== scenario: benign traffic"
bash scripts/lab scenario benign | sed 's/^/  /'
echo "== scenario: redis-exfil (the backdoored Redis image)"
bash scripts/lab scenario redis-exfil | sed 's/^/  /'

# Closed TCP flows are final once their 5 s linger ends; ask for the report
# after that so every byte is counted.
sleep 6
echo
echo "== what egresswatch recorded: flows judged 'alert'"
"$ew" flows --db "$work/flows.db" --json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
bad = [f for f in rows if f["verdict"] in ("alert", "audit")]
for f in bad:
    print("  %-14s %s %s:%s -> %s:%s (%s) sent %d bytes  verdict=%s" % (
        f["workload"], f["direction"], f["local_ip"], f["local_port"], f["remote_ip"],
        f["remote_port"], f["remote_name"] or "?", f["bytes_sent"], f["verdict"]))
print("  %d flows recorded, %d judged alert/audit, %d with a workload, %d named by DNS" % (
    len(rows), len(bad), sum(1 for f in rows if f["workload"]),
    sum(1 for f in rows if f["remote_name"])))
'
echo
echo "== alerts (also in $work/alerts.jsonl)"
"$ew" alerts --db "$work/flows.db" | sed 's/^/  /'
echo
echo "== agent counters"
"$ew" status --status-file "$work/status.json" | sed -n '1,40s/^/  /p'
echo
echo "history:   $ew flows --db $work/flows.db"
echo "dashboard: http://$listen/ (open it while the agent runs)"
if [ "${EW_DEMO_STAY:-1}" = "1" ] && [ -t 0 ]; then
	echo "The agent keeps capturing: try 'EW_LAB_PREFIX=$EW_LAB_PREFIX bash scripts/lab scenario cross-namespace'."
	echo "Press Ctrl-C to stop and tear everything down."
	wait "$agent_pid"
fi
