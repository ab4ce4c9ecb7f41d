#!/usr/bin/env bash
# auth_netns.sh - the dashboard off loopback: authentication and CSRF for a
# client on another host, over a real veth between two network namespaces
# this test creates (and removes on exit).  No traffic leaves them.
#
#    ewd-cli-PID                          ewd-srv-PID
#   +------------------+   veth pair   +--------------------------------+
#   | c0 192.0.2.2/24  |---------------| s0 192.0.2.1/24                |
#   | curl             |               | egresswatch dashboard          |
#   +------------------+               |   --listen 192.0.2.1:0         |
#                                      |   --token-file TOKEN           |
#                                      +--------------------------------+
#
# Pins down: off loopback the server refuses to start without a token; with
# one, unauthenticated API requests get 401 (and the UI a redirect to the
# login page), a wrong bearer token 401, the right one 200; the login page
# sets an HttpOnly, SameSite=Strict session cookie that then works, and
# logging out ends it; failed logins are rate limited; the health check and
# the UI's files need no token; a cross-origin POST, or one without the CSRF
# token, gets 403 even with a valid session.
. "$(dirname "$0")/lib.bash"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 missing"; exit 77; }

SRV=ewd-srv-$$
CLI=ewd-cli-$$
cleanup() {
	lib_cleanup
	ip netns del "$SRV" 2>/dev/null
	ip netns del "$CLI" 2>/dev/null
}
trap cleanup EXIT

ip netns add "$SRV" && ip netns add "$CLI" || { echo "SKIP: cannot create namespaces"; exit 77; }
ip link add s0 netns "$SRV" type veth peer name c0 netns "$CLI"
ip -n "$SRV" addr add 192.0.2.1/24 dev s0
ip -n "$CLI" addr add 192.0.2.2/24 dev c0
for ns in "$SRV" "$CLI"; do
	ip -n "$ns" link set lo up
done
ip -n "$SRV" link set s0 up
ip -n "$CLI" link set c0 up

DB=$T/ew.db
make_db "$DB"
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"

check "off loopback without a token: refuses to start" bash -c \
	"! ip netns exec '$SRV' '$EW_BIN' dashboard --db '$DB' --listen 192.0.2.1:0 2>'$T/e' && grep -q 'not a loopback address' '$T/e'"

start_server "$T/server.log" ip netns exec "$SRV" "$EW_BIN" dashboard --db "$DB" \
	--listen 192.0.2.1:0 --token-file "$T/token"
B=${URL%/}
echo "server: $B"
c() { ip netns exec "$CLI" curl -s "$@"; }
code() { c -o /dev/null -w '%{http_code}' "$@"; }

check "the client reaches the server only over the veth" [ "$(code "$B/healthz")" = 200 ]
for p in /api/alerts /api/flows /api/workloads /api/overview /api/health /api/policy \
	/api/series /api/top?by=remote /api/session /metrics /api/alerts/1; do
	check "unauthenticated $p is 401" [ "$(code "$B$p")" = 401 ]
done
c -D "$T/h" -o /dev/null "$B/api/alerts"
check "401 says how: WWW-Authenticate: Bearer" grep -qi '^www-authenticate: Bearer realm="egresswatch"' "$T/h"
check "a wrong bearer token is 401" [ "$(code -H 'Authorization: Bearer wrongwrongwrongwrong' "$B/api/alerts")" = 401 ]
check "a prefix of the token is 401" [ "$(code -H "Authorization: Bearer ${TOKEN:0:20}" "$B/api/alerts")" = 401 ]
check "the token plus a byte is 401" [ "$(code -H "Authorization: Bearer ${TOKEN}x" "$B/api/alerts")" = 401 ]
check "a wrong token does not open even public paths" [ "$(code -H 'Authorization: Bearer nope' "$B/app.js")" = 401 ]
check "the right bearer token is 200" [ "$(code -H "Authorization: Bearer $TOKEN" "$B/api/alerts")" = 200 ]
check "bearer works for /metrics (Prometheus)" [ "$(code -H "Authorization: Bearer $TOKEN" "$B/metrics")" = 200 ]
c -D "$T/h" -o /dev/null "$B/"
check "the UI redirects to the login page" bash -c "grep -q ' 303' '$T/h' && grep -qi '^location: /login' '$T/h'"
check "the login page and the UI's files need no token" bash -c \
	"[ \$(ip netns exec '$CLI' curl -s -o /dev/null -w '%{http_code}' '$B/login') = 200 ] && [ \$(ip netns exec '$CLI' curl -s -o /dev/null -w '%{http_code}' '$B/app.js') = 200 ]"
check "any Host is fine with a login (no rebinding risk)" \
	[ "$(code -H "Authorization: Bearer $TOKEN" -H 'Host: dash.example' "$B/api/session")" = 200 ]

# ---- login --------------------------------------------------------------------
c -D "$T/h" -o /dev/null --data-urlencode "token=wrong-token-wrong" "$B/login"
check "a wrong login goes back to the login page" bash -c \
	"grep -q ' 303' '$T/h' && grep -qi '^location: /login?failed=1' '$T/h' && ! grep -qi '^set-cookie' '$T/h'"
