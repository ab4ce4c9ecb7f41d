/*
 * attrib.h - private to capture/: the pieces of attribution that the
 * registry (attrib.c) is built from, exposed to each other and to the unit
 * tests.  The public interface is the "attribution" section of capture.h.
 *
 *   attrib_cgroup.c  a cgroup path -> {runtime, container id, pod uid, QoS}
 *   attrib_scan.c    host-side links -> peer netns -> processes -> cgroups,
 *                    the netns's addresses, and the kubelet's pod log dirs
 *   inventory.c      the inventory file (YAML) -> workload statements
 *   attrib.c         the registry: merges statements, indexes, lookups
 *
 * Everything here except the registry is free of shared state: the scan and
 * the inventory parser produce plain result structs that the registry
 * applies under its write lock, so that slow I/O never holds the lock.
 */
#ifndef EW_CAPTURE_ATTRIB_H
#define EW_CAPTURE_ATTRIB_H

#include <stddef.h>
#include <stdint.h>
#include "capture.h"

/* ---- cgroup paths ---------------------------------------------------------
 *
 * One line of /proc/PID/cgroup ("hierarchy:controllers:path") names the
 * cgroup a process is in; container runtimes and the kubelet encode the
 * container id, the pod uid and the pod's QoS class in it.  The layouts
 * recognised, each matched anywhere in the path (a sandbox may nest all of
 * them under its own prefix):
 *
 *   kubelet, systemd driver   .../kubepods[-QOS].slice/kubepods[-QOS]-pod<UID_>.slice/<ctr>
 *   kubelet, cgroupfs driver  .../kubepods[/QOS]/pod<UID>/<ctr>
 *   <ctr>, systemd            cri-containerd-<ID>.scope, crio-<ID>.scope,
 *                             docker-<ID>.scope, libpod-<ID>.scope,
 *                             nerdctl-<ID>.scope
 *   <ctr>, cgroupfs           <ID> (kubelet pod dir or .../docker/), crio-<ID>,
 *                             libpod-<ID>
 *   runtime monitors          crio-conmon-<ID>[.scope], libpod-conmon-<ID>.scope:
 *                             the process watching a container, not in it
 *
 * <UID_> is the pod uid with '-' written as '_' (systemd reserves '-' for
 * the slice hierarchy); static pods have a 32-hex uid instead of a UUID.  IDs
 * are 64 lowercase hex digits.  When several container components occur
 * (docker in docker) the innermost wins; components below the container's
 * (".../container", "init.scope") are nested cgroups of the same container.
 */
#define ATTRIB_CGROUP_PATH_MAX 4096	/* PATH_MAX: longer is malformed */
#define ATTRIB_CGROUP_FILE_MAX 16384	/* bytes of /proc/PID/cgroup read */

enum attrib_cg_kind {
	ATTRIB_CG_NONE = 0,		/* not a container or pod cgroup */
	ATTRIB_CG_POD,			/* a pod's cgroup, no container below */
	ATTRIB_CG_CONTAINER,		/* a container's cgroup */
	ATTRIB_CG_MONITOR,		/* conmon: watches container `id` */
};

enum attrib_runtime {
	ATTRIB_RT_UNKNOWN = 0,		/* e.g. kubelet cgroupfs: bare id */
	ATTRIB_RT_CONTAINERD,
	ATTRIB_RT_CRIO,
	ATTRIB_RT_DOCKER,
	ATTRIB_RT_PODMAN,
};

enum attrib_qos {
	ATTRIB_QOS_NONE = 0,		/* not a kubelet pod */
	ATTRIB_QOS_GUARANTEED,
	ATTRIB_QOS_BURSTABLE,
	ATTRIB_QOS_BESTEFFORT,
};

