#!/usr/bin/env bash
# replay.sh - the replay benchmark: egresswatch against a plain libpcap read
# loop and against the usual flow meters, on one synthetic capture, and its
# flows checked one by one against the generator's ground truth.
#
#   bench/replay.sh [--runs N] [--dir DIR] [--tools LIST] [--regen]
#                   [--packets N] [--flows N] [--seed S]
#
#   gen_capture --> DIR/capture.pcap + DIR/truth.tsv      (made once, kept)
#                          |  the same file, warm in the page cache
#     +---------+----------+----------+--------+-----------+-------------+
#   floor    tcpdump    nfpcapd     argus   softflowd   egresswatch replay
#   libpcap  -w         nfcapd      -w      NetFlow v9  fresh SQLite file
#   only     /dev/null  files       file    to 127.0.0.1    |
#                                                        flows --json == truth.tsv ?
#
# Each tool runs --runs times (default 3), round-robin so that any drift in
# machine load is shared; the table shows the median wall time, packets per
# second at that time, CPU seconds, the largest peak RSS of the runs, and the
# ratios to the floor and to the fastest flow meter (nfpcapd, argus and
# softflowd are the peers; tcpdump is a second reference, not a flow meter).
# The file is read once before timing so every tool starts from a warm page
# cache.  Then `egresswatch flows --json` of the last run is compared with
# DIR/truth.tsv, exactly: every flow present once, with the initiator as the
# local side, and its packet and byte counts each way equal.  When one query
# returns fewer flows than the truth holds (the store caps a query's rows),
# the flows are read again one second of packet time at a time (--since,
# --until) and taken once each by id; the note says so.
#
# softflowd exports NetFlow over UDP.  Its destination is fixed to 127.0.0.1,
# on a port the kernel just handed out, where a socat (or python3) sink bound
# to 127.0.0.1 swallows the datagrams; nothing leaves the machine.
#
# Environment: EW_BIN (default build/egresswatch), EW_BUILD (where gen_capture
# and pcap_floor were built; default build), EW_BENCH_DIR (default
# /var/tmp/ew-bench).  Needs tcpdump, nfdump, argus-server, softflowd, time
# and python3 (Debian packages of those names; scripts/setup.sh installs
# them); argus-client's racount, when present, counts argus's packets.
#
# Exit status: 0 when every tool ran and the flows match the ground truth;
# 1 when a tool failed or the flows do not match; 2 on a usage or setup
# error.  The performance targets are printed, never enforced here.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
EW_BIN=${EW_BIN:-$root/build/egresswatch}
EW_BUILD=${EW_BUILD:-$root/build}
dir=${EW_BENCH_DIR:-/var/tmp/ew-bench}
runs=3
tools="floor,tcpdump,nfpcapd,argus,softflowd,egresswatch"
regen=0
gen_args=()

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=${2:?}; shift 2 ;;
	--dir) dir=${2:?}; shift 2 ;;
	--tools) tools=${2:?}; shift 2 ;;
	--regen) regen=1; shift ;;
	--packets | --flows | --seed) gen_args+=("$1" "${2:?}"); shift 2 ;;
	-h | --help) usage ;;
	*) echo "replay.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
case "$runs" in
'' | *[!0-9]* | 0) echo "replay.sh: --runs wants a positive number" >&2; exit 2 ;;
esac

