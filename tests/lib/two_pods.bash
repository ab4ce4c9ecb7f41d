# two_pods.bash - sourced by tests/e2e/live_*.sh: two "pods" on a bridge,
# and a cleanup at exit that stops the agent and removes all of it.
#
#   netns $NA                       host netns (agent)                    netns $NB
#   eth0 203.0.113.1/24 --- veth $VA ---+--- $BR (bridge, ---+--- veth $VB --- eth0 203.0.113.2/24
#                                           no address)
#
# The pieces come from tests/lib/netns.bash (IPv6 off, no route off the
# bridge); each pod also has a permanent neighbour entry for the other, so
# there is no ARP either.
#
# The caller defines fail and skip, calls netns_need, then two_pods_up
# PREFIX (3 letters, e.g. ewb): it sets rid (a per-run id), NA NB VA VB BR
# (PREFIX + rid), MAC_A MAC_B (the pods' eth0), tmp (a directory removed at
# exit) and agent (empty; a PID put there is sent SIGTERM and waited for at
# exit: netns_cleanup).

. "$(dirname "${BASH_SOURCE[0]}")/netns.bash"

two_pods_up() {
	rid=$(printf '%04x' $((RANDOM & 0xffff)))
	NA=$1${rid}a NB=$1${rid}b VA=$1${rid}a VB=$1${rid}b BR=$1${rid}br
	tmp=$(mktemp -d)
	agent=
	trap netns_cleanup EXIT
	netns_bridge "$BR"
	netns_pod "$NA" "$VA" "$BR" 203.0.113.1/24
	netns_pod "$NB" "$VB" "$BR" 203.0.113.2/24
	MAC_A=$(ip -n "$NA" -br link show eth0 | awk '{print $3}')
	MAC_B=$(ip -n "$NB" -br link show eth0 | awk '{print $3}')
	ip -n "$NA" neigh replace 203.0.113.2 lladdr "$MAC_B" dev eth0 nud permanent
	ip -n "$NB" neigh replace 203.0.113.1 lladdr "$MAC_A" dev eth0 nud permanent
}
