/*
 * fuzz_cgroup.c - libFuzzer target: the host data the attribution scan
 * reads names from (capture/attrib.h): /proc/PID/cgroup of the processes in
 * each container's network namespace, and the pod log directory names
 * under /var/log/pods.  A process with a delegated cgroup subtree (systemd
 * or a rootless engine inside a container) can name its own cgroups, so
 * these are outside input too.
 *
 * The input is read as a /proc/PID/cgroup file (attrib_cgroup_parse_proc),
 * each of its lines as a cgroup path (attrib_cgroup_parse, after the
 * "hierarchy:controllers:" prefix when there is one) and as a pod log
 * directory name (attrib_podlog_parse).
 *
 * Checked, beyond the sanitizers: kinds, runtimes and QoS classes in range;
 * a container's id is exactly ATTRIB_CID_LEN lowercase hex digits, a pod
 * uid a valid uid, POD/NONE answers carry no container id; a failed parse
 * leaves `out` zeroed; a pod log name that parses gives a valid namespace,
 * name and uid.
 */
#include <errno.h>
#include <string.h>

#include "attrib.h"
#include "fuzz.h"
#include "util.h"

#define LINE_MAX_BYTES 8192

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

static void check_cgroup(const struct attrib_cgroup *cg)
{
	FUZZ_CHECK(cg->kind <= ATTRIB_CG_MONITOR, "kind %u", cg->kind);
	FUZZ_CHECK(cg->runtime <= ATTRIB_RT_PODMAN, "runtime %u", cg->runtime);
	FUZZ_CHECK(cg->qos <= ATTRIB_QOS_BESTEFFORT, "qos %u", cg->qos);
	FUZZ_CHECK(memchr(cg->id, 0, sizeof(cg->id)) &&
		   memchr(cg->pod_uid, 0, sizeof(cg->pod_uid)), "unterminated");
	if (cg->kind == ATTRIB_CG_CONTAINER || cg->kind == ATTRIB_CG_MONITOR)
		FUZZ_CHECK(attrib_cid_valid(cg->id, strlen(cg->id)),
			   "container id \"%s\" is not %d hex digits", cg->id,
			   ATTRIB_CID_LEN);
	else
		FUZZ_CHECK(cg->id[0] == '\0', "kind %u with id \"%s\"", cg->kind,
			   cg->id);
	if (cg->pod_uid[0])
		FUZZ_CHECK(attrib_uid_valid(cg->pod_uid, strlen(cg->pod_uid)),
			   "pod uid \"%s\" is not a uid", cg->pod_uid);
	if (cg->kind == ATTRIB_CG_POD)
		FUZZ_CHECK(cg->pod_uid[0], "a pod's cgroup without its uid");
}

static void line(const char *s, size_t len)
{
	static const struct attrib_cgroup zero;
	struct attrib_cgroup cg;
	struct attrib_podlog pl;
	char name[LINE_MAX_BYTES + 1];
	const char *path = s, *c1, *c2;
	size_t plen = len;

	/* "ID:CONTROLLERS:PATH" as /proc/PID/cgroup has it. */
	if ((c1 = memchr(s, ':', len)) &&
	    (c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)))) {
		path = c2 + 1;
		plen = len - (size_t)(path - s);
	}
	memset(&cg, 0xa5, sizeof(cg));
	if (attrib_cgroup_parse(path, plen, &cg) == 0)
		check_cgroup(&cg);
	else
		FUZZ_CHECK(memcmp(&cg, &zero, sizeof(cg)) == 0,
			   "a refused path left `out` filled");

	if (len > LINE_MAX_BYTES || memchr(s, 0, len))
		return;
	memcpy(name, s, len);
	name[len] = '\0';
	if (attrib_podlog_parse(name, &pl) == 0) {
		FUZZ_CHECK(memchr(pl.namespace, 0, sizeof(pl.namespace)) &&
			   memchr(pl.name, 0, sizeof(pl.name)) &&
			   memchr(pl.uid, 0, sizeof(pl.uid)), "unterminated");
		FUZZ_CHECK(attrib_namespace_valid(pl.namespace) &&
			   attrib_name_valid(pl.name) &&
			   attrib_uid_valid(pl.uid, strlen(pl.uid)),
			   "pod log dir \"%s\" read as %s / %s / %s", name,
			   pl.namespace, pl.name, pl.uid);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attrib_cgroup cg;
	const uint8_t *part;
	size_t off = 0, len;
	char *text = malloc(size ? size : 1);

	FUZZ_CHECK(text, "out of memory");
	memcpy(text, data, size);
	FUZZ_CHECK(attrib_cgroup_parse_proc(text, size, &cg) == 0,
		   "attrib_cgroup_parse_proc failed");
	check_cgroup(&cg);
	while (fuzz_next_part((const uint8_t *)text, size, "\n", 1, &off, &part,
			      &len)) {
		/* A copy of exactly the line: reads past it are caught. */
		char *l = malloc(len ? len : 1);

		FUZZ_CHECK(l, "out of memory");
		memcpy(l, part, len);
		line(l, len);
		free(l);
	}
	free(text);
	return 0;
}
