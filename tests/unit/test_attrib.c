/*
 * test_attrib.c - attribution (capture/attrib*.c): the cgroup path table,
 * the /proc walk and pod log names on fake trees, and the registry through
 * its public API and synthetic scan results: lookups by every key, name
 * sources and their rank, address churn (a reused address maps to the new
 * pod; a removed pod takes only its own addresses), learning and its
 * bounds, full re-lists, caps, and lookups racing a writer.
 *
 * The scan's kernel half (links, netns ids, addresses) is exercised for
 * real by tests/e2e/attrib_lab.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "attrib.h"
#include "capture.h"
#include "util.h"

#define UID "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"
#define UID_ "1f2e3d4c_5b6a_4798_8a9b_0c1d2e3f4a5b"
#define UID2 "2a2b2c2d-3e3f-4a4b-9c9d-5e5f6a6b7c7d"
#define STATIC_UID "5a8e2b0c9d1f4e3a7b6c5d4e3f2a1b0c"
#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define CID3 "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
#define HASH32 "78998f4ef3c595f7795f4cae30e6d906"
#define BURST "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice"

/* ---- the cgroup table ------------------------------------------------------ */

struct cg_case {
	const char *path;
	int rc;			/* 0 or -EINVAL */
	int kind;
	const char *runtime;
	const char *qos;
	const char *id;
	const char *uid;
};

static const struct cg_case cg_cases[] = {
	/* kubelet, systemd driver, every QoS class, every CRI runtime */
	{BURST "/cri-containerd-" CID ".scope", 0, ATTRIB_CG_CONTAINER,
	 "containerd", "burstable", CID, UID},
	{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	 ".slice/cri-containerd-" CID ".scope", 0, ATTRIB_CG_CONTAINER,
	 "containerd", "besteffort", CID, UID},
	{"/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope",
	 0, ATTRIB_CG_CONTAINER, "containerd", "guaranteed", CID, UID},
	{BURST "/crio-" CID ".scope", 0, ATTRIB_CG_CONTAINER, "cri-o",
	 "burstable", CID, UID},
	{BURST "/crio-conmon-" CID ".scope", 0, ATTRIB_CG_MONITOR, "cri-o",
	 "burstable", CID, UID},
	{BURST "/docker-" CID ".scope", 0, ATTRIB_CG_CONTAINER, "docker",
	 "burstable", CID, UID},
	/* nested cgroups below the container's */
	{BURST "/crio-" CID ".scope/container", 0, ATTRIB_CG_CONTAINER, "cri-o",
	 "burstable", CID, UID},
	{BURST "/docker-" CID ".scope/init.scope", 0, ATTRIB_CG_CONTAINER,
	 "docker", "burstable", CID, UID},
	/* kubelet, cgroupfs driver */
	{"/kubepods/burstable/pod" UID "/" CID, 0, ATTRIB_CG_CONTAINER, "",
	 "burstable", CID, UID},
	{"/kubepods/besteffort/pod" UID "/" CID, 0, ATTRIB_CG_CONTAINER, "",
	 "besteffort", CID, UID},
	{"/kubepods/pod" UID "/" CID, 0, ATTRIB_CG_CONTAINER, "", "guaranteed",
	 CID, UID},
	{"/kubepods/burstable/pod" UID "/crio-" CID, 0, ATTRIB_CG_CONTAINER,
	 "cri-o", "burstable", CID, UID},
	{"/kubepods/burstable/pod" UID "/crio-conmon-" CID, 0, ATTRIB_CG_MONITOR,
	 "cri-o", "burstable", CID, UID},
	/* kubelet trees under another prefix: a sandbox, kind */
	{"/process_api/" HASH32 BURST "/cri-containerd-" CID ".scope", 0,
	 ATTRIB_CG_CONTAINER, "containerd", "burstable", CID, UID},
	{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	 "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID ".scope",
	 0, ATTRIB_CG_CONTAINER, "containerd", "besteffort", CID, UID},
	{"/docker/" CID2 "/kubepods/burstable/pod" UID "/" CID, 0,
	 ATTRIB_CG_CONTAINER, "", "burstable", CID, UID},
	/* a static pod's 32-hex uid */
	{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	 STATIC_UID ".slice/cri-containerd-" CID ".scope", 0,
	 ATTRIB_CG_CONTAINER, "containerd", "burstable", CID, STATIC_UID},
	/* a pod's own cgroup, no container below */
	{BURST, 0, ATTRIB_CG_POD, "", "burstable", "", UID},
	{"/kubepods/besteffort/pod" UID, 0, ATTRIB_CG_POD, "", "besteffort", "", UID},
	/* plain Docker, Podman, nerdctl */
	{"/system.slice/docker-" CID ".scope", 0, ATTRIB_CG_CONTAINER, "docker",
	 "", CID, ""},
	{"/docker/" CID, 0, ATTRIB_CG_CONTAINER, "docker", "", CID, ""},
	{"/docker/" CID2 "/docker/" CID, 0, ATTRIB_CG_CONTAINER, "docker", "",
	 CID, ""},
	{"/machine.slice/libpod-" CID ".scope", 0, ATTRIB_CG_CONTAINER, "podman",
	 "", CID, ""},
	{"/machine.slice/libpod-" CID ".scope/container", 0, ATTRIB_CG_CONTAINER,
	 "podman", "", CID, ""},
	{"/machine.slice/libpod-conmon-" CID ".scope", 0, ATTRIB_CG_MONITOR,
	 "podman", "", CID, ""},
	{"/machine.slice/machine-libpod_pod_" CID2 ".slice/libpod-" CID ".scope",
	 0, ATTRIB_CG_CONTAINER, "podman", "", CID, ""},
	{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" CID
	 ".scope", 0, ATTRIB_CG_CONTAINER, "podman", "", CID, ""},
	{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" CID
	 ".scope/container", 0, ATTRIB_CG_CONTAINER, "podman", "", CID, ""},
	{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-"
	 CID ".scope", 0, ATTRIB_CG_MONITOR, "podman", "", CID, ""},
	{"/libpod_parent/libpod-" CID, 0, ATTRIB_CG_CONTAINER, "podman", "", CID, ""},
	{"/system.slice/nerdctl-" CID ".scope", 0, ATTRIB_CG_CONTAINER,
	 "containerd", "", CID, ""},
	/* a cgroup removed while we read it */
	{BURST "/cri-containerd-" CID ".scope (deleted)", 0, ATTRIB_CG_CONTAINER,
	 "containerd", "burstable", CID, UID},
	/* not containers */
	{"/", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/init.scope", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/user.slice/user-1000.slice/session-2.scope", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/system.slice/containerd.service", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/system.slice/docker.service", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/kubepods.slice", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/kubepods.slice/kubepods-burstable.slice", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/kubepods/burstable", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/libpod_parent/conmon", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/process_api/" HASH32, 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/some/where/" CID, 0, ATTRIB_CG_NONE, "", "", "", ""},
	/* near misses: wrong id length or case, bad uids, bad parents */
	{"/system.slice/docker-" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	 ".scope", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/system.slice/docker-" CID "0.scope", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/system.slice/docker-" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
	 ".scope", 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID
	 ".slice/cri-containerd-" CID ".scope", 0, ATTRIB_CG_CONTAINER,
	 "containerd", "", CID, ""},
	{"/xkubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope", 0,
	 ATTRIB_CG_CONTAINER, "containerd", "", CID, ""},
	{"/kubepods/burstable/podnot-a-uid/" CID, 0, ATTRIB_CG_NONE, "", "", "", ""},
	{"/burstable/pod" UID "/" CID, 0, ATTRIB_CG_NONE, "", "", "", ""},
	/* a kubelet pod inside a container (kind node): the pod, not the node */
	{"/system.slice/docker-" CID2 ".scope/kubepods/pod" UID, 0, ATTRIB_CG_POD,
	 "", "guaranteed", "", UID},
	/* malformed */
	{"", -EINVAL, ATTRIB_CG_NONE, "", "", "", ""},
	{"kubepods.slice/cri-containerd-" CID ".scope", -EINVAL, ATTRIB_CG_NONE,
	 "", "", "", ""},
	{"/system.slice/docker-" CID ".scope\n/x", -EINVAL, ATTRIB_CG_NONE, "",
	 "", "", ""},
	{"/system.slice/\x7f", -EINVAL, ATTRIB_CG_NONE, "", "", "", ""},
};

