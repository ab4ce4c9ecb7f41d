#!/usr/bin/env bash
# privileges.sh - the agent run the way a DaemonSet runs it: never holding
# more than CAP_NET_RAW, CAP_NET_ADMIN and CAP_SYS_PTRACE from its first
# instruction on, on a read-only root file system with only its database and
# status directories writable, under a seccomp filter equivalent to a
# container runtime's default profile - and it still captures the lab's pods,
# names them, judges the Redis exfiltration, writes, and serves the API.
#
#   host netns                       mount namespace (unshare -m, slave)
#   scripts/lab (prefix $LAB):       / and every other mount read-only, except
#   4 pods, bridge, router, inet     /proc, /dev and bind mounts of
#                                    $FT_TMP/data (database), $FT_TMP/run (status)
#                                      setpriv: bounding set, inheritable
#                                      (and, as nobody, ambient) = the three
#                                      capabilities; no_new_privs
#                                        seccomp_run: the default-profile
#                                        allowlist (tests/tools/seccomp_run.c)
#                                          egresswatch run / dashboard
#
# Two ways of starting, as the two ways a pod spec can say it:
#   A. uid 0 with only the three capabilities (securityContext: capabilities
#      {drop: [ALL], add: [NET_RAW, NET_ADMIN, SYS_PTRACE]},
#      readOnlyRootFilesystem: true, allowPrivilegeEscalation: false);
#      the lab's benign and redis-exfil scenarios run meanwhile; the
#      dashboard runs in the same confinement (or the agent itself serves,
#      when `run --listen` exists) and answers /healthz and /api/flows.
#   B. uid nobody with the three as ambient capabilities (a non-root
#      container or a systemd unit with AmbientCapabilities=); the benign
#      scenario runs meanwhile.
# Checked from outside through /proc for every thread: CapEff = CapPrm =
# CapBnd = 0x83000, CapInh = CapAmb = 0, NoNewPrivs 1, Seccomp 2 (filter),
# the root mount read-only in the agent's mount namespace; that a probe
# started the same way is refused add_key, personality(READ_IMPLIES_EXEC),
# an AF_VSOCK socket (EPERM) and clone3 (ENOSYS), which it is allowed
# unconfined (so the filter is what refuses them), and mount, unshare, setns
# and bpf; and in the database: the lab's pods by name on their interfaces, the
# exfiltration to 203.0.113.66:6379 from prod/redis-0 judged alert.
#
# Exit 77 (skip) only where the machine cannot create network namespaces,
# has no cgroup file system, cannot make mount namespaces, or is not x86_64
# (the probe's system call numbers).
set -euo pipefail
T=privileges
. "$(dirname "$0")/common.bash"
ft_need_netns
ft_need python3 setpriv unshare curl
case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
cgroup2fs | tmpfs) ;;
*) ft_skip "no cgroup file system at /sys/fs/cgroup (the lab needs one)" ;;
esac
unshare -m true 2>/dev/null || ft_skip "cannot make a mount namespace (unshare -m)"
SECCOMP=${EW_BUILD:?EW_BUILD not set}/seccomp_run
[ -x "$SECCOMP" ] || ft_fail "$SECCOMP is not built: install libseccomp-dev (scripts/setup.sh) and build again"
LABCMD=${EW_SOURCE:?EW_SOURCE not set}/scripts/lab
CAPS=net_raw,net_admin,sys_ptrace
WANT_CAPS=0000000000083000
nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)

export EW_LAB_PREFIX=ewp${FT_ID}
unset EW_LAB_STATE EW_LAB_PODLOG_ROOT
lab_down() { "$LABCMD" down >/dev/null 2>&1 || true; }
ft_on_exit lab_down
"$LABCMD" up >"$FT_TMP/lab.log" 2>&1 || { cat "$FT_TMP/lab.log"; ft_fail "the lab did not come up"; }
inv=$("$LABCMD" inventory)
veth_of() { # NS/NAME -> the pod's host-side veth
	python3 -c '
import re, sys
want = sys.argv[1]
cur = None
for line in sys.stdin:
    m = re.match(r"\s*- namespace: (\S+)", line)
    if m: ns = m.group(1)
    m = re.match(r"\s*name: (\S+)", line)
    if m: cur = ns + "/" + m.group(1)
    m = re.match(r"\s*interfaces: \[(\S+)\]", line)
    if m and cur == want: print(m.group(1))
' "$1" <<<"$inv"
}
declare -A VETH
for p in prod/redis-0 prod/web-0 prod/api-0 dev/client-0; do
	VETH[$p]=$(veth_of "$p")
	[ -n "${VETH[$p]}" ] || ft_fail "no veth for $p in the lab's inventory"
