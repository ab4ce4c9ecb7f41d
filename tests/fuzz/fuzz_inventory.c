/*
 * fuzz_inventory.c - libFuzzer target: the inventory reader
 * (attrib_load_inventory, capture/inventory.c), which takes a path: the
 * input is written to a memfd and read through /proc/self/fd/N.
 *
 * Checked, beyond the sanitizers:
 *  - the return value is one the contract names, and a failure says
 *    "path:..." in `err`;
 *  - after a load that succeeded, the registry answers for what it holds:
 *    every workload is found by its name, each of its interfaces and
 *    addresses leads back to it (the reader refuses a file naming one
 *    twice, so each has one owner);
 *  - loading the same file again changes nothing: same answer, same
 *    number of workloads (a reload replaces the inventory's statement).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "fuzz.h"
#include "util.h"

#define MAX_WORKLOADS 32

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

struct copy {
	struct attrib_workload *w;
	size_t n;
};

static int collect(void *ctx, const struct attrib_workload *w)
{
	struct copy *c = ctx;

	FUZZ_CHECK(c->n < MAX_WORKLOADS, "more workloads than the cap");
	c->w[c->n++] = *w;
	return 0;
}

static void check_registry(struct attrib *a)
{
	struct copy c = {calloc(MAX_WORKLOADS, sizeof(*c.w)), 0};
	struct attrib_ref ref;
	char name[ATTRIB_REF_MAX + 8];

	FUZZ_CHECK(c.w, "out of memory");
	attrib_foreach(a, collect, &c);
	for (size_t i = 0; i < c.n; i++) {
		const struct attrib_workload *w = &c.w[i];

		FUZZ_CHECK(memchr(w->name, 0, sizeof(w->name)) &&
			   memchr(w->namespace, 0, sizeof(w->namespace)),
			   "unterminated name");
		if (w->namespace[0])
			snprintf(name, sizeof(name), "%s/%s", w->namespace, w->name);
		else
			snprintf(name, sizeof(name), "%s", w->name);
		FUZZ_CHECK(attrib_lookup_name(a, name, &ref) == 0 && ref.id == w->id,
			   "workload \"%s\" not found by its name", name);
		for (unsigned k = 0; k < w->n_ifaces; k++)
			FUZZ_CHECK(attrib_lookup_iface(a, w->ifaces[k].name, &ref) == 0 &&
				   ref.id == w->id,
				   "interface %s does not lead to \"%s\"",
				   w->ifaces[k].name, name);
		for (unsigned k = 0; k < w->n_ips; k++)
			FUZZ_CHECK(attrib_lookup_ip(a, w->ips[k].addr, &ref) == 0 &&
				   ref.id == w->id,
				   "address %u of \"%s\" does not lead back to it", k,
				   name);
	}
	free(c.w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attrib_config cfg;
	struct attrib_stats s1, s2;
	struct attrib *a;
	char path[64], err[512], err2[512];
	int fd, rc, rc2;

	attrib_config_defaults(&cfg);
	cfg.podlog_root = NULL;
	cfg.netns_root = NULL;
	cfg.max_workloads = MAX_WORKLOADS;
	cfg.max_namespaces = 16;
	a = attrib_open(&cfg, err, sizeof(err));
	FUZZ_CHECK(a, "attrib_open: %s", err);
	fd = fuzz_memfd(data, size, path);
	FUZZ_CHECK(fd >= 0, "memfd");

	err[0] = '\0';
	rc = attrib_load_inventory(a, path, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOSPC || rc == -EFBIG ||
		   rc == -ENOMEM, "attrib_load_inventory returned %d (%s)", rc, err);
	if (rc < 0)
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0,
			   "error without the file name: \"%s\"", err);
	attrib_get_stats(a, &s1);
	if (rc == 0)
		check_registry(a);

	err2[0] = '\0';
	rc2 = attrib_load_inventory(a, path, err2, sizeof(err2));
	attrib_get_stats(a, &s2);
	FUZZ_CHECK(rc2 == rc, "second load of the same file: %d (%s), first %d (%s)",
		   rc2, err2, rc, err);
	if (rc == 0) {
		FUZZ_CHECK(s2.workloads == s1.workloads,
			   "%llu workloads after a reload, %llu before",
			   (unsigned long long)s2.workloads,
			   (unsigned long long)s1.workloads);
		check_registry(a);
	}
	close(fd);
	attrib_close(a);
	return 0;
}
