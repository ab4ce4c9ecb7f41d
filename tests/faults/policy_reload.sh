#!/usr/bin/env bash
# policy_reload.sh - SIGHUP with the --policy file rewritten broken: one
# `file:line:col: message` line, the running policy keeps judging new flows,
# and the next SIGHUP with a fixed file switches to it.
#
#   netns A (test/client-a)              host netns: egresswatch run   netns B (test/server-b)
#   eth0 203.0.113.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 203.0.113.2/24
#   UDP flows to B:7000 and B:7001       --policy $FT_TMP/policy.yaml
#                                        --inventory (names the two pods)
#
#   policy v1: client-a may send to udp/7000 only  -> 7000 allow, 7001 alert
#   1. v1 in force: flows from sport 20000 (to 7000) and 21000 (to 7001)
#   2. the file rewritten with a misspelt key (line 5, column 5), SIGHUP
#      -> one "policy.yaml:5:5: unknown key 'egres' ..." line and "keeping
#      the running configuration and policy"; flows 30000/31000 still judged
#      by v1; pipeline.policy_reloads unchanged
#   3. the file rewritten with a YAML syntax error, SIGHUP -> one
#      "policy.yaml:LINE:COL:" line; flows 32000/33000 still judged by v1
#   4. policy v2 (udp/7001 only), SIGHUP -> policy_reloads + 1; flows
#      40000/41000: 7000 alert, 7001 allow
#   Verdicts are read from the rows of A's interface (client-a's view).
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail
T=policy_reload
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3

pol=$FT_TMP/policy.yaml
inv=$FT_TMP/inventory.yaml
policy() { # PORT: client-a may send to udp/PORT only
	cat >"$pol" <<EOF
apiVersion: egresswatch/v1
workloads:
  - name: client
    select: {namespace: test, name: client-a}
    egress:
      - ports: [udp/$1]
EOF
}
cat >"$inv" <<EOF
version: 1
workloads:
  - {namespace: test, name: client-a, kind: Pod, interfaces: [$P-aa], ips: [203.0.113.1]}
  - {namespace: test, name: server-b, kind: Pod, interfaces: [$P-ba], ips: [203.0.113.2]}
EOF

ft_bridge
ft_pod a 203.0.113.1/24
ft_pod b 203.0.113.2/24
policy 7000
"$EW_BIN" policy check "$pol" >/dev/null || ft_fail "policy v1 does not check"
ft_agent --db "$FT_TMP/flows.db" --policy "$pol" --inventory "$inv"

# verdicts FIRST: "<verdicts of the 10 flows to 7000 from FIRST>/<verdicts of
# the 10 flows to 7001 from FIRST+1000>" once all 20 are stored.
verdicts() {
	ft_flows "$FT_TMP/flows.db"
	python3 - "$FT_TMP/flows.json" "$P-aa" "$1" <<'EOF'
import json, sys
iface, first = sys.argv[2], int(sys.argv[3])
v = {7000: {}, 7001: {}}
for l in open(sys.argv[1]):
    f = json.loads(l)
    if f["interface"] != iface or f["workload"] != "test/client-a":
        continue
    for port, base in ((7000, first), (7001, first + 1000)):
        if f["remote_port"] == port and base <= f["local_port"] < base + 10:
            v[port][f["local_port"]] = f["verdict"]
out = []
for port in (7000, 7001):
    vals = set(v[port].values())
    out.append(f"{len(v[port])}:{','.join(sorted(map(str, vals)))}")
print("/".join(out))
EOF
}
send() { # FIRST
	ft_udp a 203.0.113.2 7000 "$1" 10
	ft_udp a 203.0.113.2 7001 $(($1 + 1000)) 10
}
expect() { # FIRST WANT WHAT
	local got
	ft_wait 10 test_verdicts "$1" "$2" || ft_fail "$3: verdicts $(verdicts "$1"), expected $2"
	echo "$3: 7000/7001 -> $(verdicts "$1")"
}
test_verdicts() { [ "$(verdicts "$1")" = "$2" ]; }
reloads() { ft_status "s['pipeline']['policy_reloads']"; }
hup() { # wait for the "reload:" line it causes
	local n
	n=$(ft_log_count 'reload:')
	kill -HUP "$AGENT"
	ft_wait 5 test_more "$n" || ft_fail "no reload line after SIGHUP"
}
test_more() { [ "$(ft_log_count 'reload:')" -gt "$1" ]; }

# 1. ---------------------------------------------------------------------------
send 20000
expect 20000 "10:allow/10:alert" "1. policy v1"
r0=$(reloads)

# 2. ---------------------------------------------------------------------------
sed -i 's/^    egress:/    egres:/' "$pol"
hup
[ "$(ft_log_count "^$pol:5:5: unknown key 'egres'")" -eq 1 ] ||
	ft_fail "expected one '$pol:5:5: unknown key 'egres'...' line"
[ "$(ft_log_count "$pol:[0-9]+:[0-9]+:")" -eq 1 ] || ft_fail "more than one error line"
[ "$(ft_log_count 'reload: the policy has errors \(above\); keeping the running configuration and policy')" -eq 1 ] ||
	ft_fail "no 'keeping the running configuration and policy' line"
echo "2. misspelt key: $(grep -E "^$pol:" "$FT_TMP/agent.log" | sed "s|$FT_TMP|\$FT_TMP|")"
send 30000
expect 30000 "10:allow/10:alert" "   then, still v1"
[ "$(reloads)" = "$r0" ] || ft_fail "policy_reloads changed on a failed reload"

# 3. ---------------------------------------------------------------------------
policy 7001
sed -i 's|\[udp/7001\]|[udp/7001|' "$pol"
hup
[ "$(ft_log_count "^$pol:[0-9]+:[0-9]+:")" -eq 2 ] || ft_fail "expected one new '$pol:LINE:COL:' line for the YAML error"
[ "$(ft_log_count 'keeping the running configuration and policy')" -eq 2 ] || ft_fail "the second failed reload did not say it kept the policy"
echo "3. YAML error: $(grep -E "^$pol:" "$FT_TMP/agent.log" | tail -1 | sed "s|$FT_TMP|\$FT_TMP|")"
send 32000
expect 32000 "10:allow/10:alert" "   then, still v1"
[ "$(reloads)" = "$r0" ] || ft_fail "policy_reloads changed on a failed reload"

# 4. ---------------------------------------------------------------------------
policy 7001
hup
ft_wait 5 ft_true "s['pipeline']['policy_reloads'] == $r0 + 1" || ft_fail "the fixed policy was not taken"
[ "$(ft_log_count "^$pol:[0-9]+:[0-9]+:")" -eq 2 ] || ft_fail "the fixed file was reported as broken"
send 40000
expect 40000 "10:alert/10:allow" "4. fixed file (v2)"
ft_alive
ft_stop
echo "PASS: $T"
