# netns.bash - sourced by test helpers (tests/lib/two_pods.bash,
# tests/faults/common.bash): the pieces of a miniature node.  No namespace
# gets a route off the bridge, and IPv6 is off everywhere so that no router
# or neighbour solicitations add flows a test does not expect.

# netns_bridge BR: a bridge without an address, up.
netns_bridge() {
	ip link add "$1" type bridge
	sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1"
	ip link set "$1" up
}

# netns_pod NS VETH BR CIDR: network namespace NS with eth0 at CIDR, its
# host side VETH a port of bridge BR.
netns_pod() {
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
