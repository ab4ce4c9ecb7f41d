#!/bin/bash
# crash.sh - SIGKILL during heavy writes, a hundred times: the database always
# opens intact, nothing a reader saw committed is lost, and the agent carries
# on where it stopped.
#
#   gen_flood: 500000 one-packet flows at 100k/s (plus 4 connections; more
#        |     when CRASH_MAX_MS asks for later kills)
#        |
#   cp base.db runN.db             (20000 flows from an earlier clean replay)
#   egresswatch replay --db runN.db  (release build: inserts, and updates as
#        |                            flows are evicted, in WAL mode)
#        |   reader (python3 sqlite3, read-only): every ~20 ms, in one read
#        |   transaction: min(id), max(id), count(*), total packets
#        |
#   SIGKILL at a random moment in [0.1 s, CRASH_MAX_MS]; then the reader stops
#        |
#   sqlite3 runN.db 'PRAGMA integrity_check'           must say ok
#   the reader's last snapshot (lo, hi, n, pkts):      must still be there
#   egresswatch replay --db runN.db small.pcap         must succeed, new ids
#                                                      continue at max(id) + 1
#
# "Committed" here means what a reader could see: a snapshot is taken inside
# one read transaction, so it shows exactly the transactions committed before
# it.  Flow ids are handed out in order and rows reach the database in order,
# so every snapshot holds the ids lo..hi with none missing (checked: a gap
# would be a flow visible without one written before it).  After the kill,
# every id in lo..hi must still be there, no other id at or below hi, and the
# packet totals of those rows must not have gone down (an update, once
# visible, is never rolled back).
#
# A process crash cannot lose a committed transaction in WAL mode whatever
# `synchronous` says: the WAL's pages are in the page cache, and the next
# open replays them.  What synchronous=NORMAL risks is a power loss or kernel
# crash, which this test does not simulate (see store/schema.c).
#
# The runs start from a database that already holds flows, as an agent's
# does, so that a reader always has something to see, also when the kill
# comes before the replay's first commit (its batches commit tens of
# thousands of rows at a time, the first after a few hundred ms).  The
# summary says how many runs were killed after a reader had seen rows the
# killed replay committed.
#
# Environment: CRASH_RUNS (default 100), CRASH_MAX_MS (latest kill, default
# 1500; the long run documented in the README used 3000), CRASH_JOBS (runs
# at once, default 3: the kills wait on the clock, not the CPU), CRASH_SEED
# (default: the time; printed).  Uses a
# release build (tests/lib/release_build.sh): a sanitized build spends its
# first second starting up.
set -u

fail() { echo "FAIL: $*"; exit 1; }

: "${EW_BUILD:?EW_BUILD not set}" "${EW_SOURCE:?EW_SOURCE not set}"
command -v sqlite3 >/dev/null || { echo "SKIP: needs the sqlite3 shell"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }

RUNS=${CRASH_RUNS:-100}
MAX_MS=${CRASH_MAX_MS:-1500}
JOBS=${CRASH_JOBS:-3}
SEED=${CRASH_SEED:-$(date +%s)}
MIN_MS=100

. "$EW_SOURCE/tests/lib/release_build.sh"
ew_release_build egresswatch gen_flood || fail "the release build failed"
bin="$EW_REL/egresswatch"

