#!/usr/bin/env bash
# live_reload.sh - SIGHUP re-reads the configuration file: include/exclude
# changes take effect at once, flows of interfaces that stay captured go on
# untouched, and a broken file changes nothing and says why in one line.
#
#   netns pod A                      host netns (agent)                      netns pod B
#   eth0 203.0.113.1/24 --- veth $VA ---+--- $BR (bridge, ---+--- veth $VB --- eth0 203.0.113.2/24
#   a TCP stream to B:9000 for the        no address)                           socat :9000 (sink)
#   whole test                          $VD (a tap device, not a veth)
#
#   1. exclude = $VB            -> $VA captured; $VB (excluded) and $VD (no
#                                  match) are not
#   2. include = $VD, SIGHUP    -> $VA, $VB and $VD captured; the stream's
#                                  flow on $VA is the same flow before and
#                                  after (one row, not ended)
#   3. exclude = $VA, SIGHUP    -> $VA's flows end as interface-gone
#   4. snaplen = lots, SIGHUP   -> "reload: FILE:1: snaplen: ...; keeping the
#                                  running configuration"; nothing changes
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: live_reload: $*"; [ -f "${tmp:-}/agent.log" ] && cat "$tmp/agent.log"; exit 1; }
skip() { echo "SKIP: live_reload: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
. "$(dirname "$0")/../lib/two_pods.bash"
netns_need
for t in python3 socat; do
	command -v $t >/dev/null || fail "$t is not installed (scripts/setup.sh)"
done

two_pods_up ewr
VD=ewr${rid}d
conf=$tmp/egresswatch.conf
NETNS_LINKS+=("$VD")
ip tuntap add dev "$VD" mode tap # as a VM's interface: not a veth
sysctl -qw "net.ipv6.conf.$VD.disable_ipv6=1"
ip link set "$VD" up
ip netns exec "$NB" socat -u TCP-LISTEN:9000,bind=203.0.113.2,reuseaddr OPEN:/dev/null \
	>/dev/null 2>&1 &

states() { # -> "name=state ..." of our three interfaces
	python3 - "$tmp/status.json" "$VA" "$VB" "$VD" <<'EOF' 2>/dev/null || echo none
import json, sys
s = {i["name"]: i["state"] for i in json.load(open(sys.argv[1]))["interfaces"]}
print(" ".join(f"{n}={s.get(n, 'none')}" for n in sys.argv[2:]))
EOF
}
wait_states() { # EXPECTED
	for _ in $(seq 50); do [ "$(states)" = "$1" ] && return 0; sleep 0.1; done
	fail "interfaces: $(states), expected $1"
}
reloads() { grep -c "reload:" "$tmp/agent.log" || true; }
hup() { # wait for the reload line it causes
	local n
	n=$(reloads)
	kill -HUP "$agent"
	for _ in $(seq 50); do [ "$(reloads)" -gt "$n" ] && return 0; sleep 0.1; done
	fail "no reload logged"
}

# 1. ------------------------------------------------------------------------
printf '# test configuration\nexclude = %s\n' "$VB" >"$conf"
"$EW_BIN" run --config "$conf" --db "$tmp/flows.db" --status-file "$tmp/status.json" \
	>"$tmp/agent.log" 2>&1 &
agent=$!
wait_states "$VA=capturing $VB=none $VD=none"
ip netns exec "$NA" python3 -c '
import socket, time
s = socket.create_connection(("203.0.113.2", 9000))
while True:
    s.sendall(b"x" * 1000)
    time.sleep(0.05)
' &
sleep 1
echo "1. excluded $VB, captured $VA only"

# 2. ------------------------------------------------------------------------
printf 'include = %s\n' "$VD" >"$conf"
t_reload=$(date +%s.%N)
hup
wait_states "$VA=capturing $VB=capturing $VD=capturing"
sleep 1
echo "2. include $VD: all three captured"

# 3. ------------------------------------------------------------------------
printf 'include = %s\nexclude = %s\n' "$VD" "$VA" >"$conf"
hup
wait_states "$VA=none $VB=capturing $VD=capturing"
echo "3. excluded $VA: no longer captured"

# 4. ------------------------------------------------------------------------
printf 'snaplen = lots\nexclude = %s\n' "$VB" >"$conf"
hup
grep -q "reload: $conf:1: snaplen: expected a number from 128 to 262144, got 'lots'; keeping the running configuration" \
	"$tmp/agent.log" || fail "broken configuration not reported as expected"
sleep 1.2
wait_states "$VA=none $VB=capturing $VD=capturing"
kill -0 "$agent" || fail "agent died on a broken configuration"
echo "4. broken file: $(grep 'keeping the running' "$tmp/agent.log" | cut -d' ' -f3-)"

kill -TERM "$agent"
wait "$agent" || fail "agent exited with status $?"
agent=
"$EW_BIN" flows --db "$tmp/flows.db" --json --port 9000 >"$tmp/flows.json"
python3 - "$tmp/flows.json" "$VA" "$VB" "$t_reload" <<'EOF' || fail "flows across reloads are wrong"
import json, sys
from datetime import datetime
va, vb, t_reload = sys.argv[2], sys.argv[3], float(sys.argv[4])
flows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
epoch = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
a = [f for f in flows if f["interface"] == va]
b = [f for f in flows if f["interface"] == vb]
ok = True
if len(a) != 1:
    print(f"expected one flow of the stream on {va}, got {len(a)}"); ok = False
else:
    f = a[0]
    print(f"{va}: stream flow {f['id']} from {f['start']} to {f['end']}, "
          f"{f['packets_sent']} packets, ended {f['end_reason']}")
    if not epoch(f["start"]) < t_reload < epoch(f["end"]) - 0.5:
        print("the flow did not go on across the first reload"); ok = False
    if f["end_reason"] != "interface-gone":
        print("excluding the interface did not end its flow as interface-gone"); ok = False
if len(b) != 1 or b[0]["end_reason"] != "shutdown":
    print(f"expected the stream on {vb} from the first reload on, ended at shutdown"); ok = False
sys.exit(0 if ok else 1)
EOF
echo "PASS: live_reload"