want() { case ",$tools," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
die() { echo "replay.sh: $*" >&2; exit 2; }

# ---- prerequisites ---------------------------------------------------------
need=(python3 /usr/bin/time)
want tcpdump && need+=(tcpdump)
want nfpcapd && need+=(nfpcapd)
want argus && need+=(argus)
want softflowd && need+=(softflowd)
for c in "${need[@]}"; do
	command -v "$c" >/dev/null 2>&1 ||
		die "$c not found (Debian: tcpdump nfdump argus-server softflowd time python3)"
done
for t in gen_capture pcap_floor; do
	[ -x "$EW_BUILD/$t" ] ||
		die "$EW_BUILD/$t missing: cmake -S $root -B $EW_BUILD && cmake --build $EW_BUILD --target $t"
done
if want egresswatch; then
	[ -x "$EW_BIN" ] || die "$EW_BIN missing (build it, or set EW_BIN, or leave it out of --tools)"
fi

# ---- the capture -----------------------------------------------------------
mkdir -p "$dir"
pcap=$dir/capture.pcap
truth=$dir/truth.tsv
stamp=$dir/params
# The output depends only on the generator's source and arguments.
params="gen_capture ${gen_args[*]:-defaults} $(sha256sum "$root/bench/gen_capture.c" | cut -c1-16)"
if [ "$regen" = 1 ] || [ ! -s "$pcap" ] || [ ! -s "$truth" ] ||
	[ "$(cat "$stamp" 2>/dev/null)" != "$params" ]; then
	echo "== generating $pcap (${gen_args[*]:-default size})"
	rm -f "$stamp"
	"$EW_BUILD/gen_capture" "$pcap.tmp" "$truth.tmp" "${gen_args[@]}"
	mv "$pcap.tmp" "$pcap"
	mv "$truth.tmp" "$truth"
	echo "$params" >"$stamp"
fi

size=$(stat -c %s "$pcap")
avail_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
if [ "$avail_kib" -lt $(((size + size / 4) >> 10)) ]; then
	echo "replay.sh: warning: $((avail_kib >> 10)) MiB available for a $((size >> 20)) MiB file;" \
		"the page cache cannot hold it and times include disk reads" >&2
fi
echo "== warming the page cache ($((size >> 20)) MiB)"
cat "$pcap" >/dev/null

# ---- work area, sink, clean-up ---------------------------------------------
work=$dir/run
rm -rf "$work"
mkdir -p "$work"
results=$work/results.tsv
: >"$results"
sink_pid=

cleanup() {
	if [ -n "$sink_pid" ]; then
		kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
	rm -rf "$work/nfcapd" "$work/argus.out" "$work/softflowd.pid"
}
trap cleanup EXIT

# A UDP sink on 127.0.0.1 for softflowd's export; sets sink_port.
start_sink() {
	for _ in 1 2 3 4 5; do
		sink_port=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		if command -v socat >/dev/null 2>&1; then
			socat -u "UDP-RECV:$sink_port,bind=127.0.0.1" - >/dev/null 2>&1 &
		else
			python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recv(65536)' "$sink_port" >/dev/null 2>&1 &
		fi
		sink_pid=$!
		sleep 0.3
		if kill -0 "$sink_pid" 2>/dev/null; then
			return 0
		fi
		wait "$sink_pid" 2>/dev/null || true
		sink_pid=
	done
	die "could not start a UDP sink on 127.0.0.1"
}
if want softflowd; then
	start_sink
fi

db=$work/egresswatch.db

# Run one tool once: prepare its output, time it, record a results line
# "tool run wall_s cpu_s rss_kib status packets_seen".
run_tool() {
	local tool=$1 run=$2 log=$work/$1.$2
	local -a cmd
	case "$tool" in
	floor) cmd=("$EW_BUILD/pcap_floor" "$pcap") ;;
	tcpdump) cmd=(tcpdump -r "$pcap" -w /dev/null) ;;
	nfpcapd)
		rm -rf "$work/nfcapd"
		mkdir -p "$work/nfcapd"
		cmd=(nfpcapd -r "$pcap" -w "$work/nfcapd") ;;
	argus)
		rm -f "$work/argus.out"
		cmd=(argus -r "$pcap" -w "$work/argus.out") ;;
	softflowd)
		# -m: a table as large as egresswatch's, so nothing is
		# force-expired; no -c: with a control socket 1.1.0 blocks in
		# accept() after the file; -p: its own pidfile, which it
		# unlinks on exit, rather than the system's.
		cmd=(softflowd -d -r "$pcap" -n "127.0.0.1:$sink_port" -v 9
			-m 262144 -p "$work/softflowd.pid") ;;
	egresswatch)
		rm -f "$db" "$db-wal" "$db-shm"
		cmd=("$EW_BIN" replay --db "$db" "$pcap") ;;
	esac

	local t0 t1 status=0
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$log.time" "${cmd[@]}" >"$log.out" 2>"$log.err" ||
		status=$?
	t1=$(date +%s%N)

	local seen=-
	case "$tool" in
	floor) seen=$(sed -n 's/^packets=\([0-9]*\).*/\1/p' "$log.out") ;;
	nfpcapd) seen=$(sed -n 's/^Total: Processed: \([0-9]*\).*/\1/p' "$log.out" "$log.err" | head -1) ;;
	softflowd) seen=$(sed -n 's/^Packets processed: \([0-9]*\).*/\1/p' "$log.out" | head -1) ;;
	argus)	# argus prints no count; racount (argus-client) reads it back
		if [ "$status" = 0 ] && command -v racount >/dev/null 2>&1; then
			seen=$(racount -r "$work/argus.out" 2>/dev/null | awk '$1 == "sum" { print $3 }')
		fi ;;
	egresswatch) seen=$(sed -n 's/^packets: *\([0-9]*\).*/\1/p' "$log.out" | head -1) ;;
	esac
	local u s m
	read -r u s m < <(tail -1 "$log.time")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$run" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
		"$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')" \
		"$m" "$status" "${seen:--}" >>"$results"
	if [ "$status" != 0 ]; then
		echo "   $tool run $run: exit status $status; last lines of $log.err:" >&2
		tail -5 "$log.err" >&2
	fi
}