done

# The confinement, applied by a root shell inside `unshare -m`: bind mounts
# for the two writable directories, everything else read-only, then the
# capabilities and the filter, and exec.
cat >"$FT_TMP/confine.sh" <<'EOF'
set -eu
data=$1 run=$2 mode=$3 seccomp=$4 caps=$5 uid=$6 gid=$7
shift 7
mount --bind "$data" "$data"
mount --bind "$run" "$run"
while read -r _ _ _ _ mp _; do
	mp=$(printf '%b' "$mp")
	case $mp in /proc | /proc/* | /dev | /dev/* | "$data" | "$run") continue ;; esac
	mount -o remount,bind,ro "$mp" 2>/dev/null || true
done </proc/self/mountinfo
if touch /.ew-rw-probe 2>/dev/null; then
	rm -f /.ew-rw-probe
	echo "confine: / is still writable" >&2
	exit 125
fi
if [ "$mode" = root ]; then
	exec setpriv --bounding-set=-all,+${caps//,/,+} --inh-caps=-all --no-new-privs \
		-- "$seccomp" --cap net_raw --cap net_admin --cap sys_ptrace -- "$@"
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups \
	--inh-caps=-all,+${caps//,/,+} --ambient-caps=-all,+${caps//,/,+} \
	--bounding-set=-all,+${caps//,/,+} --no-new-privs \
	-- "$seccomp" --cap net_raw --cap net_admin --cap sys_ptrace -- "$@"
EOF
# "${CONFINE[@]}" MODE CMD...: run CMD confined (unshare execs the shell,
# which execs setpriv, seccomp_run and CMD: one process, whose pid $! is).
confined() {
	local mode=$1
	shift
	unshare -m --propagation slave bash "$FT_TMP/confine.sh" "$FT_TMP/data" "$FT_TMP/run" \
		"$mode" "$SECCOMP" "$CAPS" "$nobody_uid" "$nobody_gid" "$@"
}
CONFINE=(unshare -m --propagation slave bash "$FT_TMP/confine.sh" "$FT_TMP/data" "$FT_TMP/run")

# check_proc PID MODE: what the kernel says about every thread of PID.
check_proc() {
	local pid=$1 uid=0 st key val want threads=0
	[ "$2" = root ] || uid=$nobody_uid
	for st in /proc/$pid/task/*/status; do
		threads=$((threads + 1))
		while read -r key val _; do
			case $key in
			CapInh: | CapAmb:) want=0000000000000000 ;;
			CapPrm: | CapEff: | CapBnd:) want=$WANT_CAPS ;;
			NoNewPrivs:) want=1 ;;
			Seccomp:) want=2 ;;
			Uid:) want=$uid ;;
			*) continue ;;
			esac
			[ "$val" = "$want" ] || ft_fail "$st: $key $val, expected $want"
		done <"$st"
	done
	[ "$threads" -ge 3 ] || ft_fail "expected the agent's threads, found $threads"
	awk '$5 == "/" { for (i = 6; i <= NF && $i != "-"; i++) if ($i ~ /(^|,)ro(,|$)/) ro = 1 }
	     END { exit !ro }' "/proc/$pid/mountinfo" || ft_fail "/ is writable in the agent's mount namespace"
	echo "   $threads threads: CapEff=CapPrm=CapBnd=$WANT_CAPS, CapInh=CapAmb=0, NoNewPrivs=1, Seccomp=2 (filter), uid $uid, / read-only"
}

# start_agent MODE DB [ARGS...]: the confined agent in the background.
start_agent() {
	local mode=$1 db=$2
	shift 2
	"${CONFINE[@]}" "$mode" "$SECCOMP" "$CAPS" "$nobody_uid" "$nobody_gid" \
		"$EW_BIN" run --db "$db" --status-file "$FT_TMP/run/status.json" \
		--kubeconfig none --docker-socket none "$@" >>"$FT_TMP/agent.log" 2>&1 &
	AGENT=$!
	ft_wait 20 ft_capturing "${VETH[@]}" ||
		ft_fail "the confined agent ($mode) does not capture on the lab's veths"
}

