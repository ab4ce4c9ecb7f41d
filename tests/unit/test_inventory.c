/*
 * test_inventory.c - the inventory file (capture/inventory.c) and its
 * loading into the registry.
 *
 * The lab's own format (tests/attrib/inventory_lab.yaml) is read field by
 * field; then every class of error is provoked once and its message pinned
 * to the exact "file:line:col:" an editor would jump to; then hostile files
 * (aliases, deep nesting, node floods, huge scalars, huge files) are refused
 * quickly and without leaks; and a failed reload leaves the registry as it
 * was.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "t.h"
#include "attrib.h"
#include "capture.h"
#include "util.h"

static char fixture[512];

static void find_fixture(void)
{
	const char *src = getenv("EW_SOURCE");

	if (src) {
		snprintf(fixture, sizeof(fixture), "%s/tests/attrib/inventory_lab.yaml",
			 src);
	} else {
		/* __FILE__ is .../tests/unit/test_inventory.c */
		const char *f = __FILE__, *cut = strstr(f, "tests/unit/");

		snprintf(fixture, sizeof(fixture), "%.*stests/attrib/inventory_lab.yaml",
			 cut ? (int)(cut - f) : 0, f);
	}
}

static int parse(const char *text, size_t max, struct inventory *inv,
		 char *err, size_t errlen)
{
	return inventory_parse("t.yaml", text, strlen(text), max, inv, err, errlen);
}

/* `text` must fail with -EINVAL and a message that starts with `where`
 * ("t.yaml:L:C: ") and contains `what`. */
static void expect_error(const char *text, const char *where, const char *what,
			 int line)
{
	struct inventory inv;
	char err[512];
	int rc = parse(text, 100, &inv, err, sizeof(err));
	int ok = rc == -EINVAL && strncmp(err, where, strlen(where)) == 0 &&
		 strstr(err, what) != NULL;

	t_checks++;
	if (!ok) {
		t_failed++;
		fprintf(stderr, "%s:%d: expected -EINVAL \"%s...%s\", got %d \"%s\"\n",
			__FILE__, line, where, what, rc, rc ? err : "");
	}
	CHECK_EQ_U(inv.n_workloads, 0);
	CHECK(inv.workloads == NULL);
}

#define EXPECT_ERROR(text, where, what) expect_error(text, where, what, __LINE__)

static const struct inv_workload *by_name(const struct inventory *inv,
					  const char *name)
{
	for (size_t i = 0; i < inv->n_workloads; i++)
		if (strcmp(inv->workloads[i].name, name) == 0)
			return &inv->workloads[i];
	return NULL;
}

static void lab_format_is_read_field_by_field(void)
{
	struct inventory inv;
	const struct inv_workload *w;
	char err[512], s[EW_IPSTR_MAX];
	int rc = inventory_load(fixture, 100, &inv, err, sizeof(err));

	CHECK_EQ_U(rc, 0);
	if (rc) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_EQ_U(inv.n_workloads, 4);
	CHECK_EQ_U(inv.n_namespaces, 3);
	w = by_name(&inv, "redis-0");
	CHECK(w != NULL);
	if (w) {
		CHECK_STR(w->namespace, "prod");
		CHECK_STR(w->kind, "Pod");
		CHECK_STR(w->netns, "ewlab-redis-0");
		CHECK_STR(w->pod_uid, "6b1c2d3e-4f50-4617-8a29-3b4c5d6e7f80");
		CHECK_EQ_U(w->n_ifaces, 1);
		CHECK_STR(w->ifaces[0].name, "vethab12cd34");
		CHECK_EQ_U(w->n_ips, 2);
		ew_ip_to_str(w->ips[0], s);
		CHECK_STR(s, "10.244.0.10");
		ew_ip_to_str(w->ips[1], s);
		CHECK_STR(s, "fd00:10:244::10");
		CHECK_EQ_U(w->n_containers, 1);
		CHECK_STR(w->containers[0],
			  "3c5e0f1d2b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0");
		CHECK(w->has_labels);
		CHECK_EQ_U(w->labels.n, 2);
		CHECK_STR(attrib_labels_get(&w->labels, "app"), "redis");
		CHECK_STR(attrib_labels_get(&w->labels, "tier"), "db");
		CHECK_EQ_U(w->line, 11);
	}
	w = by_name(&inv, "web-0");
	CHECK(w && strcmp(w->containers[0], "aa00bb11cc22dd33ee44ff5566778899"
			  "aa00bb11cc22dd33ee44ff5566778899") == 0);
	w = by_name(&inv, "client-0");
	CHECK(w && w->n_containers == 0 && !w->pod_uid[0]);
	CHECK(w && strcmp(w->kind, "Pod") == 0);
	CHECK(w && attrib_labels_get(&w->labels, "app.kubernetes.io/name") &&
	      strcmp(attrib_labels_get(&w->labels, "example.com/owner"), "") == 0);
	w = by_name(&inv, "legacy_app");
	CHECK(w && !w->namespace[0] && strcmp(w->kind, "Container") == 0 &&
	      strcmp(w->runtime, "docker") == 0 && !w->has_labels);
	CHECK_STR(inv.namespaces[0].name, "prod");
	CHECK_STR(attrib_labels_get(&inv.namespaces[0].labels, "team"), "core");
	CHECK_STR(inv.namespaces[1].name, "dev");
	CHECK_STR(attrib_labels_get(&inv.namespaces[1].labels, "env"), "development");
	CHECK_STR(inv.namespaces[2].name, "empty");
	CHECK_EQ_U(inv.namespaces[2].labels.n, 0);
	inventory_free(&inv);
}

