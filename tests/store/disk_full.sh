#!/bin/bash
# disk_full.sh - the store on a real file system that fills up.
#
#     tmpfs, 2 MiB (mounted here, removed on exit)
#      |-- filler        1.4 MiB of zeros: what "the rest of the disk" took
#      `-- ew.sqlite     + -wal, -shm: written by store_fill
#
# store_fill writes flows in live mode (producers never wait) until the file
# system is full, then prints its counters (phase=fill) and waits for the
# filler to go.  We check that the producer never blocked, that the rows lost
# are counted (every row queued is either written or counted as dropped), and
# that writing paused.  Then we delete the filler: store_fill waits for the
# writer to resume by itself, writes 300 more flows and prints its counters
# again (phase=resume) with how many of those flows are in the file.
#
# Needs root (mount); exits 77 (skip) when it cannot mount or store_fill was
# not built.
set -u

fail() { echo "FAIL: $*"; [ -s "${out:-/dev/null}" ] && cat "$out"; exit 1; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a tmpfs"; exit 77; }
fill="${EW_BUILD:?EW_BUILD not set}/store_fill"
[ -x "$fill" ] || { echo "SKIP: $fill not built"; exit 77; }

dir=$(mktemp -d /tmp/ew-diskfull.XXXXXX)
out=$(mktemp /tmp/ew-diskfull-out.XXXXXX)
pid=
mounted=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$mounted" ] && umount "$dir"
	rmdir "$dir"
	rm -f "$out"
}
trap cleanup EXIT

if ! mount -t tmpfs -o size=2m,mode=0700 ew-diskfull "$dir" 2>/dev/null; then
	echo "SKIP: cannot mount a tmpfs here"
	exit 77
fi
mounted=1
dd if=/dev/zero of="$dir/filler" bs=64k count=22 status=none ||
	fail "cannot write the filler"

# value PHASE KEY: KEY's value in the block of PHASE
value() {
	awk -F= -v phase="$1" -v key="$2" '
		$1 == "phase" { cur = $2; next }
		cur == phase && $1 == key { print $2; exit }' "$out"
}

"$fill" --db "$dir/ew.sqlite" --flows 20000 --batch 256 --batch-ms 20 \
	--wait-gone "$dir/filler" --then 300 >"$out" 2>/dev/null &
pid=$!

for _ in $(seq 600); do
	grep -q '^phase=fill' "$out" && grep -q '^writing_paused' "$out" && break
	kill -0 "$pid" 2>/dev/null || fail "store_fill exited early"
	sleep 0.1
done
grep -q '^phase=fill' "$out" || fail "no phase=fill after 60 s"

puts=$(value fill puts)
queued=$(value fill queued)
written=$(value fill written)
qfull=$(value fill dropped_queue_full)
lost=$(value fill dropped_write_error)
invalid=$(value fill dropped_invalid)
full=$(value fill disk_full)
maxput=$(value fill max_put_us)
echo "fill: puts=$puts queued=$queued written=$written queue_full=$qfull" \
	"write_error=$lost disk_full=$full max_put_us=$maxput"

[ "$full" -ge 1 ] || fail "the file system never filled up (disk_full=$full)"
[ "$lost" -gt 0 ] || fail "no rows counted as lost to the full disk"
[ "$(value fill writing_paused)" = 1 ] || fail "writing did not pause"
[ $((written + lost + invalid)) -eq "$queued" ] ||
	fail "rows unaccounted for: $queued queued, $written written," \
		"$lost + $invalid dropped"
[ $((queued + qfull)) -eq "$puts" ] ||
	fail "puts unaccounted for: $puts puts, $queued queued, $qfull refused"
# A producer that waited for the disk would wait for the whole test.
[ "$maxput" -lt 250000 ] || fail "a put took $maxput us: the producer blocked"

rm -f "$dir/filler"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "store_fill exited with $rc"

echo "resume: written=$(value resume written)" \
	"writing_paused=$(value resume writing_paused)" \
	"new_rows_in_db=$(grep '^new_rows_in_db=' "$out" | cut -d= -f2)"
grep -q '^resumed=1$' "$out" || fail "writing did not resume after freeing space"
[ "$(value resume writing_paused)" = 0 ] || fail "still paused at the end"
grep -q '^new_rows_in_db=300$' "$out" || fail "the 300 flows written after resuming are not all in the file"
grep -q '^close=0$' "$out" || fail "store_close reported lost rows at the end"
echo "PASS"
