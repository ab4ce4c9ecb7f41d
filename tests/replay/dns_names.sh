#!/usr/bin/env bash
# DNS names on flows, against tshark: replaying real captures, every flow
# whose local side had resolved its remote address (before the flow's first
# packet, as tshark decodes the answers) carries a remote_name, and every
# remote_name is one that this same client was given for that address.
# Names are per client: one host's answers never name another host's flows.
set -euo pipefail
: "${EW_BIN:?}" "${EW_TESTDATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec python3 - "$EW_BIN" "$EW_TESTDATA/pcaps" "$work" <<'PY'
import collections, json, os, subprocess, sys
ew, root, work = sys.argv[1:4]
caps = ["zeek/wikipedia.pcap", "zeek/dns-two-responses.pcap", "zeek/dns/tm1t.pcap",
        "zeek/dns/long-connection.pcap", "tcpdump/dns_tcp.pcap"]
fails, named, checked = [], 0, 0
for cap in caps:
    path = os.path.join(root, cap)
    if not os.path.exists(path):
        fails.append(f"{cap}: missing"); continue
    # (client, address) -> [(time, name)] from tshark's answer sections
    t = subprocess.run(["tshark", "-n", "-r", path, "-Y", "dns.flags.response==1",
                        "-T", "fields", "-E", "separator=\t", "-e", "frame.time_epoch",
                        "-e", "ip.dst", "-e", "ipv6.dst", "-e", "dns.qry.name",
                        "-e", "dns.a", "-e", "dns.aaaa"], capture_output=True, text=True)
    answers = collections.defaultdict(list)
    for line in t.stdout.splitlines():
        f = line.split("\t")
        f += [""] * (6 - len(f))
        client = f[1] or f[2]
        for a in (f[4] + "," + f[5]).split(","):
            if a:
                answers[(client, a)].append((float(f[0]), f[3].lower()))
    db = os.path.join(work, os.path.basename(cap) + ".db")
    subprocess.run([ew, "replay", "-q", "--db", db, path], check=True, capture_output=True)
    out = subprocess.run([ew, "flows", "--db", db, "--json", "--limit", "100000"],
                         check=True, capture_output=True, text=True).stdout
    for fl in map(json.loads, out.splitlines()):
        key = (fl["local_ip"], fl["remote_ip"])
        got = fl["remote_name"]
        given = answers.get(key, [])
        # start is RFC 3339; compare with the answers' epoch times
        import datetime
        start = datetime.datetime.strptime(fl["start"], "%Y-%m-%dT%H:%M:%S.%fZ") \
            .replace(tzinfo=datetime.timezone.utc).timestamp()
        before = [n for ts, n in given if ts <= start + 1e-6]
        checked += 1
        if got is not None:
            named += 1
            if got.lower() not in [n for _, n in given]:
                fails.append(f"{cap}: flow {key} named {got!r}, but this client was "
                             f"only given {[n for _, n in given]}")
        elif before:
            fails.append(f"{cap}: flow {key} has no name; the client had resolved it as {before}")
print(f"{checked} flows in {len(caps)} captures, {named} named")
if named == 0:
    fails.append("no flow was named at all")
for f in fails:
    print("FAIL", f)
print(f"{1 if not fails else 0} passed, {1 if fails else 0} failed")
sys.exit(1 if fails else 0)
PY
