#!/usr/bin/env bash
# disk_full.sh - the live agent's database file system fills up while the
# agent runs: capture goes on, the rows that cannot be written are counted,
# one line says writing paused, and when space comes back writing resumes by
# itself and new flows land in the file.
#
#   netns A                       host netns: egresswatch run           netns B
#   eth0 203.0.113.1/24 --- $P-aa ---+--- $BR ---+--- $P-ba --- eth0 203.0.113.2/24
#   UDP flows to B:7000              --db on a 3 MiB tmpfs (mounted here)
#
#   1. the agent writes the first flows (sport 20000..)         -> in the file
#   2. a filler takes every free byte of the tmpfs; 3000 more flows (30000..)
#      -> store.disk_full >= 1, rows counted as dropped_write_error,
#         writing_paused = 1, exactly one "writing paused" line, capture
#         counters still moving, the agent alive
#   3. the filler is deleted; more flows (40000..) -> one "writing resumed"
#      line, writing_paused = 0, and every one of those flows in the file
#   At the end (SIGTERM, exit 0): queued = written + dropped_write_error +
#   dropped_invalid; pipeline events = processed.
#
# Exit 77 (skip) only where the machine cannot create network namespaces or
# mount a tmpfs.
set -euo pipefail
T=disk_full
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3

mnt=$FT_TMP/db
mkdir "$mnt"
mount -t tmpfs -o size=3m,mode=0755 "ewf-$FT_ID" "$mnt" 2>/dev/null ||
	ft_skip "cannot mount a tmpfs here"
FT_MOUNTS+=("$mnt")
db=$mnt/flows.db

ft_bridge
ft_pod a 203.0.113.1/24
ft_pod b 203.0.113.2/24
ft_agent --db "$db"

# 1. ---------------------------------------------------------------------------
ft_udp a 203.0.113.2 7000 20000 100
ft_wait 10 ft_true "s['store']['written'] >= 100" ||
	ft_fail "the first 100 flows were not written: store $(ft_status "s['store']")"
echo "1. written before the disk filled: $(ft_status "s['store']['written']") rows"

# 2. ---------------------------------------------------------------------------
dd if=/dev/zero of="$mnt/filler" bs=16k status=none 2>/dev/null || true
[ "$(df --output=avail -k "$mnt" | tail -1 | tr -d ' ')" -le 16 ] ||
	ft_fail "the filler did not fill the tmpfs"
recv0=$(ft_status "s['capture']['received']")
ft_udp a 203.0.113.2 7000 30000 3000
paused() { [ "$(ft_status "s['store']['writing_paused']")" = 1 ]; }
ft_wait 15 paused || ft_fail "writing did not pause on a full disk: store $(ft_status "s['store']")"
# Capture goes on while the store cannot write.
ft_udp a 203.0.113.2 7000 35000 200
ft_wait 5 ft_true "s['capture']['received'] >= $recv0 + 6400" ||
	ft_fail "capture stalled while the disk was full: $(ft_status "s['capture']")"
ft_alive
full=$(ft_status "s['store']['disk_full']")
lost=$(ft_status "s['store']['dropped_write_error']")
errs=$(ft_status "s['store']['write_errors']")
[ "$full" -ge 1 ] || ft_fail "store.disk_full is $full"
[ "$lost" -gt 0 ] || ft_fail "no rows counted as lost (dropped_write_error $lost)"
[ "$(ft_log_count 'writing paused')" -eq 1 ] ||
	ft_fail "expected one 'writing paused' line, got $(ft_log_count 'writing paused')"
line=$(grep 'writing paused' "$FT_TMP/agent.log")
case $line in
*"store: $db: writing paused: "*"full"*) ;;
*) ft_fail "the pause line does not name the file and the cause: $line" ;;
esac
echo "2. disk full: write_errors=$errs disk_full=$full dropped_write_error=$lost; log: ${line#* * }"

# 3. ---------------------------------------------------------------------------
rm -f "$mnt/filler"
resumed() {
	ft_udp a 203.0.113.2 7000 $((41000 + RANDOM % 20000)) 5 1 # a probe batch
	[ "$(ft_status "s['store']['writing_paused']")" = 0 ]
}
ft_wait 15 resumed || ft_fail "writing did not resume after space came back: store $(ft_status "s['store']")"
ft_udp a 203.0.113.2 7000 40000 300
ft_wait 10 ft_true "s['pipeline']['queue_depth'] + s['store']['queue_depth'] == 0" ||
	ft_fail "the queues did not drain"
[ "$(ft_log_count 'writing resumed')" -eq 1 ] ||
	ft_fail "expected one 'writing resumed' line, got $(ft_log_count 'writing resumed')"
[ "$(ft_log_count 'writing paused')" -eq 1 ] || ft_fail "writing paused again after the space came back"
echo "3. space back: $(grep -o 'writing resumed.*' "$FT_TMP/agent.log")"

ft_stop
python3 - "$FT_TMP/status.json" <<'EOF' || ft_fail "counters do not add up"
import json, sys
s = json.load(open(sys.argv[1]))
st, pl = s["store"], s["pipeline"]
print(f"final: store queued={st['queued']} written={st['written']} "
      f"dropped_write_error={st['dropped_write_error']} invalid={st['dropped_invalid']} "
      f"queue_full={st['dropped_queue_full']}; pipeline events={pl['events']} "
      f"processed={pl['processed']} dropped={pl['dropped']}")
ok = st["queued"] == st["written"] + st["dropped_write_error"] + st["dropped_invalid"]
ok &= pl["events"] == pl["processed"] and st["writing_paused"] == 0
sys.exit(0 if ok else 1)
EOF
ft_flows "$db" --port 7000
python3 - "$FT_TMP/flows.json" <<'EOF' || ft_fail "flows after the disk was freed are missing"
import json, sys
ports = {json.loads(l)["local_port"] for l in open(sys.argv[1]) if l.strip()}
first = len([p for p in ports if 20000 <= p < 20100])
after = len([p for p in ports if 40000 <= p < 40300])
during = len([p for p in ports if 30000 <= p < 33000])
print(f"in the file: {first}/100 flows from before, {during}/3000 from the full "
      f"period, {after}/300 from after the space came back")
sys.exit(0 if first == 100 and after == 300 else 1)
EOF
echo "PASS: $T"