dir=$(mktemp -d /tmp/ew-crash.XXXXXX)
cleanup() {
	# Every process this test started is in a run's pid file.
	for f in "$dir"/*.pids; do
		[ -f "$f" ] && xargs -r kill -9 <"$f" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# Enough to keep a replay writing well past the latest kill (~100k flows/s).
heavy=$((MAX_MS * 400 > 500000 ? MAX_MS * 400 : 500000))
"$EW_REL/gen_flood" "$dir/heavy.pcap" "$dir/heavy.tsv" --tuples "$heavy" \
	--rate 100000 --legit 4 --tail 2 2>/dev/null || fail "gen_flood failed"
"$EW_REL/gen_flood" "$dir/small.pcap" "$dir/small.tsv" --tuples 100 \
	--rate 1000 --legit 2 --tail 1 --seed 7 2>/dev/null || fail "gen_flood failed"
"$EW_REL/gen_flood" "$dir/base.pcap" "$dir/base.tsv" --tuples 20000 \
	--rate 100000 --legit 2 --tail 1 --seed 3 2>/dev/null || fail "gen_flood failed"
"$bin" replay -q --geoip-country none --db "$dir/base.db" "$dir/base.pcap" 2>/dev/null ||
	fail "the base replay failed"
base_max=$(sqlite3 "$dir/base.db" 'SELECT max(id) FROM flows')
[ "$base_max" -gt 0 ] 2>/dev/null || fail "the base database holds no flows"
base_pkts=$(sqlite3 "$dir/base.db" \
	'SELECT CAST(total(packets_sent + packets_received) AS INTEGER) FROM flows')

cat >"$dir/reader.py" <<'EOF'
# Snapshot the flows table every ~20 ms, each in one read transaction.
import sqlite3, sys, time
db = sys.argv[1]
con = None
while True:
    try:
        if con is None:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        row = con.execute("SELECT min(id), max(id), count(*), "
                          "total(packets_sent + packets_received) "
                          "FROM flows").fetchone()
        if row[2]:
            print(f"{row[0]} {row[1]} {row[2]} {int(row[3])}", flush=True)
    except sqlite3.Error:
        if con is not None:
            con.close()
        con = None
    time.sleep(0.02)
EOF

# one_run N DELAY_MS: writes "ok ..." or "FAIL ..." to $dir/N.result
one_run() {
	local n=$1 ms=$2 db="$dir/run$1.db" res="$dir/$1.result" pids="$dir/$1.pids"
	local wpid rpid snap lo hi cnt pkts got old new_min new_cnt rc

	cp "$dir/base.db" "$db" || { echo "FAIL run $n: cp" >"$res"; return; }
	"$bin" replay -q --geoip-country none --db "$db" --max-flows 65536 \
		"$dir/heavy.pcap" \
		>/dev/null 2>"$dir/$n.err" &
	wpid=$!
	python3 "$dir/reader.py" "$db" >"$dir/$n.snap" 2>/dev/null &
	rpid=$!
	echo "$wpid $rpid" >"$pids"
	sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
	if ! kill -9 "$wpid" 2>/dev/null; then
		wait "$wpid"
		echo "FAIL run $n: the replay ended before the kill at $ms ms" \
			"(exit $?; make the capture longer)" >"$res"
		kill "$rpid"; wait "$rpid" 2>/dev/null; rm -f "$pids"
		return
	fi
	wait "$wpid" 2>/dev/null
	kill "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	rm -f "$pids"

	# The last complete snapshot the reader printed.
	snap=$(awk 'NF == 4' "$dir/$n.snap" | tail -n 1)
	got=$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)
	if [ "$got" != ok ]; then
		echo "FAIL run $n (kill at $ms ms): integrity_check: $got" >"$res"
		return
	fi
	# No snapshot yet (killed within the reader's start-up): the base
	# database's rows were committed all the same.
	[ -n "$snap" ] || snap="1 $base_max $base_max $base_pkts"
	read -r lo hi cnt pkts <<<"$snap"
	if [ $((hi - lo + 1)) -ne "$cnt" ]; then
		echo "FAIL run $n: a reader saw $cnt rows with ids $lo..$hi:" \
			"a gap" >"$res"
		return
	fi
	read -r got old <<<"$(sqlite3 -separator ' ' "$db" \
		"SELECT count(*), CAST(total(packets_sent + packets_received) AS INTEGER)
		 FROM flows WHERE id <= $hi")"
	if [ "$got" -ne "$cnt" ]; then
		echo "FAIL run $n (kill at $ms ms): the reader saw ids $lo..$hi" \
			"($cnt rows), after the kill $got rows have id <= $hi" >"$res"
		return
	fi
	if [ "$old" -lt "$pkts" ]; then
		echo "FAIL run $n (kill at $ms ms): rows up to id $hi counted" \
			"$pkts packets before the kill, $old after" >"$res"
		return
	fi
	old=$(sqlite3 "$db" 'SELECT max(id) FROM flows')

	# The agent restarts on the same file and carries on.
	"$bin" replay --geoip-country none --db "$db" "$dir/small.pcap" \
		>"$dir/$n.small" 2>>"$dir/$n.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL run $n (kill at $ms ms): replay after the crash exited" \
			"$rc: $(tail -n 3 "$dir/$n.err")" >"$res"
		return
	fi
	read -r new_min new_cnt <<<"$(sqlite3 -separator ' ' "$db" \
		"SELECT min(id), count(*) FROM flows WHERE id > $old")"
	want=$(sed -n 's/^flows: *\([0-9]*\) .*/\1/p' "$dir/$n.small")
	if [ "$new_min" != $((old + 1)) ] || [ "$new_cnt" != "$want" ]; then
		echo "FAIL run $n (kill at $ms ms): after max id $old the restart" \
			"wrote $new_cnt of $want flows from id $new_min" >"$res"
		return
	fi
	got=$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)
	if [ "$got" != ok ]; then
		echo "FAIL run $n: integrity_check after the restart: $got" >"$res"
		return
	fi
	echo "ok $n $ms $((cnt - base_max)) $old" >"$res"
	rm -f "$db" "$db-wal" "$db-shm" "$dir/$n.snap" "$dir/$n.small" "$dir/$n.err"
}

echo "crash: $RUNS runs, SIGKILL at [$MIN_MS, $MAX_MS] ms, $JOBS at a time," \
	"seed $SEED"
RANDOM=$SEED
t0=$(date +%s)
for n in $(seq "$RUNS"); do
	ms=$((MIN_MS + (RANDOM * 32768 + RANDOM) % (MAX_MS - MIN_MS + 1)))
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	one_run "$n" "$ms" &
done
wait
t1=$(date +%s)

failed=0
for n in $(seq "$RUNS"); do
	r=$(cat "$dir/$n.result" 2>/dev/null || echo "FAIL run $n: no result")
	case "$r" in
	ok*) ;;
	*) echo "$r"; failed=$((failed + 1)) ;;
	esac
done
awk '$1 == "ok" { n++; rows += $4; if ($4 > max) max = $4; if ($4 > 0) seen++ }
     END { printf "crash: %d runs ok; %d killed after a reader saw rows the " \
		  "killed replay committed (mean %.0f rows, max %d)\n",
		  n, seen, n ? rows / n : 0, max }' "$dir"/*.result
echo "crash: $((t1 - t0)) s"
[ "$failed" -eq 0 ] || fail "$failed of $RUNS runs"
echo "PASS"
