#!/bin/bash
# flood.sh - a flow flood against a small flow table: the table stays within
# its cap, evicts and refuses instead of growing, keeps the connections that
# were there before the flood, counts every flow exactly once, and does not
# grow the agent's memory with the number of tuples.
#
#   gen_flood: 4 connections 10.1.0.1x -> 198.51.100.10:443, a packet each
#              way every 100 ms from 0.2 s to the end
#            + from 1 s: N one-packet flows at 100k/s, each its own 5-tuple
#              (half a SYN flood from 100.64/10, half a UDP spray to 198.18/15)
#            + 10 s of the connections alone, then FIN both ways
#        |
#   egresswatch replay --max-flows 65536 --db flood.db    (the build under test)
#        |
#   the "flow table:" line of its summary, the flows table, `flows --json`
#
# Checks (N = 200000 here; EW_FLOOD_TUPLES overrides):
#  - peak == cap: the flood filled the table and never went past it;
#  - created + refused == N + 4: each tuple either became a flow or had its
#    one packet refused, each connection became one flow;
#  - created == expired + evicted + shutdown: every flow ended exactly once
#    (active is 0 after the final flush), and the database agrees row for
#    row: a row per flow, end reasons idle/fin/rst = expired, evicted =
#    evicted, shutdown = shutdown;
#  - emergency mode was entered and had ended when the input ran out, with
#    flows both evicted and refused along the way;
#  - the 4 connections come out as one flow each, never evicted, with exactly
#    the packets and bytes gen_flood sent each way.
#
# Memory, with an optimised build (tests/lib/release_build.sh: ASan's shadow
# and allocator would be measured instead): the resident size of a replay of
# a million tuples is sampled every 50 ms.  Once the table is full, the
# agent's bounded buffers still fill for a while (the pipeline queue, the
# store's SQLite page cache, which fills as the indexes outgrow it, for
# about the first half million flows); after that the median resident
# size over the last part of the flood (85-97% of the run) may exceed the
# median over its middle (50-65%) by at most 10% of the table's
# memory_bytes.  A flow table, queue or cache that grew with the number of
# flows fails this.  The peak resident size against a replay of the
# connections alone is printed.
set -u

fail() { echo "FAIL: $*"; exit 1; }

