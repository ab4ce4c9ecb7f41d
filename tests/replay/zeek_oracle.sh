#!/usr/bin/env bash
# Zeek's traces against tshark's conversation lists (pcaps/zeek/oracle): for
# each capture, the TCP and UDP conversations that `replay` records, and
# their packet counts each way, equal tshark's.  Documented differences:
#  - IP fragments: tshark reassembles and counts one frame per datagram in
#    its TCP/UDP lists (and in its IPv6 list); egresswatch counts every
#    fragment as a packet of its flow.  For captures with fragments, the total
#    of packets equals tshark's count of IP frames, and IPv4 address pairs
#    equal tshark's IPv4 conversation list (which counts every fragment).
#  - Tunnels: egresswatch records the tunnel flow and the inner flow, as tshark
#    lists both; nothing to adjust.
set -euo pipefail
: "${EW_BIN:?}" "${EW_TESTDATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec python3 "$(dirname "$0")/zeek_oracle.py" "$EW_BIN" "$EW_TESTDATA/pcaps" "$work"
