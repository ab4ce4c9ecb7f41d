#!/usr/bin/env python3
"""seeds.py - build the seed corpora of the fuzz targets from the shared test
data and the repository's own fixtures, so that no corpus is committed.

    seeds.py --testdata DIR --source DIR --out DIR

Writes DIR/<target>/<sha1 of the content>, deterministically:

  pcap       every capture under testdata/pcaps, cut to its first 64 KiB
  decode     per capture of a link type the decoder knows: a selector byte
             (index of the link type in fuzz_decode.c's LINKS[]) and its first
             48 frames as [length: 2 bytes][time step: 1 byte][bytes]
  dns        the payloads of UDP and TCP segments from port 53 in the captures
  policy     tests/policy/*.yaml and every ```yaml block of docs/policy.md
  inventory  tests/attrib/*.yaml
  meta       each Kubernetes object and Docker inspect answer under tests/meta
             (list items one by one)
  kubeconfig a few kubeconfigs: tokens, *-data, several contexts, exec
  dash_params query strings and form bodies as the dashboard's API gets them
  cgroup     /proc/PID/cgroup files of the layouts kubelet, Docker, Podman
             and CRI-O make, and pod log directory names

Only the standard library: the captures are read with struct, not scapy.
"""
import argparse
import hashlib
import json
import os
import re
import struct
import sys

# fuzz_decode.c LINKS[]: link type -> selector byte
LINKS = [1, 101, 113, 276, 0, 108, 12, 14, 228, 229, 239]
CAP_BYTES = 64 * 1024
DECODE_FRAMES = 48
DNS_MAX = 600


