# common.bash - sourced by tests/faults/*.sh: skip/fail, a per-run topology of
# "pods" in network namespaces on a bridge, the agent started and stopped,
# its status file read, and a cleanup that undoes everything the test made.
#
#   host netns (the agent captures the host-side veths)
#   +-------------------- $BR (bridge, no address, IPv6 off) ---------------+
#   |  $P-<name>a (veth) ...                                                 |
#   +-------|---------------------------------------------------------------+
#           | eth0: the address given to ft_pod
#   netns $P-<name>
#
# Names carry a random per-run id (P=ewf<4 hex>), so tests and labs running at
# the same time never share a namespace, link or mount.  Every pod is on the
# bridge's one L2 segment and no namespace has a default route: traffic stays
# between the namespaces the test made.
#
# Needs from the caller: T (test name) set before sourcing.

ft_fail() {
	echo "FAIL: $T: $*"
	if [ -f "${FT_TMP:-}/agent.log" ]; then
		echo "--- agent log (last 40 lines)"
		tail -n 40 "$FT_TMP/agent.log"
	fi
	exit 1
}
ft_skip() { echo "SKIP: $T: $*"; exit 77; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib/netns.bash"

[ -n "${EW_BIN:-}" ] || ft_fail "EW_BIN is not set"
[ -x "$EW_BIN" ] || ft_fail "EW_BIN=$EW_BIN is not an executable"

skip() { ft_skip "$@"; }	# for tests/lib/netns.bash
ft_need_netns() { netns_need; }

ft_need() { # TOOL...: installed by scripts/setup.sh, so missing is a failure
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || ft_fail "$t is not installed (scripts/setup.sh)"
	done
}

FT_ID=$(printf '%04x' $(((RANDOM << 8 ^ RANDOM ^ $$) & 0xffff)))
P=ewf$FT_ID
BR=$P-br
FT_TMP=$(mktemp -d "/tmp/ewfault-$T.XXXXXX")
chmod 755 "$FT_TMP"
FT_NETNS=()
FT_LINKS=()
FT_MOUNTS=()	# unmounted in reverse order
FT_PIDS=()	# background helpers, killed at the end
FT_ON_EXIT=()	# commands run first at exit (ft_on_exit)
AGENT=
FT_KEEP_TMP=

ft_on_exit() { FT_ON_EXIT+=("$1"); }

ft_cleanup() {
	local rc=$? i ns pid
	set +eu
	if [ -n "$AGENT" ]; then
		kill -TERM "$AGENT" 2>/dev/null
		wait "$AGENT" 2>/dev/null
	fi
	for i in "${FT_ON_EXIT[@]}"; do eval "$i"; done
	for pid in "${FT_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for ns in "${FT_NETNS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	for pid in "${FT_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	for ns in "${FT_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	for i in "${FT_LINKS[@]}"; do ip link del "$i" 2>/dev/null; done
	for ((i = ${#FT_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${FT_MOUNTS[i]}" 2>/dev/null || umount -l "${FT_MOUNTS[i]}" 2>/dev/null
	done
	[ -n "$FT_KEEP_TMP" ] || rm -rf "$FT_TMP"
	exit "$rc"
}
trap ft_cleanup EXIT

ft_bridge() {
	FT_LINKS+=("$BR")
	netns_bridge "$BR"
}

# ft_pod NAME CIDR: netns $P-NAME with eth0 at CIDR, host side $P-NAMEa on
# the bridge (tests/lib/netns.bash).  Registered for the cleanup first, so
# that a half-made pod is removed too.
ft_pod() {
	FT_NETNS+=("$P-$1")
	FT_LINKS+=("$P-$1a")
	netns_pod "$P-$1" "$P-$1a" "$BR" "$2"
}

ft_in() { local ns=$P-$1; shift; ip netns exec "$ns" "$@"; }

# ft_status EXPR: a Python expression over the status JSON `s`, printed;
# "none" when the file is missing or the expression fails.
ft_status() {
	python3 - "$FT_TMP/status.json" "$1" <<'EOF' 2>/dev/null || echo none
import json, sys
s = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))
EOF
}

# ft_true EXPR: the Python expression over the status is true.
ft_true() { [ "$(ft_status "$1")" = True ]; }

# ft_wait SECONDS CMD...: until CMD succeeds (0) or time runs out (1).
ft_wait() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

ft_capturing() { # IFNAME...: all captured
	local i
	for i in "$@"; do
		[ "$(ft_status "next((x['state'] for x in s['interfaces'] if x['name'] == '$i'), 'none')")" = capturing ] || return 1
	done
}

# ft_agent ARGS...: start `egresswatch run` (status file $FT_TMP/status.json,
# log $FT_TMP/agent.log, no Kubernetes or Docker API) and wait until it
# captures on every host-side veth made so far.
ft_agent() {
	local v=() l
	for l in "${FT_LINKS[@]}"; do [ "$l" = "$BR" ] || v+=("$l"); done
	"$EW_BIN" run --status-file "$FT_TMP/status.json" --kubeconfig none \
		--docker-socket none "$@" >>"$FT_TMP/agent.log" 2>&1 &
	AGENT=$!
	ft_wait 20 ft_capturing "${v[@]}" || ft_fail "the agent does not capture on ${v[*]}"
}

# ft_stop: SIGTERM, and the agent must exit 0.
ft_stop() {
	local rc=0
	kill -TERM "$AGENT"
	wait "$AGENT" || rc=$?
	AGENT=
	[ "$rc" -eq 0 ] || ft_fail "the agent exited with status $rc"
}

ft_alive() { kill -0 "$AGENT" 2>/dev/null || ft_fail "the agent died"; }

# ft_log_count REGEX: lines of the agent log matching the extended REGEX.
ft_log_count() { grep -cE "$1" "$FT_TMP/agent.log" || true; }

# ft_udp NS DST PORT FIRST_SPORT COUNT [PER_FLOW]: COUNT UDP flows from pod NS
# to DST:PORT, one per source port from FIRST_SPORT on, PER_FLOW datagrams of
# 100 bytes each (default 2), paced so the ring never overflows.
ft_udp() {
	ft_in "$1" python3 - "$2" "$3" "$4" "$5" "${6:-2}" <<'EOF'
import socket, sys, time
dst, port, first, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", first + i))
    for _ in range(per):
        s.sendto(b"f" * 100, (dst, port))
    s.close()
    if i % 50 == 49:
        time.sleep(0.01)
EOF
}

# ft_flows DB [FLOWS ARGS...]: `egresswatch flows --json` into $FT_TMP/flows.json
ft_flows() {
	local db=$1
	shift
	"$EW_BIN" flows --db "$db" --json --limit 100000 "$@" >"$FT_TMP/flows.json" ||
		ft_fail "egresswatch flows --db $db failed"
}