: "${EW_BIN:?EW_BIN not set}" "${EW_BUILD:?EW_BUILD not set}" "${EW_SOURCE:?}"
gen="$EW_BUILD/gen_flood"
[ -x "$gen" ] || { echo "SKIP: $gen not built"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: needs the sqlite3 shell"; exit 77; }

CAP=65536
TUPLES=${EW_FLOOD_TUPLES:-200000}
LEGIT=4
dir=$(mktemp -d /tmp/ew-flood.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# field NAME: NAME=value from the "flow table:" line of $summary
field() {
	sed -n 's/^flow table: //p' "$summary" | tr ' ' '\n' |
		sed -n "s/^$1=//p"
}

# ---- the flood, through the build under test -------------------------------
"$gen" "$dir/flood.pcap" "$dir/truth.tsv" --tuples "$TUPLES" --rate 100000 \
	--legit "$LEGIT" --tail 10 2>/dev/null || fail "gen_flood failed"
summary="$dir/summary.txt"
t0=$(date +%s.%N)
"$EW_BIN" replay --db "$dir/flood.db" --max-flows "$CAP" "$dir/flood.pcap" \
	>"$summary" 2>"$dir/replay.err"
rc=$?
[ $rc = 0 ] || { cat "$dir/replay.err"; fail "replay exited $rc"; }
t1=$(date +%s.%N)
grep -q '^flow table: ' "$summary" || fail "no 'flow table:' line in the summary"
cap=$(field cap) peak=$(field peak) created=$(field created)
expired=$(field expired) evicted=$(field evicted) shutdown=$(field shutdown)
refused=$(field refused) entered=$(field emergency_entered)
at_end=$(field emergency_at_end) mem=$(field memory_bytes)
echo "flood: $TUPLES tuples + $LEGIT connections, cap $cap: peak $peak," \
	"created $created, expired $expired, evicted $evicted, shutdown" \
	"$shutdown, refused $refused, emergency entered $entered," \
	"in emergency at the end $at_end; $(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s"

[ "$cap" = "$CAP" ] || fail "cap $cap, asked for $CAP"
[ "$peak" = "$CAP" ] || fail "peak $peak: the flood should fill the table to its cap exactly"
[ $((created + refused)) -eq $((TUPLES + LEGIT)) ] ||
	fail "created $created + refused $refused != $TUPLES tuples + $LEGIT connections"
[ $((expired + evicted + shutdown)) -eq "$created" ] ||
	fail "created $created != expired $expired + evicted $evicted + shutdown $shutdown"
[ "$(field active_at_end)" = "$shutdown" ] ||
	fail "$(field active_at_end) flows active when the input ran out, $shutdown ended by the final flush"
[ "$entered" -ge 1 ] || fail "emergency mode never entered"
[ "$at_end" = 0 ] || fail "still in emergency mode after 10 s without the flood"
[ "$evicted" -gt 0 ] || fail "nothing evicted"
[ "$refused" -gt 0 ] || fail "nothing refused: the flood was too slow to test refusal"

read -r rows ended idle evict shut <<<"$(sqlite3 -separator ' ' "$dir/flood.db" \
	"SELECT count(*), total(ended), total(end_reason IN (1, 2, 3)),
	        total(end_reason = 4), total(end_reason = 5) FROM flows")"
for v in rows ended idle evict shut; do eval "$v=\${$v%.0}"; done
[ "$rows" = "$created" ] || fail "$rows rows for $created flows"
[ "$ended" = "$created" ] || fail "$ended of $rows rows ended"
[ "$idle" = "$expired" ] || fail "$idle rows ended idle/fin/rst, counter says $expired"
[ "$evict" = "$evicted" ] || fail "$evict rows evicted, counter says $evicted"
[ "$shut" = "$shutdown" ] || fail "$shut rows ended at shutdown, counter says $shutdown"

"$EW_BIN" flows --db "$dir/flood.db" --json --remote 198.51.100.10/32 \
	--port 443 >"$dir/legit.jsonl" || fail "flows --json failed"
python3 - "$dir/truth.tsv" "$dir/legit.jsonl" <<'EOF' || fail "the connections did not survive the flood intact"
import json, sys
truth = {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "conn":
        truth[(f[1], int(f[2]))] = tuple(int(x) for x in f[5:9])
seen = {}
for line in open(sys.argv[2]):
    d = json.loads(line)
    key = (d["local_ip"], d["local_port"])
    got = (d["packets_sent"], d["packets_received"], d["bytes_sent"],
           d["bytes_received"])
    if key in seen:
        sys.exit(f"{key}: more than one flow")
    seen[key] = got
    if key not in truth:
        sys.exit(f"{key}: not a connection gen_flood made")
    if d["end_reason"] == "evicted":
        sys.exit(f"{key}: evicted")
    if d["direction"] != "egress" or d["remote_port"] != 443:
        sys.exit(f"{key}: turned around: {d}")
    if got != truth[key]:
        sys.exit(f"{key}: packets/bytes sent/received {got}, sent {truth[key]}")
if set(seen) != set(truth):
    sys.exit(f"connections missing: {sorted(set(truth) - set(seen))}")
print(f"connections: {len(seen)} flows, one each, counts exact")
EOF

# ---- memory, with an optimised build -----------------------------------------
. "$EW_SOURCE/tests/lib/release_build.sh"
ew_release_build egresswatch gen_flood || fail "the release build failed"
rel_bin="$EW_REL/egresswatch"
"$EW_REL/gen_flood" "$dir/mem.pcap" "$dir/mem.tsv" --tuples 1000000 \
	--rate 100000 --legit "$LEGIT" --tail 1 2>/dev/null || fail "gen_flood failed"
"$EW_REL/gen_flood" "$dir/base.pcap" "$dir/base.tsv" --tuples 1 \
	--rate 100000 --legit "$LEGIT" --tail 7 2>/dev/null || fail "gen_flood failed"

# rss_run PCAP DB SAMPLES: replay, VmRSS (KiB) every 50 ms into SAMPLES;
# prints the "flow table:" line.
rss_run() {
	"$rel_bin" replay --db "$2" --max-flows "$CAP" "$1" >"$dir/rel.txt" 2>&1 &
	pid=$!
	: >"$3"
	while kill -0 "$pid" 2>/dev/null; do
		awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" >>"$3" 2>/dev/null
		sleep 0.05
	done
	wait "$pid" || { cat "$dir/rel.txt"; fail "release replay failed"; }
	pid=
}
rss_run "$dir/base.pcap" "$dir/base.db" "$dir/base.rss"
rss_run "$dir/mem.pcap" "$dir/mem.db" "$dir/mem.rss"
summary="$dir/rel.txt"
mem=$(field memory_bytes)
[ "$(field peak)" = "$CAP" ] || fail "release replay: peak $(field peak)"
python3 - "$dir/base.rss" "$dir/mem.rss" "$mem" <<'EOF' || fail "memory grew with the number of flows"
import statistics, sys
base = [int(x) for x in open(sys.argv[1]) if x.strip()]
v = [int(x) for x in open(sys.argv[2]) if x.strip()]
mem = int(sys.argv[3]) / 1024
n = len(v)
if n < 40:
    sys.exit(f"only {n} samples: the replay was too quick to measure")
# The flood is 10 s of the replay's 12 s of packet time; the table is full
# after 0.65 s of it, the buffers behind it after about half of it.
first = statistics.median(v[n * 50 // 100:n * 65 // 100])
second = statistics.median(v[n * 85 // 100:n * 97 // 100])
print(f"memory: 1000000 tuples, table {mem / 1024:.1f} MiB: resident "
      f"{first / 1024:.1f} MiB (50-65% of the run) -> {second / 1024:.1f} "
      f"MiB (85-97%), peak {max(v) / 1024:.1f} MiB; connections alone: "
      f"peak {max(base) / 1024:.1f} MiB")
if second - first > 0.10 * mem:
    sys.exit(f"resident size grew {second - first:.0f} KiB while the table "
             f"and the buffers were full: more than 10% of its {mem:.0f} KiB")
EOF
echo "PASS"