static void cgroup_table_covers_every_layout(void)
{
	CHECK(EW_ARRAY_LEN(cg_cases) >= 25);
	for (size_t i = 0; i < EW_ARRAY_LEN(cg_cases); i++) {
		const struct cg_case *c = &cg_cases[i];
		struct attrib_cgroup out;
		int rc = attrib_cgroup_parse(c->path, strlen(c->path), &out);
		int ok = rc == c->rc && out.kind == c->kind &&
			 strcmp(attrib_runtime_name(out.runtime), c->runtime) == 0 &&
			 strcmp(attrib_qos_name(out.qos), c->qos) == 0 &&
			 strcmp(out.id, c->id) == 0 && strcmp(out.pod_uid, c->uid) == 0;

		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  case %zu %s: rc %d kind %d runtime '%s' "
				"qos '%s' id '%s' uid '%s'\n", i, c->path, rc,
				out.kind, attrib_runtime_name(out.runtime),
				attrib_qos_name(out.qos), out.id, out.pod_uid);
	}
}

static void cgroup_overlong_inputs_are_malformed(void)
{
	char *p = malloc(ATTRIB_CGROUP_PATH_MAX + 200);
	struct attrib_cgroup out;
	size_t n;

	/* Longer than PATH_MAX, though every component is fine. */
	n = 0;
	while (n < ATTRIB_CGROUP_PATH_MAX + 100) {
		memcpy(p + n, "/abcdefgh", 9);
		n += 9;
	}
	CHECK(attrib_cgroup_parse(p, n, &out) == -EINVAL);
	CHECK_EQ_U(out.kind, ATTRIB_CG_NONE);
	/* A component longer than NAME_MAX. */
	p[0] = '/';
	memset(p + 1, 'a', 300);
	CHECK(attrib_cgroup_parse(p, 301, &out) == -EINVAL);
	/* Deep but legal: the container is still found at the end. */
	n = 0;
	while (n < 3000) {
		memcpy(p + n, "/x", 2);
		n += 2;
	}
	memcpy(p + n, "/docker/" CID, 8 + 64);
	n += 8 + 64;
	CHECK_EQ_U(attrib_cgroup_parse(p, n, &out), 0);
	CHECK_EQ_U(out.kind, ATTRIB_CG_CONTAINER);
	CHECK_STR(out.id, CID);
	free(p);
}

static void cgroup_file_prefers_the_most_specific_line(void)
{
	/* This machine's hybrid layout: memory nested under /process_api. */
	static const char hybrid[] =
		"9:name=systemd:" BURST "/cri-containerd-" CID ".scope\n"
		"4:memory:/process_api/" HASH32 BURST "/cri-containerd-" CID ".scope\n"
		"3:cpuset:" BURST "/cri-containerd-" CID ".scope\n"
		"0::" BURST "/cri-containerd-" CID ".scope\n";
	/* v2 line says nothing; a v1 line knows the container. */
	static const char v1_only[] =
		"0::/\n"
		"2:cpu,cpuacct:/\n"
		"1:name=systemd:/system.slice/docker-" CID ".scope\n";
	/* v2 knows the pod only; v1 knows the container: container wins. */
	static const char mixed[] =
		"5:memory:/kubepods/burstable/pod" UID "/" CID "\n"
		"0::" BURST "\n";
	/* Garbage lines are skipped; no newline at the end. */
	static const char junk[] = "garbage\n::\n7:pids\n0::/docker/" CID;
	struct attrib_cgroup out;

	attrib_cgroup_parse_proc(hybrid, strlen(hybrid), &out);
	CHECK_EQ_U(out.kind, ATTRIB_CG_CONTAINER);
	CHECK_STR(out.id, CID);
	CHECK_STR(out.pod_uid, UID);
	attrib_cgroup_parse_proc(v1_only, strlen(v1_only), &out);
	CHECK_EQ_U(out.kind, ATTRIB_CG_CONTAINER);
	CHECK_STR(attrib_runtime_name(out.runtime), "docker");
	attrib_cgroup_parse_proc(mixed, strlen(mixed), &out);
	CHECK_EQ_U(out.kind, ATTRIB_CG_CONTAINER);
	CHECK_STR(out.pod_uid, UID);
	attrib_cgroup_parse_proc(junk, strlen(junk), &out);
	CHECK_EQ_U(out.kind, ATTRIB_CG_CONTAINER);
	attrib_cgroup_parse_proc("", 0, &out);
	CHECK_EQ_U(out.kind, ATTRIB_CG_NONE);
}

/* ---- fake /proc and pod log trees ---------------------------------------------- */

static char tmpdir[64];

static void mk(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	CHECK(mkdir(p, 0755) == 0);
}

static void mklink(const char *target, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	CHECK(symlink(target, p) == 0);
}

struct seen {
	int n;
	int pid[16];
	uint64_t ino[16];
};

static void on_proc(void *ctx, int pid, uint64_t ino)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->pid[s->n] = pid;
		s->ino[s->n] = ino;
		s->n++;
	}
}

static uint64_t ino_of(const struct seen *s, int pid)
{
	for (int i = 0; i < s->n; i++)
		if (s->pid[i] == pid)
			return s->ino[i];
	return 0;
}

