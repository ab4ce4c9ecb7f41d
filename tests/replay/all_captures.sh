#!/usr/bin/env bash
# Every capture under ../shared/testdata/pcaps (tcpdump's suite, many of them
# deliberately malformed, and Zeek's traces) replayed one by one through the
# sanitizer build.  Pins down: no crash, no sanitizer report, no file over
# 2 s, and for every file whose link type we decode, the packet count equals
# the oracle's raw record walk (ORACLE.tsv), or the run names the damaged
# offset and exits 1.
set -euo pipefail
: "${EW_BIN:?}" "${EW_TESTDATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
exec python3 - "$EW_BIN" "$EW_TESTDATA/pcaps" "$work" <<'PY'
import csv, os, re, subprocess, sys, time
ew, root, work = sys.argv[1:4]
oracle = {}
with open(os.path.join(root, "tcpdump", "ORACLE.tsv")) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        oracle[row["file"]] = row
files = []
for d, _, names in os.walk(root):
    for n in sorted(names):
        if n.endswith((".pcap", ".pcapng")):
            files.append(os.path.join(d, n))
files.sort()
fails, checked_counts, slowest, damaged, unsupported = [], 0, (0.0, ""), 0, 0
for i, path in enumerate(files):
    db = os.path.join(work, "r.db")
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(db + ext):
            os.unlink(db + ext)
    t0 = time.monotonic()
    p = subprocess.run([ew, "replay", "--db", db, path], capture_output=True,
                       text=True, errors="replace", timeout=60)
    dt = time.monotonic() - t0
    rel = os.path.relpath(path, root)
    slowest = max(slowest, (dt, rel))
    out = p.stdout + p.stderr
    if p.returncode not in (0, 1) or "Sanitizer" in out or "runtime error" in out:
        fails.append(f"{rel}: crashed or sanitizer report (exit {p.returncode}):\n{out[-2000:]}")
        continue
    if dt > 2.0:
        fails.append(f"{rel}: took {dt:.2f} s (limit 2 s)")
    m = re.search(r"^packets:\s+(\d+)", p.stdout, re.M)
    o = oracle.get(os.path.basename(path)) if rel.startswith("tcpdump/") else None
    if p.returncode == 1:
        # Only two reasons are acceptable: a link type we do not decode
        # (named), or damage at a named byte offset, after which the packets
        # read before the damage are still counted.
        if "is not supported" in p.stderr:
            unsupported += 1
        elif "damaged at byte offset" in p.stderr and m:
            damaged += 1
            if o and o["records(raw walk)"].isdigit() and int(m.group(1)) > int(o["records(raw walk)"]):
                fails.append(f"{rel}: {m.group(1)} packets read from a damaged file of {o['records(raw walk)']} records")
        else:
            fails.append(f"{rel}: exit 1 without a clear reason: {p.stderr.strip()[:300]}")
        continue
    if not m:
        fails.append(f"{rel}: no summary printed")
        continue
    if o and o["records(raw walk)"].isdigit():
        checked_counts += 1
        if int(m.group(1)) != int(o["records(raw walk)"]):
            fails.append(f"{rel}: replayed {m.group(1)} packets, oracle says {o['records(raw walk)']}")
print(f"{len(files)} captures replayed: {checked_counts} packet counts checked "
      f"against ORACLE.tsv, {unsupported} with a link type we do not decode, "
      f"{damaged} damaged; slowest {slowest[1]} {slowest[0]:.2f} s")
for f in fails:
    print("FAIL", f)
print(f"{len(files) - len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
PY