# check_flows DB: the lab's pods by name, on their own interfaces.
check_flows() { # DB EXFIL(0|1)
	ft_flows "$1"
	python3 - "$FT_TMP/flows.json" "$2" "${VETH[prod/redis-0]}" "${VETH[prod/web-0]}" \
		"${VETH[prod/api-0]}" "${VETH[dev/client-0]}" <<'EOF' || ft_fail "flows in $1 are not attributed as expected"
import json, sys
flows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
exfil = sys.argv[2] == "1"
veth = dict(zip(["prod/redis-0", "prod/web-0", "prod/api-0", "dev/client-0"], sys.argv[3:]))
ok = True
for wl, v in veth.items():
    mine = [f for f in flows if f["interface"] == v]
    named = [f for f in mine if f["workload"] == wl]
    print(f"   {wl:13} on {v}: {len(named)}/{len(mine)} flows named")
    ok &= len(mine) > 0 and len(named) == len(mine)
web_redis = [f for f in flows if f["workload"] == "prod/web-0" and f["remote_workload"] == "prod/redis-0"
             and f["remote_port"] == 6379]
ok &= len(web_redis) > 0
if exfil:
    x = [f for f in flows if f["workload"] == "prod/redis-0" and f["remote_ip"] == "203.0.113.66"
         and f["remote_port"] == 6379 and f["direction"] == "egress"]
    sent = sum(f["bytes_sent"] for f in x)
    print(f"   exfiltration: {len(x)} flow(s) prod/redis-0 -> 203.0.113.66:6379, "
          f"{sent / 2**20:.1f} MiB sent, verdict {sorted({f['verdict'] for f in x})}")
    ok &= len(x) > 0 and all(f["verdict"] == "alert" for f in x) and sent > 5 * 2**20
sys.exit(0 if ok else 1)
EOF
}

mkdir -p "$FT_TMP/data" "$FT_TMP/run"
ln -s run/status.json "$FT_TMP/status.json"

# The filter and the capabilities refuse what the runtime's profile refuses.
# The probe's first four calls are open to any process without the filter
# (the probe shows it unconfined first), so refusing them shows the filter at
# work; the last four need CAP_SYS_ADMIN as well.
cat >"$FT_TMP/probe.py" <<'EOF'
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return 0 if r >= 0 else ctypes.get_errno()
keep = [ctypes.create_string_buffer(b) for b in (b"user", b"ew-probe", b"x", b"none", b"/mnt", b"tmpfs")]
a = [ctypes.addressof(k) for k in keep]
res = {
    "add_key": call(248, a[0], a[1], a[2], 1, -2),          # into the process keyring
    "personality(READ_IMPLIES_EXEC)": call(135, 0x0400000),
    "clone3": call(435, 0, 0),                              # EINVAL without the filter
}
try:
    socket.socket(40, socket.SOCK_STREAM).close()
    res["socket(AF_VSOCK)"] = 0
except OSError as e:
    res["socket(AF_VSOCK)"] = 0 if e.errno != errno.EPERM else e.errno
res["unshare(CLONE_NEWNET)"] = call(272, 0x40000000)
res["mount"] = call(165, a[3], a[4], a[5], 0, 0)
res["setns"] = call(308, os.open("/proc/self/ns/net", os.O_RDONLY), 0)
res["bpf"] = call(321, 0, 0, 0)
print(" ".join(f"{k}={errno.errorcode.get(v, v) if v else 'ok'}" for k, v in res.items()))
EOF
[ "$(uname -m)" = x86_64 ] || ft_skip "the seccomp probe's system call numbers are x86_64's"
unconfined=$(unshare -m python3 "$FT_TMP/probe.py")
case $unconfined in
"add_key=ok personality(READ_IMPLIES_EXEC)=ok clone3=EINVAL socket(AF_VSOCK)=ok "*) ;;
*) ft_fail "the probe does not behave as expected unconfined: $unconfined" ;;
esac
confined_probe=$(confined root python3 "$FT_TMP/probe.py")
want="add_key=EPERM personality(READ_IMPLIES_EXEC)=EPERM clone3=ENOSYS socket(AF_VSOCK)=EPERM"
want="$want unshare(CLONE_NEWNET)=EPERM mount=EPERM setns=EPERM bpf=EPERM"
[ "$confined_probe" = "$want" ] || ft_fail "confined: $confined_probe; expected $want"
echo "unconfined: $unconfined"
echo "confined:   $confined_probe"

