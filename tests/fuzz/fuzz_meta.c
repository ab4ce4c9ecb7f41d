/*
 * fuzz_meta.c - libFuzzer target: the JSON the metadata sources read from
 * outside (capture/meta.h): answers of the Kubernetes API and of the
 * Docker/Podman Engine API.  (Kubeconfig files: fuzz_kubeconfig.c.)
 *
 * The input is one JSON document, parsed with meta_json_parse() and read as
 * a Pod, a Namespace and a container inspect (Docker and Podman), each of
 * which a source would then hand to the attribution registry - and so does
 * this target.  The same bytes also go through meta_body_message(), which
 * turns an error body into a log message.
 *
 * Checked, beyond the sanitizers:
 *  - a parsed document is never nested deeper than META_JSON_MAX_DEPTH;
 *  - what the readers fill stays within its caps and is NUL-terminated;
 *  - a pod, namespace or container the reader accepts, the registry
 *    accepts too, and can then find by its uid (pods) or id (containers);
 *  - meta_body_message() gives printable ASCII only.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "meta.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

#define TERMINATED(a) FUZZ_CHECK(memchr((a), 0, sizeof(a)) != NULL, #a " unterminated")

static void check_labels(const struct attrib_labels *l)
{
	FUZZ_CHECK(l->n <= ATTRIB_MAX_LABELS, "%u labels", l->n);
	FUZZ_CHECK(l->used <= sizeof(l->text), "%u bytes of label text", l->used);
	for (unsigned i = 0; i < l->n; i++) {
		FUZZ_CHECK(l->at[i].key < sizeof(l->text) &&
			   l->at[i].value < sizeof(l->text), "label offset out of the block");
		FUZZ_CHECK(memchr(attrib_label_key(l, i), 0,
				  sizeof(l->text) - l->at[i].key) &&
			   memchr(attrib_label_value(l, i), 0,
				  sizeof(l->text) - l->at[i].value),
			   "label %u unterminated", i);
	}
}

static struct attrib *registry(void)
{
	struct attrib_config cfg;
	struct attrib *a;
	char err[256];

	attrib_config_defaults(&cfg);
	cfg.podlog_root = NULL;
	cfg.netns_root = NULL;
	cfg.max_workloads = 8;
	cfg.max_namespaces = 8;
	a = attrib_open(&cfg, err, sizeof(err));
	FUZZ_CHECK(a, "attrib_open: %s", err);
	return a;
}

static void pod(const json_t *doc)
{
	static struct meta_pod p;
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	const char *cids[ATTRIB_MAX_CONTAINERS];
	struct attrib_ref ref;
	struct attrib *a;
	char err[256];
	int rc;

	if (meta_k8s_pod_from_json(doc, &p, err, sizeof(err)) < 0)
		return;
	TERMINATED(p.uid);
	TERMINATED(p.namespace);
	TERMINATED(p.name);
	TERMINATED(p.node);
	TERMINATED(p.phase);
	TERMINATED(p.owner_kind);
	TERMINATED(p.owner_name);
	TERMINATED(p.workload_kind);
	TERMINATED(p.workload_name);
	TERMINATED(p.runtime);
	FUZZ_CHECK(p.n_ips <= ATTRIB_MAX_IPS && p.n_containers <= ATTRIB_MAX_CONTAINERS &&
		   p.n_ports <= META_MAX_PORTS, "over a cap: %u ips, %u containers, "
		   "%u ports", p.n_ips, p.n_containers, p.n_ports);
	for (unsigned i = 0; i < p.n_containers; i++)
		TERMINATED(p.containers[i]);
	for (unsigned i = 0; i < p.n_ports; i++)
		TERMINATED(p.ports[i].name);
	check_labels(&p.labels);

	/* What meta_k8s.c's apply_pod() does with it. */
	for (unsigned i = 0; i < p.n_containers; i++)
		cids[i] = p.containers[i];
	struct attrib_pod_meta m = {
		.uid = p.uid, .namespace = p.namespace, .name = p.name,
		.labels = kv,
		.n_labels = meta_labels_kv(&p.labels, kv, EW_ARRAY_LEN(kv)),
		.ips = (const uint8_t (*)[16])p.ips, .n_ips = p.n_ips,
		.container_ids = cids, .n_container_ids = p.n_containers,
		.runtime = p.runtime[0] ? p.runtime : NULL,
	};
	a = registry();
	rc = attrib_set_pod(a, ATTRIB_SRC_KUBE, &m);
	FUZZ_CHECK(rc == 0, "pod %s/%s (uid %s) read from JSON but refused by the "
		   "registry: %d", p.namespace, p.name, p.uid, rc);
	FUZZ_CHECK(attrib_lookup_pod(a, p.uid, &ref) == 0,
		   "pod uid %s not found after it was set", p.uid);
	FUZZ_CHECK(attrib_remove_pod(a, ATTRIB_SRC_KUBE, p.uid) == 0,
		   "pod uid %s could not be withdrawn", p.uid);
	attrib_close(a);
}