def write(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_frames(blob):
    """(link type, [frames]) of a pcap or pcapng file; stops at damage."""
    if len(blob) < 24:
        return None, []
    magic = blob[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        return pcapng_frames(blob)
    else:
        return None, []
    link = struct.unpack(e + "I", blob[20:24])[0] & 0x03FFFFFF
    frames, off = [], 24
    while off + 16 <= len(blob):
        caplen = struct.unpack(e + "I", blob[off + 8:off + 12])[0]
        if caplen > 262144 or off + 16 + caplen > len(blob):
            break
        frames.append(blob[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return link, frames


def pcapng_frames(blob):
    links, frames, link, off, e = [], [], None, 0, "<"
    while off + 12 <= len(blob):
        btype = struct.unpack(e + "I", blob[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = blob[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack(e + "I", blob[off + 4:off + 8])[0]
        if blen < 12 or off + blen > len(blob):
            break
        body = blob[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 2:
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            ifc, _, _, caplen = struct.unpack(e + "IIII", body[:16])
            if ifc < len(links) and 20 + caplen <= len(body):
                link = link if link is not None else links[ifc]
                if links[ifc] == link:
                    frames.append(body[20:20 + caplen])
        elif btype == 3 and len(body) >= 4 and links:
            link = link if link is not None else links[0]
            frames.append(body[4:])
        off += blen
    return link, frames


def ip_payload(link, f):
    """(ip packet) of a frame, for the link types the captures use."""
    if link == 1:
        off, et = 14, f[12:14]
        while et in (b"\x81\x00", b"\x88\xa8") and len(f) >= off + 4:
            et, off = f[off + 2:off + 4], off + 4
        return f[off:] if et in (b"\x08\x00", b"\x86\xdd") else None
    if link == 113:
        return f[16:] if f[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link == 276:
        return f[20:] if f[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if link in (0, 108):
        return f[4:]
    if link in (101, 12, 14, 228, 229):
        return f
    return None


def dns_payload(ip):
    if not ip:
        return None
    v = ip[0] >> 4
    if v == 4 and len(ip) >= 20:
        ihl = (ip[0] & 15) * 4
        if struct.unpack(">H", ip[6:8])[0] & 0x1FFF:
            return None
        proto, l4 = ip[9], ip[ihl:]
    elif v == 6 and len(ip) >= 40:
        proto, l4 = ip[6], ip[40:]
    else:
        return None
    if proto == 17 and len(l4) >= 8 and l4[0:2] == b"\x00\x35":
        return l4[8:]
    if proto == 6 and len(l4) >= 20 and l4[0:2] == b"\x00\x35":
        return l4[(l4[12] >> 4) * 4:]
    return None


def captures(testdata, out):
    dns = {}
    root = os.path.join(testdata, "pcaps")
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith((".pcap", ".pcapng", ".cap")):
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                blob = f.read()
            write(out, "pcap", blob[:CAP_BYTES])
            link, frames = pcap_frames(blob)
            if link in LINKS and frames:
                seed = bytearray([LINKS.index(link)])
                for fr in frames[:DECODE_FRAMES]:
                    fr = fr[:65535]
                    seed += struct.pack(">HB", len(fr), 5) + fr
                write(out, "decode", bytes(seed))
            for fr in frames:
                p = dns_payload(ip_payload(link, fr))
                if p and len(dns) < DNS_MAX:
                    dns[hashlib.sha1(p).digest()] = p
    for p in dns.values():
        write(out, "dns", p)


def yaml_blocks(md):
    return re.findall(r"```yaml\n(.*?)```", md, re.S)


KUBECONFIGS = [
    "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
    "clusters:\n- cluster: {server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true}\n"
    "  name: lab\ncontexts:\n- context: {cluster: lab, user: admin}\n  name: lab\n"
    "users:\n- name: admin\n  user: {token: abcdef0123456789}\n",
    "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
    "clusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "    server: https://api.lab.example:6443/\n  name: lab\n"
    "- cluster: {server: 'http://127.0.0.1:8001'}\n  name: proxy\n"
    "contexts:\n- context: {cluster: proxy}\n  name: a\n"
    "- context: {cluster: lab, user: u, namespace: prod}\n  name: b\n"
    "users:\n- name: u\n  user:\n    client-certificate-data: Zm9v\n"
    "    client-key-data: YmFy\n    tokenFile: token\n",
    "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
    "clusters: [{name: c, cluster: {server: 'https://[2001:db8::1]:443'}}]\n"
    "contexts: [{name: x, context: {cluster: c, user: e}}]\n"
    "users: [{name: e, user: {exec: {command: aws}}}]\n",
]


QUERIES = [
    "since=-2h&until=2026-11-28T15:00:00Z&limit=100&cursor=f.1a2b.3c"
    "&name=*.stripe.com&workload=prod/redis-0&remote=203.0.113.0/24"
    "&proto=tcp&port=6379",
    "since=1764342000&until=2026-11-28&name=redis%_x\\&proto=58",
    "remote=2001:db8::/32&cursor=a.0.ffffffffffffffff&proto=ipv6-icmp",
    "since=2026-11-28T15:00:00.123456789+02:00&until=-7d&name=we?-*",
    "label=a\"b\\c\nd&workload=name-only",
    "user=admin&password=p%40ss+word%21&token=%7e%00",
]


UID = "6b1c2d3e-4f50-4617-8a29-3b4c5d6e7f80"
CID = "3c5e0f1d2b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
BURST = ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
         + UID.replace("-", "_") + ".slice")
CGROUPS = [
    "0::" + BURST + "/cri-containerd-" + CID + ".scope\n",
    "12:pids:/kubepods/besteffort/pod" + UID + "/" + CID + "\n"
    "1:name=systemd:/kubepods/besteffort/pod" + UID + "/" + CID + "\n"
    "0::/\n",
    "0::" + BURST + "/crio-conmon-" + CID + ".scope\n",
    "0::/system.slice/docker-" + CID + ".scope (deleted)\n",
    "0::/machine.slice/libpod-" + CID + ".scope/container\n",
    "0::/docker/" + CID + "/kubepods/burstable/pod" + UID + "/" + CID + "\n",
    "prod_redis-0_" + UID + "\nkube-system_coredns-5d78c9869d-abcde_"
    + UID.replace("-", "") + "\n",
]


def fixtures(source, out):
    pol = os.path.join(source, "tests", "policy")
    for name in sorted(os.listdir(pol)):
        if name.endswith(".yaml"):
            with open(os.path.join(pol, name), "rb") as f:
                write(out, "policy", f.read())
    with open(os.path.join(source, "docs", "policy.md")) as f:
        for block in yaml_blocks(f.read()):
            write(out, "policy", block.encode())
    inv = os.path.join(source, "tests", "attrib")
    for name in sorted(os.listdir(inv)):
        if name.endswith(".yaml"):
            with open(os.path.join(inv, name), "rb") as f:
                write(out, "inventory", f.read())
    meta = os.path.join(source, "tests", "meta")
    for dirpath, _, files in sorted(os.walk(meta)):
        for name in sorted(files):
            if not name.endswith((".json", ".jsonl")):
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                text = f.read()
            docs = []
            for line in text.splitlines() if name.endswith(".jsonl") else [text]:
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    write(out, "meta", line)
            for d in docs:
                objs = [d]
                if isinstance(d, dict) and isinstance(d.get("items"), list):
                    objs += d["items"]
                if isinstance(d, dict) and isinstance(d.get("object"), dict):
                    objs.append(d["object"])
                for o in objs:
                    write(out, "meta", json.dumps(o).encode())
    for k in KUBECONFIGS:
        write(out, "kubeconfig", k.encode())
    for q in QUERIES:
        write(out, "dash_params", q.encode())
    for c in CGROUPS:
        write(out, "cgroup", c.encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testdata", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    captures(a.testdata, a.out)
    fixtures(a.source, a.out)
    for t in sorted(os.listdir(a.out)):
        n = len(os.listdir(os.path.join(a.out, t)))
        print(f"seeds: {t}: {n}", file=sys.stderr)


if __name__ == "__main__":
    main()
