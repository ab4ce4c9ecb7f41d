#!/usr/bin/env bash
# browser.sh - runs browser.test.js (Chromium via playwright-core) against
# two servers over the same scenario database: one without login on
# loopback, one behind a token.  Screenshots go to
# $EW_BUILD/artifacts/dashboard/.
. "$(dirname "$0")/lib.bash"

command -v node >/dev/null || { echo "SKIP: node missing"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIP: /usr/bin/chromium missing"; exit 77; }
[ -d "$EW_SOURCE/node_modules/playwright-core" ] ||
	{ echo "SKIP: playwright-core not installed (scripts/setup.sh)"; exit 77; }

DB=$T/ew.db
# 12,000 ordinary flows in the last two hours: enough for a 10,000-row page.
make_db "$DB" --hostile --noise 12000
start_server "$T/open.log" "$EW_BIN" dashboard --db "$DB" --listen 127.0.0.1:0
OPEN=$URL
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"
start_server "$T/auth.log" "$EW_BIN" dashboard --db "$DB" --listen 127.0.0.1:0 \
	--token-file "$T/token"
AUTH=$URL

ART=$EW_BUILD/artifacts/dashboard
rm -rf "$ART"
mkdir -p "$ART"
EW_URL=$OPEN EW_URL_AUTH=$AUTH EW_TOKEN=$TOKEN EW_ARTIFACTS=$ART \
	timeout 600 node "$(dirname "$0")/browser.test.js"
rc=$?
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T"/*.log; then
	echo "FAIL sanitizer reports in the servers' logs"
	rc=1
fi
exit $rc
