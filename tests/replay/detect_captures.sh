#!/usr/bin/env bash
# The detectors on real and generated traffic, through detect_replay (the
# capture module's decoder, flow table and DNS parser feeding the detectors
# directly, as the pipeline does without workloads).
#
# Benign: every capture under ../shared/testdata/pcaps (Zeek's traces and
# tcpdump's suite), replayed with a permissive policy, raises no dns-tunnel,
# beaconing, exfil-volume or policy alert at all; the learning detectors
# speak only in captures whose packet times span more than their learning
# period (new-destination 1 h, learned ports 24 h) - several of tcpdump's
# fuzzed files jump across decades.
#
# Generated (tests/lib/pcapgen.py): an iodine-like DNS tunnel, a 60 s
# beacon, Poisson-spaced connections, and a Redis pod streaming 3 MB to
# 203.0.113.66:6379 with a 1 MiB budget: dns-tunnel, beaconing, the
# datastore policy alert and exfil-volume fire - the last one while the
# connection is still open - and the Poisson traffic stays quiet.
set -euo pipefail
: "${EW_BUILD:?}" "${EW_TESTDATA:?}" "${EW_SOURCE:?}"
tool="$EW_BUILD/detect_replay"
[ -x "$tool" ] || { echo "SKIP: $tool not built"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$EW_SOURCE/tests/lib"
exec python3 - "$tool" "$EW_TESTDATA/pcaps" "$work" <<'PY'
import json, math, os, random, re, struct, subprocess, sys
from pcapgen import Pcap, tcp_session, udp
tool, root, work = sys.argv[1:4]
fails = []

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f": {detail}" if detail and not cond else ""))
    if not cond:
        fails.append(name)

def run(files, *opts):
    """{file: {"alerts": [...], "span": s, "counts": {kind: n}, "dns": n}}"""
    p = subprocess.run([tool, *opts, *files], capture_output=True, text=True,
                       errors="replace", timeout=600)
    if p.returncode != 0 or "Sanitizer" in p.stderr or "runtime error" in p.stderr:
        print(p.stderr[-3000:])
        raise SystemExit(f"detect_replay failed (exit {p.returncode})")
    res, cur = {}, None
    for line in p.stdout.splitlines():
        if line.startswith("# "):
            cur = line[2:]
            res[cur] = {"alerts": []}
        elif line:
            res[cur]["alerts"].append(json.loads(line))
    for line in p.stderr.splitlines():
        m = re.match(r"^(.*): (\d+) events, (\d+) DNS answers, span (\d+) s, alerts (.*)$", line)
        if m and m.group(1) in res:
            r = res[m.group(1)]
            r["events"], r["dns"], r["span"] = int(m.group(2)), int(m.group(3)), int(m.group(4))
            r["counts"] = {k: int(v) for k, v in (kv.split("=") for kv in m.group(5).split())}
    return res

# ---- benign ---------------------------------------------------------------
permissive = os.path.join(work, "permissive.yaml")
with open(permissive, "w") as f:
    f.write("apiVersion: egresswatch/v1\ndatastore_guard: false\n")
files = sorted(os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns
               if n.endswith((".pcap", ".pcapng")))
res = run(files, "--policy", permissive)
never = ["policy-violation", "listen-only-egress", "exfil-volume", "dns-tunnel", "beaconing", "scan"]
totals = {k: 0 for k in never + ["new-destination", "unexpected-port"]}
events = dns = 0
bad = []
for fpath in files:
    r = res.get(fpath)
    if not r or "counts" not in r:
        bad.append(f"{fpath}: no summary"); continue
    events += r["events"]; dns += r["dns"]
    for k, v in r["counts"].items():
        totals[k] = totals.get(k, 0) + v
    rel = os.path.relpath(fpath, root)
    for k in never:
        if r["counts"][k]:
            msgs = [a["message"] for a in r["alerts"] if a["kind"] == k][:3]
            bad.append(f"{rel}: {r['counts'][k]} {k}: {msgs}")
    if r["counts"]["new-destination"] and r["span"] <= 3600:
        bad.append(f"{rel}: new-destination within the learning hour (span {r['span']} s)")
    if r["counts"]["unexpected-port"] and r["span"] <= 86400:
        bad.append(f"{rel}: learned-port alert within the learning day (span {r['span']} s)")
