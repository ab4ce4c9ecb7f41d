#!/usr/bin/env bash
# clock_jump.sh - a capture whose clock jumps back by three hours and then
# forward by six (a host whose clock was stepped while it captured), replayed
# through the real pipeline: times stay monotonic and durations
# non-negative, the backward jump ends nothing, the forward jump ends each
# flow idle across it exactly once (no flow ended and started over and over),
# and every packet and byte is in exactly one flow.
#
# The system clock cannot be stepped safely on a shared machine, so the jumps
# are in a generated pcap (tests/lib/pcapgen.py), replayed with packet time as
# the clock - the same flow table and timers as live capture.  What live
# capture does with the clock is in the README ("Clocks").
#
#   packet time   T = 2025-11-24 16:00:00 UTC
#   phase A  T .. T+20 s            L: TCP 10.1.0.1:40000 <-> 198.51.100.7:443,
#                                      a request and an answer every 0.5 s, all along
#                                   100 UDP flows 10.1.0.1:20000.. -> :7000 (first 5 s)
#   phase B  T+20 s-3 h .. +120 s   (back 3 h) L goes on; UDP 30000.. (first 5 s);
#                                   120 s > the UDP idle timeout (60 s) in B's time
#   phase C  T+140 s+3 h .. +20 s   (forward 6 h from B's stamps, 3 h past A's)
#                                   L goes on; UDP 40000.. (first 5 s)
#
# Expected, from the flow table's rule that its clock is the latest time it
# has seen and a packet stamped earlier means "no time passed":
#   - phase B's flows are stamped with the clock (A's last time), not with
#     their own earlier stamps, so no time goes backwards in the records and
#     nothing ends during B (its timers are frozen until time passes again);
#   - at the forward jump, everything idle longer than its timeout ends
#     `idle` once: A's and B's 200 UDP flows and L's first part; L goes on as
#     one new flow to the end; C's flows end at the end of the replay;
#   - 302 flows, every packet and byte of the file in exactly one of them.
set -euo pipefail
T=clock_jump
. "$(dirname "$0")/common.bash"
ft_need python3

cd "$FT_TMP"
python3 - "$EW_SOURCE/tests/lib" <<'EOF' >gen.txt
import sys
sys.path.insert(0, sys.argv[1])
import pcapgen
T = 1764000000.0
pc = pcapgen.Pcap(T)
cli, srv, sink = "10.1.0.1", "198.51.100.7", "198.51.100.8"
seq = {"c": 1000, "s": 5000}
pkts = byts = 0

def put(at, src, dst, proto, l4):
    global pkts, byts
    pc.t = at
    byts += pc.packet(src, dst, proto, l4, dt=0)
    pkts += 1

def tcp(at, frm, flags, n=0):
    s, d, sp, dp, me, peer = ((cli, srv, 40000, 443, "c", "s") if frm == "c"
                              else (srv, cli, 443, 40000, "s", "c"))
    put(at, s, d, 6, pcapgen.tcp(sp, dp, flags, b"x" * n, seq[me], seq[peer]))
    seq[me] += n

def phase(t0, span, first_port):
    # L every 0.5 s, UDP flows in the first 5 s, in time order
    events = [(t0 + i * 0.5, "L") for i in range(int(span / 0.5))]
    events += [(t0 + 0.05 * i + 0.01, first_port + i) for i in range(100)]
    for at, what in sorted(events):
        if what == "L":
            tcp(at, "c", "PA", 200)
            tcp(at + 0.001, "s", "PA", 1200)
        else:
            put(at, cli, sink, 17, pcapgen.udp(what, 7000, b"u" * 60))

tcp(T, "c", "S"); tcp(T + 0.001, "s", "SA"); tcp(T + 0.002, "c", "A")
phase(T + 0.01, 20, 20000)
phase(T + 20 - 3 * 3600, 120, 30000)
phase(T + 140 + 3 * 3600, 20, 40000)
pc.save("jump.pcap")
print(pkts, byts, T)
EOF
read -r want_pkts want_bytes t0 <gen.txt

"$EW_BIN" replay --db jump.db jump.pcap >replay.out 2>replay.log || ft_fail "replay failed: $(cat replay.out replay.log)"
grep -q "^packets:  $want_pkts (" replay.out || ft_fail "replay read other than $want_pkts packets: $(grep '^packets' replay.out)"
grep -q "^errors:   none" replay.out || ft_fail "decode errors: $(grep '^errors' replay.out)"
ft_flows jump.db
python3 - flows.json "$want_pkts" "$want_bytes" "$t0" <<'EOF' || ft_fail "flows across the clock jumps are not sane"
import json, sys
from collections import Counter
from datetime import datetime
flows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want_pkts, want_bytes, T = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ts = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("  NOT:", msg); ok = False

neg = [f for f in flows if ts(f["end"]) < ts(f["start"])]
check(not neg, f"no negative durations ({len(neg)} flows end before they start)")
lo, hi = T, T + 140 + 3 * 3600 + 20
out = [f for f in flows if not (lo - 1e-3 <= ts(f["start"]) and ts(f["end"]) <= hi + 1e-3)]
check(not out, f"every time within the capture's latest-time range ({len(out)} outside)")
pk = sum(f["packets_sent"] + f["packets_received"] for f in flows)
by = sum(f["bytes_sent"] + f["bytes_received"] for f in flows)
check(pk == want_pkts and by == want_bytes,
      f"every packet and byte in one flow ({pk}/{want_pkts} packets, {by}/{want_bytes} bytes)")

udp = lambda base: [f for f in flows if f["proto"] == "udp" and base <= f["local_port"] < base + 100]
L = sorted((f for f in flows if f["proto"] == "tcp"), key=lambda f: ts(f["start"]))
a, b, c = udp(20000), udp(30000), udp(40000)
print(f"{len(flows)} flows: L in {len(L)} parts, UDP A/B/C {len(a)}/{len(b)}/{len(c)}; "
      f"end reasons {dict(Counter(f['end_reason'] for f in flows))}")
check(len(flows) == 302 and len(a) == len(b) == len(c) == 100 and len(L) == 2,
      "302 flows: 100 UDP per phase, L in two parts (split once, at the forward jump)")
endA = T + 20
check(all(ts(f["start"]) >= endA - 1 and ts(f["end"]) <= endA for f in b),
      "phase B's flows stamped at the clock (A's last time), never back in time")
check(all(f["end_reason"] == "idle" for f in a + b),
      "A's and B's UDP flows end idle once, at the forward jump (not during B)")
check(all(f["end_reason"] == "shutdown" for f in c), "C's flows end at the end of the replay")
if len(L) == 2:
    l1, l2 = L
    print(f"L: part 1 {l1['start']} .. {l1['end']} ({l1['end_reason']}, "
          f"{l1['packets_sent'] + l1['packets_received']} packets); part 2 "
          f"{l2['start']} .. {l2['end']} ({l2['end_reason']}, "
          f"{l2['packets_sent'] + l2['packets_received']} packets)")
    check(l1["end_reason"] == "idle" and abs(ts(l1["end"]) - endA) < 1,
          "L's first part ends idle, last seen at A's end (B's packets count at the clock)")
    check(l2["end_reason"] == "shutdown" and ts(l2["start"]) >= T + 140 + 3 * 3600,
          "L goes on as one flow from the forward jump to the end")
    check(l1["packets_sent"] + l1["packets_received"] == 3 + 2 * (40 + 240),
          "L's first part holds A's and B's packets")
sys.exit(0 if ok else 1)
EOF
echo "PASS: $T"
