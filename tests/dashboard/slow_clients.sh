#!/usr/bin/env bash
# slow_clients.sh - idle, slow and stalled clients never keep a normal request
# waiting.
#
# Pins down: with 200 idle connections open (half of them sending a request
# a few bytes at a time, slowloris style; each from its own loopback address,
# so that the per-address limit does not simply refuse them), a normal
# request is answered within 1 s, and the server's thread count does not grow
# with the connections (epoll, a fixed pool); one address cannot hold more
# than its share (--max-per-ip) while others are still served; an export
# whose client stops reading holds no thread; idle connections are closed
# after --timeout.
. "$(dirname "$0")/lib.bash"

DB=$T/ew.db
make_db "$DB" --noise 3000
start_server "$T/server.log" "$EW_BIN" dashboard --db "$DB" --listen 127.0.0.1:0 \
	--timeout 4 --max-per-ip 32
B=${URL%/}
PORT=${B##*:}
echo "server: $B (pid $SERVER_PID)"
threads() { awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status"; }
T0=$(threads)

python3 - "$PORT" "$B" "$T" <<'EOF' >"$T/slow.out" 2>&1
import socket, subprocess, sys, time
port, base, tmp = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def timed(src, path='/api/alerts'):
    t = time.monotonic()
    r = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
                        '--max-time', '5', '--interface', src, base + path],
                       capture_output=True, text=True)
    return r.stdout, time.monotonic() - t

# 200 idle connections, each from its own 127.0.1.x address; every other one
# starts a request and never finishes it.
idle = []
for i in range(200):
    s = socket.socket()
    s.bind(('127.0.1.%d' % (i + 1), 0))
    s.connect(('127.0.0.1', port))
    if i % 2:
        s.sendall(b'GET /api/flows HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    idle.append(s)
time.sleep(0.5)
for k in range(5):
    code, dt = timed('127.0.2.1')
    print('normal %s %.3f' % (code, dt))
for s in idle[1::2]:            # slowloris: one more byte each
    s.sendall(b'a')
code, dt = timed('127.0.2.1', '/api/overview')
print('normal %s %.3f' % (code, dt))
with open(tmp + '/threads_wanted', 'w') as f:
    f.write('now\n')
time.sleep(1.0)                 # the shell counts threads meanwhile

# One address opens 100: only --max-per-ip (32) stay open.
same = []
for i in range(100):
    s = socket.socket()
    s.bind(('127.0.3.1', 0))
    s.connect(('127.0.0.1', port))
    same.append(s)
time.sleep(0.5)
open_ = 0
for s in same:
    s.setblocking(False)
    try:
        open_ += s.recv(1) != b''
    except BlockingIOError:
        open_ += 1              # nothing to read: still open
    except OSError:
        pass
print('same-address open %d' % open_)
code, dt = timed('127.0.2.2')
print('normal-other %s %.3f' % (code, dt))

# An export whose client reads nothing: the server's send buffer fills.
stall = socket.socket()
stall.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
stall.bind(('127.0.4.1', 0))
stall.connect(('127.0.0.1', port))
stall.sendall(b'GET /api/flows?since=-3h&format=json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
time.sleep(0.5)
for k in range(3):
    code, dt = timed('127.0.2.3', '/api/flows?since=-3h&limit=500')
    print('during-stall %s %.3f' % (code, dt))

# Idle connections are closed after the time-out (4 s here).
t = time.monotonic()
closed = 0
for s in idle:
    s.settimeout(max(0.1, 12 - (time.monotonic() - t)))
    try:
        while s.recv(4096) != b'':     # an error response may come first
            pass
        closed += 1                    # end of stream: the server closed it
    except ConnectionResetError:
        closed += 1
    except (socket.timeout, OSError):
        pass
print('idle-closed %d in %.1f' % (closed, time.monotonic() - t))
EOF
sleep 0.1
cat "$T/slow.out"
check "200 idle and slowloris connections: normal requests 200 within 1 s" python3 - "$T/slow.out" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith('normal ')]
assert len(rows) == 6 and all(c == '200' and float(t) < 1.0 for _, c, t in rows), rows
EOF
check "one address is held to --max-per-ip (32 of 100 open)" bash -c \
	"grep -q '^same-address open 32$' '$T/slow.out'"
check "...while another address is answered within 1 s" python3 - "$T/slow.out" <<'EOF'
import sys
r = [l.split() for l in open(sys.argv[1]) if l.startswith('normal-other ')][0]
assert r[1] == '200' and float(r[2]) < 1.0, r
EOF
check "a stalled export does not hold others up" python3 - "$T/slow.out" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith('during-stall ')]
assert len(rows) == 3 and all(c == '200' and float(t) < 1.0 for _, c, t in rows), rows
EOF
check "idle connections closed after the time-out" python3 - "$T/slow.out" <<'EOF'
import sys
r = [l.split() for l in open(sys.argv[1]) if l.startswith('idle-closed ')][0]
assert r[1] == '200' and float(r[3]) < 10, r
EOF
T1=$(threads)
echo "threads: $T0 at start, $T1 after 400 connections"
check "the thread count does not grow with connections ($T0 -> $T1)" [ "$T1" -le "$T0" ]
check "the server still answers" [ "$(status "$B/healthz")" = 200 ]
stop_server "$SERVER_PID"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/server.log"; then
	fail "sanitizer reports in the server's log"
else
	ok "no sanitizer report; stopped cleanly with connections open"
fi
finish