c -D "$T/h" -o /dev/null -H "Origin: http://evil.example" --data-urlencode "token=$TOKEN" "$B/login"
check "a cross-origin login is 403" bash -c "grep -q ' 403' '$T/h' && ! grep -qi '^set-cookie' '$T/h'"
c -D "$T/h" -o /dev/null -H "Origin: ${B}" -H 'Sec-Fetch-Site: cross-site' --data-urlencode "token=$TOKEN" "$B/login"
check "a cross-site login (Sec-Fetch-Site) is 403 whatever Origin says" bash -c "grep -q ' 403' '$T/h'"
c -D "$T/h" -o /dev/null -H 'Origin: null' -H 'Sec-Fetch-Site: same-origin' --data-urlencode "token=$TOKEN" "$B/login"
check "a browser's same-origin form POST (Origin: null under no-referrer) logs in" bash -c \
	"grep -q ' 303' '$T/h' && grep -qi '^set-cookie: ew_session=' '$T/h'"
c -D "$T/h" -o /dev/null -c "$T/jar" -H "Origin: ${B}" --data-urlencode "token=$TOKEN" "$B/login"
check "a good login: 303 to / with the session cookie" bash -c \
	"grep -q ' 303' '$T/h' && tr -d '\r' <'$T/h' | grep -qix 'location: /'"
check "the cookie is HttpOnly, SameSite=Strict, Path=/" \
	bash -c "grep -i '^set-cookie: ew_session=[0-9a-f]\{64\};' '$T/h' | grep -i 'HttpOnly' | grep -i 'SameSite=Strict' | grep -qi 'Path=/'"
check "the session opens the API" [ "$(code -b "$T/jar" "$B/api/alerts")" = 200 ]
check "the session opens the UI" [ "$(code -b "$T/jar" "$B/")" = 200 ]
c -b "$T/jar" "$B/api/session" -o "$T/s.json"
check "session: auth=session with its own CSRF token" jtrue "$T/s.json" \
	"d['auth']=='session' and d['login_required'] and len(d['csrf_token'])==64"
CSRF=$(json "$T/s.json" "d['csrf_token']")
ID=$(c -b "$T/jar" "$B/api/alerts?workload=prod/redis-0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["alerts"][0]["id"])')
A="$B/api/alerts/$ID/ack"

# ---- CSRF --------------------------------------------------------------------------
check "session POST without the CSRF token is 403" [ "$(code -b "$T/jar" -X POST "$A")" = 403 ]
check "session POST with another session's token is 403" \
	[ "$(code -b "$T/jar" -X POST -H "X-CSRF-Token: $(printf '%064d' 0)" "$A")" = 403 ]
check "cross-origin POST with the session and its token is 403" \
	[ "$(code -b "$T/jar" -X POST -H "X-CSRF-Token: $CSRF" -H 'Origin: http://evil.example' "$A")" = 403 ]
check "cross-site POST (Sec-Fetch-Site) is 403" \
	[ "$(code -b "$T/jar" -X POST -H "X-CSRF-Token: $CSRF" -H 'Sec-Fetch-Site: cross-site' "$A")" = 403 ]
check "bearer POST from another origin is 403" \
	[ "$(code -H "Authorization: Bearer $TOKEN" -X POST -H 'Origin: http://evil.example' "$A")" = 403 ]
check "nothing was acknowledged so far" bash -c \
	"ip netns exec '$CLI' curl -s -H 'Authorization: Bearer $TOKEN' '$B/api/alerts/$ID' | grep -q '\"acknowledged\":false'"
c -b "$T/jar" -o "$T/ack.json" -X POST -H "X-CSRF-Token: $CSRF" -H "Origin: $B" -H 'Sec-Fetch-Site: same-origin' "$A"
check "same-origin POST with session and token acknowledges, by the client's address" jtrue "$T/ack.json" \
	"d['alert']['acknowledged'] and d['alert']['ack_by']=='dashboard-login@192.0.2.2'"
check "a script with the bearer token needs no CSRF token" \
	[ "$(code -H "Authorization: Bearer $TOKEN" -X POST "$A")" = 200 ]

# ---- logout and limits ---------------------------------------------------------
check "logout needs the CSRF token" [ "$(code -b "$T/jar" -X POST "$B/logout")" = 403 ]
check "logout" [ "$(code -b "$T/jar" -X POST -H "X-CSRF-Token: $CSRF" "$B/logout")" = 200 ]
check "after logout the session is gone" [ "$(code -b "$T/jar" "$B/api/alerts")" = 401 ]
fails=0
for i in $(seq 12); do
	r=$(code --data-urlencode "token=wrong-$i-wrong-wrong" "$B/login")
	[ "$r" = 429 ] && fails=$((fails + 1))
done
check "failed logins are limited (429 after 10 a minute)" [ "$fails" -ge 2 ]
check "the bearer token still works while logins are limited" \
	[ "$(code -H "Authorization: Bearer $TOKEN" "$B/api/alerts")" = 200 ]
check "401s and failed logins are counted" bash -c \
	"ip netns exec '$CLI' curl -s -H 'Authorization: Bearer $TOKEN' '$B/metrics' | grep -Eq '^egresswatch_dashboard_auth_failures_total [1-9]'"
finish