struct attrib_cgroup {
	uint8_t kind;			/* enum attrib_cg_kind */
	uint8_t runtime;		/* enum attrib_runtime */
	uint8_t qos;			/* enum attrib_qos */
	char id[ATTRIB_CID_LEN + 1];	/* container id, "" for NONE/POD */
	char pod_uid[ATTRIB_UID_MAX];	/* with '-', "" when not in a pod */
};

/* "containerd", "cri-o", "docker", "podman", or "" for unknown. */
const char *attrib_runtime_name(unsigned rt);
/* "guaranteed", "burstable", "besteffort", or "". */
const char *attrib_qos_name(unsigned qos);

/*
 * Parse one cgroup path (`len` bytes, need not be NUL-terminated).  Returns 0
 * with `out` filled (kind ATTRIB_CG_NONE when the path is no container's),
 * or -EINVAL for input that cannot be a cgroup path: empty, not absolute,
 * longer than ATTRIB_CGROUP_PATH_MAX, a component longer than NAME_MAX, or
 * control characters; `out` is then zeroed.  A trailing " (deleted)" is
 * ignored.
 */
int attrib_cgroup_parse(const char *path, size_t len, struct attrib_cgroup *out);

/*
 * Parse the content of /proc/PID/cgroup: the most specific answer of any of
 * its lines (container over pod over none); on a tie the cgroup v2 line
 * ("0::") wins, then name=systemd, then the first v1 line.  Lines that do not
 * parse are skipped.  Always returns 0 (ATTRIB_CG_NONE when nothing matched).
 */
int attrib_cgroup_parse_proc(const char *text, size_t len,
			     struct attrib_cgroup *out);

/* Pod uid syntax: a lowercase UUID (8-4-4-4-12) or 32 hex digits (static
 * pods).  1 or 0. */
int attrib_uid_valid(const char *s, size_t len);
/* Exactly ATTRIB_CID_LEN lowercase hex digits.  1 or 0. */
int attrib_cid_valid(const char *s, size_t len);

/* Addresses that never identify a workload: unspecified, loopback,
 * multicast, IPv4 broadcast, IPv4 (169.254/16) and IPv6 (fe80::/10)
 * link-local.  1 or 0. */
int attrib_ip_ignored(const uint8_t ip[16]);

/* ---- labels ---------------------------------------------------------------- */

/* Append key=value; -EINVAL for a key or value that is not label syntax
 * (see attrib_label_valid), -ENOSPC when the set is full (`truncated` is
 * set).  A repeated key replaces nothing: the first one stays. */
int attrib_labels_add(struct attrib_labels *l, const char *key,
		      const char *value);
/* Label syntax: keys are 1..ATTRIB_LABEL_KEY_MAX-1 bytes of printable ASCII
 * without space, '=', ',', '"' or '\\'; values at most
 * ATTRIB_LABEL_VALUE_MAX-1 bytes without control characters. Kubernetes is
 * stricter; Docker labels are not, and both must fit.  `strict` applies the
 * Kubernetes rules (qualified name keys, 63-byte [A-Za-z0-9._-] values),
 * which is what the inventory asks for. */
int attrib_label_valid(const char *key, const char *value, int strict);

/* ---- workload statements ------------------------------------------------
 *
 * A statement is everything one source says about one workload.  Applying it
 * replaces what that source said before about the same workload: container
 * ids, interfaces and addresses the source no longer lists lose its claim.
 */
struct attrib_stmt {
	enum attrib_source src;
	const char *pod_uid;		/* "" or NULL: not a pod / unknown */
	const char *namespace;		/* with name: this source names it */
	const char *name;		/* NULL: the source does not name it */
	const char *kind;		/* NULL: "Pod" with a uid, else "Container" */
	const char *runtime;		/* NULL or "": not said */
	const char *qos;		/* NULL or "": not said */
	const char *netns;		/* NULL or "": not said */
	const char (*containers)[ATTRIB_CID_LEN + 1];
	size_t n_containers;
	const struct attrib_iface *ifaces;
	size_t n_ifaces;
	const uint8_t (*ips)[16];
	size_t n_ips;
	const struct attrib_labels *labels;	/* NULL: none from this source */
};

