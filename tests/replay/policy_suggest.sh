#!/usr/bin/env bash
# `egresswatch policy suggest` end to end: a generated capture is replayed
# into a database, its flows are given workloads (as attribution would:
# workloads rows with labels, flows' workload/remote_workload columns), and
# the suggestion in both formats must pass `policy check`, name exactly the
# observed peers and ports (pod-specific labels left out), honour
# --namespace and --since, and refuse bad usage with exit 2.  The verdict
# round trip (observed -> allow, anything else -> alert) is in
# tests/unit/test_detect.c, on policy_eval itself.
set -euo pipefail
: "${EW_BIN:?}" "${EW_SOURCE:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$EW_SOURCE/tests/lib"
exec python3 - "$EW_BIN" "$work" <<'PY'
import ipaddress, json, os, sqlite3, subprocess, sys
from pcapgen import Pcap, tcp_session
ew, work = sys.argv[1:3]
fails = []

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f": {detail}" if detail and not cond else ""))
    if not cond:
        fails.append(name)

pc = Pcap()
tcp_session(pc, "10.244.1.5", 40001, "10.244.0.10", 6379, send=100, recv=100)     # api -> redis
tcp_session(pc, "10.244.1.5", 40002, "198.51.100.7", 443, send=500, recv=900)    # api -> partner
tcp_session(pc, "10.244.3.3", 51000, "10.244.1.5", 8080, send=100, recv=100)     # web -> api
tcp_session(pc, "10.244.9.9", 40005, "203.0.113.9", 5432, send=100, recv=100)    # staging loner
cap = os.path.join(work, "c.pcap")
pc.save(cap)
db = os.path.join(work, "c.db")
subprocess.run([ew, "replay", "-q", "--db", db, cap], check=True)

def blob(a):
    ip = ipaddress.ip_address(a)
    return (ip.ipv4_mapped or ip).packed if ip.version == 6 else \
        ipaddress.IPv6Address("::ffff:" + a).packed

con = sqlite3.connect(db)
wl = {"10.244.1.5": ("prod", "api-7d9f8-abcde",
                     {"app": "api", "pod-template-hash": "7d9f8", "tier": "backend"}),
      "10.244.0.10": ("prod", "redis-0",
                      {"app": "redis", "statefulset.kubernetes.io/pod-name": "redis-0"}),
      "10.244.3.3": ("prod", "web-1", {"app": "web"}),
      "10.244.9.9": ("staging", "loner", None)}
for ipa, (ns, name, labels) in wl.items():
    con.execute("INSERT INTO workloads (namespace, name, kind, labels, first_seen_ns, last_seen_ns)"
                " VALUES (?, ?, 'pod', ?, 1, 1)", (ns, name, json.dumps(labels) if labels else None))
rows = con.execute("SELECT id, local_ip, remote_ip FROM flows").fetchall()
for fid, lip, rip in rows:
    def who(b):
        for ipa, (ns, name, _) in wl.items():
            if blob(ipa) == b:
                return f"{ns}/{name}"
        return None
    con.execute("UPDATE flows SET workload = ?, remote_workload = ? WHERE id = ?",
                (who(lip), who(rip), fid))
# pod-to-pod flows seen from the other pod's side too (ingress), as
# attribution records them
con.execute("INSERT INTO flows (id, start_ns, end_ns, interface, family, proto, direction,"
            " local_ip, local_port, remote_ip, remote_port, vlan, bytes_sent, bytes_received,"
            " packets_sent, packets_received, tcp_flags_sent, tcp_flags_received, ended,"
            " end_reason, workload, remote_workload, verdict)"
            " SELECT id + 1000, start_ns, end_ns, interface, family, proto, 1, remote_ip,"
            " remote_port, local_ip, local_port, vlan, bytes_received, bytes_sent,"
            " packets_received, packets_sent, 0, 0, 1, end_reason, remote_workload, workload,"
            " 'allow' FROM flows WHERE remote_workload IS NOT NULL")
con.commit()
con.close()

def suggest(*args):
    return subprocess.run([ew, "policy", "suggest", "--db", db, *args],
                          capture_output=True, text=True)

for fmt in ("networkpolicy", "egresswatch"):
    p = suggest("--format", fmt)
    check(f"{fmt}: suggest exits 0", p.returncode == 0, p.stderr)
    path = os.path.join(work, f"{fmt}.yaml")
    open(path, "w").write(p.stdout)
    c = subprocess.run([ew, "policy", "check", path], capture_output=True, text=True)
    check(f"{fmt}: policy check accepts it", c.returncode == 0, c.stderr + p.stdout)
    y = p.stdout
    check(f"{fmt}: observed peers and ports",
          "198.51.100.7/32" in y and "6379" in y and "8080" in y and "kube-dns" in y, y)
    check(f"{fmt}: pod-specific labels left out", "pod-template-hash" not in y and
          "statefulset.kubernetes.io/pod-name" not in y)
    check(f"{fmt}: header counts the flows", "from 6 observed flows" in y, y[:300])
np = open(os.path.join(work, "networkpolicy.yaml")).read()
ours = open(os.path.join(work, "egresswatch.yaml")).read()
check("networkpolicy: one policy per selector, loner listed as not selectable",
      np.count("kind: NetworkPolicy") == 3 and "#   staging/loner" in np)
check("egresswatch: loner selected by name", 'name: "loner"' in ours and '"203.0.113.9/32"' in ours)

p = suggest("--format", "egresswatch", "--namespace", "staging")
check("--namespace limits the workloads", p.returncode == 0 and '"loner"' in p.stdout and
      '"prod.api"' not in p.stdout, p.stdout)
p = suggest("--since", "2099-01-01")
check("--since in the future: nothing observed", p.returncode == 0 and
      "no flows of known workloads" in p.stdout and "kind: NetworkPolicyList" in p.stdout, p.stdout[:400])
out = os.path.join(work, "o.yaml")
p = suggest("-o", out)
check("-o writes the file", p.returncode == 0 and p.stdout == "" and
      open(out).read().startswith("# Suggested by"))
for bad in (["--format", "yaml"], ["--since", "yesterday"], []):
    args = ["policy", "suggest", *bad] if bad else ["policy", "suggest"]
    if bad:
        args[2:2] = ["--db", db]
    p = subprocess.run([ew, *args], capture_output=True, text=True)
    check(f"bad usage {bad or ['no --db']} exits 2", p.returncode == 2, p.stderr)
p = subprocess.run([ew, "policy", "suggest", "--db",
                                            os.path.join(work, "missing.db")],
                                           capture_output=True, text=True)
check("a missing database exits 1", p.returncode == 1 and p.stderr, p.stderr)
print(f"{1 if not fails else 0} passed, {1 if fails else 0} failed")
sys.exit(1 if fails else 0)
PY
