#!/usr/bin/env bash
# dashboard.sh - benchmark of the dashboard over a big database: API latency
# (median and p99 of the flow-history, alert and overview calls, and of the
# other API paths) and time to first render of every page in Chromium.
#
#   bench/dashboard.sh [BUILD_DIR] [DB]
#
# BUILD_DIR defaults to build/ (use a Release build: the sanitizers cost a
# factor of several).  DB defaults to BUILD_DIR/bench/dashboard-10m.db and is
# generated when missing by bench/gen_flowdb.c: 10 million flows over 7 days,
# 200 workloads, 2,000 alerts (about 3 GB and 4 minutes).  Not a test: it
# prints figures, it does not judge them.  The targets are p99 < 100 ms for
# the API calls of the UI's default window (1 hour) and first render < 1 s.
#
# Requests: 200 per kind over one keep-alive connection, each with a
# different random 1-hour window (or filter) inside the data, so the answers
# do not come from a warm identical query.  The windows end at the newest
# stored flow (a generated file ages; "now" would find it empty).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
db=${2:-$build/bench/dashboard-10m.db}
N=${N:-200}

[ -x "$build/egresswatch" ] || { echo "no $build/egresswatch: build first"; exit 1; }
if [ ! -f "$db" ]; then
	mkdir -p "$(dirname "$db")"
	echo "generating $db (10,000,000 flows) ..."
	"$build/gen_flowdb" --db "$db" --flows 10000000
fi
echo "database: $db ($(du -h "$db" | cut -f1))"
echo "query plans:"
"$build/dash_plans" "$db" | grep -E '^(BAD )?[a-z].*: (SCAN|SEARCH) (flows|traffic_minute)' | sed 's/^/  /' | sort -u | head -40

log=$(mktemp)
"$build/egresswatch" dashboard --db "$db" --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
	url=$(grep -o 'http://[^ ]*/' "$log" | head -1 || true)
	[ -n "$url" ] && break
	sleep 0.1
done
[ -n "$url" ] || { cat "$log"; exit 1; }
echo "server: $url (pid $pid, $(nproc) cores)"

python3 - "${url%/}" "$N" <<'EOF'
import http.client, json, random, statistics, sys, time, urllib.parse
base, n = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
random.seed(42)

def get(path):
    t = time.perf_counter()
    conn.request('GET', path)
    r = conn.getresponse()
    body = r.read()
    dt = (time.perf_counter() - t) * 1000
    if r.status != 200:
        raise SystemExit(f'{path}: HTTP {r.status} {body[:200]!r}')
    return dt, body

def iso(s):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(s))

h = json.loads(get('/api/health')[1])
def ts(s):
    return time.mktime(time.strptime(s[:19], '%Y-%m-%dT%H:%M:%S')) - time.timezone
end, start = ts(h['database']['newest_flow']), ts(h['database']['oldest_flow'])
wl = [w['workload'] for w in json.loads(get(
    f'/api/top?by=workload&limit=50&since={iso(end-3600)}&until={iso(end)}')[1])['rows']]
ids = [a['id'] for a in json.loads(get('/api/alerts?limit=500')[1])['alerts']]

def window(hours=1):
    e = random.uniform(start + hours * 3600, end)
    return f'since={iso(e - hours * 3600)}&until={iso(e)}'

kinds = {
    'flows (1 h page of 1000)': lambda: f'/api/flows?{window()}',
    'flows workload': lambda: f'/api/flows?{window()}&workload={random.choice(wl)}',
    'flows workload+port': lambda: f'/api/flows?{window()}&workload={random.choice(wl)}&port=443',
    'flows port 6379': lambda: f'/api/flows?{window()}&port=6379',
    'flows sort=bytes': lambda: f'/api/flows?{window()}&sort=bytes',
    'flows page 2 (cursor)': None,
    'alerts': lambda: '/api/alerts' + random.choice(['', '?severity=critical', '?acknowledged=false',
                                                     f'?workload={random.choice(wl)}']),
    'alert detail': lambda: f'/api/alerts/{random.choice(ids)}',
    'overview (1 h)': lambda: f'/api/overview?{window()}',
    'overview (6 h)': lambda: f'/api/overview?{window(6)}',
    'overview (24 h)': lambda: f'/api/overview?{window(24)}',
    'workloads (1 h)': lambda: f'/api/workloads?{window()}',
    'workload (1 h)': lambda: f'/api/workloads/{random.choice(wl)}?{window()}',
    'series workload (24 h)': lambda: f'/api/series?{window(24)}&workload={random.choice(wl)}',
    'policy (1 h)': lambda: f'/api/policy?{window()}',
    'health': lambda: '/api/health',
    'metrics': lambda: '/metrics',
}
print(f'{"request":28} {"n":>4} {"median":>9} {"p99":>9} {"max":>9}   mean size')
for name, mk in kinds.items():
    times, sizes = [], []
    count = n if '24 h' not in name else max(20, n // 10)
    for i in range(count):
        if mk is None:
            w = window()
            first = json.loads(get(f'/api/flows?{w}&limit=1000')[1])
            path = f'/api/flows?{w}&limit=1000&cursor={first["next_cursor"]}'
        else:
            path = mk()
        dt, body = get(path)
        times.append(dt)
        sizes.append(len(body))
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f'{name:28} {count:4} {statistics.median(times):7.1f}ms {p99:7.1f}ms {times[-1]:7.1f}ms'
          f'   {statistics.mean(sizes) / 1024:7.0f} KiB')
EOF

if command -v node >/dev/null && [ -x /usr/bin/chromium ] && [ -d "$src/node_modules/playwright-core" ]; then
	echo "first render in Chromium (median / max of 5 fresh loads):"
	EW_URL=$url EW_SOURCE=$src node "$here/dash_render.js" 5
else
	echo "first render: skipped (node, chromium or playwright-core missing)"
fi
