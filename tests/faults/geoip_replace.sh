#!/usr/bin/env bash
# geoip_replace.sh - the country database (--geoip-country FILE) is replaced
# while the live agent runs: a valid replacement is picked up (on SIGHUP at
# once, otherwise within 30 s), a damaged one is refused with one line and the
# loaded copy keeps answering; flows are enriched by whichever copy is loaded.
#
#   netns A                        host netns: egresswatch run           netns B
#   eth0 175.16.199.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 175.16.199.2/24
#   UDP flows to B:7000               --geoip-country $FT_TMP/country.mmdb
#
# 175.16.199.0/24 is where MaxMind's test databases (../shared/testdata/mmdb)
# differ: GeoIP2-Country-Test says CN, GeoLite2-Country-Test has no entry.
# The addresses live only in the two namespaces made here, on one L2 segment
# with no route anywhere else.
#
#   1. country.mmdb = GeoLite2-Country-Test; flows sport 20000.. -> no country
#   2. GeoIP2-Country-Test renamed over it, SIGHUP -> one "geo: country:
#      loaded" line, status geo.reloads = 1; flows 30000.. -> CN
#   3. a truncated copy (a download cut short) renamed over it, no signal:
#      within 30 s (the periodic check) one "refused ...; keeping the loaded
#      copy" line, geo.reload_failures = 1; flows 40000.. -> still CN; a SIGHUP
#      does not retry the same bad file (still one line)
#
# Exit 77 (skip) only where the machine cannot create network namespaces.
set -euo pipefail
T=geoip_replace
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3
mmdb=${EW_TESTDATA:?EW_TESTDATA not set}/mmdb
for f in GeoLite2-Country-Test GeoIP2-Country-Test; do
	[ -r "$mmdb/$f.mmdb" ] || ft_fail "$mmdb/$f.mmdb is missing"
done

geo=$FT_TMP/country.mmdb
cp "$mmdb/GeoLite2-Country-Test.mmdb" "$geo"
replace() { # SOURCE: copy next to the file, then rename(2) over it
	cp "$1" "$geo.new"
	mv "$geo.new" "$geo"
}

ft_bridge
ft_pod a 175.16.199.1/24
ft_pod b 175.16.199.2/24
ft_agent --db "$FT_TMP/flows.db" --geoip-country "$geo"
grep -q "geo: country: ok: $geo" "$FT_TMP/agent.log" || ft_fail "the first database was not loaded"

# countries FIRST COUNT: the remote_country of each flow from pod A with a
# source port in [FIRST, FIRST+COUNT), as seen on A's interface, once all have
# been stored (the status is read while the agent runs).
countries() {
	ft_flows "$FT_TMP/flows.db" --port 7000
	python3 - "$FT_TMP/flows.json" "$P-aa" "$1" "$2" <<'EOF'
import json, sys
iface, first, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = {}
for l in open(sys.argv[1]):
    f = json.loads(l)
    if f["interface"] == iface and first <= f["local_port"] < first + n:
        c[f["local_port"]] = f["remote_country"]
vals = set(c.values())
print(f"{len(c)}/{n}:" + ",".join(sorted(str(v) for v in vals)))
EOF
}
stored() { # FIRST COUNT EXPECTED
	[ "$(countries "$1" "$2")" = "$2/$2:$3" ]
}

# 1. ---------------------------------------------------------------------------
ft_udp a 175.16.199.2 7000 20000 20
ft_wait 10 stored 20000 20 None || ft_fail "first flows: $(countries 20000 20), expected 20/20:None"
echo "1. GeoLite2-Country-Test: 175.16.199.2 has no country ($(countries 20000 20))"

# 2. ---------------------------------------------------------------------------
replace "$mmdb/GeoIP2-Country-Test.mmdb"
kill -HUP "$AGENT"
ft_wait 5 ft_true "s['geo']['reloads'] == 1" || ft_fail "the replacement was not loaded: geo $(ft_status "s['geo']")"
[ "$(ft_log_count "geo: country: loaded $geo")" -eq 1 ] || ft_fail "expected one 'loaded' line"
ft_udp a 175.16.199.2 7000 30000 20
ft_wait 10 stored 30000 20 CN || ft_fail "flows after the reload: $(countries 30000 20), expected 20/20:CN"
echo "2. renamed GeoIP2-Country-Test over it + SIGHUP: $(grep -o "geo: country: loaded.*" "$FT_TMP/agent.log" | cut -c1-100)...; flows $(countries 30000 20)"

# 3. ---------------------------------------------------------------------------
size=$(stat -c %s "$mmdb/GeoIP2-Country-Test.mmdb")
head -c $((size / 2)) "$mmdb/GeoIP2-Country-Test.mmdb" >"$FT_TMP/cut.mmdb"
replace "$FT_TMP/cut.mmdb"
t0=$SECONDS
ft_wait 35 ft_true "s['geo']['reload_failures'] == 1" ||
	ft_fail "the damaged replacement was not noticed within 35 s: geo $(ft_status "s['geo']")"
echo "   noticed by the periodic check after $((SECONDS - t0)) s"
refused="geo: country: $geo: refused: .*; keeping the loaded copy"
[ "$(ft_log_count "$refused")" -eq 1 ] || ft_fail "expected one 'refused ...; keeping the loaded copy' line"
ft_udp a 175.16.199.2 7000 40000 20
ft_wait 10 stored 40000 20 CN || ft_fail "flows after the refusal: $(countries 40000 20), expected 20/20:CN"
kill -HUP "$AGENT"
sleep 1
[ "$(ft_log_count "$refused")" -eq 1 ] || ft_fail "the same bad file was refused (and logged) again"
[ "$(ft_status "s['geo']['reloads']")" = 1 ] || ft_fail "the damaged file was loaded"
ft_alive
echo "3. truncated copy renamed over it: $(grep -oE "geo: country: .*refused.*" "$FT_TMP/agent.log" | sed "s|$FT_TMP|\$FT_TMP|g"); flows $(countries 40000 20)"

ft_stop
echo "geo counters: $(ft_status "s['geo']")"
echo "PASS: $T"
