#!/usr/bin/env bash
# status_cmd.sh - `egresswatch status` against a running agent and after it:
# the human view lists both veths with their counters and every counter
# group of the status file (the view is generic over the file's values, so a
# group it does not name must still show), --json is the file as written,
# the exit status says running (0) or stopped (1), and a file that is not
# a status file (damaged, cut short, hostile) is a one-line error, exit 1.
#
#   netns A: eth0 203.0.113.1/24 --- veth $VA ---+--- $BR ---+--- veth $VB --- eth0 203.0.113.2/24 :netns B
#   (tests/lib/two_pods.bash); 20 UDP datagrams from A to B:7000
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: status_cmd: $*"; [ -f "${tmp:-}/agent.log" ] && cat "$tmp/agent.log"; exit 1; }
skip() { echo "SKIP: status_cmd: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/two_pods.bash"
netns_need
command -v python3 >/dev/null || fail "python3 is not installed (scripts/setup.sh)"
two_pods_up ewt

st=$tmp/status.json
"$EW_BIN" run --db "$tmp/flows.db" --status-file "$st" --kubeconfig none \
	--docker-socket none >"$tmp/agent.log" 2>&1 &
agent=$!
capturing() {
	"$EW_BIN" status --status-file "$st" >"$tmp/human.txt" 2>&1 &&
		grep -q "$VA .*capturing" "$tmp/human.txt" &&
		grep -q "$VB .*capturing" "$tmp/human.txt"
}
for _ in $(seq 100); do capturing && break; sleep 0.1; done
capturing || fail "status does not show both veths capturing: $(cat "$tmp/human.txt")"
ip netns exec "$NA" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b"x" * 100, ("203.0.113.2", 7000))
'
# The status file is rewritten every second from a snapshot taken every
# second, after a ring block's 200 ms: wait for the packets to show.
seen() {
	"$EW_BIN" status --status-file "$st" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if len(s["interfaces"]) == 2 and all(i["received"] >= 20 for i in s["interfaces"]) else 1)'
}
for _ in $(seq 100); do seen && break; sleep 0.1; done
seen || fail "the 20 datagrams do not show in the status"

# While running: exit 0, the header, both interfaces with 20+ packets, and
# every top-level group of the file as a section.
"$EW_BIN" status --status-file "$st" >"$tmp/human.txt" || fail "status exits $? while running"
"$EW_BIN" status --status-file "$st" --json >"$tmp/json.txt" || fail "status --json exits $?"
cmp -s "$tmp/json.txt" "$st" || python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/json.txt" ||
	fail "--json is not the status file's JSON"
python3 - "$tmp/human.txt" "$tmp/json.txt" "$VA" "$VB" <<'EOF' || fail "the human view is incomplete: $(cat "$tmp/human.txt")"
import json, re, sys
human = open(sys.argv[1]).read()
s = json.load(open(sys.argv[2]))
ok = human.startswith("egresswatch ") and ": running, up " in human.splitlines()[0]
for name in sys.argv[3:5]:
    m = re.search(r"^  %s\s+capturing\s+(\d+)\s+(\d+)\s+(\d+)" % re.escape(name), human, re.M)
    ok &= bool(m) and int(m.group(1)) >= 20
# Every object at top level other than config has its section, and each of
# its numbers is shown under its own name (the values may have moved
# between the two reads, so only the names are compared).
for group, val in s.items():
    if group == "config" or not isinstance(val, dict):
        continue
    if ("\n%s\n" % group) not in human:
        print("no section", group)
        ok = False
    for k, v in val.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and \
                re.search(r"(^|\s)%s\s+-?[0-9]" % re.escape(k), human, re.M) is None:
            print("not shown:", group, k)
            ok = False
print("sections:", sorted(g for g, v in s.items() if isinstance(v, dict)))
sys.exit(0 if ok else 1)
EOF
grep -q "^capture$" "$tmp/human.txt" && grep -q "clock_steps" "$tmp/human.txt" ||
	fail "the capture section or its clock_steps counter is missing"

kill -TERM "$agent"
wait "$agent" || fail "the agent exited with status $?"
agent=
if "$EW_BIN" status --status-file "$st" >"$tmp/human.txt" 2>&1; then
	fail "status exits 0 after the agent stopped"
fi
grep -q ": stopped" "$tmp/human.txt" || fail "stopped agent not reported: $(head -1 "$tmp/human.txt")"

# Not status files: each a one-line error naming the file, exit 1.
printf '{"state": "running", "pid": 1' >"$tmp/cut.json"
printf '[1, 2, 3]' >"$tmp/array.json"
python3 -c 'print("{" + "\"a\":{" * 40 + "}" * 40 + "}")' >"$tmp/deep.json"
printf '{"state": "run\\u0000ning"}' >"$tmp/nul.json"
printf '{"state": "running", "state": "stopped"}' >"$tmp/dup.json"
for f in cut array deep nul dup; do
	if "$EW_BIN" status --status-file "$tmp/$f.json" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
		fail "status accepted $f.json"
	fi
	[ "$(wc -l <"$tmp/err.txt")" -eq 1 ] && grep -q "$tmp/$f.json: not a status file" "$tmp/err.txt" ||
		fail "$f.json: expected one 'not a status file' line, got: $(cat "$tmp/err.txt")"
done
"$EW_BIN" status --status-file "$tmp/none.json" 2>"$tmp/err.txt" && fail "status accepted a missing file"
grep -q "is the agent running" "$tmp/err.txt" || fail "missing file: $(cat "$tmp/err.txt")"
echo "PASS: status_cmd"
