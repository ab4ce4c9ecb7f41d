#!/usr/bin/env bash
# api.sh - the dashboard's HTTP API against a real server and a real
# database: Zeek's captures replayed by `egresswatch replay`, plus the
# scenario of tests/tools/dash_fill.c (prod/redis-0 sending 48 MiB to
# 203.0.113.66:6379, and workloads, DNS names, labels and an alert whose
# strings attack the page).
#
# What it pins down: the paths and parameters of README "HTTP API"; the
# security headers on every response and no CORS; static files only from
# the embedded table (traversal attempts are 404); hostile strings escaped in
# JSON and CSV; CSRF on acknowledgement; bounds on windows, pages, targets
# and bodies; keyset pages that neither skip nor repeat; exports that stream
# the same rows as the pages; the API agreeing with `egresswatch flows`;
# every query served by an index; and the live mode (the provider's health,
# policy and metrics; acknowledgement through the store).
. "$(dirname "$0")/lib.bash"

DB=$T/ew.db
make_db "$DB" --hostile
start_server "$T/server.log" "$EW_BIN" dashboard --db "$DB" --listen 127.0.0.1:0
B=${URL%/}
echo "server: $B"

get() { curl -s -D "$T/h" -o "$T/b" "$@"; }
hdr() { grep -i "^$1:" "$T/h" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ //'; }

# ---- headers on every response ------------------------------------------
CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
for path in / /index.html /app.js /app.css /vendor/uPlot.iife.min.js /login \
	/api/alerts /api/flows "/api/flows?port=99999" /api/nope /nope /metrics \
	/healthz /api/session "/api/alerts/1/ack"; do
	get "$B$path"
	code=$(head -1 "$T/h" | cut -d' ' -f2)
	good=1
	[ "$(hdr Content-Security-Policy)" = "$CSP" ] || good=0
	[ "$(hdr X-Content-Type-Options)" = nosniff ] || good=0
	[ "$(hdr Referrer-Policy)" = no-referrer ] || good=0
	[ "$(hdr X-Frame-Options)" = DENY ] || good=0
	[ -n "$(hdr Cache-Control)" ] || good=0
	hdr Content-Type | grep -q . || good=0
	case "$(hdr Content-Type)" in text/*|application/json*) hdr Content-Type | grep -q 'charset=utf-8' || good=0 ;; esac
	grep -qi '^access-control-' "$T/h" && good=0
	check "headers on $path ($code)" [ $good = 1 ]
done
get "$B/api/alerts"
check "API answers are not cached" [ "$(hdr Cache-Control)" = no-store ]
get "$B/app.js"
etag=$(hdr ETag)
check "static files are revalidated with an ETag" [ "$(hdr Cache-Control)" = no-cache -a -n "$etag" ]
check "If-None-Match gives 304" [ "$(status "$B/app.js" -H "If-None-Match: $etag")" = 304 ]
get -X OPTIONS "$B/api/alerts"
check "OPTIONS is 405 without any CORS header" \
	bash -c "head -1 '$T/h' | grep -q ' 405' && ! grep -qi '^access-control-' '$T/h'"

# ---- the UI's files: no inline script, style or handlers ------------------
for f in / /login; do
	curl -s "$B$f" -o "$T/page"
	check "page $f: no inline script, style or handler; nothing from elsewhere" python3 - "$T/page" <<'EOF'
import re, sys
html = open(sys.argv[1]).read()
bad = [s for s in re.findall(r'<script\b[^>]*>', html, re.I) if 'src=' not in s]
bad += re.findall(r'\son[a-z]+\s*=', html, re.I)
bad += re.findall(r'\sstyle\s*=', html, re.I) + re.findall(r'<style\b', html, re.I)
bad += re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', html, re.I)
sys.exit(1 if bad else 0)
EOF
done
check "no JS file writes markup (innerHTML, insertAdjacentHTML, document.write, eval)" \
	bash -c "! grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function' '$EW_SOURCE'/dashboard/ui/*.js | grep -vE '^[^:]*:[0-9]+: *//'"
check "the page loads nothing from elsewhere" \
	bash -c "! grep -nE '(src|href)=\"(https?:)?//' '$EW_SOURCE'/dashboard/ui/*.html"

# ---- static files only from the table ------------------------------------
for p in "/../../etc/passwd" "/%2e%2e/%2e%2e/etc/passwd" "/..%2f..%2fetc%2fpasswd" \
	"/app.js/../../../etc/passwd" "//etc/passwd" "/%2fetc%2fpasswd" \
	"/vendor/../../etc/passwd" "/.%2e/.%2e/etc/passwd" "/%252e%252e/etc/passwd" \
	"/etc/passwd" "/index.html%00.js" "/app.js%0a" "/ui/app.js" "/dashboard/ui/app.js" \
	"/CMakeLists.txt"; do
	code=$(curl -s --path-as-is -o "$T/b" -w '%{http_code}' "$B$p")
	check "traversal $p is $code (404/400), nothing leaks" \
		bash -c "[ '$code' = 404 -o '$code' = 400 ] && ! grep -q 'root:' '$T/b'"
done

# ---- alerts ------------------------------------------------------------------------
curl -s "$B/api/alerts" -o "$T/alerts.json"
check "alerts: valid JSON" jtrue "$T/alerts.json" "isinstance(d['alerts'], list)"
REDIS=$(json "$T/alerts.json" "[a['id'] for a in d['alerts'] if a['workload']=='prod/redis-0'][0]")
check "alerts: the redis-0 alert, with the contract's fields" jtrue "$T/alerts.json" \
	"all(k in [a for a in d['alerts'] if a['id']==$REDIS][0] for k in ['first_seen','last_seen','count','severity','kind','rule','workload','remote_ip','remote_port','bytes_sent','message'])"
check "alerts: redis-0 sent 48 MiB to 203.0.113.66:6379, critical" jtrue "$T/alerts.json" \
	"[(a['remote_ip'],a['remote_port'],a['bytes_sent'],a['severity']) for a in d['alerts'] if a['id']==$REDIS][0]==('203.0.113.66',6379,50331648,'critical')"
curl -s "$B/api/alerts?severity=warning" -o "$T/a.json"
check "alerts: severity filter" jtrue "$T/a.json" "len(d['alerts'])>=1 and all(a['severity']=='warning' for a in d['alerts'])"
curl -s "$B/api/alerts?workload=prod/redis-0&kind=datastore-egress" -o "$T/a.json"
check "alerts: workload and kind filters" jtrue "$T/a.json" "[a['id'] for a in d['alerts']]==[$REDIS]"
curl -s "$B/api/alerts?since=-15m" -o "$T/a.json"
check "alerts: since (last seen 10 min ago is in, 26 min ago is out)" jtrue "$T/a.json" \
	"$REDIS in [a['id'] for a in d['alerts']] and 'hostile/xss-0' not in [a['workload'] for a in d['alerts']]"
curl -s "$B/api/alerts?limit=1" -o "$T/p1.json"
c1=$(json "$T/p1.json" "d['next_cursor']")
curl -s "$B/api/alerts?limit=1&cursor=$c1" -o "$T/p2.json"
check "alerts: keyset pages continue without overlap" \
	jtrue "$T/p2.json" "len(d['alerts'])==1 and d['alerts'][0]['id']!=$(json "$T/p1.json" "d['alerts'][0]['id']")"
check "alerts: a foreign cursor is 400" [ "$(status "$B/api/alerts?cursor=s.1.2")" = 400 ]
check "alerts: limit above 10000 is 400" [ "$(status "$B/api/alerts?limit=10001")" = 400 ]
check "alerts: acknowledged=maybe is 400" [ "$(status "$B/api/alerts?acknowledged=maybe")" = 400 ]
curl -s "$B/api/alerts/$REDIS" -o "$T/detail.json"
check "alert detail: evidence is JSON" jtrue "$T/detail.json" "d['alert']['evidence']['datastore']=='redis'"
check "alert detail: the flows behind it (48 MiB to 203.0.113.66:6379)" jtrue "$T/detail.json" \
	"len(d['flows'])==1 and d['flows'][0]['bytes_sent']==50331648 and d['flows'][0]['remote_port']==6379 and d['flows'][0]['workload']=='prod/redis-0'"
check "alert detail: the query behind the flows" jtrue "$T/detail.json" \
	"d['flows_query']['workload']=='prod/redis-0' and d['flows_query']['remote']=='203.0.113.66' and d['flows_query']['port']==6379"
check "alert detail: the names redis-0 resolved" jtrue "$T/detail.json" "d['remote_names']==['exfil.example.net']"
check "alert detail: unknown id is 404" [ "$(status "$B/api/alerts/999999")" = 404 ]
check "alert detail: id 0, -1, 01, abc are 404" bash -c \
	"for i in 0 -1 01 abc 99999999999999999999; do [ \$(curl -s -o /dev/null -w '%{http_code}' '$B/api/alerts/'\$i) = 404 ] || exit 1; done"

# ---- hostile strings are escaped --------------------------------------------------
for path in /api/alerts "/api/flows?since=-2h" /api/workloads \
	"/api/workloads/hostile/xss-0" "/api/top?by=remote" "/api/policy?since=-24h" \
	"/api/alerts/$(json "$T/alerts.json" "[a['id'] for a in d['alerts'] if a['workload']=='hostile/xss-0'][0]")"; do
	curl -s "$B$path" -o "$T/x.json"
	check "escaped: $path" python3 - "$T/x.json" <<'EOF'
import json, sys
raw = open(sys.argv[1], 'rb').read()
text = raw.decode('utf-8')                  # strict: must be valid UTF-8
for bad in ['<', '>', '\u2028', '\u2029', "'"]:
    assert bad not in text, bad
json.loads(text)
# ... and what it says is still what the pod said, as text.
assert '\\u003cscript\\u003ealert(1)\\u003c/script\\u003e' in text or \
    '\\u0022\\u003e\\u003cimg src=x onerror=alert(1)\\u003e' in text, 'attack kept as text'
EOF
done
check "escaped: invalid UTF-8 became U+FFFD" bash -c "curl -s '$B/api/workloads' | grep -q 'bad\\\\ufffd'"

# ---- acknowledging: CSRF ------------------------------------------------------
curl -s "$B/api/session" -o "$T/s.json"
CSRF=$(json "$T/s.json" "d['csrf_token']")
check "session: a CSRF token, no login" jtrue "$T/s.json" "d['auth']=='open' and len(d['csrf_token'])==64"
A="$B/api/alerts/$REDIS/ack"
check "ack without the token is 403" [ "$(status "$A" -X POST)" = 403 ]
check "ack with a wrong token is 403" [ "$(status "$A" -X POST -H 'X-CSRF-Token: 0000')" = 403 ]
check "cross-origin ack (Origin) is 403 even with the token" \
	[ "$(status "$A" -X POST -H "X-CSRF-Token: $CSRF" -H 'Origin: http://evil.example')" = 403 ]
check "cross-site ack (Sec-Fetch-Site) is 403 even with the token" \
	[ "$(status "$A" -X POST -H "X-CSRF-Token: $CSRF" -H 'Sec-Fetch-Site: cross-site')" = 403 ]
check "Origin null is 403" [ "$(status "$A" -X POST -H "X-CSRF-Token: $CSRF" -H 'Origin: null')" = 403 ]
check "GET on ack is 405" [ "$(status "$A")" = 405 ]
check "the alert is still open" bash -c "curl -s '$B/api/alerts/$REDIS' | grep -q '\"acknowledged\":false'"
curl -s -o "$T/ack.json" -X POST -H "X-CSRF-Token: $CSRF" -H "Origin: ${B}" -H 'Sec-Fetch-Site: same-origin' "$A"
check "same-origin ack with the token acknowledges" jtrue "$T/ack.json" \
	"d['ok'] and d['alert']['acknowledged'] and d['alert']['ack_by'].startswith('dashboard@127.0.0.1')"
curl -s "$B/api/alerts?acknowledged=true" -o "$T/a.json"
check "acknowledged=true lists it" jtrue "$T/a.json" "$REDIS in [a['id'] for a in d['alerts']]"
check "ack of an unknown alert is 404" [ "$(status "$B/api/alerts/999999/ack" -X POST -H "X-CSRF-Token: $CSRF")" = 404 ]

# ---- flows -----------------------------------------------------------------------------
curl -s "$B/api/flows" -o "$T/f.json"
check "flows: default window is the last hour" jtrue "$T/f.json" \
	"__import__('datetime').datetime.fromisoformat(d['until'][:19]) - __import__('datetime').datetime.fromisoformat(d['since'][:19]) == __import__('datetime').timedelta(hours=1)"
check "flows: the exfiltration is in it, with the contract's fields" jtrue "$T/f.json" \
	"any(f['remote_ip']=='203.0.113.66' and f['bytes_sent']==50331648 for f in d['flows']) and all(k in d['flows'][0] for k in ['start','end','interface','proto','direction','local_ip','local_port','remote_ip','remote_port','bytes_sent','bytes_received','packets_sent','packets_received','workload','remote_workload','remote_name','remote_country','remote_asn','verdict'])"
curl -s "$B/api/flows?since=-3h&workload=prod/api-0&port=6379" -o "$T/f.json"
check "flows: workload and port" jtrue "$T/f.json" \
	"len(d['flows'])>10 and all(f['workload']=='prod/api-0' and 6379 in (f['remote_port'],f['local_port']) for f in d['flows'])"
curl -s "$B/api/flows?since=-3h&namespace=prod&direction=ingress&proto=tcp" -o "$T/f.json"
check "flows: namespace, direction, proto" jtrue "$T/f.json" \
	"len(d['flows'])>10 and all(f['workload'].startswith('prod/') and f['direction']=='ingress' and f['proto']=='tcp' for f in d['flows'])"
curl -s "$B/api/flows?since=-3h&remote=203.0.113.0/24" -o "$T/f.json"
check "flows: remote CIDR" jtrue "$T/f.json" "[f['remote_ip'] for f in d['flows']]==['203.0.113.66']"
curl -s "$B/api/flows?since=-3h&name=*.example.net" -o "$T/f.json"
check "flows: name glob" jtrue "$T/f.json" "[f['remote_name'] for f in d['flows']]==['exfil.example.net']"
curl -s "$B/api/flows?since=-3h&name=EXAMPLE.C" -o "$T/f.json"
check "flows: name substring, any case" jtrue "$T/f.json" "len(d['flows'])>10 and all(f['remote_name']=='api.example.com' for f in d['flows'])"
curl -s "$B/api/flows?since=-3h&name=100%25" -o "$T/f.json"
check "flows: % in a name is literal" jtrue "$T/f.json" "d['flows']==[]"
curl -s "$B/api/flows?since=-3h&country=NL&verdict=alert" -o "$T/f.json"
check "flows: country and verdict" jtrue "$T/f.json" "[f['remote_ip'] for f in d['flows']]==['203.0.113.66']"
curl -s "$B/api/flows?since=-3h&country=none&verdict=allow" -o "$T/f.json"
check "flows: country=none" jtrue "$T/f.json" "len(d['flows'])>0 and all(f['remote_country'] is None for f in d['flows'])"
curl -s "$B/api/flows?since=-3h&sort=bytes&limit=3" -o "$T/f.json"
check "flows: sort=bytes, biggest first" jtrue "$T/f.json" \
	"d['flows'][0]['remote_ip']=='203.0.113.66' and [f['bytes_sent']+f['bytes_received'] for f in d['flows']]==sorted([f['bytes_sent']+f['bytes_received'] for f in d['flows']],reverse=True)"
curl -s "$B/api/flows?since=-3h&sort=sent&order=asc&limit=50" -o "$T/f.json"
check "flows: sort=sent order=asc" jtrue "$T/f.json" "[f['bytes_sent'] for f in d['flows']]==sorted(f['bytes_sent'] for f in d['flows'])"
for sort in start bytes sent; do
	for order in desc asc; do
		check "flows: pages of 7 ($sort $order) neither skip nor repeat" python3 - "$B" "$sort" "$order" <<'EOF'
import json, sys, urllib.request
b, sort, order = sys.argv[1:]
q = f'{b}/api/flows?since=-3h&sort={sort}&order={order}'
whole = json.load(urllib.request.urlopen(q + '&limit=10000'))['flows']
got, cur = [], None
while True:
    page = json.load(urllib.request.urlopen(q + '&limit=7' + (f'&cursor={cur}' if cur else '')))
    got += page['flows']
    cur = page['next_cursor']
    if not cur:
        break
assert [f['id'] for f in got] == [f['id'] for f in whole], 'pages differ from one big page'
assert len(got) > 100
EOF
	done
done
curl -s "$B/api/flows?since=-3h&limit=5" -o "$T/f.json"
cur=$(json "$T/f.json" "d['next_cursor']")
check "flows: a cursor of another order is 400" [ "$(status "$B/api/flows?since=-3h&sort=bytes&cursor=$cur")" = 400 ]
for bad in "port=65536" "port=-1" "port=x" "proto=foo" "remote=300.1.1.1" "since=yesterday" \
	"since=-1h&until=-2h" "since=-40d" "limit=0" "limit=10001" "sort=name" "order=up" \
	"direction=out" "verdict=deny" "country=nl" "country=NLD" "format=xml" "workload=a/b/c" \
	"cursor=zzz" "namespace=a/b"; do
	check "flows: $bad is 400" [ "$(status "$B/api/flows?$bad")" = 400 ]
done
check "flows: a 31-day window is allowed" [ "$(status "$B/api/flows?since=-31d")" = 200 ]

# ---- the API agrees with the CLI on the replayed captures ----------------------
curl -s "$B/api/health" -o "$T/h.json"
OLD=$(json "$T/h.json" "d['database']['oldest_flow']")
UNTIL=$(python3 -c "import datetime,sys; t=datetime.datetime.fromisoformat(sys.argv[1][:19]); print((t+datetime.timedelta(days=30)).isoformat()+'Z')" "$OLD")
curl -s "$B/api/flows?since=$OLD&until=$UNTIL&limit=10000" -o "$T/f.json"
"$EW_BIN" flows --db "$DB" --json --since "$OLD" --until "$UNTIL" --limit 10000 >"$T/cli.jsonl"
check "flows of the replayed captures: the same rows as 'egresswatch flows --json'" python3 - "$T/f.json" "$T/cli.jsonl" <<'EOF'
import json, sys
api = json.load(open(sys.argv[1]))['flows']
cli = [json.loads(l) for l in open(sys.argv[2])]
assert len(api) > 0 and api == cli, (len(api), len(cli))
EOF

# ---- exports --------------------------------------------------------------------------
get "$B/api/flows?since=-3h&format=csv"
check "csv export: attachment, text/csv, streamed" bash -c \
	"grep -qi '^content-disposition: attachment; filename=\"egresswatch-flows-.*\.csv\"' '$T/h' && grep -qi '^content-type: text/csv; charset=utf-8' '$T/h' && grep -qi '^transfer-encoding: chunked' '$T/h'"
cp "$T/b" "$T/flows.csv"
curl -s "$B/api/flows?since=-3h&limit=10000" -o "$T/f.json"
check "csv export: the same rows as the page, valid UTF-8, formulas defused" python3 - "$T/flows.csv" "$T/f.json" <<'EOF'
import csv, io, json, sys
text = open(sys.argv[1], 'rb').read().decode('utf-8')
rows = list(csv.DictReader(io.StringIO(text)))
page = json.load(open(sys.argv[2]))['flows']
assert [int(r['id']) for r in rows] == [f['id'] for f in page]
names = [r['remote_name'] for r in rows]
assert '<script>alert(1)</script>.evil.example' in names
assert any(n.startswith('"><img') for n in names)
assert all(not r[k] or r[k][0] not in '=+-@' or r[k][0] == "'" for r in rows for k in r if k in ('remote_name', 'workload'))
assert any('\ufffd' in n for n in names)
EOF
get "$B/api/flows?since=-3h&format=json&workload=prod/web-1"
check "json export: one object per line, attachment" bash -c \
	"grep -qi '^content-disposition: attachment; filename=\".*\.jsonl\"' '$T/h' && grep -qi '^content-type: application/x-ndjson' '$T/h' && python3 -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; assert len(rows)>50 and all(r[\"workload\"]==\"prod/web-1\" for r in rows)' '$T/b'"
check "json export: limit bounds it" bash -c \
	"[ \$(curl -s '$B/api/flows?since=-3h&format=json&limit=17' | wc -l) = 17 ]"
check "export limit above 1000000 is 400" [ "$(status "$B/api/flows?format=csv&limit=1000001")" = 400 ]

# ---- workloads -------------------------------------------------------------------
curl -s "$B/api/workloads?since=-3h" -o "$T/w.json"
check "workloads: redis-0 with its destination, port and country" jtrue "$T/w.json" \
	"[(w['top_destinations'][0]['remote_ip'], w['top_destinations'][0]['remote_port'], w['top_destinations'][0]['remote_name'], w['ports'], w['countries']) for w in d['workloads'] if w['workload']=='prod/redis-0'][0]==('203.0.113.66',6379,'exfil.example.net',[{'port':6379,'proto':'tcp'}],['NL'])"
check "workloads: labels as JSON" jtrue "$T/w.json" \
	"[w['info']['labels']['app'] for w in d['workloads'] if w['workload']=='prod/redis-0'][0]=='redis'"
curl -s "$B/api/workloads/prod/redis-0?since=-3h" -o "$T/w1.json"
check "workload: destinations, ports, countries, totals, alerts" jtrue "$T/w1.json" \
	"d['info']['name']=='redis-0' and d['totals']['bytes_sent']==50331648 and d['ports'][0]['port']==6379 and d['countries'][0]['country']=='NL' and d['alerts'][0]['workload']=='prod/redis-0'"
curl -s "$B/api/workloads/prod/web-1?since=-3h" -o "$T/w1.json"
check "workload: ingress keyed on the port it serves" jtrue "$T/w1.json" \
	"any(x['direction']=='ingress' and x['local_port']==8080 and x['remote_port'] is None for x in d['destinations'])"
curl -s "$B/api/workloads/nosuch/pod" -o "$T/w1.json"
check "workload: unknown has no info and no traffic" jtrue "$T/w1.json" "d['info'] is None and d['destinations']==[]"

# ---- series, top, overview ----------------------------------------------------
curl -s "$B/api/series?workload=prod/redis-0&since=-1h" -o "$T/s.json"
check "series: per minute, zero-filled, 48 MiB in all" jtrue "$T/s.json" \
	"d['series']['step']==60 and len(d['series']['t'])>=60 and sum(d['series']['bytes_sent'])==50331648 and len(d['series']['t'])==len(d['series']['bytes_sent'])"
curl -s "$B/api/series?since=-6h&step=600" -o "$T/s.json"
check "series: step=600" jtrue "$T/s.json" "d['series']['step']==600 and all(b-a==600 for a,b in zip(d['series']['t'],d['series']['t'][1:]))"
check "series: a step of 59 s is 400" [ "$(status "$B/api/series?step=59")" = 400 ]
check "series: too many points is 400" [ "$(status "$B/api/series?since=-30d&step=60")" = 400 ]
for by in remote:203.0.113.66:remote_ip country:NL:country port:6379:port workload:prod/redis-0:workload; do
	IFS=: read -r b want key <<<"$by"
	curl -s "$B/api/top?by=$b" -o "$T/t.json"
	check "top by $b: $want first" jtrue "$T/t.json" "str(d['rows'][0]['$key'])=='$want'"
done
check "top: by=name is 400" [ "$(status "$B/api/top?by=name")" = 400 ]
curl -s "$B/api/overview" -o "$T/o.json"
check "overview: series, tops, alerts by severity" jtrue "$T/o.json" \
	"sum(d['series']['bytes_sent'])>=50331648 and d['top_workloads'][0]['workload']=='prod/redis-0' and d['alerts_all_time']['critical']['acknowledged']==1 and d['alerts_all_time']['critical']['open']==1"

# ---- health, policy, metrics --------------------------------------------------
curl -s "$B/api/health" -o "$T/h.json"
check "health (standalone): says capture is not running" jtrue "$T/h.json" \
	"d['mode']=='standalone' and d['running'] is False and 'no capture runs' in d['message'] and d['agent'] is None and d['database']['alerts']>=4"
curl -s "$B/api/policy?since=-24h" -o "$T/p.json"
check "policy (standalone): rules from alerts, verdicts of flows" jtrue "$T/p.json" \
	"d['source']=='database' and [r['hits'] for r in d['rules'] if r['rule']=='builtin/datastore-egress']==[3] and 'alert' in [v['verdict'] for v in d['verdicts']]"
get "$B/metrics"
check "metrics: Prometheus text 0.0.4" bash -c "grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' '$T/h'"
check "metrics: well-formed, label values escaped, DB gauges" python3 - "$T/b" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? -?[0-9.e+Inf]+$')
seen, fams = set(), []
for l in lines:
    if l.startswith('# TYPE '):
        fam = l.split()[2]
        assert fam not in seen, 'family twice: ' + fam
        seen.add(fam)
    elif not l.startswith('#'):
        assert sample.match(l), l
text = '\n'.join(lines)
assert 'egresswatch_db_alerts{severity="critical",kind="datastore-egress",acknowledged="true"} 1' in text
assert 'egresswatch_db_alerts{severity="critical",kind="<b>kind</b>",acknowledged="false"} 1' in text
assert 'egresswatch_agent_running 0' in text
assert 'egresswatch_dashboard_request_duration_seconds_bucket{le="+Inf"}' in text
EOF

# ---- limits --------------------------------------------------------------------------
long=$(python3 -c 'print("a" * 5000)')
check "a request target over 4096 bytes is 414" [ "$(status "$B/api/flows?name=$long")" = 414 ]
bighdr=$(python3 -c 'print("a" * 100000)')
check "100 KB of headers is 431 (header space per connection is bounded)" \
	[ "$(status "$B/api/alerts" -H "X-Big: $bighdr")" = 431 ]
check "100 KB of cookies is 431" \
	[ "$(status "$B/api/alerts" -H "Cookie: $(python3 -c 'print("a=b; " * 20000)')")" = 431 ]
check "...and the server still answers" [ "$(status "$B/api/session")" = 200 ]
check "a POST body over 4096 bytes is 413" [ "$(status "$B/login" -X POST --data-binary "@$EW_SOURCE/dashboard/ui/app.css")" = 413 ]
check "a chunked POST body over 4096 bytes is 413" [ "$(status "$B/login" -X POST -H 'Transfer-Encoding: chunked' --data-binary "@$EW_SOURCE/dashboard/ui/app.css")" = 413 ]
check "a GET with a body is answered once" [ "$(status "$B/api/session" -X GET --data-binary 'hello')" = 200 ]
check "PUT is 405" [ "$(status "$B/api/alerts" -X PUT)" = 405 ]
check "DELETE is 405" [ "$(status "$B/api/alerts/1" -X DELETE)" = 405 ]
check "without a login, a foreign Host is 403 (DNS rebinding)" \
	[ "$(status "$B/api/alerts" -H 'Host: evil.example:8080')" = 403 ]
check "localhost and 127.x Hosts are fine" bash -c \
	"[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost:1' '$B/api/session') = 200 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: 127.0.0.2' '$B/api/session') = 200 ]"

# ---- start-up refusals -------------------------------------------------------------------
check "refuses a non-loopback address without a token" bash -c \
	"! '$EW_BIN' dashboard --db '$DB' --listen 0.0.0.0:0 2>'$T/e' && grep -q 'not a loopback address' '$T/e'"
printf 'short\n' >"$T/short"
check "refuses a token shorter than 16 characters" bash -c \
	"! '$EW_BIN' dashboard --db '$DB' --listen 0.0.0.0:0 --token-file '$T/short' 2>'$T/e' && grep -q '16 to 256' '$T/e'"
check "refuses a missing database" bash -c \
	"! '$EW_BIN' dashboard --db '$T/none.db' --listen 127.0.0.1:0 2>/dev/null && [ ! -e '$T/none.db' ]"
check "refuses a bad listen address" bash -c "! '$EW_BIN' dashboard --db '$DB' --listen 'nonsense' 2>/dev/null"

# ---- every query uses an index ------------------------------------------------------
check "query plans: no scan of flows, traffic_minute or dns_answers" \
	bash -c "'$EW_BUILD/dash_plans' '$DB' >'$T/plans' || { grep BAD '$T/plans'; exit 1; }"

# ---- live mode: the agent's provider and store ----------------------------------------
stop_server "$SERVER_PID"
start_server "$T/live.log" "$EW_BUILD/dash_serve" --db "$DB" --listen 127.0.0.1:0
L=${URL%/}
curl -s "$L/api/health" -o "$T/h.json"
check "live health: the provider's interfaces and counters" jtrue "$T/h.json" \
	"d['mode']=='live' and d['running'] and d['agent']['interfaces'][0]['kernel_drops']==7 and d['agent']['decode_errors']['ipv4_truncated']==3"
check "live health: the provider's strings are escaped too" bash -c "curl -s '$L/api/health' | grep -q '\\\\u003cscript\\\\u003e' && ! curl -s '$L/api/health' | grep -q '<script>'"
curl -s "$L/api/policy" -o "$T/p.json"
check "live policy: the agent's rules" jtrue "$T/p.json" \
	"d['source']=='agent' and d['policy']['rules'][1]['hits']==120 and d['policy']['mode']=='enforce'"
curl -s "$L/metrics" -o "$T/m"
check "live metrics: gauges derived from the health object" bash -c \
	"grep -q '^egresswatch_interface_received{interface=\"cali1a2b3c4d5e\"} 123456$' '$T/m' && grep -q '^egresswatch_decode_errors_tcp_invalid 2$' '$T/m' && grep -q '^egresswatch_store_last_commit_us 850$' '$T/m' && grep -q '^egresswatch_agent_running 1$' '$T/m'"
check "live metrics: interface label escaped, families contiguous" python3 - "$T/m" <<'EOF'
import sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if not l.startswith('#')]
names = [l.split('{')[0].split(' ')[0] for l in lines]
for n in set(names):
    idx = [i for i, x in enumerate(names) if x == n]
    assert idx == list(range(idx[0], idx[-1] + 1)), n