static void small_documents_that_are_fine(void)
{
	struct inventory inv;
	char err[256];

	CHECK_EQ_U(parse("version: 1\n", 10, &inv, err, sizeof(err)), 0);
	CHECK_EQ_U(inv.n_workloads, 0);
	inventory_free(&inv);
	CHECK_EQ_U(parse("version: 1\nworkloads: []\nnamespaces: {}\n", 10, &inv,
			 err, sizeof(err)), 0);
	inventory_free(&inv);
	CHECK_EQ_U(parse("version: 1\nworkloads:\n", 10, &inv, err, sizeof(err)), 0);
	inventory_free(&inv);
	/* Optional fields may be null; a quoted "1" is still version 1. */
	CHECK_EQ_U(parse("version: \"1\"\nworkloads:\n  - name: a\n    namespace: ~\n"
			 "    labels: null\n    ips: [\"10.0.0.1\"]\n", 10, &inv, err,
			 sizeof(err)), 0);
	CHECK_EQ_U(inv.n_workloads, 1);
	CHECK_STR(inv.workloads[0].kind, "Container");
	inventory_free(&inv);
	/* A YAML document marker and comments are fine. */
	CHECK_EQ_U(parse("---\n# inventory\nversion: 1 # one\n...\n", 10, &inv, err,
			 sizeof(err)), 0);
	inventory_free(&inv);
}