static void proc_walk_groups_processes_by_netns(void)
{
	char proc[128];
	struct seen s = {0};
	uint64_t errors = 0, denied = 0;
	int capped, fd;
	long n;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ew-attrib-XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	mk("proc");
	for (int pid = 1; pid <= 4; pid++) {
		char d[64];

		snprintf(d, sizeof(d), "proc/%d", pid);
		mk(d);
		snprintf(d, sizeof(d), "proc/%d/ns", pid);
		mk(d);
	}
	mklink("net:[4026531992]", "proc/1/ns/net");
	mklink("net:[4026532281]", "proc/2/ns/net");
	mklink("net:[4026532281]", "proc/3/ns/net");
	mklink("mnt:[4026532000]", "proc/4/ns/net");	/* not a netns link */
	mk("proc/self");				/* not a pid */
	mk("proc/sys");
	snprintf(proc, sizeof(proc), "%s/proc", tmpdir);
	fd = open(proc, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	n = attrib_proc_walk(fd, 100, &capped, &errors, &denied, on_proc, &s);
	CHECK_EQ_U(n, 4);
	CHECK_EQ_U(capped, 0);
	CHECK_EQ_U(errors, 1);
	CHECK_EQ_U(denied, 0);
	CHECK_EQ_U(s.n, 3);
	CHECK_EQ_U(ino_of(&s, 1), 4026531992ull);
	CHECK_EQ_U(ino_of(&s, 2), 4026532281ull);
	CHECK_EQ_U(ino_of(&s, 3), 4026532281ull);
	/* The cap stops the walk and says so. */
	memset(&s, 0, sizeof(s));
	n = attrib_proc_walk(fd, 2, &capped, &errors, &denied, on_proc, &s);
	CHECK_EQ_U(n, 2);
	CHECK_EQ_U(capped, 1);
	close(fd);
}

static void podlog_dirs_name_pods(void)
{
	struct attrib_podlog pl;
	struct attrib_scan sc;
	char root[128], f[256];
	int fd;

	CHECK_EQ_U(attrib_podlog_parse("prod_redis-0_" UID, &pl), 0);
	CHECK_STR(pl.namespace, "prod");
	CHECK_STR(pl.name, "redis-0");
	CHECK_STR(pl.uid, UID);
	CHECK_EQ_U(attrib_podlog_parse("kube-system_kube-apiserver-node1_" STATIC_UID,
				       &pl), 0);
	CHECK_STR(pl.name, "kube-apiserver-node1");
	CHECK(attrib_podlog_parse("prod_redis-0", &pl) < 0);
	CHECK(attrib_podlog_parse("prod_redis_0_" UID, &pl) < 0);
	CHECK(attrib_podlog_parse("Prod_redis-0_" UID, &pl) < 0);
	CHECK(attrib_podlog_parse("prod_redis-0_" UID "x", &pl) < 0);
	CHECK(attrib_podlog_parse("_redis-0_" UID, &pl) < 0);
	CHECK(attrib_podlog_parse("prod__" UID, &pl) < 0);

	mk("pods");
	mk("pods/prod_redis-0_" UID);
	mk("pods/prod_redis-0_" UID "/redis");
	mk("pods/dev_client-0_" UID2);
	mk("pods/not-a-pod-dir");
	snprintf(f, sizeof(f), "%s/pods/prod_file-0_" STATIC_UID, tmpdir);
	fd = open(f, O_CREAT | O_WRONLY, 0644);	/* a file, not a dir */
	CHECK(fd >= 0);
	close(fd);
	snprintf(root, sizeof(root), "%s/pods", tmpdir);
	memset(&sc, 0, sizeof(sc));
	CHECK_EQ_U(attrib_podlogs_read(root, 100, &sc), 0);
	CHECK_EQ_U(sc.podlog_state, 1);
	CHECK_EQ_U(sc.n_podlogs, 2);
	CHECK_EQ_U(sc.podlogs_bad, 1);
	attrib_scan_free(&sc);
	CHECK_EQ_U(attrib_podlogs_read(root, 1, &sc), 0);
	CHECK_EQ_U(sc.n_podlogs, 1);
	CHECK_EQ_U(sc.podlogs_capped, 1);
	attrib_scan_free(&sc);
	snprintf(root, sizeof(root), "%s/nonexistent", tmpdir);
	CHECK(attrib_podlogs_read(root, 100, &sc) == -ENOENT);
	CHECK(sc.podlog_state == -ENOENT);
	attrib_scan_free(&sc);
}

/* The real scan over a /proc with no processes: links are read from the
 * kernel, nothing can be attributed, the pod log names still load. */
static void rescan_over_an_empty_proc_attributes_nothing(void)
{
	struct attrib_config cfg;
	struct attrib_stats st;
	struct attrib_scan empty;
	struct attrib *a;
	char proc[128], pods[128], err[256];
	int rc;

	mk("emptyproc");
	snprintf(proc, sizeof(proc), "%s/emptyproc", tmpdir);
	snprintf(pods, sizeof(pods), "%s/pods", tmpdir);
	attrib_config_defaults(&cfg);
	cfg.proc_root = proc;
	cfg.podlog_root = pods;
	cfg.netns_root = NULL;
	a = attrib_open(&cfg, err, sizeof(err));
	CHECK(a != NULL);
	if (!a)
		return;
	rc = attrib_rescan(a, err, sizeof(err));
	CHECK_EQ_U(rc, 0);
	if (rc)
		fprintf(stderr, "  rescan: %s\n", err);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 0);
	CHECK_EQ_U(st.scans, 1);
	CHECK_EQ_U(st.podlog_pods, 2);
	/* An empty result (no links at all) is applied as such. */
	memset(&empty, 0, sizeof(empty));
	attrib_apply_scan(a, &empty);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.podlog_pods, 0);
	attrib_close(a);
}

static void cleanup_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK(system(cmd) == 0);
}

/* ---- registry helpers --------------------------------------------------------------- */

static struct attrib *reg(uint32_t max_workloads, uint32_t max_learned)
{
	struct attrib_config cfg;
	char err[256];
	struct attrib *a;

	attrib_config_defaults(&cfg);
	cfg.max_workloads = max_workloads;
	cfg.max_learned_ips = max_learned;
	a = attrib_open(&cfg, err, sizeof(err));
	CHECK(a != NULL);
	if (!a)
		fprintf(stderr, "attrib_open: %s\n", err);
	return a;
}

static void ip(const char *s, uint8_t out[16])
{
	CHECK_EQ_U(ew_ip_parse(s, out), 0);
}

/* A scan result: one link per pod. */
struct fake_pod {
	const char *ifname;
	int32_t ifindex;
	int32_t nsid;
	const char *uid;
	const char *cids[3];
	const char *ips[3];
};

