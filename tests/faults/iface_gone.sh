#!/usr/bin/env bash
# iface_gone.sh - a container's veth is deleted in the middle of a burst:
# the agent keeps running and capturing everything else, the flows of that
# interface end as `interface-gone` (one row each, not split), and every
# counter still adds up.
#
#   netns A                              host netns: egresswatch run      netns B
#   eth0 203.0.113.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 203.0.113.2/24
#   iperf3 -c B (TCP, 400 Mbit/s)    |           |              iperf3 -s
#                                    +--- $P-ca --- eth0 203.0.113.3/24   netns C
#                                                   UDP flows to B:7000 afterwards
#
#   1. the burst runs for 2 s (the agent sees it on $P-aa and $P-ba)
#   2. `ip link del $P-aa` while it runs -> one "stopped capturing on $P-aa:
#      removed" line, $P-aa gone from the status, the agent alive
#   3. C sends 50 UDP flows to B -> captured on $P-ca and $P-ba
#   At the end (SIGTERM, exit 0): the stream's flow on $P-aa is one row that
#   ended interface-gone when the link went (its last packet within 1 s of the
#   deletion) and carries most of what iperf3 sent before it; created ==
#   active + expired + evicted + ended_shutdown with nothing active; pipeline
#   events == processed; store queued == written + dropped.
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail
T=iface_gone
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3 iperf3

ft_bridge
ft_pod a 203.0.113.1/24
ft_pod b 203.0.113.2/24
ft_pod c 203.0.113.3/24
ft_in b iperf3 -s -B 203.0.113.2 -p 5201 >/dev/null 2>&1 &
FT_PIDS+=($!)
ft_agent --db "$FT_TMP/flows.db"
listening() { [ -n "$(ft_in b ss -Hltn 'sport = :5201')" ]; }
ft_wait 5 listening || ft_fail "iperf3 server did not start"

invariants() { # WHEN: the flow table's counters add up
	python3 - "$FT_TMP/status.json" "$1" <<'EOF' || ft_fail "flow counters do not add up ($1)"
import json, sys
f = json.load(open(sys.argv[1]))["flows"]
total = f["active"] + f["expired"] + f["evicted"] + f["ended_shutdown"]
sys.exit(0 if f["created"] == total else 1)
EOF
}

# 1. ---------------------------------------------------------------------------
ft_in a iperf3 -c 203.0.113.2 -p 5201 -t 8 -b 400M -J >"$FT_TMP/iperf.json" 2>&1 &
client=$!
FT_PIDS+=($client)
sleep 2
invariants "during the burst"
ft_capturing "$P-aa" "$P-ba" || ft_fail "not capturing the burst's interfaces"

# 2. ---------------------------------------------------------------------------
t_del=$(date +%s.%N)
ip link del "$P-aa"
gone() { [ "$(ft_log_count "live: stopped capturing on $P-aa: removed")" -eq 1 ]; }
ft_wait 5 gone || ft_fail "no 'stopped capturing on $P-aa: removed' line"
ft_wait 3 ft_true "not any(i['name'] == '$P-aa' for i in s['interfaces'])" ||
	ft_fail "$P-aa is still in the status"
ft_alive
invariants "after the deletion"
kill "$client" 2>/dev/null || true
echo "2. deleted $P-aa mid-burst: $(grep -o "live: stopped capturing on $P-aa.*" "$FT_TMP/agent.log")"

# 3. ---------------------------------------------------------------------------
recv=$(ft_status "next(i['received'] for i in s['interfaces'] if i['name'] == '$P-ca')")
ft_udp c 203.0.113.2 7000 20000 50
ft_wait 5 ft_true "next(i['received'] for i in s['interfaces'] if i['name'] == '$P-ca') >= $recv + 100" ||
	ft_fail "capture on the other interfaces stopped"
ft_alive
invariants "afterwards"
echo "3. still capturing on $P-ba and $P-ca"

ft_stop
invariants "at the end"
python3 - "$FT_TMP/status.json" <<'EOF' || ft_fail "counters do not add up at the end"
import json, sys
s = json.load(open(sys.argv[1]))
f, pl, st = s["flows"], s["pipeline"], s["store"]
print(f"flows: created={f['created']} active={f['active']} expired={f['expired']} "
      f"evicted={f['evicted']} ended_shutdown={f['ended_shutdown']}; pipeline "
      f"events={pl['events']} processed={pl['processed']}; store queued={st['queued']} "
      f"written={st['written']}; capture detached={s['capture']['detached']} "
      f"kernel_drops={s['capture']['kernel_drops']}")
ok = f["active"] == 0 and pl["events"] == pl["processed"] and pl["dropped"] == 0
ok &= st["queued"] == st["written"] + st["dropped_write_error"] + st["dropped_invalid"]
sys.exit(0 if ok else 1)
EOF
ft_flows "$FT_TMP/flows.db"
python3 - "$FT_TMP/flows.json" "$P" "$t_del" "$FT_TMP/iperf.json" <<'EOF' || ft_fail "the flows of the deleted interface are wrong"
import json, sys
from datetime import datetime
P, t_del = sys.argv[2], float(sys.argv[3])
flows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ts = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
ok = True
a = [f for f in flows if f["interface"] == P + "-aa"]
stream = [f for f in a if f["proto"] == "tcp" and 5201 in (f["remote_port"], f["local_port"])]
data = [f for f in stream if f["bytes_sent"] > 1 << 20]
if len(data) != 1:
    print(f"expected one row for the iperf3 data stream on {P}-aa, got {len(data)}"); ok = False
else:
    f = data[0]
    lag = t_del - ts(f["end"])
    print(f"stream on {P}-aa: {f['bytes_sent'] / 1e6:.1f} MB sent, ended {f['end_reason']} "
          f"{lag:.2f} s before the deletion was issued")
    if f["end_reason"] != "interface-gone":
        print("it did not end as interface-gone"); ok = False
    if not -0.5 <= lag <= 1.0:
        print("its last packet is not at the deletion"); ok = False
    if f["bytes_sent"] < 40e6:
        print("less than 40 MB recorded of a 2 s burst at 400 Mbit/s"); ok = False
bad = [f for f in a if f["end_reason"] not in ("interface-gone", "fin", "rst", "idle")]
if bad:
    print(f"{len(bad)} flows on the deleted interface ended otherwise"); ok = False
if any(f["end_reason"] == "interface-gone" for f in flows if f["interface"] != P + "-aa"
       and f["interface"].startswith(P)):
    print("flows of other interfaces ended as interface-gone"); ok = False
c = [f for f in flows if f["interface"] == P + "-ca" and f["remote_port"] == 7000]
print(f"afterwards on {P}-ca: {len(c)}/50 UDP flows")
ok &= len(c) == 50
sys.exit(0 if ok else 1)
EOF
echo "PASS: $T"