static void every_error_names_file_line_and_column(void)
{
	/* the file itself */
	{
		struct inventory inv;
		char err[256];
		int rc = inventory_load("/nonexistent/inv.yaml", 10, &inv, err,
					sizeof(err));

		CHECK(rc == -ENOENT);
		CHECK_STR(err, "/nonexistent/inv.yaml: No such file or directory");
	}
	/* YAML syntax */
	EXPECT_ERROR("version: 1\nworkloads: [a, b\n", "t.yaml:3:1: ",
		     "did not find expected ',' or ']'");
	EXPECT_ERROR("version: 1\n  bad: indent\n", "t.yaml:2:6: ",
		     "mapping values are not allowed");
	EXPECT_ERROR("version: 1\nname: \"\xff\"\n", "t.yaml:2:8: ",
		     "invalid");
	EXPECT_ERROR("version: 1\n\tworkloads: []\n", "t.yaml:2:1: ",
		     "tab");
	/* anchors and aliases */
	EXPECT_ERROR("version: 1\nworkloads:\n  - &w {name: a}\n  - *w\n",
		     "t.yaml:3:5: ", "anchors are not allowed (&w)");
	EXPECT_ERROR("version: 1\nworkloads: *x\n", "t.yaml:2:12: ",
		     "aliases are not allowed (*x)");
	EXPECT_ERROR("version: &v 1\n", "t.yaml:1:10: ", "anchors are not allowed");
	/* more than one document */
	EXPECT_ERROR("version: 1\n---\nversion: 1\n", "t.yaml:2:1: ",
		     "only one YAML document");
	/* NUL through an escape */
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: \"a\\0b\"\n", "t.yaml:3:11: ",
		     "NUL byte");
	/* shape of the document */
	EXPECT_ERROR("", "t.yaml:1:1: ", "empty inventory");
	EXPECT_ERROR("# nothing\n", "t.yaml:1:1: ", "empty inventory");
	EXPECT_ERROR("- version\n", "t.yaml:1:1: ", "must be a mapping");
	EXPECT_ERROR("workloads: []\n", "t.yaml:1:1: ", "missing 'version: 1'");
	EXPECT_ERROR("version: 2\n", "t.yaml:1:10: ", "unsupported inventory version '2'");
	EXPECT_ERROR("version: [1]\n", "t.yaml:1:10: ", "unsupported inventory version");
	EXPECT_ERROR("version: 1\nworkload: []\n", "t.yaml:2:1: ",
		     "unknown key 'workload'");
	EXPECT_ERROR("version: 1\nversion: 1\n", "t.yaml:2:1: ", "'version' given twice");
	EXPECT_ERROR("version: 1\n[a]: b\n", "t.yaml:2:1: ", "keys must be strings");
	EXPECT_ERROR("version: 1\nworkloads: {a: b}\n", "t.yaml:2:12: ",
		     "'workloads' must be a list, not a mapping");
	EXPECT_ERROR("version: 1\nworkloads: [abc]\n", "t.yaml:2:13: ",
		     "a workload must be a mapping, not a scalar");
	/* a workload's fields */
	EXPECT_ERROR("version: 1\nworkloads:\n  - namespace: prod\n", "t.yaml:3:5: ",
		     "a workload needs a 'name'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: ~\n", "t.yaml:3:11: ",
		     "'name' is empty");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    interfcaes: [x]\n",
		     "t.yaml:4:5: ", "unknown key 'interfcaes' in a workload");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    name: b\n",
		     "t.yaml:4:5: ", "'name' given twice");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    ips: 10.0.0.1\n",
		     "t.yaml:4:10: ", "'ips' must be a list, not a scalar");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    ips: [[10.0.0.1]]\n",
		     "t.yaml:4:11: ", "'ips' entries must be strings, not a list");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: {a: b}\n", "t.yaml:3:11: ",
		     "'name' must be a scalar, not a mapping");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: -a\n", "t.yaml:3:11: ",
		     "invalid name '-a'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    namespace: Prod\n",
		     "t.yaml:4:16: ", "invalid namespace 'Prod'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    ips: [10.0.0.300]\n",
		     "t.yaml:4:11: ", "'10.0.0.300' is not an IP address");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    ips: [10.0.0.1, \"fe80::1\"]\n",
		     "t.yaml:4:21: ", "fe80::1 cannot be a workload's address");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    container_ids: [abc]\n",
		     "t.yaml:4:21: ", "invalid container id 'abc'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n"
		     "    pod_uid: 6B1C2D3E-4F50-4617-8A29-3B4C5D6E7F80\n",
		     "t.yaml:4:14: ", "invalid pod_uid");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    interfaces: [veth0123456789abc]\n",
		     "t.yaml:4:18: ", "invalid interface name 'veth0123456789abc'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    netns: a/b\n",
		     "t.yaml:4:12: ", "invalid netns name 'a/b'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    kind: Pod2\n",
		     "t.yaml:4:11: ", "invalid kind 'Pod2'");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    labels: {app: 'two words'}\n",
		     "t.yaml:4:14: ", "invalid label app=two words");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    labels: {app: \"x\\ny\"}\n",
		     "t.yaml:4:14: ", "invalid label app=x?y");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    labels: {Bad..Prefix/app: x}\n",
		     "t.yaml:4:14: ", "invalid label");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    labels: {app: x, app: y}\n",
		     "t.yaml:4:22: ", "label 'app' given twice");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    labels: [app]\n",
		     "t.yaml:4:13: ", "'labels' must be a mapping, not a list");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    labels: {app: {x: y}}\n",
		     "t.yaml:4:14: ", "'labels' must map names to strings");
	EXPECT_ERROR("version: 1\nworkloads:\n  - name: a\n    ips: [10.0.0.1, 10.0.0.2, "
		     "10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, "
		     "10.0.0.9, 10.0.0.10, 10.0.0.11, 10.0.0.12, 10.0.0.13, 10.0.0.14, "
		     "10.0.0.15, 10.0.0.16, 10.0.0.17]\n",
		     "t.yaml:4:10: ", "'ips': more than 16 entries");
	/* across workloads */
	EXPECT_ERROR("version: 1\nworkloads:\n  - {namespace: prod, name: a}\n"
		     "  - {namespace: prod, name: a}\n",
		     "t.yaml:4:29: ", "workload prod/a already listed at line 3");
	EXPECT_ERROR("version: 1\nworkloads:\n  - {name: a, interfaces: [veth1]}\n"
		     "  - {name: b, interfaces: [veth1]}\n",
		     "t.yaml:4:28: ", "interface veth1 already listed at line 3");
	EXPECT_ERROR("version: 1\nworkloads:\n  - {name: a, ips: [10.0.0.1]}\n"
		     "  - {name: b, ips: [\"::ffff:10.0.0.1\"]}\n",
		     "t.yaml:4:21: ", "address 10.0.0.1 already listed at line 3");
	EXPECT_ERROR("version: 1\nworkloads:\n  - {name: a, ips: [10.0.0.1, 10.0.0.1]}\n",
		     "t.yaml:3:31: ", "address 10.0.0.1 listed twice in one workload");
	EXPECT_ERROR("version: 1\nworkloads:\n"
		     "  - {name: a, pod_uid: 6b1c2d3e-4f50-4617-8a29-3b4c5d6e7f80}\n"
		     "  - {name: b, pod_uid: 6b1c2d3e-4f50-4617-8a29-3b4c5d6e7f80}\n",
		     "t.yaml:4:24: ", "pod_uid 6b1c2d3e-4f50-4617-8a29-3b4c5d6e7f80 already");
	/* namespaces */
	EXPECT_ERROR("version: 1\nnamespaces: {prod: {lables: {}}}\n", "t.yaml:2:21: ",
		     "unknown key 'lables' in a namespace");
	EXPECT_ERROR("version: 1\nnamespaces: {Prod: {}}\n", "t.yaml:2:14: ",
		     "invalid namespace 'Prod'");
	EXPECT_ERROR("version: 1\nnamespaces: {a: {}, a: {}}\n", "t.yaml:2:21: ",
		     "namespace 'a' given twice");
	EXPECT_ERROR("version: 1\nnamespaces: [prod]\n", "t.yaml:2:13: ",
		     "'namespaces' must be a mapping");
	/* the caller's cap */
	{
		struct inventory inv;
		char err[256];

		CHECK(parse("version: 1\nworkloads: [{name: a}, {name: b}, {name: c}]\n",
			    2, &inv, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "t.yaml:2:12: more than 2 workloads");
	}
}