static void fake_scan(struct attrib *a, const struct fake_pod *pods, size_t n,
		      const struct attrib_podlog *logs, size_t n_logs)
{
	struct attrib_scan sc;

	memset(&sc, 0, sizeof(sc));
	sc.links = calloc(n + 1, sizeof(*sc.links));
	sc.podlogs = calloc(n_logs + 1, sizeof(*sc.podlogs));
	sc.n_links = n;
	sc.n_podlogs = n_logs;
	sc.podlog_state = 1;
	if (n_logs)
		memcpy(sc.podlogs, logs, n_logs * sizeof(*logs));
	for (size_t i = 0; i < n; i++) {
		struct attrib_scan_link *l = &sc.links[i];

		snprintf(l->iface.name, sizeof(l->iface.name), "%s", pods[i].ifname);
		l->iface.ifindex = pods[i].ifindex;
		l->nsid = pods[i].nsid;
		l->found = 1;
		l->runtime = ATTRIB_RT_CONTAINERD;
		l->qos = ATTRIB_QOS_BURSTABLE;
		if (pods[i].uid)
			snprintf(l->pod_uid, sizeof(l->pod_uid), "%s", pods[i].uid);
		for (int k = 0; k < 3 && pods[i].cids[k]; k++)
			memcpy(l->containers[l->n_containers++], pods[i].cids[k],
			       ATTRIB_CID_LEN + 1);
		for (int k = 0; k < 3 && pods[i].ips[k]; k++)
			ip(pods[i].ips[k], l->ips[l->n_ips++]);
	}
	attrib_apply_scan(a, &sc);
	attrib_scan_free(&sc);
}

static const char *who_ip(struct attrib *a, const char *addr, struct attrib_ref *r)
{
	uint8_t x[16];

	ip(addr, x);
	return attrib_lookup_ip(a, x, r) == 0 ? r->workload : "(none)";
}

static const char *who_if(struct attrib *a, const char *ifname,
			  struct attrib_ref *r)
{
	return attrib_lookup_iface(a, ifname, r) == 0 ? r->workload : "(none)";
}

/* ---- registry ------------------------------------------------------------------------ */

static void scan_attributes_interfaces_and_names_from_pod_logs(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod pods[] = {
		{"vethaaaa0001", 11, 1, UID, {CID, CID2}, {"10.244.0.10", "fd00:10:244::10"}},
		{"vethbbbb0002", 12, 2, NULL, {CID3}, {"10.244.0.11"}},
	};
	struct attrib_podlog logs[] = {{"prod", "redis-0", UID}};
	struct attrib_workload w;
	struct attrib_ref r;
	uint64_t v0 = attrib_version(a);

	fake_scan(a, pods, 2, logs, 1);
	CHECK(attrib_version(a) != v0);
	/* A rescan that finds the same host changes nothing anyone can see. */
	v0 = attrib_version(a);
	fake_scan(a, pods, 2, logs, 1);
	CHECK_EQ_U(attrib_version(a), v0);
	CHECK_STR(who_if(a, "vethaaaa0001", &r), "prod/redis-0");
	CHECK_STR(r.kind, "Pod");
	CHECK_EQ_U(r.flags & ATTRIB_F_UNNAMED, 0);
	CHECK_EQ_U(attrib_lookup_ifindex(a, 11, &r), 0);
	CHECK_STR(r.workload, "prod/redis-0");
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-0");
	CHECK_STR(who_ip(a, "fd00:10:244::10", &r), "prod/redis-0");
	CHECK_EQ_U(r.flags & ATTRIB_F_LEARNED, 0);
	CHECK_EQ_U(attrib_lookup_pod(a, UID, &r), 0);
	CHECK_EQ_U(attrib_lookup_container(a, CID2, &r), 0);
	CHECK_STR(r.workload, "prod/redis-0");
	CHECK_EQ_U(attrib_lookup_name(a, "prod/redis-0", &r), 0);
	CHECK_EQ_U(attrib_get(a, r.id, &w), 0);
	CHECK_STR(w.pod_uid, UID);
	CHECK_STR(w.runtime, "containerd");
	CHECK_STR(w.qos, "burstable");
	CHECK_EQ_U(w.n_containers, 2);
	CHECK_EQ_U(w.n_ips, 2);
	CHECK_EQ_U(w.n_ifaces, 1);
	CHECK(w.sources & (1u << ATTRIB_SRC_SCAN));
	CHECK(w.sources & (1u << ATTRIB_SRC_PODLOGS));

	/* A container with no pod and nobody to name it: a made-up name, so
	 * its flows still show who it is. */
	CHECK_STR(who_if(a, "vethbbbb0002", &r), "containerd-aaaaaaaaaaaa");
	CHECK(r.flags & ATTRIB_F_UNNAMED);
	CHECK_STR(r.kind, "Container");

	CHECK(attrib_lookup_iface(a, "eth0", &r) == -ENOENT);
	CHECK(attrib_lookup_ifindex(a, 99, &r) == -ENOENT);
	CHECK(attrib_lookup_pod(a, "not-a-uid", &r) == -ENOENT);
	CHECK(attrib_lookup_container(a, "0123", &r) == -ENOENT);

	/* Pod-log dir gone: back to the uid-based name, a visible change. */
	CHECK_EQ_U(attrib_get(a, r.id, &w), 0);
	fake_scan(a, pods, 2, NULL, 0);
	CHECK(attrib_version(a) != v0);
	CHECK_STR(who_if(a, "vethaaaa0001", &r), "pod-" UID);
	CHECK(r.flags & ATTRIB_F_UNNAMED);
	CHECK_EQ_U(attrib_lookup_name(a, "pod-" UID, &r), 0);
	CHECK(attrib_lookup_name(a, "prod/redis-0", &r) == -ENOENT);
	attrib_close(a);
}

static void two_links_into_one_pod_are_one_workload(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod pods[] = {
		{"vethaaaa0001", 11, 1, UID, {CID}, {"10.244.0.10"}},
		{"vethaaaa0002", 13, 1, UID, {CID}, {"10.244.0.10"}},
	};
	struct attrib_ref r1, r2;
	struct attrib_stats st;

	fake_scan(a, pods, 2, NULL, 0);
	CHECK_EQ_U(attrib_lookup_iface(a, "vethaaaa0001", &r1), 0);
	CHECK_EQ_U(attrib_lookup_iface(a, "vethaaaa0002", &r2), 0);
	CHECK_EQ_U(r1.id, r2.id);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 1);
	CHECK_EQ_U(st.ifaces, 2);
	attrib_close(a);
}

