"""Compare `egresswatch replay` conversations with tshark's (see zeek_oracle.sh)."""
import collections
import glob
import ipaddress
import json
import os
import re
import subprocess
import sys

ew, root, work = sys.argv[1:4]
ROW = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s")


def split_ep(ep):
    host, _, port = ep.rpartition(":")
    return str(ipaddress.ip_address(host)), int(port)


def parse_oracle(path):
    """Return (capture path, {kind: {(A, B): (frames B->A, frames A->B)}})."""
    convs, cap, kind = {"tcp": {}, "udp": {}, "ip": {}, "ipv6": {}, "filter": {}}, None, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^(ip|ipv6): (\d+)$", line.strip())
            if m:
                convs["filter"][m.group(1)] = int(m.group(2))
            m = re.match(r"### capinfos (\S+)", line)
            if m and cap is None:
                cap = m.group(1)
            m = re.match(r"### tshark .* -z conv,(\w+)", line)
            if m:
                kind = m.group(1)
                continue
            if line.startswith("###"):
                kind = None
                continue
            m = ROW.match(line)
            if kind and m:
                a, b = m.group(1), m.group(2)
                if kind in ("tcp", "udp"):
                    a, b = split_ep(a), split_ep(b)
                else:
                    a, b = str(ipaddress.ip_address(a)), str(ipaddress.ip_address(b))
                rev, fwd = int(m.group(3)), int(m.group(4))
                prev = convs[kind].get((a, b), (0, 0))
                convs[kind][(a, b)] = (prev[0] + rev, prev[1] + fwd)
    return cap, convs


def replay(cap):
    db = os.path.join(work, os.path.basename(cap) + ".db")
    p = subprocess.run([ew, "replay", "--db", db, os.path.join(root, cap)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr + p.stdout
    q = subprocess.run([ew, "flows", "--db", db, "--json", "--limit", "1000000"],
                       capture_output=True, text=True, check=True)
    summary = p.stdout
    return [json.loads(l) for l in q.stdout.splitlines() if l.strip()], summary


def ours_by_pair(flows, proto, with_ports):
    """{(A, B): [frames B->A, frames A->B]} keyed like tshark: sum over flows."""
    acc = collections.defaultdict(lambda: [0, 0])
    for f in flows:
        if proto and f["proto"] != proto:
            continue
        l = (f["local_ip"], f["local_port"]) if with_ports else f["local_ip"]
        r = (f["remote_ip"], f["remote_port"]) if with_ports else f["remote_ip"]
        acc[(l, r)][1] += f["packets_sent"]
        acc[(l, r)][0] += f["packets_received"]
    return acc


def compare(name, theirs, ours):
    """Both {(A,B): (rev, fwd)}; pairs may be listed in either order."""
    errs, seen = [], set()
    for (a, b), (rev, fwd) in theirs.items():
        if (a, b) in ours:
            got = tuple(ours[(a, b)])
            seen.add((a, b))
        elif (b, a) in ours:
            r = ours[(b, a)]
            got = (r[1], r[0])
            seen.add((b, a))
        else:
            errs.append(f"{name}: missing conversation {a} <-> {b} ({rev}+{fwd} frames)")
            continue
        if got != (rev, fwd):
            errs.append(f"{name}: {a} <-> {b}: tshark {fwd} -> / {rev} <-, ours {got[1]} -> / {got[0]} <-")
    for k in ours:
        if k not in seen:
            errs.append(f"{name}: extra conversation {k[0]} <-> {k[1]} {ours[k]}")
    return errs


fails, compared = [], 0
for path in sorted(glob.glob(os.path.join(root, "zeek", "oracle", "*.txt"))):
    cap, convs = parse_oracle(path)
    if not cap or not os.path.exists(os.path.join(root, cap)):
        fails.append(f"{os.path.basename(path)}: capture {cap} not found")
        continue
    flows, summary = replay(cap)
    if flows is None:
        fails.append(f"{cap}: replay failed: {summary.strip()[:400]}")
        continue
    frag = re.search(r"fragments:\s+(\d+) first, (\d+) later", summary)
    has_frags = bool(frag and int(frag.group(1)) + int(frag.group(2)) > 0)
    errs = []
    if has_frags:
        # Every frame that carries IP is a packet of some flow: the total
        # equals tshark's count of frames matching "ip" or "ipv6".  Per
        # address pair, tshark's IPv4 conversation table counts every
        # fragment as we do; its IPv6 table counts one frame per reassembled
        # datagram (and none for an unreassembled one), so IPv6 pairs are
        # only covered by the total.
        total = sum(f["packets_sent"] + f["packets_received"] for f in flows)
        want = convs["filter"].get("ip", 0) + convs["filter"].get("ipv6", 0)
        if total != want:
            errs.append(f"{cap}: {total} packets in flows, tshark: {want} IP frames")
        ours4 = {k: v for k, v in ours_by_pair(flows, None, False).items() if ":" not in k[0]}
        errs += compare(cap + " ipv4", convs["ip"], ours4)
    else:
        for proto in ("tcp", "udp"):
            errs += compare(f"{cap} {proto}", convs[proto], ours_by_pair(flows, proto, True))
    compared += 1
    if errs:
        fails.append("\n    ".join(errs[:12]))
print(f"{compared} Zeek captures compared with tshark's conversation lists")
for f in fails:
    print("FAIL", f)
print(f"{compared - len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
