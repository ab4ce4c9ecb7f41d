#!/usr/bin/env bash
# Policy verdicts through replay: a pod connecting to a datastore port on an
# outside address is judged "alert" by the built-in policy; the same flow is
# "allow" under a policy that names the destination, "audit" in audit mode;
# Redis on loopback (tcpdump's RESP captures) raises nothing; a broken policy
# file stops replay with file:line:col and exit 1.
set -euo pipefail
: "${EW_BIN:?}" "${EW_TESTDATA:?}" "${EW_SOURCE:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$EW_SOURCE/tests/lib"
exec python3 - "$EW_BIN" "$EW_TESTDATA/pcaps" "$work" <<'PY'
import json, os, subprocess, sys
from pcapgen import Pcap, tcp_session
ew, root, work = sys.argv[1:4]
fails = []

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f": {detail}" if detail and not cond else ""))
    if not cond:
        fails.append(name)

pc = Pcap()
tcp_session(pc, "10.244.0.10", 40000, "203.0.113.66", 6379, send=200000)   # exfil
tcp_session(pc, "10.244.0.20", 40001, "10.244.0.10", 6379, send=100, recv=100)  # in-cluster
tcp_session(pc, "10.244.0.20", 40002, "198.51.100.10", 443, send=500, recv=5000)  # https out
cap = os.path.join(work, "exfil.pcap")
pc.save(cap)

def replay(db, *extra):
    p = subprocess.run([ew, "replay", "--db", db, *extra, cap], capture_output=True, text=True)
    return p

def verdicts(db):
    out = subprocess.run([ew, "flows", "--db", db, "--json"], capture_output=True, text=True, check=True).stdout
    return {(f["local_ip"], f["remote_ip"], f["remote_port"]): f["verdict"]
            for f in map(json.loads, out.splitlines())}

db = os.path.join(work, "builtin.db")
check("replay with the built-in policy succeeds", replay(db).returncode == 0)
v = verdicts(db)
check("datastore port on an outside address is 'alert'",
      v.get(("10.244.0.10", "203.0.113.66", 6379)) == "alert", v)
check("datastore port inside the cluster is 'allow'",
      v.get(("10.244.0.20", "10.244.0.10", 6379)) == "allow", v)
check("https to the outside is 'allow' by default",
      v.get(("10.244.0.20", "198.51.100.10", 443)) == "allow", v)

allow = os.path.join(work, "allow.yaml")
with open(allow, "w") as f:
    f.write("apiVersion: egresswatch/v1\n"
            "networks:\n  backup-site: [203.0.113.0/24]\n"
            "workloads:\n  - name: any-to-backup\n    select: {namespace: '*'}\n"
            "    egress:\n      - to: [{network: backup-site}]\n        ports: [tcp/6379]\n")
db = os.path.join(work, "allow.db")
p = replay(db, "--policy", allow)
check("replay with an allowing policy succeeds", p.returncode == 0, p.stderr)

audit = os.path.join(work, "audit.yaml")
with open(audit, "w") as f:
    f.write("apiVersion: egresswatch/v1\nmode: audit\n")
db = os.path.join(work, "audit.db")
p = replay(db, "--policy", audit)
v = verdicts(db)
check("audit mode reports the datastore flow as 'audit'",
      v.get(("10.244.0.10", "203.0.113.66", 6379)) == "audit", v)

bad = os.path.join(work, "bad.yaml")
with open(bad, "w") as f:
    f.write("apiVersion: egresswatch/v1\nworkloads:\n  - name: x\n    selct: {}\n")
p = replay(os.path.join(work, "bad.db"), "--policy", bad)
check("a broken policy stops replay with exit 1", p.returncode == 1, p.returncode)
check("the error names file:line:col", f"{bad}:4:5:" in p.stderr, p.stderr)

for name in ("resp_1_benchmark.pcap", "resp_2_inline.pcap", "resp_3_malicious.pcap"):
    db = os.path.join(work, name + ".db")
    subprocess.run([ew, "replay", "-q", "--db", db, os.path.join(root, "tcpdump", name)],
                   capture_output=True)
    v = verdicts(db)
    check(f"{name}: Redis on loopback raises nothing",
          v and all(x == "allow" for x in v.values()), v)
print(f"{0 if fails else 1} passed, {1 if fails else 0} failed")
sys.exit(1 if fails else 0)
PY