static void reused_address_maps_to_the_new_pod(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod old_pod[] = {
		{"vethold00001", 21, 1, UID, {CID}, {"10.244.0.10"}},
	};
	struct fake_pod both[] = {
		{"vethold00001", 21, 1, UID, {CID}, {"10.244.0.10"}},
		{"vethnew00002", 22, 2, UID2, {CID2}, {"10.244.0.10"}},
	};
	struct fake_pod new_pod[] = {
		{"vethnew00002", 22, 2, UID2, {CID2}, {"10.244.0.10"}},
	};
	struct attrib_podlog logs[] = {
		{"prod", "redis-0", UID}, {"prod", "redis-1", UID2},
	};
	struct attrib_stats st;
	struct attrib_ref r;

	fake_scan(a, old_pod, 1, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-0");
	/* The new pod appears while the old one is still listed: newest wins. */
	fake_scan(a, both, 2, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-1");
	/* Restating the old pod does not take the address back. */
	fake_scan(a, both, 2, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-1");
	/* The old pod goes: its removal leaves the new pod's address alone. */
	fake_scan(a, new_pod, 1, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-1");
	CHECK(attrib_lookup_pod(a, UID, &r) == -ENOENT);
	CHECK(attrib_lookup_iface(a, "vethold00001", &r) == -ENOENT);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 1);
	CHECK_EQ_U(st.ip_moves, 1);
	CHECK_EQ_U(st.removed, 1);
	/* Delete-then-create between two scans: the same answer. */
	fake_scan(a, old_pod, 1, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-0");
	/* And the newer holder going away hands it to the one still there. */
	fake_scan(a, both, 2, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-1");
	fake_scan(a, old_pod, 1, logs, 2);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/redis-0");
	fake_scan(a, NULL, 0, logs, 2);
	CHECK(attrib_lookup_ip(a, (uint8_t[16]){0}, &r) == -ENOENT);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "(none)");
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 0);
	attrib_close(a);
}

static void learned_addresses_are_bounded_and_never_steal(void)
{
	struct attrib *a = reg(64, 2);
	struct fake_pod pods[] = {
		{"vetha", 31, 1, UID, {CID}, {"10.244.0.10"}},
		{"vethb", 32, 2, UID2, {CID2}, {NULL}},
	};
	uint8_t x[16];
	struct attrib_stats st;
	struct attrib_ref r;

	fake_scan(a, pods, 2, NULL, 0);
	/* Known address: nothing to do. */
	ip("10.244.0.10", x);
	CHECK_EQ_U(attrib_learn_ip(a, "vetha", x, 1), 0);
	/* The scan gave vetha an IPv4 address: no IPv4 guessing from traffic
	 * (the flow's other end, say); an IPv6 one fills the gap. */
	ip("10.244.0.77", x);
	CHECK(attrib_learn_ip(a, "vetha", x, 1) == -EEXIST);
	CHECK_STR(who_ip(a, "10.244.0.77", &r), "(none)");
	ip("fd00:10:244::10", x);
	CHECK_EQ_U(attrib_learn_ip(a, "vetha", x, 1), 1);
	CHECK_STR(who_ip(a, "fd00:10:244::10", &r), "pod-" UID);
	/* Ignored classes. */
	ip("fe80::1", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 1) == -EINVAL);
	ip("127.0.0.1", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 1) == -EINVAL);
	ip("169.254.1.1", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 1) == -EINVAL);
	ip("ff02::1", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 1) == -EINVAL);
	ip("0.0.0.0", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 1) == -EINVAL);
	ip("255.255.255.255", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 1) == -EINVAL);
	/* No workload on the interface. */
	ip("10.244.0.99", x);
	CHECK(attrib_learn_ip(a, "vethz", x, 1) == -ENOENT);
	/* Learned: two, then the cap. */
	ip("10.244.0.11", x);
	CHECK_EQ_U(attrib_learn_ip(a, "vethb", x, 100), 1);
	CHECK_EQ_U(attrib_learn_ip(a, "vethb", x, 101), 0);
	CHECK_STR(who_ip(a, "10.244.0.11", &r), "pod-" UID2);
	CHECK(r.flags & ATTRIB_F_LEARNED);
	ip("fd00:10:244::11", x);
	CHECK_EQ_U(attrib_learn_ip(a, "vethb", x, 102), 1);
	ip("10.244.0.12", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 103) == -ENOSPC);
	CHECK_STR(who_ip(a, "10.244.0.12", &r), "(none)");
	/* A forged source address never displaces an asserted one. */
	ip("10.244.0.10", x);
	CHECK(attrib_learn_ip(a, "vethb", x, 104) == -ENOSPC);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "pod-" UID);
	attrib_close(a);

	/* Even with room to learn it. */
	a = reg(64, 8);
	fake_scan(a, pods, 2, NULL, 0);
	ip("10.244.0.10", x);
	CHECK_EQ_U(attrib_learn_ip(a, "vethb", x, 104), 1);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "pod-" UID);
	CHECK_EQ_U(r.flags & ATTRIB_F_LEARNED, 0);
	/* When the owner goes, the learned claim is what is left. */
	fake_scan(a, pods + 1, 1, NULL, 0);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "pod-" UID2);
	CHECK(r.flags & ATTRIB_F_LEARNED);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.learned, 1);
	attrib_close(a);
}

static void learned_address_yields_to_a_later_assertion(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod bare[] = {{"vetha", 31, 1, UID, {CID}, {NULL}}};
	struct fake_pod other[] = {
		{"vetha", 31, 1, UID, {CID}, {NULL}},
		{"vethb", 32, 2, UID2, {CID2}, {"10.244.0.10"}},
	};
	uint8_t x[16];
	struct attrib_ref r;

	fake_scan(a, bare, 1, NULL, 0);
	ip("10.244.0.10", x);
	CHECK_EQ_U(attrib_learn_ip(a, "vetha", x, 1), 1);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "pod-" UID);
	/* A source reports the address for another pod: it wins, learned
	 * claims never outrank asserted ones, whatever their age. */
	fake_scan(a, other, 2, NULL, 0);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "pod-" UID2);
	CHECK_EQ_U(r.flags & ATTRIB_F_LEARNED, 0);
	attrib_close(a);
}

static void learned_address_follows_churn_between_learners(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod p1[] = {{"vetha", 31, 1, UID, {CID}, {NULL}}};
	struct fake_pod p2[] = {{"vethb", 32, 2, UID2, {CID2}, {NULL}}};
	struct fake_pod p12[] = {
		{"vetha", 31, 1, UID, {CID}, {NULL}},
		{"vethb", 32, 2, UID2, {CID2}, {NULL}},
	};
	uint8_t x[16];
	struct attrib_ref r;

	ip("10.244.0.50", x);
	fake_scan(a, p1, 1, NULL, 0);
	CHECK_EQ_U(attrib_learn_ip(a, "vetha", x, 1), 1);
	CHECK_STR(who_ip(a, "10.244.0.50", &r), "pod-" UID);
	fake_scan(a, p12, 2, NULL, 0);
	CHECK_EQ_U(attrib_learn_ip(a, "vethb", x, 2), 1);
	CHECK_STR(who_ip(a, "10.244.0.50", &r), "pod-" UID2);
	fake_scan(a, p2, 1, NULL, 0);
	CHECK_STR(who_ip(a, "10.244.0.50", &r), "pod-" UID2);
	fake_scan(a, NULL, 0, NULL, 0);
	CHECK_STR(who_ip(a, "10.244.0.50", &r), "(none)");
	attrib_close(a);
}