/* ---- host scan ---------------------------------------------------------------- */

#define ATTRIB_SCAN_MAX_LINKS 65536	/* links of ours looked at per scan */
#define ATTRIB_SCAN_MAX_NETNS 16384	/* distinct netns tracked per scan */
#define ATTRIB_SCAN_MAX_ADDRS 64	/* addresses kept per netns */

/* What the scan found behind one host-side link. */
struct attrib_scan_link {
	struct attrib_iface iface;	/* host side: name and ifindex */
	int32_t nsid;			/* peer netns id, relative to ours */
	uint8_t found;			/* 1: the netns was found (has processes) */
	uint8_t runtime;		/* enum attrib_runtime */
	uint8_t qos;			/* enum attrib_qos */
	uint8_t n_containers;
	uint8_t n_ips;
	uint32_t procs;			/* processes examined in the netns */
	uint32_t uid_conflicts;		/* processes of another pod: ignored */
	char pod_uid[ATTRIB_UID_MAX];
	char netns[ATTRIB_NETNS_MAX];	/* its name in netns_root, or "" */
	char containers[ATTRIB_MAX_CONTAINERS][ATTRIB_CID_LEN + 1];
	uint8_t ips[ATTRIB_MAX_IPS][16];
};

/* One kubelet pod log directory: <namespace>_<name>_<uid>. */
struct attrib_podlog {
	char namespace[ATTRIB_NS_MAX];
	char name[ATTRIB_NAME_MAX];
	char uid[ATTRIB_UID_MAX];
};

struct attrib_scan_config {
	const char *proc_root;
	const char *netns_root;		/* NULL: no netns names */
	const char *podlog_root;	/* NULL: no pod log scan */
	uint32_t max_procs;
	uint32_t max_procs_per_netns;
	uint32_t max_podlogs;
};

struct attrib_scan {
	struct attrib_scan_link *links;	/* links with a peer in another netns */
	size_t n_links, cap_links;
	struct attrib_podlog *podlogs;
	size_t n_podlogs, cap_podlogs;
	int podlog_state;		/* 1 read, 0 not configured, -errno */
	int addr_state;			/* 1 read, -errno: addresses unavailable */
	uint64_t procs;			/* /proc entries examined */
	uint64_t procs_capped;		/* 1: the walk stopped at max_procs */
	uint64_t proc_errors;		/* processes that vanished or refused */
	uint64_t proc_denied;		/* ...of which refused (EACCES/EPERM):
					   no CAP_SYS_PTRACE */
	uint64_t netns_seen;		/* distinct netns among the processes */
	uint64_t netns_queried;		/* RTM_GETNSID asked */
	uint64_t podlogs_bad;		/* dir names that are not NS_NAME_UID */
	uint64_t podlogs_capped;	/* 1: stopped at max_podlogs */
	uint64_t duration_ns;
};

struct attrib_scanner;

/* A netlink socket for scans (reused from scan to scan).  NULL with `err`. */
struct attrib_scanner *attrib_scanner_open(char *err, size_t errlen);
void attrib_scanner_close(struct attrib_scanner *s);

/*
 * Scan once.  `out` is reset and filled; free it with attrib_scan_free.
 * Returns 0, or -errno when the link list could not be read (nothing else is
 * fatal: an unreadable process or netns is skipped and counted).
 */
int attrib_scan_run(struct attrib_scanner *s, const struct attrib_scan_config *cfg,
		    struct attrib_scan *out, char *err, size_t errlen);
void attrib_scan_free(struct attrib_scan *sc);

/* Read the pod log directory names under `root` into `sc->podlogs`.
 * Used by attrib_scan_run; exposed for tests. */
int attrib_podlogs_read(const char *root, uint32_t max,
			struct attrib_scan *sc);
