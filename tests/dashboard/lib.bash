# lib.bash - shared by the dashboard's script tests (sourced, not run): the
# scenario database, starting servers, and small assertion helpers.
#
# Every test gets its own temporary directory ($T) and kills what it started
# (by pid) on exit.  Servers listen on port 0 and the tests read the port the
# kernel chose from the server's log, so tests can run in parallel.

set -u
: "${EW_BIN:?EW_BIN not set}" "${EW_BUILD:?EW_BUILD not set}"
: "${EW_SOURCE:?EW_SOURCE not set}"
EW_TESTDATA=${EW_TESTDATA:-$EW_SOURCE/../shared/testdata}

for tool in curl python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
for tool in dash_fill dash_serve dash_plans; do
	[ -x "$EW_BUILD/$tool" ] || { echo "SKIP: $EW_BUILD/$tool not built"; exit 77; }
done

T=$(mktemp -d /tmp/ew-dash-test.XXXXXX)
PIDS=()
FAILS=0
CHECKS=0

lib_cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap lib_cleanup EXIT

ok() { CHECKS=$((CHECKS + 1)); echo "ok   $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL $*"; }
# check DESCRIPTION COMMAND...: the command's status decides.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
	echo "$CHECKS checks, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}

# make_db FILE [dash_fill options]: Zeek's traces replayed (flows from real
# captures, in 2011-2020), then the scenario of tests/tools/dash_fill.c
# (redis-0's exfiltration, hostile strings) around now.
make_db() {
	local db=$1
	shift
	"$EW_BIN" replay -q --db "$db" "$EW_TESTDATA"/pcaps/zeek/wikipedia.pcap \
		"$EW_TESTDATA"/pcaps/zeek/tcp/*.pcap \
		"$EW_TESTDATA"/pcaps/zeek/dns/*.pcap >"$T/replay.log" 2>&1 ||
		{ echo "replay failed:"; cat "$T/replay.log"; exit 1; }
	"$EW_BUILD/dash_fill" --db "$db" "$@" >"$T/fill.out" 2>"$T/fill.err" ||
		{ echo "dash_fill failed:"; cat "$T/fill.err"; exit 1; }
}

# start_server LOG CMD...: run CMD in the background, wait for its URL in
# LOG (egresswatch dashboard logs "on http://..."; dash_serve prints
# "url=http://..."), set $URL and remember the pid.
start_server() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	PIDS+=($!)
	SERVER_PID=$!
	for _ in $(seq 100); do
		URL=$(grep -o 'http://[^ ]*:[0-9]*/' "$log" | head -1)
		[ -n "$URL" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "server did not start:"
	cat "$log"
	exit 1
}

stop_server() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# status URL [curl options]: the HTTP status code.
status() {
	local u=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' "$@" "$u"
}

# json FILE PYTHON-EXPRESSION: evaluate with the document as `d`; prints it.
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# jtrue FILE PYTHON-EXPRESSION: status 0 when the expression is true.
jtrue() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}