static void names_come_from_the_best_source(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod pods[] = {{"vetha", 31, 1, UID, {CID}, {"10.244.0.10"}}};
	struct attrib_podlog logs[] = {{"prod", "from-logs", UID}};
	struct attrib_kv labels[] = {{"app", "redis"}, {"tier", "db"}};
	const char *cids[] = {CID};
	struct attrib_pod_meta m = {
		.uid = UID, .namespace = "prod", .name = "from-api",
		.labels = labels, .n_labels = 2, .container_ids = cids,
		.n_container_ids = 1,
	};
	struct attrib_stmt inv;
	struct attrib_labels il;
	struct attrib_workload w;
	struct attrib_ref r;

	fake_scan(a, pods, 1, logs, 1);
	CHECK_STR(who_if(a, "vetha", &r), "prod/from-logs");
	/* The inventory outranks the pod logs... */
	memset(&il, 0, sizeof(il));
	attrib_labels_add(&il, "app", "inventory");
	memset(&inv, 0, sizeof(inv));
	inv.src = ATTRIB_SRC_INVENTORY;
	inv.pod_uid = UID;
	inv.namespace = "prod";
	inv.name = "from-inventory";
	inv.kind = "StatefulSetPod";
	inv.labels = &il;
	CHECK_EQ_U(attrib_apply_stmt(a, &inv), 0);
	CHECK_STR(who_if(a, "vetha", &r), "prod/from-inventory");
	CHECK_STR(r.kind, "StatefulSetPod");
	/* ...and the Kubernetes API outranks both, labels included. */
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m), 0);
	CHECK_STR(who_if(a, "vetha", &r), "prod/from-api");
	CHECK_EQ_U(attrib_get(a, r.id, &w), 0);
	CHECK_EQ_U(w.labels.n, 2);
	CHECK_STR(attrib_labels_get(&w.labels, "app"), "redis");
	CHECK_STR(attrib_labels_get(&w.labels, "tier"), "db");
	CHECK(attrib_lookup_name(a, "prod/from-inventory", &r) == -ENOENT);
	/* The API withdraws: the inventory's name and labels are back. */
	CHECK_EQ_U(attrib_remove_pod(a, ATTRIB_SRC_KUBE, UID), 0);
	CHECK_STR(who_if(a, "vetha", &r), "prod/from-inventory");
	CHECK_EQ_U(attrib_get(a, r.id, &w), 0);
	CHECK_STR(attrib_labels_get(&w.labels, "app"), "inventory");
	CHECK(attrib_remove_pod(a, ATTRIB_SRC_KUBE, UID) == -ENOENT);
	/* The scan stops seeing it: the inventory alone keeps it, minus the
	 * interface and addresses only the scan claimed. */
	fake_scan(a, NULL, 0, logs, 1);
	CHECK_EQ_U(attrib_lookup_pod(a, UID, &r), 0);
	CHECK_STR(r.workload, "prod/from-inventory");
	CHECK(attrib_lookup_iface(a, "vetha", &r) == -ENOENT);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "(none)");
	attrib_close(a);
}

static void interface_goes_to_the_scan_over_a_stale_inventory(void)
{
	struct attrib *a = reg(64, 4);
	struct attrib_iface ifc = {"vethx", 0};
	struct fake_pod pods[] = {{"vethx", 41, 1, UID2, {CID2}, {"10.244.0.10"}}};
	struct attrib_stmt st;
	struct attrib_ref r;
	uint8_t x[16];

	ip("10.244.0.10", x);
	memset(&st, 0, sizeof(st));
	st.src = ATTRIB_SRC_INVENTORY;
	st.pod_uid = UID;
	st.namespace = "prod";
	st.name = "stale";
	st.ifaces = &ifc;
	st.n_ifaces = 1;
	st.ips = (const uint8_t (*)[16])x;
	st.n_ips = 1;
	CHECK_EQ_U(attrib_apply_stmt(a, &st), 0);
	CHECK_STR(who_if(a, "vethx", &r), "prod/stale");
	fake_scan(a, pods, 1, NULL, 0);
	CHECK_STR(who_if(a, "vethx", &r), "pod-" UID2);
	CHECK_EQ_U(attrib_lookup_ifindex(a, 41, &r), 0);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "pod-" UID2);
	fake_scan(a, NULL, 0, NULL, 0);
	CHECK_STR(who_if(a, "vethx", &r), "prod/stale");
	CHECK(attrib_lookup_ifindex(a, 41, &r) == -ENOENT);
	CHECK_STR(who_ip(a, "10.244.0.10", &r), "prod/stale");
	attrib_close(a);
}

static void full_relist_drops_what_the_source_no_longer_lists(void)
{
	struct attrib *a = reg(64, 4);
	struct attrib_pod_meta m1 = {.uid = UID, .namespace = "prod", .name = "a"};
	struct attrib_pod_meta m2 = {.uid = UID2, .namespace = "prod", .name = "b"};
	struct attrib_container_meta c = {
		.id = CID3, .name = "nginx_1", .runtime = "docker",
	};
	struct attrib_kv nsl[] = {{"team", "core"}};
	struct attrib_labels l;
	struct attrib_ref r;
	struct attrib_stats st;

	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m1), 0);
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m2), 0);
	CHECK_EQ_U(attrib_set_container(a, ATTRIB_SRC_RUNTIME, &c), 0);
	CHECK_EQ_U(attrib_set_namespace(a, ATTRIB_SRC_KUBE, "prod", nsl, 1), 0);
	CHECK_EQ_U(attrib_set_namespace(a, ATTRIB_SRC_INVENTORY, "prod", NULL, 0), 0);
	CHECK_EQ_U(attrib_namespace_labels(a, "prod", &l), 0);
	CHECK_STR(attrib_labels_get(&l, "team"), "core");
	CHECK_EQ_U(attrib_lookup_container(a, CID3, &r), 0);
	CHECK_STR(r.workload, "nginx_1");
	CHECK_STR(r.kind, "Container");

	attrib_sync_begin(a, ATTRIB_SRC_KUBE);
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m2), 0);
	attrib_sync_end(a, ATTRIB_SRC_KUBE);
	CHECK(attrib_lookup_pod(a, UID, &r) == -ENOENT);
	CHECK_EQ_U(attrib_lookup_pod(a, UID2, &r), 0);
	/* Another source's records are untouched. */
	CHECK_EQ_U(attrib_lookup_container(a, CID3, &r), 0);
	/* The namespace keeps the inventory's (empty) label set. */
	CHECK_EQ_U(attrib_namespace_labels(a, "prod", &l), 0);
	CHECK_EQ_U(l.n, 0);
	CHECK(attrib_namespace_labels(a, "dev", &l) == -ENOENT);
	CHECK_EQ_U(attrib_remove_container(a, ATTRIB_SRC_RUNTIME, CID3), 0);
	CHECK(attrib_lookup_container(a, CID3, &r) == -ENOENT);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 1);
	attrib_close(a);
}