# A. uid 0, three capabilities ---------------------------------------------------
chmod 755 "$FT_TMP" "$FT_TMP/data" "$FT_TMP/run"
serve=()
if "$EW_BIN" run --help 2>/dev/null | grep -q -- '--listen'; then
	port=$((20000 + RANDOM % 20000))
	serve=(--listen "127.0.0.1:$port")
fi
start_agent root "$FT_TMP/data/a.db" "${serve[@]}"
echo "A. uid 0 with $CAPS only:"
check_proc "$AGENT" root
grep -E "attribution: host scan: " "$FT_TMP/agent.log" | tail -1 | sed 's/^[^ ]* [^ ]* /   /'
"$LABCMD" scenario benign >"$FT_TMP/benign.log" 2>&1 || { cat "$FT_TMP/benign.log"; ft_fail "the benign scenario failed"; }
"$LABCMD" scenario redis-exfil >"$FT_TMP/exfil.log" 2>&1 || { cat "$FT_TMP/exfil.log"; ft_fail "the redis-exfil scenario failed"; }
ft_wait 10 ft_true "s['pipeline']['queue_depth'] + s['store']['queue_depth'] == 0" || ft_fail "queues did not drain"

# Serving: in-process when the agent has --listen, else the dashboard
# command in the same confinement over the agent's database.
dash=
if [ "${#serve[@]}" -eq 0 ]; then
	"$EW_BIN" dashboard --help >/dev/null 2>&1 || ft_fail "this build serves nothing: neither run --listen nor dashboard"
	port=$((20000 + RANDOM % 20000))
	"${CONFINE[@]}" root "$SECCOMP" "$CAPS" "$nobody_uid" "$nobody_gid" \
		"$EW_BIN" dashboard --db "$FT_TMP/data/a.db" --listen "127.0.0.1:$port" \
		>"$FT_TMP/dashboard.log" 2>&1 &
	dash=$!
	FT_PIDS+=("$dash")
fi
up() { curl -fsS -m 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; }
ft_wait 15 up || { cat "$FT_TMP/dashboard.log" 2>/dev/null; ft_fail "nothing answers /healthz on 127.0.0.1:$port"; }
[ -z "$dash" ] || check_proc "$dash" root
curl -fsS -m 5 "http://127.0.0.1:$port/api/flows?limit=1000" >"$FT_TMP/api.json" || ft_fail "/api/flows failed"
grep -q '"prod/redis-0"' "$FT_TMP/api.json" || ft_fail "/api/flows does not name prod/redis-0"
echo "   served on 127.0.0.1:$port ($([ -n "$dash" ] && echo "egresswatch dashboard, same confinement" || echo "run --listen")): /healthz ok, /api/flows names the lab's pods"
if [ -n "$dash" ]; then kill "$dash"; wait "$dash" 2>/dev/null || true; fi
ft_stop
check_flows "$FT_TMP/data/a.db" 1

# B. uid nobody, three ambient capabilities ---------------------------------------
chown nobody "$FT_TMP/data" "$FT_TMP/run"
rm -f "$FT_TMP/run/status.json"
start_agent nobody "$FT_TMP/data/b.db"
echo "B. uid nobody with $CAPS as ambient capabilities:"
check_proc "$AGENT" nobody
"$LABCMD" scenario benign >"$FT_TMP/benign.log" 2>&1 || { cat "$FT_TMP/benign.log"; ft_fail "the benign scenario failed"; }
ft_wait 10 ft_true "s['pipeline']['queue_depth'] + s['store']['queue_depth'] == 0" || ft_fail "queues did not drain"
ft_stop
[ "$(stat -c %u "$FT_TMP/data/b.db")" = "$nobody_uid" ] || ft_fail "the database was not written by nobody"
check_flows "$FT_TMP/data/b.db" 0
if grep -E ' warn ' "$FT_TMP/agent.log" | grep -vE 'no access to the network namespace of 1 process' |
	grep -iE 'permi|denied|not permitted|EPERM|seccomp|read-only'; then
	ft_fail "the confined agent warned about something it could not do (above)"
fi
echo "PASS: $T"