assert any('interface="<script>alert(1)</script>"' in l for l in lines)
EOF
CSRF=$(curl -s "$L/api/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
WARN=$(curl -s "$L/api/alerts?severity=warning" | python3 -c 'import json,sys; print(json.load(sys.stdin)["alerts"][0]["id"])')
curl -s -o "$T/ack.json" -X POST -H "X-CSRF-Token: $CSRF" "$L/api/alerts/$WARN/ack"
check "live ack: through the agent's store, visible at once" jtrue "$T/ack.json" \
	"d['alert']['acknowledged'] and d['alert']['id']==$WARN"
stop_server "$SERVER_PID"
start_server "$T/live2.log" "$EW_BUILD/dash_serve" --db "$DB" --listen 127.0.0.1:0 --metrics-text
L=${URL%/}
check "live metrics: the provider's own text" bash -c \
	"curl -s '$L/metrics' | grep -q '^egresswatch_packets_total 123498$'"
stop_server "$SERVER_PID"
start_server "$T/live3.log" "$EW_BUILD/dash_serve" --db "$DB" --listen 127.0.0.1:0 --bad-provider
L=${URL%/}
curl -s "$L/api/health" -o "$T/h.json"
check "a broken provider: health still answers, saying so" jtrue "$T/h.json" "'invalid_json' in d['agent']"
check "a broken provider: metrics still answer" bash -c \
	"[ \$(curl -s -o '$T/m' -w '%{http_code}' '$L/metrics') = 200 ] && grep -q egresswatch_db_workloads '$T/m'"
stop_server "$SERVER_PID"

check "the standalone server stopped cleanly on SIGTERM" grep -q 'stopping' "$T/server.log"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T"/*.log; then
	fail "sanitizer reports in the servers' logs"
else
	ok "no sanitizer report in the servers' logs"
fi
finish
