#!/usr/bin/env bash
# db_readonly.sh - the database files stop accepting writes while the live
# agent runs, then accept them again: capture goes on, the rows that cannot
# be written are counted, one line says writing paused (naming the file and
# the cause), and writing resumes by itself.
#
#   netns A                       host netns: egresswatch run           netns B
#   eth0 203.0.113.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 203.0.113.2/24
#   UDP flows to B:7000              --db on an ext4 file system in a loop
#                                    device (a 32 MiB image, mounted here)
#
# How the files are made read-only.  A mount cannot be made read-only while
# a process holds files on it open for writing (the kernel answers EBUSY:
# SQLite keeps the database and its WAL open), and ext4's own remount-ro on
# an error cannot be undone without unmounting.  What takes write access away
# from an open descriptor, and can give it back, is the immutable attribute:
# `chattr +i` on the database and its WAL, after which ext4 answers EPERM to
# every write, and `chattr -i`.  (The -shm index is left alone: SQLite maps
# it into memory, and a write fault on an immutable mapping is SIGBUS.)
#
#   1. flows (sport 20000..) written
#   2. chattr +i flows.db flows.db-wal; flows (30000..) -> write_errors >= 1,
#      dropped_write_error > 0, writing_paused = 1, one "writing paused"
#      line, capture counters moving, the agent alive
#   3. chattr -i; flows (40000..) -> one "writing resumed" line, every one of
#      them in the file; at the end the counters add up
#
# Exit 77 (skip) only where the machine cannot create network namespaces or
# attach a loop device.
set -euo pipefail
T=db_readonly
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3 chattr mkfs.ext4

img=$FT_TMP/fs.img
mnt=$FT_TMP/db
mkdir "$mnt"
truncate -s 32M "$img"
mkfs.ext4 -q -F "$img" || ft_fail "mkfs.ext4 failed"
mount -o loop "$img" "$mnt" 2>/dev/null || ft_skip "cannot attach a loop device here"
FT_MOUNTS+=("$mnt")
db=$mnt/flows.db
FT_IMMUTABLE=()
unfreeze() { [ "${#FT_IMMUTABLE[@]}" -eq 0 ] || chattr -i "${FT_IMMUTABLE[@]}" 2>/dev/null || true; }
ft_on_exit unfreeze

ft_bridge
ft_pod a 203.0.113.1/24
ft_pod b 203.0.113.2/24
ft_agent --db "$db"

# 1. ---------------------------------------------------------------------------
ft_udp a 203.0.113.2 7000 20000 100
ft_wait 10 ft_true "s['store']['written'] >= 100" ||
	ft_fail "the first 100 flows were not written: store $(ft_status "s['store']")"
[ -f "$db-wal" ] || ft_fail "no WAL file next to the database"
echo "1. written: $(ft_status "s['store']['written']") rows"

# 2. ---------------------------------------------------------------------------
FT_IMMUTABLE=("$db" "$db-wal")
chattr +i "${FT_IMMUTABLE[@]}"
recv0=$(ft_status "s['capture']['received']")
ft_udp a 203.0.113.2 7000 30000 1000
paused() { [ "$(ft_status "s['store']['writing_paused']")" = 1 ]; }
ft_wait 15 paused || ft_fail "writing did not pause: store $(ft_status "s['store']")"
ft_udp a 203.0.113.2 7000 35000 200
ft_wait 5 ft_true "s['capture']['received'] >= $recv0 + 2400" ||
	ft_fail "capture stalled while the database was read-only: $(ft_status "s['capture']")"
ft_alive
errs=$(ft_status "s['store']['write_errors']")
lost=$(ft_status "s['store']['dropped_write_error']")
[ "$errs" -ge 1 ] || ft_fail "store.write_errors is $errs"
[ "$lost" -gt 0 ] || ft_fail "no rows counted as lost"
[ "$(ft_log_count 'writing paused')" -eq 1 ] ||
	ft_fail "expected one 'writing paused' line, got $(ft_log_count 'writing paused')"
line=$(grep 'writing paused' "$FT_TMP/agent.log")
case $line in
*"store: $db: writing paused: "*) ;;
*) ft_fail "the pause line does not name the file: $line" ;;
esac
echo "2. immutable: write_errors=$errs dropped_write_error=$lost; log: ${line#* * }"

# 3. ---------------------------------------------------------------------------
chattr -i "${FT_IMMUTABLE[@]}"
FT_IMMUTABLE=()
resumed() {
	ft_udp a 203.0.113.2 7000 $((41000 + RANDOM % 20000)) 5 1 # a probe batch
	[ "$(ft_status "s['store']['writing_paused']")" = 0 ]
}
ft_wait 15 resumed || ft_fail "writing did not resume once the files were writable: store $(ft_status "s['store']")"
ft_udp a 203.0.113.2 7000 40000 300
ft_wait 10 ft_true "s['pipeline']['queue_depth'] + s['store']['queue_depth'] == 0" ||
	ft_fail "the queues did not drain"
[ "$(ft_log_count 'writing resumed')" -eq 1 ] ||
	ft_fail "expected one 'writing resumed' line, got $(ft_log_count 'writing resumed')"
[ "$(ft_log_count 'writing paused')" -eq 1 ] || ft_fail "writing paused again once writable"
echo "3. writable again: $(grep -o 'writing resumed.*' "$FT_TMP/agent.log")"

ft_stop
python3 - "$FT_TMP/status.json" <<'EOF' || ft_fail "counters do not add up"
import json, sys
s = json.load(open(sys.argv[1]))
st, pl = s["store"], s["pipeline"]
print(f"final: store queued={st['queued']} written={st['written']} "
      f"dropped_write_error={st['dropped_write_error']} invalid={st['dropped_invalid']}; "
      f"pipeline events={pl['events']} processed={pl['processed']}")
ok = st["queued"] == st["written"] + st["dropped_write_error"] + st["dropped_invalid"]
ok &= pl["events"] == pl["processed"] and st["writing_paused"] == 0
sys.exit(0 if ok else 1)
EOF
sqlite3 "$db" 'PRAGMA integrity_check' | grep -qx ok || ft_fail "the database is damaged"
ft_flows "$db" --port 7000
python3 - "$FT_TMP/flows.json" <<'EOF' || ft_fail "flows written after the files became writable are missing"
import json, sys
ports = {json.loads(l)["local_port"] for l in open(sys.argv[1]) if l.strip()}
first = len([p for p in ports if 20000 <= p < 20100])
after = len([p for p in ports if 40000 <= p < 40300])
print(f"in the file: {first}/100 flows from before, {after}/300 from after; integrity_check ok")
sys.exit(0 if first == 100 and after == 300 else 1)
EOF
echo "PASS: $T"
