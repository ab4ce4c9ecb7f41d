#!/usr/bin/env bash
# db_corrupt.sh - `egresswatch run --db FILE` where FILE is damaged or is not
# ours: one clear line naming the file, exit status 1 before capturing, and
# the file left exactly as it was (no repair, no new WAL, no reset); then the
# recovery the README documents ("A damaged database") works as written.
#
#   good.db   an egresswatch database of 3000 flows (replay of a generated
#             capture), copied into each case:
#   garbage   64 KiB of random bytes             -> "not a usable SQLite database"
#   interior  three pages a third of the way in overwritten: the header, the
#             schema and the newest rows still read fine, so only a check of
#             the whole structure finds it        -> "the database is damaged"
#   truncated the file cut in half                -> "database disk image is malformed"
#   foreign   another application's SQLite file  -> "not an egresswatch database"
#
# For each: `run` exits 1 within seconds with one warn line that names the
# file, the file's sha256 is unchanged and no -wal/-shm appeared; `replay
# --db` refuses the same file the same way.  Then, as the README says: move
# the file aside, the agent starts on a new file; `.dump` salvages the rows
# that can still be read into a file `egresswatch flows` reads.
#
# Needs root (`run` drops privileges, which starts as root).  Touches no
# network: the agent stops before capturing.
set -euo pipefail
T=db_corrupt
. "$(dirname "$0")/common.bash"
[ "$(id -u)" -eq 0 ] || ft_skip "needs root (egresswatch run starts as root)"
ft_need python3 sqlite3 sha256sum timeout

cd "$FT_TMP"
python3 - "$EW_SOURCE/tests/lib" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import pcapgen
pc = pcapgen.Pcap()
for i in range(3000):
    pc.packet("10.1.0.1", "198.18.%d.%d" % (i // 250, i % 250 + 1), 17,
              pcapgen.udp(20000 + i, 7000, b"q" * 40))
pc.save("gen.pcap")
EOF
"$EW_BIN" replay --db good.db gen.pcap >/dev/null 2>replay.log || ft_fail "replay into good.db failed: $(cat replay.log)"
pages=$(sqlite3 good.db 'PRAGMA page_count')
[ "$pages" -gt 100 ] || ft_fail "good.db has only $pages pages"

mk_garbage() { head -c 65536 /dev/urandom >"$1"; }
mk_interior() {
	cp good.db "$1"
	python3 - "$1" "$((pages / 3))" <<'EOF'
import random, sys
with open(sys.argv[1], "r+b") as f:
    f.seek((int(sys.argv[2]) - 1) * 4096)
    f.write(bytes(random.getrandbits(8) for _ in range(3 * 4096)))
EOF
}
mk_truncated() { head -c $((pages / 2 * 4096)) good.db >"$1"; }
mk_foreign() { sqlite3 "$1" 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ("mine")'; }

check_case() { # NAME EXPECTED-TEXT
	local name=$1 want=$2 db=$FT_TMP/$1.db sum rc t0 line
	"mk_$name" "$db"
	sum=$(sha256sum "$db")
	t0=$SECONDS
	rc=0
	timeout 30 "$EW_BIN" run --db "$db" --status-file "$FT_TMP/status.json" \
		--kubeconfig none --docker-socket none >"$name.log" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || { cat "$name.log"; ft_fail "$name: run exited with $rc, expected 1"; }
	[ $((SECONDS - t0)) -le 10 ] || ft_fail "$name: refusing took $((SECONDS - t0)) s"
	[ "$(grep -c ' warn ' "$name.log")" -ge 1 ] || ft_fail "$name: no warning"
	line=$(grep -F "$db: " "$name.log" | grep -F "$want" || true)
	[ "$(printf '%s\n' "$line" | grep -c .)" -eq 1 ] ||
		{ cat "$name.log"; ft_fail "$name: expected one line naming $db with '$want'"; }
	! grep -q 'capturing on' "$name.log" || ft_fail "$name: the agent started capturing"
	[ "$(sha256sum "$db")" = "$sum" ] || ft_fail "$name: the file was modified"
	[ ! -e "$db-wal" ] && [ ! -e "$db-shm" ] || ft_fail "$name: a WAL or shared-memory file was created"
	rc=0
	"$EW_BIN" replay --db "$db" gen.pcap >/dev/null 2>"$name.replay.log" || rc=$?
	[ "$rc" -ne 0 ] || ft_fail "$name: replay wrote into the file"
	grep -qF "$want" "$name.replay.log" || ft_fail "$name: replay did not say '$want': $(cat "$name.replay.log")"
	[ "$(sha256sum "$db")" = "$sum" ] || ft_fail "$name: replay modified the file"
	echo "$name: exit 1, file untouched: ${line#* * }"
}

check_case garbage "not a usable SQLite database"
check_case interior "the database is damaged"
check_case truncated "database disk image is malformed"
check_case foreign "not an egresswatch database"

# The README's recovery, step by step. ---------------------------------------
mv interior.db interior.db.damaged
timeout -s INT 5 "$EW_BIN" run --db "$FT_TMP/interior.db" --status-file "$FT_TMP/status.json" \
	--kubeconfig none --docker-socket none >fresh.log 2>&1 || true
grep -q 'schema migrated to version' fresh.log || { cat fresh.log; ft_fail "the agent did not start on a new file"; }
sqlite3 interior.db.damaged .dump 2>/dev/null | sed '$s/^ROLLBACK; -- due to errors$/COMMIT;/' |
	sqlite3 salvaged.db || ft_fail "the salvage .dump did not load"
sqlite3 salvaged.db 'PRAGMA application_id = 1163346260; PRAGMA user_version = 1'
ft_flows salvaged.db
n=$(grep -c . flows.json || true)
[ "$n" -ge 2000 ] && [ "$n" -lt 3000 ] || ft_fail "salvaged $n flows, expected most of 3000 and not the damaged ones"
echo "recovery: moved aside, the agent started on a new file; .dump salvaged $n of 3000 flows, readable by egresswatch flows"
echo "PASS: $T"