static char *repeat(const char *head, const char *unit, size_t n,
		    const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static void hostile_files_are_refused(void)
{
	struct inventory inv;
	char err[512];
	char *s;
	uint64_t t0;

	/* A billion laughs needs aliases: refused at the first anchor. */
	EXPECT_ERROR("version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n"
		     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		     "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
		     "t.yaml:2:4: ", "anchors are not allowed (&a)");

	/* Deep nesting: flow and block. */
	s = repeat("version: 1\nworkloads: ", "[", 100000, "");
	t0 = ew_mono_ns();
	CHECK(parse(s, 100, &inv, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "nested deeper than 32 levels") != NULL);
	CHECK(strncmp(err, "t.yaml:2:", 9) == 0);
	CHECK(ew_mono_ns() - t0 < 2000000000ull);
	free(s);
	s = repeat("version: 1\nworkloads:\n", "- ", 200, "x\n");
	CHECK(parse(s, 100, &inv, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "nested deeper than 32 levels") != NULL);
	free(s);

	/* A flood of nodes. */
	s = repeat("version: 1\nworkloads: [", "a,", INVENTORY_MAX_NODES + 10, "a]\n");
	t0 = ew_mono_ns();
	CHECK(parse(s, 100, &inv, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "more than 524288 YAML nodes") != NULL);
	CHECK(strncmp(err, "t.yaml:2:", 9) == 0);
	free(s);

	/* A huge scalar. */
	s = repeat("version: 1\nworkloads:\n  - name: ", "a", INVENTORY_MAX_SCALAR + 1, "\n");
	CHECK(parse(s, 100, &inv, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "t.yaml:3:11: string longer than 4096 bytes");
	free(s);
	/* Long, but within the scalar cap: a field's own cap speaks. */
	s = repeat("version: 1\nworkloads:\n  - name: ", "a", 300, "\n");
	CHECK(parse(s, 100, &inv, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "t.yaml:3:11: 'name' is longer than 253 bytes");
	free(s);

	/* A huge file: refused before parsing, in memory and on disk. */
	s = repeat("version: 1\n", "#", INVENTORY_MAX_BYTES, "\n");
	CHECK(parse(s, 100, &inv, err, sizeof(err)) == -EFBIG);
	CHECK_STR(err, "t.yaml: larger than 8388608 bytes");
	{
		char path[] = "/tmp/ew-inv-XXXXXX";
		int fd = mkstemp(path);

		CHECK(fd >= 0);
		CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
		close(fd);
		CHECK(inventory_load(path, 100, &inv, err, sizeof(err)) == -EFBIG);
		CHECK(strstr(err, ": larger than 8388608 bytes") != NULL);
		unlink(path);
	}
	free(s);
}

static void loading_into_the_registry_and_reloading(void)
{
	struct attrib_config cfg;
	struct attrib *a;
	struct attrib_ref r;
	struct attrib_labels l;
	struct attrib_workload w;
	char err[512], path[] = "/tmp/ew-inv-XXXXXX";
	uint8_t x[16];
	uint64_t v;
	FILE *f;
	int fd;

	attrib_config_defaults(&cfg);
	a = attrib_open(&cfg, err, sizeof(err));
	CHECK(a != NULL);
	if (!a)
		return;
	CHECK_EQ_U(attrib_load_inventory(a, fixture, err, sizeof(err)), 0);
	CHECK_EQ_U(attrib_lookup_iface(a, "vethab12cd34", &r), 0);
	CHECK_STR(r.workload, "prod/redis-0");
	CHECK_EQ_U(r.flags & ATTRIB_F_UNNAMED, 0);
	ew_ip_parse("fd00:10:244::11", x);
	CHECK_EQ_U(attrib_lookup_ip(a, x, &r), 0);
	CHECK_STR(r.workload, "prod/web-0");
	ew_ip_parse("172.17.0.2", x);
	CHECK_EQ_U(attrib_lookup_ip(a, x, &r), 0);
	CHECK_STR(r.workload, "legacy_app");
	CHECK_STR(r.kind, "Container");
	CHECK_EQ_U(attrib_lookup_pod(a, "0d9e8f7a-6b5c-4d3e-9f21-0a1b2c3d4e5f", &r), 0);
	CHECK_STR(r.workload, "prod/web-0");
	CHECK_EQ_U(attrib_lookup_container(a, "1111111111111111111111111111111111111111111111111111111111111111", &r), 0);
	CHECK_EQ_U(attrib_lookup_name(a, "dev/client-0", &r), 0);
	CHECK_EQ_U(attrib_get(a, r.id, &w), 0);
	CHECK_STR(attrib_labels_get(&w.labels, "app.kubernetes.io/name"), "client");
	CHECK(w.sources == (1u << ATTRIB_SRC_INVENTORY));
	CHECK_EQ_U(attrib_namespace_labels(a, "prod", &l), 0);
	CHECK_STR(attrib_labels_get(&l, "env"), "production");

	/* A broken reload changes nothing. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fputs("version: 1\nworkloads:\n  - name: a\n    ips: [bogus]\n", f);
	fclose(f);
	v = attrib_version(a);
	CHECK(attrib_load_inventory(a, path, err, sizeof(err)) == -EINVAL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK(strstr(err, ":4:11: 'bogus' is not an IP address") != NULL);
	CHECK_EQ_U(attrib_version(a), v);
	CHECK_EQ_U(attrib_lookup_iface(a, "vethab12cd34", &r), 0);

	/* A good reload that drops redis-0 and renames nothing else. */
	f = fopen(path, "w");
	fputs("version: 1\nworkloads:\n"
	      "  - namespace: prod\n    name: web-0\n    interfaces: [veth00112233]\n"
	      "    pod_uid: 0d9e8f7a-6b5c-4d3e-9f21-0a1b2c3d4e5f\n", f);
	fclose(f);
	CHECK_EQ_U(attrib_load_inventory(a, path, err, sizeof(err)), 0);
	CHECK(attrib_lookup_iface(a, "vethab12cd34", &r) == -ENOENT);
	CHECK(attrib_lookup_name(a, "prod/redis-0", &r) == -ENOENT);
	CHECK_EQ_U(attrib_lookup_iface(a, "veth00112233", &r), 0);
	CHECK_STR(r.workload, "prod/web-0");
	/* Its addresses went with the statement that listed them. */
	ew_ip_parse("10.244.0.11", x);
	CHECK(attrib_lookup_ip(a, x, &r) == -ENOENT);
	CHECK(attrib_namespace_labels(a, "prod", &l) == -ENOENT);
	unlink(path);
	attrib_close(a);
}

int main(void)
{
	ew_log_set_level(EW_LOG_WARN);
	find_fixture();
	RUN(lab_format_is_read_field_by_field);
	RUN(small_documents_that_are_fine);
	RUN(every_error_names_file_line_and_column);
	RUN(hostile_files_are_refused);
	RUN(loading_into_the_registry_and_reloading);
	return T_DONE();
}