static void bad_statements_change_nothing(void)
{
	struct attrib *a = reg(2, 4);
	struct attrib_pod_meta m = {.uid = UID, .namespace = "prod", .name = "a"};
	uint8_t bad_ip[1][16];
	const char *bad_cid[] = {"xyz"};
	struct attrib_stats st;

	m.uid = "not-a-uid";
	CHECK(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m) == -EINVAL);
	m.uid = UID;
	m.namespace = "Prod";
	CHECK(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m) == -EINVAL);
	m.namespace = "prod";
	m.name = "-bad";
	CHECK(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m) == -EINVAL);
	m.name = "a";
	ip("127.0.0.1", bad_ip[0]);
	m.ips = (const uint8_t (*)[16])bad_ip;
	m.n_ips = 1;
	CHECK(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m) == -EINVAL);
	m.n_ips = 0;
	m.container_ids = bad_cid;
	m.n_container_ids = 1;
	CHECK(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m) == -EINVAL);
	m.n_container_ids = 0;
	CHECK(attrib_set_pod(a, ATTRIB_SRC_SCAN, &m) == -EINVAL);
	CHECK(attrib_set_pod(a, ATTRIB_SRC_LEARNED, &m) == -EINVAL);
	CHECK(attrib_set_namespace(a, ATTRIB_SRC_KUBE, "Bad_NS", NULL, 0) == -EINVAL);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 0);
	/* The registry's cap. */
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m), 0);
	m.uid = UID2;
	m.name = "b";
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m), 0);
	m.uid = STATIC_UID;
	m.name = "c";
	CHECK(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m) == -ENOSPC);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.workloads, 2);
	CHECK_EQ_U(st.full, 1);
	/* Room again once one goes. */
	CHECK_EQ_U(attrib_remove_pod(a, ATTRIB_SRC_KUBE, UID), 0);
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m), 0);
	attrib_close(a);
}

static void labels_past_the_caps_are_flagged_not_refused(void)
{
	struct attrib *a = reg(8, 4);
	struct attrib_kv kv[80];
	char keys[80][16];
	struct attrib_pod_meta m = {.uid = UID, .namespace = "prod", .name = "a"};
	struct attrib_workload w;
	struct attrib_ref r;
	struct attrib_stats st;

	for (int i = 0; i < 80; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key%d", i);
		kv[i].key = keys[i];
		kv[i].value = "v";
	}
	kv[3].value = "bad\nvalue";
	m.labels = kv;
	m.n_labels = 80;
	CHECK_EQ_U(attrib_set_pod(a, ATTRIB_SRC_KUBE, &m), 0);
	CHECK_EQ_U(attrib_lookup_pod(a, UID, &r), 0);
	CHECK(r.flags & ATTRIB_F_LABELS_TRUNCATED);
	CHECK_EQ_U(attrib_get(a, r.id, &w), 0);
	CHECK_EQ_U(w.labels.n, ATTRIB_MAX_LABELS);
	CHECK(attrib_labels_get(&w.labels, "key3") == NULL);
	attrib_get_stats(a, &st);
	CHECK_EQ_U(st.dropped_labels, 80 - ATTRIB_MAX_LABELS);
	attrib_close(a);
}

static int count_cb(void *ctx, const struct attrib_workload *w)
{
	(*(int *)ctx)++;
	return w->id == 0;
}

static void foreach_sees_every_workload(void)
{
	struct attrib *a = reg(64, 4);
	struct fake_pod pods[] = {
		{"veth1", 1, 1, UID, {CID}, {"10.0.0.1"}},
		{"veth2", 2, 2, UID2, {CID2}, {"10.0.0.2"}},
		{"veth3", 3, 3, NULL, {CID3}, {"10.0.0.3"}},
	};
	int n = 0;

	fake_scan(a, pods, 3, NULL, 0);
	CHECK_EQ_U(attrib_foreach(a, count_cb, &n), 0);
	CHECK_EQ_U(n, 3);
	attrib_close(a);
}

/* ---- the index against a brute-force oracle -------------------------------------- */

#define U_IPS 6
#define U_PODS 5

struct snap {
	int n;
	uint64_t id[64];
	char uid[64][ATTRIB_UID_MAX];
	int n_ips[64];
	struct attrib_ip ips[64][ATTRIB_MAX_IPS];
};