static void ns(const json_t *doc)
{
	static struct meta_namespace n;
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	struct attrib *a;
	char err[256];
	int rc;

	if (meta_k8s_ns_from_json(doc, &n, err, sizeof(err)) < 0)
		return;
	TERMINATED(n.name);
	check_labels(&n.labels);
	a = registry();
	rc = attrib_set_namespace(a, ATTRIB_SRC_KUBE, n.name, kv,
				  meta_labels_kv(&n.labels, kv, EW_ARRAY_LEN(kv)));
	FUZZ_CHECK(rc == 0, "namespace %s read from JSON but refused: %d", n.name, rc);
	attrib_close(a);
}

static void container(const json_t *doc, const char *runtime)
{
	static struct meta_container c;
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	struct attrib_ref ref;
	struct attrib *a;
	char err[256];
	int rc;

	if (meta_docker_from_json(doc, runtime, &c, err, sizeof(err)) < 0)
		return;
	TERMINATED(c.id);
	TERMINATED(c.name);
	TERMINATED(c.namespace);
	TERMINATED(c.image);
	TERMINATED(c.runtime);
	TERMINATED(c.pod_uid);
	TERMINATED(c.pod_namespace);
	TERMINATED(c.pod_name);
	FUZZ_CHECK(c.n_ips <= ATTRIB_MAX_IPS, "%u ips", c.n_ips);
	check_labels(&c.labels);
	if (c.pod_uid[0])
		return;		/* applied as part of its pod (meta_docker.c) */
	/* What meta_docker.c does with a plain container. */
	struct attrib_container_meta cm = {
		.id = c.id, .name = c.name, .namespace = c.namespace,
		.runtime = c.runtime, .labels = kv,
		.n_labels = meta_labels_kv(&c.labels, kv, EW_ARRAY_LEN(kv)),
		.ips = (const uint8_t (*)[16])c.ips, .n_ips = c.n_ips,
	};
	a = registry();
	rc = attrib_set_container(a, ATTRIB_SRC_RUNTIME, &cm);
	FUZZ_CHECK(rc == 0, "container %s (%s) read from JSON but refused: %d",
		   c.name, c.id, rc);
	FUZZ_CHECK(attrib_lookup_container(a, c.id, &ref) == 0,
		   "container %s not found after it was set", c.id);
	attrib_close(a);
}

static void body_message(const uint8_t *data, size_t size)
{
	struct ew_buf b;
	char msg[256];

	ew_buf_init(&b, META_ERROR_BODY_MAX);
	ew_buf_append(&b, data, size);
	meta_body_message(&b, msg, sizeof(msg));
	for (const char *s = msg; *s; s++)
		FUZZ_CHECK(*s >= 0x20 && *s < 0x7f, "byte 0x%02x in a message",
			   (unsigned)(uint8_t)*s);
	ew_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc;
	char err[256];

	body_message(data, size);
	if (meta_json_parse((const char *)data, size, &doc, err,
			    sizeof(err)) < 0)
		return 0;
	FUZZ_CHECK(meta_json_depth((const char *)data, size,
				   META_JSON_MAX_DEPTH + 1) <= META_JSON_MAX_DEPTH,
		   "a document nested deeper than %d parsed", META_JSON_MAX_DEPTH);
	pod(doc);
	ns(doc);
	container(doc, "docker");
	container(doc, "podman");
	json_decref(doc);
	return 0;
}
