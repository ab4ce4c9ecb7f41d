#!/usr/bin/env bash
# demo.sh - the README's first command, `bash scripts/demo.sh`, as a user
# runs it (EW_DEMO_STAY=0: the report, then everything torn down), on a lab
# and a dashboard port of its own: it exits 0, its report shows the Redis
# exfiltration judged "alert" and the listen-only-egress alert, its counters
# are printed, and it leaves no lab namespace behind.
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail

fail() { echo "FAIL: demo: $*"; [ -f "${tmp:-}/demo.log" ] && tail -40 "$tmp/demo.log"; exit 1; }
skip() { echo "SKIP: demo: $*"; exit 77; }
[ -n "${EW_BIN:-}" ] || fail "EW_BIN is not set"
[ -n "${EW_SOURCE:-}" ] || fail "EW_SOURCE is not set"
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
probe=ewprobe$$
ip netns add "$probe" 2>/dev/null || skip "this machine cannot create network namespaces"
ip netns del "$probe"

tmp=$(mktemp -d)
prefix=ewd$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
cleanup() {
	EW_LAB_PREFIX=$prefix bash "$EW_SOURCE/scripts/lab" down >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

rc=0
EW_DEMO_STAY=0 EW_DEMO_BIN=$EW_BIN EW_DEMO_WORK=$tmp/work \
	EW_DEMO_LISTEN=127.0.0.1:$port EW_LAB_PREFIX=$prefix \
	EW_LAB_PODLOG_ROOT=$tmp/pods \
	timeout 300 bash "$EW_SOURCE/scripts/demo.sh" </dev/null >"$tmp/demo.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "scripts/demo.sh exited with $rc"
grep -q "scenario redis-exfil: ok" "$tmp/demo.log" || fail "the redis-exfil scenario did not run"
grep -E "prod/redis-0 +egress .* -> 203\.0\.113\.66:6379 .*verdict=alert" "$tmp/demo.log" >/dev/null ||
	fail "no redis-0 flow to 203.0.113.66:6379 judged alert in the report"
grep -E "critical listen-only-egress +[0-9]+ prod/redis-0 +203\.0\.113\.66:6379" "$tmp/demo.log" >/dev/null ||
	fail "no listen-only-egress alert for prod/redis-0 in the report"
grep -q "== agent counters" "$tmp/demo.log" && grep -qE "^  +packets +[0-9]+" "$tmp/demo.log" ||
	fail "the agent's counters are missing from the report"
grep -q "demo: lab torn down" "$tmp/demo.log" || fail "the demo did not tear its lab down"
! ip netns list | grep -q "^$prefix-" || fail "lab namespaces left behind: $(ip netns list | grep "^$prefix-")"
grep -E "verdict=alert|listen-only-egress" "$tmp/demo.log" | head -2
echo "PASS: demo"