print(f"benign: {len(files)} captures, {events} flow events, {dns} DNS answers; alerts {totals}")
for b in bad[:20]:
    print("   ", b)
check("benign captures raise no tunnel, beacon, volume or policy alert", not bad,
      f"{len(bad)} problems")
check("the benign sweep saw DNS answers and flows", dns > 100 and events > 1000,
      f"{dns} DNS answers, {events} events")

# ---- generated --------------------------------------------------------------
def dns_response(qname, txid, rcode=0, addr=None):
    q = b"".join(bytes([len(l)]) + l.encode() for l in qname.split(".")) + b"\0"
    an = 1 if addr else 0
    hdr = struct.pack(">HHHHHH", txid, 0x8180 | rcode, 1, an, 0, 0)
    body = q + struct.pack(">HH", 1, 1)
    if addr:
        body += struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes(int(x) for x in addr.split("."))
    return hdr + body

rnd = random.Random(7)
b32 = "abcdefghijklmnopqrstuvwxyz234567"
pc = Pcap(t0=1764000000.0)
# DNS tunnel: 40 iodine-like queries in 20 s, NXDOMAIN and A answers
for i in range(40):
    name = "p" + "".join(rnd.choice(b32) for _ in range(56)) + "." + \
           "".join(rnd.choice(b32) for _ in range(50)) + ".t.tunnel.example"
    pc.packet("10.244.1.7", "10.96.0.10", 17, udp(33000 + i, 53, b"q"), dt=0.25)
    pc.packet("10.96.0.10", "10.244.1.7", 17,
              udp(53, 33000 + i, dns_response(name, i, 3 if i % 2 else 0,
                                              None if i % 2 else "192.0.2.53")), dt=0.25)
# benign lookups from the same client
for i, n in enumerate(["api.stripe.com", "d1a2b3c4.cloudfront.net", "www.google.com"] * 10):
    pc.packet("10.96.0.10", "10.244.1.7", 17, udp(53, 34000 + i, dns_response(n, 500 + i, 0, "198.51.100.5")), dt=0.1)
# beacon: 10 connections 60 s apart
for i in range(10):
    pc.t += 60 - 0.006
    tcp_session(pc, "10.244.1.8", 41000 + i, "203.0.113.77", 443, send=300, recv=300)
# Poisson: 20 connections, mean 60 s apart
for i in range(20):
    pc.t += rnd.expovariate(1 / 60)
    tcp_session(pc, "10.244.1.9", 42000 + i, "203.0.113.78", 443, send=300, recv=300)
# Redis backdoor: 3 MB out over one connection (about 2 s of packets)
pc.t += 10
exfil_start = pc.t
tcp_session(pc, "10.244.0.10", 40000, "203.0.113.66", 6379, send=3_000_000)
exfil_end = pc.t
gen = os.path.join(work, "attacks.pcap")
pc.save(gen)

res = run([gen], "--budget", "1MiB")[gen]
print(f"generated: {res['counts']}")
for a in res["alerts"]:
    print("    " + a["kind"] + ": " + a["message"])
c = res["counts"]
check("dns-tunnel fires once on the iodine-like names", c["dns-tunnel"] == 1)
tun = [a for a in res["alerts"] if a["kind"] == "dns-tunnel"]
check("the tunnel's domain is tunnel.example", tun and tun[0]["remote_name"] == "tunnel.example")
check("beaconing fires once, for the 60 s beacon only",
      c["beaconing"] == 1 and [a["remote_ip"] for a in res["alerts"] if a["kind"] == "beaconing"] == ["203.0.113.77"])
pv = [a for a in res["alerts"] if a["kind"] == "policy-violation"]
check("the datastore guard flags 203.0.113.66:6379 at once",
      len(pv) == 1 and pv[0]["remote_port"] == 6379 and pv[0]["severity"] == "critical")
ex = [a for a in res["alerts"] if a["kind"] == "exfil-volume"]
def ts(s):
    import datetime
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
check("exfil-volume fires while the connection is open",
      len(ex) == 1 and exfil_start < ts(ex[0]["first_seen"]) < exfil_end - 0.5,
      f"{[a['first_seen'] for a in ex]} vs {exfil_start}..{exfil_end}")
print(f"{1 if not fails else 0} passed, {1 if fails else 0} failed")
sys.exit(1 if fails else 0)
PY