order=()
for t in floor tcpdump nfpcapd argus softflowd egresswatch; do
	want "$t" && order+=("$t")
done
[ ${#order[@]} -gt 0 ] || die "--tools names none of: floor,tcpdump,nfpcapd,argus,softflowd,egresswatch"

echo "== $runs run(s) of: ${order[*]} ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
for ((r = 1; r <= runs; r++)); do
	for t in "${order[@]}"; do
		printf '   run %d/%d: %-12s' "$r" "$runs" "$t"
		run_tool "$t" "$r"
		tail -1 "$results" | awk -F'\t' '{ printf "%8.3f s  %7.2f cpu-s  %7.1f MiB%s\n", $3, $4, $5 / 1024, ($6 == 0 ? "" : "  FAILED") }'
	done
done

# ---- the table ---------------------------------------------------------------
echo
status=0
python3 - "$results" "$pcap" "$size" <<'EOF' || status=1
import statistics, sys

results, pcap, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
for line in open(results):
    tool, run, wall, cpu, rss, st, seen = line.rstrip("\n").split("\t")
    rows.setdefault(tool, []).append(
        dict(wall=float(wall), cpu=float(cpu), rss=int(rss or 0), st=int(st),
             seen=None if seen == "-" else int(seen)))

order = [t for t in ("floor", "tcpdump", "nfpcapd", "argus", "softflowd",
                     "egresswatch") if t in rows]
peers = ("nfpcapd", "argus", "softflowd")
med = {t: statistics.median(r["wall"] for r in rows[t]) for t in order}
ok = {t: all(r["st"] == 0 for r in rows[t]) for t in order}
packets = None
for t in order:
    for r in rows[t]:
        if r["seen"] is not None and t == "floor":
            packets = r["seen"]
floor = med.get("floor") if ok.get("floor") else None
ok_peers = [t for t in peers if t in med and ok[t]]
fastest = min(ok_peers, key=lambda t: med[t]) if ok_peers else None

print(f"capture: {pcap}: {size / 2**20:.0f} MiB"
      + (f", {packets} packets" if packets else ""))
hdr = ("tool", "wall s", "runs", "Mpkt/s", "cpu s", "peak RSS", "x floor",
       "x fastest peer", "packets seen")
fmt = "{:<12} {:>8} {:>4} {:>7} {:>7} {:>10} {:>8} {:>15} {:>12}"
print(fmt.format(*hdr))
print(fmt.format(*("-" * len(h) for h in hdr)))
failed = False
for t in order:
    rs = rows[t]
    rss = max(r["rss"] for r in rs) / 1024
    cpu = statistics.median(r["cpu"] for r in rs)
    seen = {r["seen"] for r in rs if r["seen"] is not None}
    seen_s = "-" if not seen else ("/".join(str(s) for s in sorted(seen)))
    if not ok[t]:
        failed = True
        print(fmt.format(t, "FAILED", len(rs), "-", "-", "-", "-", "-", seen_s))
        continue
    mpps = f"{packets / med[t] / 1e6:.2f}" if packets else "-"
    xf = f"{med[t] / floor:.2f}" if floor else "-"
    xp = f"{med[t] / med[fastest]:.2f}" if fastest else "-"
    if fastest == t:
        xp += " (fastest)"
    print(fmt.format(t, f"{med[t]:.3f}", len(rs), mpps, f"{cpu:.2f}",
                     f"{rss:.1f} MiB", xf, xp, seen_s))
print("wall: median of the runs; cpu: user+sys, median; peak RSS: largest of"
      " the runs;\npeers: nfpcapd, argus, softflowd (tcpdump is a reference,"
      " not a flow meter)")

if "egresswatch" in order and ok["egresswatch"]:
    ew = med["egresswatch"]
    rss = max(r["rss"] for r in rows["egresswatch"]) / 1024
    print("\ntargets for egresswatch:")
    if floor:
        v = ew / floor
        print(f"  within 1.5x of the floor's wall time   {v:5.2f}x    "
              + ("MET" if v <= 1.5 else "MISSED"))
    if fastest:
        v = med[fastest] / ew
        print(f"  >= 2.5x faster than the fastest peer  {v:5.2f}x    "
              + ("MET" if v >= 2.5 else "MISSED") + f"  (fastest peer: {fastest})")
    print(f"  peak RSS < 64 MiB                     {rss:5.1f} MiB "
          + ("MET" if rss < 64 else "MISSED"))
sys.exit(1 if failed else 0)
EOF

# ---- ground truth ----------------------------------------------------------------
if want egresswatch; then
	echo
	echo "== ground truth: $truth vs egresswatch flows of the last run"
	python3 - "$truth" "$EW_BIN" "$db" "$pcap" "$work/flows.jsonl" <<'EOF' || status=1
import collections, datetime, ipaddress, json, struct, subprocess, sys

truth_path, ew_bin, db, pcap_path, save_path = sys.argv[1:6]
PROTO = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58,
         "icmp6": 58}

def proto(v):
    if isinstance(v, int):
        return v
    s = str(v).strip().lower()
    return PROTO[s] if s in PROTO else int(s)

def ip(s):
    a = ipaddress.ip_address(s)
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return a

truth = {}
for line in open(truth_path):
    if line.startswith("#") or not line.strip():
        continue
    p, a, ap, b, bp, vlan, pf, pr, bf, br = line.rstrip("\n").split("\t")
    truth[(int(p), ip(a), int(ap), ip(b), int(bp), int(vlan))] = \
        (int(pf), int(pr), int(bf), int(br))

def fetch(extra):
    cmd = [ew_bin, "flows", "--db", db, "--json", "--limit", "10000000"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"{' '.join(cmd)}: exit status {p.returncode}")
        print(p.stderr[-2000:])
        print("FAIL: could not read the flows back")
        sys.exit(1)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

def first_packet_second(path):
    with open(path, "rb") as f:
        head = f.read(40)
    for order in "<>":
        if struct.unpack(order + "I", head[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d):
            return struct.unpack(order + "I", head[24:28])[0]
    raise SystemExit("FAIL: not a pcap file: " + path)

records = fetch([])
if len(records) < len(truth):
    # One query may stop short of what the store holds (a row cap in the
    # query layer).  Read again one second of packet time at a time, which
    # keeps every query small, and take each flow once by its id.
    print(f"note: 'flows --limit 10000000' returned {len(records)} records "
          f"for {len(truth)} flows; reading again in 1-second windows")
    last = max(datetime.datetime.fromisoformat(j["start"]).timestamp()
               for j in records) if records else first_packet_second(pcap_path)
    by_id, largest = {}, 0
    for t in range(first_packet_second(pcap_path), int(last) + 1):
        part = fetch(["--since", str(t), "--until", str(t + 1)])
        largest = max(largest, len(part))
        for j in part:
            by_id[j.get("id", json.dumps(j, sort_keys=True))] = j
    print(f"note: {len(by_id)} distinct flows in the windows "
          f"(largest window {largest} records)")
    if largest >= len(records) and len(records) > 0:
        print("FAIL: a window was as large as the capped query; "
              "cannot read every flow back")
        sys.exit(1)
    records = list(by_id.values())
with open(save_path, "w") as out:
    for j in records:
        out.write(json.dumps(j) + "\n")

use_vlan = all("vlan" in j for j in records)
if not use_vlan:
    print("note: flow records carry no vlan; matching without it")
    truth = {k[:5]: v for k, v in truth.items()}

def key(j, swap=False):
    k = (proto(j["proto"]), ip(j["local_ip"]), int(j["local_port"]),
         ip(j["remote_ip"]), int(j["remote_port"]))
    if swap:
        k = (k[0], k[3], k[4], k[1], k[2])
    return k + ((int(j["vlan"] or 0),) if use_vlan else ())

def ep(a, port):
    return f"[{a}]:{port}" if a.version == 6 else f"{a}:{port}"

def show(k):
    s = f"proto {k[0]} {ep(k[1], k[2])} -> {ep(k[3], k[4])}"
    return s + (f" vlan {k[5]}" if use_vlan else "")

problems = collections.Counter()
examples = []
def bad(kind, msg):
    problems[kind] += 1
    if len(examples) < 10:
        examples.append(f"  {kind}: {msg}")

seen = set()
reasons = collections.Counter()
for j in records:
    reasons[j.get("end_reason", "?")] += 1
    k = key(j)
    got = (int(j["packets_sent"]), int(j["packets_received"]),
           int(j["bytes_sent"]), int(j["bytes_received"]))
    if k not in truth:
        if key(j, swap=True) in truth:
            bad("reversed", show(k) + " (the responder was taken as local)")
        else:
            bad("unexpected", show(k))
        continue
    if k in seen:
        bad("duplicate", show(k) + " stored more than once")
        continue
    seen.add(k)
    want = truth[k]
    if got != want:
        bad("counts", f"{show(k)}: got pkts {got[0]}/{got[1]} bytes "
            f"{got[2]}/{got[3]}, want pkts {want[0]}/{want[1]} bytes "
            f"{want[2]}/{want[3]} (sent/received)")
missing = [k for k in truth if k not in seen]
for k in missing:
    bad("missing", show(k))

print(f"truth: {len(truth)} flows; egresswatch: {len(records)} records; "
      f"end reasons: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
tp = sum(v[0] + v[1] for v in truth.values())
gp = sum(int(j["packets_sent"]) + int(j["packets_received"]) for j in records)
print(f"packets: truth {tp}, egresswatch {gp}")
if problems:
    print("mismatches: " + ", ".join(f"{k} {n}" for k, n in problems.items()))
    print("first mismatches:")
    print("\n".join(examples))
    print(f"FAIL: {sum(problems.values())} mismatches against the ground truth")
    sys.exit(1)
print(f"PASS: all {len(truth)} flows match the ground truth exactly "
      "(key, direction, packets and bytes each way)")
EOF
fi
exit $status
