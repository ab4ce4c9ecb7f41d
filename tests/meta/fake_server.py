#!/usr/bin/env python3
"""fake_server.py - a scripted HTTP server standing in for the Kubernetes API
server and the Docker/Podman Engine API in the metadata source tests.

There is no API server and no container engine on the test machine, so the
clients in capture/meta_*.c are tested against this: recorded, realistic
responses (tests/meta/k8s/, tests/meta/docker/) served over HTTPS on
127.0.0.1 (a CA and certificates made by gen_certs.sh, optionally requiring
a client certificate) or over a unix socket, exactly as the real servers
frame them: whole JSON bodies with Content-Length, and watch/event streams
as chunked responses with one JSON object per line.

Python standard library only (Debian's python3).

    fake_server.py --script S.json --root DIR --log LOG --ready FILE
                   --gates DIR [--tls CERT KEY [--client-ca CA]] [--unix PATH]

The script is {"routes": [ROUTE, ...]}.  A request goes to the first route
whose "path" equals its path and whose "query" matches (a value of null
means the parameter must be absent, "*" that it must be present, anything
else that it must be equal).  Each route answers with its "responses" in
order, repeating the last one.  A response is:

    {"status": 200, "delay": 0.0,                  seconds before the headers
     "body": "...", "body_file": "k8s/x.json",     whole body, or
     "pad_json": N,                                a valid JSON object of N bytes
     "stream": [STEP, ...]}                        chunked, one step at a time

    STEP: {"data": "..."}   {"file": "k8s/watch.jsonl"} (one chunk per line)
          {"pad_line": N}   (a JSON event line of N bytes)
          {"gate": "name"}  (wait until GATES/name exists)
          {"sleep": 0.2}    {"hold": true} (until the client goes away)
          {"cut": true}     (half a chunk, then the connection is dropped)

Each request is logged to LOG as one JSON object per line: method, path,
query (a dict), the Authorization header, route index and response index.
The server exits when its parent dies, on SIGTERM, or after --lifetime
seconds, whichever comes first, so that it never outlives a test.
"""
import argparse
import http.server
import json
import os
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

STOP = threading.Event()
LOG_LOCK = threading.Lock()


def load_script(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["routes"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-api/1"

    def log_message(self, fmt, *args):  # quiet: the request log says it all
        pass

    def address_string(self):
        return "unix" if isinstance(self.client_address, str) else self.client_address[0]

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(5)
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                raise
            self.connection.settimeout(None)

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, BrokenPipeError, OSError):
            pass

    # -- routing ---------------------------------------------------------

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        srv = self.server
        for i, r in enumerate(srv.routes):
            if r["path"] != u.path:
                continue
            ok = True
            for k, want in r.get("query", {}).items():
                if want is None:
                    ok = ok and k not in q
                elif want == "*":
                    ok = ok and k in q
                else:
                    ok = ok and q.get(k) == want
            if not ok:
                continue
            with srv.lock:
                n = srv.counts.get(i, 0)
                srv.counts[i] = n + 1
            resps = r["responses"]
            return u.path, q, i, min(n, len(resps) - 1), resps[min(n, len(resps) - 1)]
        return u.path, q, -1, -1, {"status": 404, "body": '{"message":"no route in the fake server"}'}

    def do_GET(self):
        path, q, ri, ni, resp = self.route()
        entry = {"method": "GET", "path": path, "query": q,
                 "auth": self.headers.get("Authorization"), "route": ri, "n": ni,
                 "t": time.time()}
        with LOG_LOCK:
            with open(self.server.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        if resp.get("delay"):
            if self.wait(resp["delay"]):
                return
        status = resp.get("status", 200)
        if "stream" in resp:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.stream(resp["stream"])
            return
        body = self.body(resp)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def body(self, resp):
        if "body_file" in resp:
            with open(os.path.join(self.server.root, resp["body_file"]), "rb") as f:
                return f.read()
        if "pad_json" in resp:
            n = int(resp["pad_json"])
            head = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[],"pad":"'
            return head + b"x" * max(0, n - len(head) - 2) + b'"}'
        return resp.get("body", "").encode()

    # -- streams -----------------------------------------------------------

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def client_gone(self, timeout):
        """Wait up to `timeout` s; True when the client closed (it never
        sends anything on a streaming request, so readable means EOF)."""
        try:
            r, _, _ = select.select([self.connection], [], [], timeout)
        except (OSError, ValueError):
            return True
        return bool(r)

    def wait(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            if STOP.is_set() or self.client_gone(min(0.05, max(0, end - time.time()))):
                return True
        return False

    def stream(self, steps):
        for st in steps:
            if "data" in st:
                self.chunk(st["data"].encode())
            elif "file" in st:
                with open(os.path.join(self.server.root, st["file"]), "rb") as f:
                    for line in f:
                        if line.strip():
                            self.chunk(line if line.endswith(b"\n") else line + b"\n")
            elif "pad_line" in st:
                n = int(st["pad_line"])
                head = b'{"type":"ADDED","object":{"pad":"'
                self.chunk(head + b"x" * max(0, n - len(head) - 4) + b'"}}\n')
            elif "gate" in st:
                gate = os.path.join(self.server.gates, st["gate"])
                while not os.path.exists(gate):
                    if STOP.is_set() or self.client_gone(0.01):
                        self.close_connection = True
                        return
            elif "sleep" in st:
                if self.wait(st["sleep"]):
                    self.close_connection = True
                    return
            elif st.get("hold"):
                while not STOP.is_set() and not self.client_gone(0.05):
                    pass
                self.close_connection = True
                return
            elif st.get("cut"):
                # A chunk that promises more than it delivers, then EOF.
                self.wfile.write(b"400\r\n{\"type\":\"MODIFIED\",\"obj")
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, tls_ctx):
        self.tls_ctx = tls_ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_ctx:
            sock = self.tls_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def watchdog(parent, lifetime):
    end = time.time() + lifetime
    while not STOP.is_set():
        if os.getppid() != parent or time.time() > end:
            os._exit(0)
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--gates", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca")
    ap.add_argument("--unix")
    ap.add_argument("--lifetime", type=float, default=120)
    a = ap.parse_args()

    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if a.unix:
        try:
            os.unlink(a.unix)
        except FileNotFoundError:
            pass
        srv = UnixServer(a.unix, Handler)
        where = "unix"
    else:
        ctx = None
        if a.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(a.tls[0], a.tls[1])
            if a.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(a.client_ca)
        srv = TCPServer(("127.0.0.1", 0), Handler, ctx)
        where = str(srv.server_address[1])
    srv.routes = load_script(a.script)
    srv.root = a.root
    srv.log = a.log
    srv.gates = a.gates
    srv.lock = threading.Lock()
    srv.counts = {}
    threading.Thread(target=watchdog, args=(parent, a.lifetime), daemon=True).start()
    tmp = a.ready + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(where + "\n")
    os.rename(tmp, a.ready)
    try:
        srv.serve_forever(poll_interval=0.05)
    finally:
        STOP.set()


if __name__ == "__main__":
    sys.exit(main())