static int snap_cb(void *ctx, const struct attrib_workload *w)
{
	struct snap *s = ctx;

	if (s->n < 64) {
		s->id[s->n] = w->id;
		memcpy(s->uid[s->n], w->pod_uid, ATTRIB_UID_MAX);
		s->n_ips[s->n] = w->n_ips;
		memcpy(s->ips[s->n], w->ips, sizeof(w->ips));
		s->n++;
	}
	return 0;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

/*
 * Random scans, inventory statements, withdrawals and learned addresses over
 * a small universe of pods and addresses; after every step each address
 * must map to exactly the workload the rules pick from the records
 * themselves (asserted over learned, then the newest generation), and each
 * pod uid to a record with that uid.
 */
static void index_agrees_with_the_rules_after_random_churn(void)
{
	static const char *uids[U_PODS] = {
		"00000000-0000-4000-8000-000000000001",
		"00000000-0000-4000-8000-000000000002",
		"00000000-0000-4000-8000-000000000003",
		"00000000-0000-4000-8000-000000000004",
		"00000000-0000-4000-8000-000000000005",
	};
	static const char *ifs[U_PODS] = {"v1", "v2", "v3", "v4", "v5"};
	static const char *addrs[U_IPS] = {
		"10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1", "fd00::2", "fd00::3",
	};
	struct attrib *a = reg(64, 2);
	int bad = 0;

	for (int step = 0; step < 3000 && !bad; step++) {
		unsigned op = rnd(10);

		if (op < 5) {		/* a scan of a random set of pods */
			struct fake_pod pods[U_PODS];
			int n = 0;

			memset(pods, 0, sizeof(pods));
			for (int p = 0; p < U_PODS; p++) {
				if (rnd(3) == 0)
					continue;
				pods[n].ifname = ifs[p];
				pods[n].ifindex = p + 1;
				pods[n].nsid = p;
				pods[n].uid = uids[p];
				for (int k = 0; k < 3; k++)
					if (rnd(3) == 0)
						pods[n].ips[k] = addrs[rnd(U_IPS)];
				/* fake_scan stops at the first NULL */
				for (int k = 0; k < 2; k++)
					if (!pods[n].ips[k] && pods[n].ips[k + 1]) {
						pods[n].ips[k] = pods[n].ips[k + 1];
						pods[n].ips[k + 1] = NULL;
					}
				n++;
			}
			fake_scan(a, pods, (size_t)n, NULL, 0);
		} else if (op < 7) {	/* the inventory names a pod's addresses */
			uint8_t x[2][16];
			struct attrib_stmt st;
			int p = (int)rnd(U_PODS);

			ip(addrs[rnd(U_IPS)], x[0]);
			ip(addrs[rnd(U_IPS)], x[1]);
			memset(&st, 0, sizeof(st));
			st.src = ATTRIB_SRC_INVENTORY;
			st.pod_uid = uids[p];
			st.ips = (const uint8_t (*)[16])x;
			st.n_ips = memcmp(x[0], x[1], 16) ? 2 : 1;
			attrib_apply_stmt(a, &st);
		} else if (op < 8) {	/* the inventory forgets everything */
			attrib_sync_begin(a, ATTRIB_SRC_INVENTORY);
			attrib_sync_end(a, ATTRIB_SRC_INVENTORY);
		} else {		/* traffic */
			uint8_t x[16];

			ip(addrs[rnd(U_IPS)], x);
			attrib_learn_ip(a, ifs[rnd(U_PODS)], x, (uint64_t)step);
		}

		struct snap sn = {0};
		attrib_foreach(a, snap_cb, &sn);
		for (int k = 0; k < U_IPS; k++) {
			uint8_t x[16];
			uint64_t best = 0, want = 0;
			struct attrib_ref r;

			ip(addrs[k], x);
			for (int w = 0; w < sn.n; w++)
				for (int j = 0; j < sn.n_ips[w]; j++) {
					const struct attrib_ip *e = &sn.ips[w][j];
					uint64_t prio;

					if (memcmp(e->addr, x, 16))
						continue;
					prio = ((e->sources & ~(1u << ATTRIB_SRC_LEARNED)) ?
							1ull << 62 : 0) | e->gen;
					if (prio > best) {
						best = prio;
						want = sn.id[w];
					}
				}
			if (attrib_lookup_ip(a, x, &r) < 0)
				r.id = 0;
			if (r.id != want) {
				fprintf(stderr, "  step %d: %s -> id %" PRIu64
					", the rules say %" PRIu64 "\n", step,
					addrs[k], r.id, want);
				bad = 1;
			}
		}
		for (int p = 0; p < U_PODS; p++) {
			struct attrib_ref r;
			int have = 0;

			for (int w = 0; w < sn.n; w++)
				have |= strcmp(sn.uid[w], uids[p]) == 0;
			if ((attrib_lookup_pod(a, uids[p], &r) == 0) != have) {
				fprintf(stderr, "  step %d: uid %d lookup disagrees\n",
					step, p);
				bad = 1;
			}
		}
	}
	CHECK_EQ_U(bad, 0);
	attrib_close(a);
}

/* ---- lookups racing a writer ----------------------------------------------------------- */

struct race {
	struct attrib *a;
	atomic_int stop;
	_Atomic uint64_t hits, lookups;
	uint64_t misses, wrong;
};

static void *reader(void *arg)
{
	struct race *rc = arg;
	struct attrib_ref r;
	uint8_t x[16], v6[16];

	/* Not ip(): the harness's counters belong to the main thread. */
	ew_ip_parse("10.244.0.10", x);
	ew_ip_parse("fd00::10", v6);
	while (!atomic_load(&rc->stop)) {
		if (attrib_lookup_ip(rc->a, x, &r) == 0) {
			rc->hits++;
			if (strcmp(r.workload, "pod-" UID) != 0 &&
			    strcmp(r.workload, "pod-" UID2) != 0)
				rc->wrong++;
		} else {
			rc->misses++;
		}
		rc->lookups++;
		(void)attrib_lookup_iface(rc->a, "vetha", &r);
		(void)attrib_learn_ip(rc->a, "vetha", v6, 1);
	}
	return NULL;
}

static void lookups_race_rescans_safely(void)
{
	struct race rc = {.a = reg(64, 4)};
	struct fake_pod a1[] = {{"vetha", 1, 1, UID, {CID}, {"10.244.0.10"}}};
	struct fake_pod a2[] = {{"vethb", 2, 2, UID2, {CID2}, {"10.244.0.10"}}};
	pthread_t t;

	CHECK_EQ_U(pthread_create(&t, NULL, reader, &rc), 0);
	/* 2000 rescans at least, and on until the reader has done a few
	 * thousand lookups among them (it may start late on a busy machine);
	 * 10 s at most. */
	uint64_t until = ew_mono_ns() + 10ull * 1000000000;
	for (int i = 0; i < 2000 || (atomic_load(&rc.lookups) < 5000 &&
				     ew_mono_ns() < until); i++)
		fake_scan(rc.a, (i & 1) ? a1 : a2, 1, NULL, 0);
	atomic_store(&rc.stop, 1);
	pthread_join(t, NULL);
	CHECK_EQ_U(rc.wrong, 0);
	CHECK(rc.hits > 0);
	attrib_close(rc.a);
}

int main(void)
{
	ew_log_set_level(EW_LOG_WARN);
	RUN(cgroup_table_covers_every_layout);
	RUN(cgroup_overlong_inputs_are_malformed);
	RUN(cgroup_file_prefers_the_most_specific_line);
	RUN(proc_walk_groups_processes_by_netns);
	RUN(podlog_dirs_name_pods);
	RUN(rescan_over_an_empty_proc_attributes_nothing);
	cleanup_tmp();
	RUN(scan_attributes_interfaces_and_names_from_pod_logs);
	RUN(two_links_into_one_pod_are_one_workload);
	RUN(reused_address_maps_to_the_new_pod);
	RUN(learned_addresses_are_bounded_and_never_steal);
	RUN(learned_address_follows_churn_between_learners);
	RUN(learned_address_yields_to_a_later_assertion);
	RUN(names_come_from_the_best_source);
	RUN(interface_goes_to_the_scan_over_a_stale_inventory);
	RUN(full_relist_drops_what_the_source_no_longer_lists);
	RUN(bad_statements_change_nothing);
	RUN(labels_past_the_caps_are_flagged_not_refused);
	RUN(foreach_sees_every_workload);
	RUN(index_agrees_with_the_rules_after_random_churn);
	RUN(lookups_race_rescans_safely);
	return T_DONE();
}
