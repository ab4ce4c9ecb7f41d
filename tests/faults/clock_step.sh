#!/usr/bin/env bash
# clock_step.sh - the system clock is stepped under a running agent (real
# steps of CLOCK_REALTIME, undone at exit): the flow table follows, so a step
# back does not freeze a flow's updates and a step forward neither ends nor
# splits flows.
#
#   netns A                              host netns: egresswatch run      netns B
#   eth0 203.0.113.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 203.0.113.2/24
#   UDP :40000 -> B:7000, 4 a second, the whole test ("steady")
#   UDP :40001 -> B:7000, once at the start ("quiet")
#
#   1. the steady flow is in the database
#   2. the clock steps back 10 minutes -> one "wall clock was stepped" line,
#      capture.clock_steps 1, and the steady flow's row keeps growing (without
#      the rebase, its updates would wait the 10 minutes out)
#   3. the clock steps forward 10 minutes -> capture.clock_steps 2, the steady
#      flow is still one row, not ended; the quiet flow (idle 60 s timeout)
#      has not ended either
#   At the end (SIGTERM, exit 0): one row per flow, each ended "shutdown",
#   none with its end before its start.
#
# Runs alone (RUN_SERIAL in CMakeLists.txt): other tests must not see the
# clock move.  Exit 77 (skip) where namespaces cannot be made or the clock
# cannot be set (no CAP_SYS_TIME).
set -euo pipefail
T=clock_step
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3

# step SECONDS: move CLOCK_REALTIME by SECONDS (negative: back), keeping the
# sum in $FT_TMP/offset so that the exit undoes exactly what was done.
step() {
	python3 - "$1" "$FT_TMP/offset" <<'EOF'
import os, sys, time
d = int(float(sys.argv[1]) * 1e9)
path = sys.argv[2]
total = int(open(path).read()) if os.path.exists(path) else 0
time.clock_settime_ns(time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME) + d)
with open(path + ".tmp", "w") as f:
    f.write(str(total + d))
os.replace(path + ".tmp", path)
EOF
}
undo_steps() {
	[ -f "$FT_TMP/offset" ] || return 0
	python3 - "$FT_TMP/offset" <<'EOF'
import sys, time
d = int(open(sys.argv[1]).read())
if d:
    time.clock_settime_ns(time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME) - d)
EOF
	rm -f "$FT_TMP/offset"
}
python3 -c 'import time; time.clock_settime_ns(time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME))' 2>/dev/null ||
	ft_skip "the clock cannot be set here (CAP_SYS_TIME)"
ft_on_exit undo_steps

ft_bridge
ft_pod a 203.0.113.1/24
ft_pod b 203.0.113.2/24
ft_agent --db "$FT_TMP/flows.db"

ft_in a python3 - <<'EOF' &
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 40001))
s.sendto(b"q" * 100, ("203.0.113.2", 7000))
s.close()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 40000))
end = time.monotonic() + 60
while time.monotonic() < end:
    s.sendto(b"s" * 100, ("203.0.113.2", 7000))
    time.sleep(0.25)
EOF
FT_PIDS+=($!)

# row PORT FIELD: FIELD of the one row of the flow from PORT as seen on A's
# veth ("none": no row; "many": more than one)
row() {
	ft_flows "$FT_TMP/flows.db" --port 7000
	python3 - "$FT_TMP/flows.json" "$1" "$2" "$P-aa" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in rows if r["interface"] == sys.argv[4] and
        (r["local_port"] == int(sys.argv[2]) or r["remote_port"] == int(sys.argv[2]))]
print("none" if not mine else "many" if len(mine) > 1 else mine[0][sys.argv[3]])
EOF
}
sent() { row 40000 packets_sent; }
has_rows() { [ "$(sent)" != none ] && [ "$(row 40001 packets_sent)" != none ]; }

# 1. ---------------------------------------------------------------------------
ft_wait 15 has_rows || ft_fail "the flows never reached the database"
ft_alive

# 2. ---------------------------------------------------------------------------
p0=$(sent)
step -600
stepped() { [ "$(ft_log_count "live: the wall clock was stepped by -[0-9.]+ s")" -eq 1 ]; }
ft_wait 5 stepped || ft_fail "no log line for the step back"
ft_wait 5 ft_true "s['capture']['clock_steps'] == 1" ||
	ft_fail "capture.clock_steps is $(ft_status "s['capture']['clock_steps']"), not 1"
grown() { local p; p=$(sent); [ "$p" != none ] && [ "$p" != many ] && [ "$p" -ge $((p0 + 8)) ]; }
ft_wait 10 grown || ft_fail "after the step back the steady flow's row stopped growing ($p0 -> $(sent) packets)"
echo "after the step back: steady flow $p0 -> $(sent) packets sent"

# 3. ---------------------------------------------------------------------------
p1=$(sent)
step 600
ft_wait 5 ft_true "s['capture']['clock_steps'] == 2" ||
	ft_fail "capture.clock_steps is $(ft_status "s['capture']['clock_steps']"), not 2"
grown2() { local p; p=$(sent); [ "$p" != none ] && [ "$p" != many ] && [ "$p" -ge $((p1 + 8)) ]; }
ft_wait 10 grown2 || ft_fail "after the step forward the steady flow is not one growing row ($p1 -> $(sent))"
[ "$(row 40000 state)" = active ] || ft_fail "the steady flow is $(row 40000 state) after the step forward"
[ "$(row 40001 state)" = active ] || ft_fail "the quiet flow is $(row 40001 state) after the step forward ($(row 40001 end_reason))"
ft_true "s['flows']['expired'] == 0" ||
	ft_fail "flows expired at the step: $(ft_status "s['flows']['expired']")"
echo "after the step forward: steady flow $p1 -> $(sent) packets sent, one row, nothing expired"
ft_alive

ft_stop
undo_steps
ft_flows "$FT_TMP/flows.db" --port 7000
python3 - "$FT_TMP/flows.json" "$P-aa" "$P-ba" <<'EOF' || ft_fail "the stored flows are not as expected"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = True
for ifname in sys.argv[2:]:
    ports = sorted(r["local_port"] if r["remote_port"] == 7000 else r["remote_port"]
                   for r in rows if r["interface"] == ifname)
    print(ifname, ports)
    ok &= ports == [40000, 40001]
for r in rows:
    print(r["interface"], r["local_port"], r["remote_port"], r["start"], r["end"],
          r["state"], r["end_reason"], r["packets_sent"], r["packets_received"])
    ok &= r["state"] == "ended" and r["end_reason"] == "shutdown"
    ok &= r["end"] >= r["start"]
sys.exit(0 if ok else 1)
EOF
[ "$(ft_log_count "live: the wall clock was stepped by")" -eq 2 ] ||
	ft_fail "expected one log line per step"
echo "PASS: clock_step"