/* Split "<namespace>_<name>_<uid>"; 0 or -EINVAL. */
int attrib_podlog_parse(const char *dirname, struct attrib_podlog *out);

/*
 * The processes of each network namespace, from a /proc walk: exposed so
 * that the walk can be tested against a fake /proc.  `fn` is called once per
 * process examined with the netns inode of /proc/PID/ns/net (from its link
 * text "net:[INODE]").  Processes whose link cannot be read add to *errors,
 * and those that refused us (EACCES, EPERM) to *denied as well.  Returns the
 * number of processes examined, stops at `max` (setting *capped).
 */
typedef void (*attrib_proc_fn)(void *ctx, int pid, uint64_t netns_ino);
long attrib_proc_walk(int procfd, uint32_t max, int *capped, uint64_t *errors,
		      uint64_t *denied, attrib_proc_fn fn, void *ctx);

/* ---- inventory -------------------------------------------------------------- */

#define INVENTORY_MAX_BYTES (8u << 20)	/* file size */
#define INVENTORY_MAX_DEPTH 32		/* nested collections */
#define INVENTORY_MAX_NODES (1u << 19)	/* scalars + collections */
#define INVENTORY_MAX_SCALAR 4096	/* bytes of one scalar */
#define INVENTORY_MAX_NAMESPACES 4096

struct inv_workload {
	char namespace[ATTRIB_NS_MAX];
	char name[ATTRIB_NAME_MAX];
	char kind[ATTRIB_KIND_MAX];
	char runtime[ATTRIB_RUNTIME_MAX];
	char pod_uid[ATTRIB_UID_MAX];
	char netns[ATTRIB_NETNS_MAX];
	uint8_t n_ifaces, n_ips, n_containers, has_labels;
	struct attrib_iface ifaces[ATTRIB_MAX_IFACES];
	uint8_t ips[ATTRIB_MAX_IPS][16];
	char containers[ATTRIB_MAX_CONTAINERS][ATTRIB_CID_LEN + 1];
	struct attrib_labels labels;
	uint32_t line;			/* where it starts, for messages */
};

struct inv_namespace {
	char name[ATTRIB_NS_MAX];
	struct attrib_labels labels;
};

struct inventory {
	struct inv_workload *workloads;
	size_t n_workloads;
	struct inv_namespace *namespaces;
	size_t n_namespaces;
};

/*
 * Parse inventory text.  `name` is the file name used in messages, which
 * read "name:line:col: message".  At most `max_workloads` workloads.
 * Returns 0, -EINVAL (bad content) or -ENOMEM, with `err` set; `out` is
 * empty on failure.
 */
int inventory_parse(const char *name, const char *text, size_t len,
		    size_t max_workloads, struct inventory *out, char *err,
		    size_t errlen);
/* Read `path` (at most INVENTORY_MAX_BYTES) and parse it.  Adds -ENOENT,
 * -EACCES, -EFBIG, ... for the file itself ("path: reason"). */
int inventory_load(const char *path, size_t max_workloads,
		   struct inventory *out, char *err, size_t errlen);
void inventory_free(struct inventory *inv);

/* Network name syntax: namespace = DNS label (RFC 1123, <= 63), name =
 * 1..253 of [A-Za-z0-9._-] starting and ending alphanumeric (a DNS subdomain,
 * or a Docker container name).  1 or 0. */
int attrib_namespace_valid(const char *s);
int attrib_name_valid(const char *s);

/* Apply a statement, or a scan's result, under the registry's write lock
 * (attrib.c).  attrib_rescan() is attrib_scan_run() + attrib_apply_scan();
 * the tests feed both with what they build.  attrib_apply_scan takes the
 * pod log table out of `sc`. */
int attrib_apply_stmt(struct attrib *a, const struct attrib_stmt *st);
void attrib_apply_scan(struct attrib *a, struct attrib_scan *sc);

#endif
