# netns.bash - sourced by the tests that build a miniature node
# (tests/lib/two_pods.bash, tests/faults/common.bash, tests/e2e/live_*.sh):
# bridge, pods, and a cleanup that removes what they made.  No namespace gets
# a route off the bridge, and IPv6 is off everywhere so that no router or
# neighbour solicitations add flows a test does not expect.
#
# The caller defines skip (exit 77 with a reason).  netns_cleanup, for
# `trap netns_cleanup EXIT`, stops the PID in $agent (if any), kills what
# runs in the namespaces, deletes them and the links (NETNS_NS and
# NETNS_LINKS: filled by the functions below; add to them what else the test
# makes) and removes $tmp.

NETNS_NS=()
NETNS_LINKS=()

# Skip where this machine cannot make network namespaces.
netns_need() {
	local probe=ewprobe$$
	[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
	ip netns add "$probe" 2>/dev/null || skip "this machine cannot create network namespaces"
	ip netns del "$probe"
}

netns_cleanup() {
	local ns l
	set +e
	[ -n "${agent:-}" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	for ns in "${NETNS_NS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	done
	{ wait; } 2>/dev/null
	for ns in "${NETNS_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for l in "${NETNS_LINKS[@]}"; do
		ip link del "$l" 2>/dev/null
	done
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
}

# netns_bridge BR: a bridge without an address, up.
netns_bridge() {
	NETNS_LINKS+=("$1")
	ip link add "$1" type bridge
	sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1"
	ip link set "$1" up
}

# netns_pod NS VETH BR CIDR: network namespace NS with eth0 at CIDR, its
# host side VETH a port of bridge BR.
netns_pod() {
	NETNS_NS+=("$1")
	NETNS_LINKS+=("$2")
	ip netns add "$1"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip link add "$2" type veth peer name eth0 netns "$1"
	sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
	ip link set "$2" master "$3" up
	ip -n "$1" addr add "$4" dev eth0
	ip -n "$1" link set lo up
	ip -n "$1" link set eth0 up
}
