/*
 * test_meta_k8s.c - the Kubernetes API metadata source (capture/meta_k8s.c,
 * capture/meta_http.c).
 *
 * There is no API server on the test machine.  The client is run against
 * tests/meta/fake_server.py serving recorded, realistic responses
 * (tests/meta/k8s/) over HTTPS on 127.0.0.1, with a CA and certificates
 * made fresh by tests/meta/gen_certs.sh, as a real cluster would: whole
 * list pages, and watch streams as chunked responses of one event per line.
 * Each step is held behind a "gate" the test opens only after checking
 * what the registry says, so the checks read like the protocol.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "meta.h"
#include "t.h"
#include "../meta/fake.h"

/* ---- what the source reports -------------------------------------------------- */

#define OBS_PODS 16

struct obs {
	pthread_mutex_t mu;
	unsigned kinds[16];
	struct meta_pod pods[OBS_PODS];	/* last report per pod name */
	size_t n_pods;
};

static void obs_fn(void *ctx, const struct meta_event *ev)
{
	struct obs *o = ctx;

	pthread_mutex_lock(&o->mu);
	o->kinds[ev->kind & 15]++;
	if (ev->pod && ev->kind == META_EV_POD) {
		size_t i;

		for (i = 0; i < o->n_pods; i++)
			if (!strcmp(o->pods[i].name, ev->pod->name))
				break;
		if (i < OBS_PODS) {
			o->pods[i] = *ev->pod;
			if (i == o->n_pods)
				o->n_pods++;
		}
	}
	pthread_mutex_unlock(&o->mu);
}

/* Copy of the last report about pod `name`; 0 or -ENOENT. */
static int obs_pod(struct obs *o, const char *name, struct meta_pod *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->n_pods; i++)
		if (!strcmp(o->pods[i].name, name)) {
			*out = o->pods[i];
			rc = 0;
		}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

static void cfg_init(struct meta_config *c, struct obs *o)
{
	meta_config_defaults(c);
	c->node_name = "node-a";
	c->docker_socket = "none";
	c->sa_dir = "/nonexistent/serviceaccount";
	c->connect_timeout_ms = 2000;
	c->request_timeout_ms = 5000;
	c->watch_timeout_s = 60;
	c->backoff_min_ms = 20;
	c->backoff_max_ms = 120;
	c->max_list_bytes = 256u << 10;
	c->max_object_bytes = 256u << 10;
	if (o) {
		memset(o, 0, sizeof(*o));
		pthread_mutex_init(&o->mu, NULL);
		c->observe = obs_fn;
		c->observe_ctx = o;
	}
}

static struct attrib *reg_open(void)
{
	struct attrib_config ac;
	char err[256];

	attrib_config_defaults(&ac);
	ac.podlog_root = NULL;
	ac.netns_root = NULL;
	return attrib_open(&ac, err, sizeof(err));
}

/* Who owns `ip` in the registry: 1 when it is `want` ("ns/name"), or when
 * `want` is NULL and nobody does. */
static int ip_is(struct attrib *a, const char *ip, const char *want)
{
	struct attrib_ref r;
	uint8_t b[16];

	if (ew_ip_parse(ip, b) < 0)
		return 0;
	if (attrib_lookup_ip(a, b, &r) < 0)
		return want == NULL;
	return want && !strcmp(r.workload, want);
}

static int pod_named(struct attrib *a, const char *uid, const char *want)
{
	struct attrib_ref r;

	if (attrib_lookup_pod(a, uid, &r) < 0)
		return want == NULL;
	return want && !strcmp(r.workload, want);
}

static int label_is(struct attrib *a, const char *ref, const char *key,
		    const char *want)
{
	static struct attrib_workload w;
	struct attrib_ref r;
	const char *v;

	if (attrib_lookup_name(a, ref, &r) < 0 || attrib_get(a, r.id, &w) < 0)
		return 0;
	v = attrib_labels_get(&w.labels, key);
	return want ? v && !strcmp(v, want) : v == NULL;
}

static int ns_label_is(struct attrib *a, const char *ns, const char *key,
		       const char *want)
{
	static struct attrib_labels l;
	const char *v;

	if (attrib_namespace_labels(a, ns, &l) < 0)
		return want == NULL && key == NULL;
	if (!key)
		return 0;
	v = attrib_labels_get(&l, key);
	return want ? v && !strcmp(v, want) : v == NULL;
}

static struct meta_source_stats stats_of(struct meta_k8s *k)
{
	struct meta_source_stats s;

	meta_k8s_stats(k, &s);
	return s;
}

static char *fixture(const char *name, size_t *len)
{
	char path[4096], *text = NULL;

	snprintf(path, sizeof(path), "%s/tests/meta/%s", fake_src(), name);
	if (meta_read_file(path, 1u << 20, &text, len) < 0)
		return NULL;
	return text;
}

/* Parse a literal document. */
static int jparse(const char *text, json_t **out)
{
	char err[200];

	return meta_json_parse(text, strlen(text), out, err, sizeof(err));
}

static json_t *fixture_json(const char *name)
{
	char err[200];
	size_t len;
	char *text = fixture(name, &len);
	json_t *j = NULL;

	if (text && meta_json_parse(text, len, &j, err, sizeof(err)) < 0)
		fprintf(stderr, "%s: %s\n", name, err);
	free(text);
	return j;
}

/* A kubeconfig for the fake server: CA by file, token. */
static const char *write_kubeconfig(struct fake *f, const char *name,
				    const char *ca, const char *user_extra)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "apiVersion: v1\n"
		 "kind: Config\n"
		 "clusters:\n"
		 "- name: lab\n"
		 "  cluster:\n"
		 "    server: https://127.0.0.1:%d\n"
		 "    certificate-authority: %s\n"
		 "contexts:\n"
		 "- name: lab-agent\n"
		 "  context: {cluster: lab, user: agent, namespace: egresswatch}\n"
		 "current-context: lab-agent\n"
		 "users:\n"
		 "- name: agent\n"
		 "  user:\n"
		 "%s",
		 f->port, ca, user_extra);
	return fake_write(f, name, text);
}

/* ---- pure functions ------------------------------------------------------------- */

static void test_json_caps_refuse_depth_duplicates_and_long_strings(void)
{
	char deep[200], err[128], dst[8];
	json_t *j;

	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	CHECK_EQ_U(meta_json_depth(deep, 130, 1000), 65);
	CHECK(meta_json_parse(deep, 130, &j, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "deeper") != NULL);
	CHECK(meta_json_parse(deep + 1, 128, &j, err, sizeof(err)) == 0);
	json_decref(j);
	/* Brackets inside strings do not count. */
	CHECK_EQ_U(meta_json_depth("{\"a\":\"[[[[\\\"[[\"}", 16, 100), 1);
	CHECK(jparse("{\"a\":1,\"a\":2}", &j) == -EINVAL);
	CHECK(jparse("{\"a\":\"x\\u0000y\"}", &j) == -EINVAL);
	CHECK(jparse("{\"a\":1} x", &j) == -EINVAL);
	CHECK(jparse("{\"a\":\"1234567\",\"b\":\"12345678\",\"c\":3}", &j) == 0);
	CHECK(meta_json_copy(j, "a", dst, sizeof(dst)) == 0);
	CHECK_STR(dst, "1234567");
	CHECK(meta_json_copy(j, "b", dst, sizeof(dst)) == -E2BIG);
	CHECK_STR(dst, "");
	CHECK(meta_json_copy(j, "c", dst, sizeof(dst)) == -EINVAL);
	CHECK(meta_json_copy(j, "d", dst, sizeof(dst)) == -ENOENT);
	json_decref(j);
}

static void test_url_escape_and_backoff(void)
{
	char out[64];

	CHECK(meta_url_escape(out, sizeof(out), "spec.nodeName=node-a") == 0);
	CHECK_STR(out, "spec.nodeName%3Dnode-a");
	CHECK(meta_url_escape(out, sizeof(out), "a/b c&d~") == 0);
	CHECK_STR(out, "a%2Fb%20c%26d~");
	CHECK(meta_url_escape(out, 4, "abcd") == -E2BIG);
	CHECK(meta_url_escape(out, 4, "a/") == -E2BIG);
	for (int i = 0; i < 200; i++) {
		uint32_t b = 0;

		for (int k = 0; k < 12; k++) {
			uint32_t prev = b;

			b = meta_backoff_next(b, 500, 30000);
			CHECK(b >= 375 && b <= 30000);
			CHECK(b >= prev * 3 / 4 || prev >= 22500);
		}
		CHECK(b >= 22500);
	}
}

static void test_owner_replicaset_becomes_deployment(void)
{
	char k[32], n[254];

	meta_k8s_owner_resolve("ReplicaSet", "web-7d4b9c6f5", "7d4b9c6f5", k, sizeof(k),
			       n, sizeof(n));
	CHECK_STR(k, "Deployment");
	CHECK_STR(n, "web");
	/* The label decides when present: a suffix that is not the hash stays. */
	meta_k8s_owner_resolve("ReplicaSet", "web-7d4b9c6f5", "5f8c7d9b44", k, sizeof(k),
			       n, sizeof(n));
	CHECK_STR(k, "ReplicaSet");
	CHECK_STR(n, "web-7d4b9c6f5");
	/* Without it, a hash-like suffix of 6..10 characters. */
	meta_k8s_owner_resolve("ReplicaSet", "api-server-5f8c7d9b44", NULL, k, sizeof(k),
			       n, sizeof(n));
	CHECK_STR(k, "Deployment");
	CHECK_STR(n, "api-server");
	meta_k8s_owner_resolve("ReplicaSet", "web-v2", "", k, sizeof(k), n, sizeof(n));
	CHECK_STR(k, "ReplicaSet");
	CHECK_STR(n, "web-v2");
	meta_k8s_owner_resolve("ReplicaSet", "frontend-canary", NULL, k, sizeof(k), n,
			       sizeof(n));
	CHECK_STR(k, "ReplicaSet");
	meta_k8s_owner_resolve("StatefulSet", "redis", NULL, k, sizeof(k), n, sizeof(n));
	CHECK_STR(k, "StatefulSet");
	CHECK_STR(n, "redis");
}

static void test_pod_objects_extract_ips_owner_ports_and_ids(void)
{
	struct meta_pod p;
	char err[200];
	json_t *j;

	j = fixture_json("k8s/pod_web.json");
	CHECK(j && meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == 0);
	json_decref(j);
	CHECK_STR(p.namespace, "prod");
	CHECK_STR(p.name, "web-7d4b9c6f5-x2x9q");
	CHECK_STR(p.uid, "0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1");
	CHECK_STR(p.node, "node-a");
	CHECK_STR(p.owner_kind, "ReplicaSet");
	CHECK_STR(p.owner_name, "web-7d4b9c6f5");
	CHECK_STR(p.workload_kind, "Deployment");
	CHECK_STR(p.workload_name, "web");
	CHECK_STR(p.runtime, "containerd");
	CHECK_EQ_U(p.n_ips, 2);
	CHECK(ew_ip_is_v4(p.ips[0]) && !ew_ip_is_v4(p.ips[1]));
	CHECK_EQ_U(p.n_containers, 3);	/* init container, then both */
	CHECK_STR(p.containers[0], "d9e0f1a2b3c4d9e0f1a2b3c4d9e0f1a2b3c4d9e0f1a2b3c4d9e0f1a2b3c4d9e0");
	CHECK_EQ_U(p.n_ports, 3);	/* the unnamed 9999 is not kept */
	CHECK_STR(p.ports[0].name, "http");
	CHECK_EQ_U(p.ports[0].port, 8080);
	CHECK_EQ_U(p.ports[0].proto, 6);
	CHECK_STR(p.ports[2].name, "statsd");
	CHECK_EQ_U(p.ports[2].proto, 17);
	CHECK_STR(attrib_labels_get(&p.labels, "tier"), "frontend");
	CHECK_EQ_U(p.dropped, 0);

	j = fixture_json("k8s/pod_proxy.json");
	CHECK(j && meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == 0);
	json_decref(j);
	CHECK(p.host_network);
	CHECK_EQ_U(p.n_ips, 0);	/* the node's address is not the pod's */
	CHECK_STR(p.workload_kind, "DaemonSet");
	CHECK_EQ_U(p.n_containers, 1);

	j = fixture_json("k8s/pod_backup.json");
	CHECK(j && meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == 0);
	json_decref(j);
	CHECK(p.terminal);
	CHECK_STR(p.phase, "Succeeded");
	CHECK_EQ_U(p.n_ips, 0);	/* released: maybe another pod's already */
	CHECK_STR(p.workload_kind, "Job");

	j = fixture_json("k8s/pod_pending.json");
	CHECK(j && meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == 0);
	json_decref(j);
	CHECK_STR(p.phase, "Pending");
	CHECK_EQ_U(p.n_ips, 0);
	CHECK_EQ_U(p.n_containers, 0);

	/* Broken objects are refused with a reason, not guessed at. */
	CHECK(jparse("{\"metadata\":{\"namespace\":\"prod\",\"name\":\"x\"}}", &j) == 0);
	CHECK(meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "uid") != NULL);
	json_decref(j);
	CHECK(jparse("{\"metadata\":{\"namespace\":\"Prod!\",\"name\":\"x\","
			      "\"uid\":\"0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1\"}}", &j) == 0);
	CHECK(meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == -EINVAL);
	json_decref(j);
	/* Odd addresses and container ids are skipped and counted. */
	CHECK(jparse("{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\","
			      "\"uid\":\"0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1\"},"
			      "\"status\":{\"podIPs\":[{\"ip\":\"10.0.0.1\"},{\"ip\":\"bogus\"},"
			      "{\"ip\":\"127.0.0.1\"},{\"ip\":\"10.0.0.1\"}],"
			      "\"containerStatuses\":[{\"containerID\":\"containerd://abc\"}]}}", &j) == 0);
	CHECK(meta_k8s_pod_from_json(j, &p, err, sizeof(err)) == 0);
	CHECK_EQ_U(p.n_ips, 1);
	CHECK_EQ_U(p.n_containers, 0);
	CHECK_EQ_U(p.dropped, 1);
	json_decref(j);
}

/* ---- configuration -------------------------------------------------------------------- */

static void test_kubeconfig_current_context_data_fields_and_refusals(void)
{
	struct meta_k8s_conn c;
	struct fake f;
	char err[512], text[8192], *b64;
	const char *p;

	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_pki(&f) == 0);
	snprintf(text, sizeof(text), "%s/ca.crt", f.pki);
	b64 = fake_b64_file(text);
	CHECK(b64 != NULL);

	/* Two contexts; current-context picks the second; *-data decoded. */
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\npreferences: {}\n"
		 "clusters:\n"
		 "- cluster: {server: 'https://10.0.0.1:6443'}\n  name: other\n"
		 "- cluster:\n    certificate-authority-data: %s\n"
		 "    server: https://api.lab.example:6443/\n  name: lab\n"
		 "contexts:\n"
		 "- context: {cluster: other, user: nobody}\n  name: first\n"
		 "- context: {cluster: lab, user: agent}\n  name: second\n"
		 "current-context: second\n"
		 "users:\n"
		 "- name: nobody\n  user: {token: wrong}\n"
		 "- name: agent\n  user:\n    token: eyJhbGciOiJSUzI1NiJ9.e30.sig-_x\n",
		 b64);
	p = fake_write(&f, "kc-data", text);
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == 0);
	CHECK_STR(c.server, "https://api.lab.example:6443");
	CHECK(c.ca_pem && c.ca_pem_len > 100 && !strncmp(c.ca_pem, "-----BEGIN CERTIFICATE", 22));
	CHECK(c.token && !strcmp(c.token, "eyJhbGciOiJSUzI1NiJ9.e30.sig-_x"));
	CHECK(strstr(c.source, "(context second)") != NULL);
	meta_k8s_conn_free(&c);

	/* Files relative to the kubeconfig's directory; tokenFile. */
	p = fake_write(&f, "kc-files",
		       "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n"
		       "    certificate-authority: pki/ca.crt\n"
		       "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		       "current-context: x\n"
		       "users:\n- name: u\n  user:\n    client-certificate: pki/client.crt\n"
		       "    client-key: pki/client.key\n    tokenFile: token\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == 0);
	snprintf(text, sizeof(text), "%s/pki/ca.crt", f.dir);
	CHECK(c.ca_file && !strcmp(c.ca_file, text));
	CHECK(c.cert_file && strstr(c.cert_file, "/pki/client.crt"));
	CHECK(c.key_file && strstr(c.key_file, "/pki/client.key"));
	CHECK(c.token_file && strstr(c.token_file, "/token"));
	meta_k8s_conn_free(&c);

	/* Refused: plugins that would run programs, basic auth, http off
	 * loopback, aliases, nesting, broken base64, unknown context, size. */
	p = fake_write(&f, "kc-exec",
		       "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
		       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		       "current-context: x\n"
		       "users: [{name: u, user: {exec: {command: aws, apiVersion: "
		       "client.authentication.k8s.io/v1beta1}}}]\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -ENOTSUP);
	CHECK(strstr(err, "exec") != NULL);
	p = fake_write(&f, "kc-basic",
		       "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
		       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		       "current-context: x\nusers: [{name: u, user: {username: a, password: b}}]\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -ENOTSUP);
	p = fake_write(&f, "kc-http",
		       "clusters: [{name: c, cluster: {server: 'http://10.1.2.3:8080'}}]\n"
		       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "loopback") != NULL);
	p = fake_write(&f, "kc-proxy",
		       "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:8001'}}]\n"
		       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == 0);	/* kubectl proxy */
	meta_k8s_conn_free(&c);
	p = fake_write(&f, "kc-alias",
		       "clusters: [&c {name: c, cluster: {server: 'https://h:1'}}]\n"
		       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n"
		       "more: *c\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "anchors") != NULL || strstr(err, "aliases") != NULL);
	{
		char deep[256];

		memset(deep, '[', 40);
		memset(deep + 40, ']', 40);
		deep[80] = '\n';
		deep[81] = '\0';
		p = fake_write(&f, "kc-deep", deep);
		CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "nested") != NULL);
	}
	p = fake_write(&f, "kc-b64",
		       "clusters: [{name: c, cluster: {server: 'https://h:1', "
		       "certificate-authority-data: 'not*base64'}}]\n"
		       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "base64") != NULL);
	p = fake_write(&f, "kc-noctx", "clusters: []\ncurrent-context: gone\n");
	CHECK(meta_kubeconfig_load(p, &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not found") != NULL);
	{
		char big[256];
		FILE *fp;

		snprintf(big, sizeof(big), "%s/kc-big", f.dir);
		if ((fp = fopen(big, "w"))) {
			for (int i = 0; i < (5 << 20) / 64; i++)
				fputs("# padding padding padding padding padding padding pad\n", fp);
			fclose(fp);
		}
		CHECK(meta_kubeconfig_load(big, &c, err, sizeof(err)) == -EFBIG);
	}
	CHECK(meta_kubeconfig_load("/nonexistent/kubeconfig", &c, err, sizeof(err)) == -ENOENT);
	free(b64);
	fake_stop(&f);
}

static void test_not_configured_and_in_cluster_settings(void)
{
	struct meta_k8s_conn c;
	struct meta_config cfg;
	struct meta_k8s *k = NULL;
	struct attrib *a = reg_open();
	struct fake f;
	char err[512], sa[160];

	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	cfg_init(&cfg, NULL);
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == -ENOENT);
	CHECK_STR(err, "not configured (no service account, no kubeconfig)");
	CHECK(k == NULL);

	CHECK(fake_mkdir(&f) == 0);
	snprintf(sa, sizeof(sa), "%s/sa", f.dir);
	mkdir(sa, 0700);
	fake_write(&f, "sa/token", "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.e30.c2ln\n");
	fake_write(&f, "sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
	fake_write(&f, "sa/namespace", "egresswatch");
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK(meta_k8s_incluster(sa, &c, err, sizeof(err)) == 0);
	CHECK_STR(c.server, "https://[fd00:10:96::1]:443");
	CHECK(c.ca_file && strstr(c.ca_file, "/sa/ca.crt"));
	CHECK(c.token_file && strstr(c.token_file, "/sa/token"));
	meta_k8s_conn_free(&c);
	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	CHECK(meta_k8s_incluster(sa, &c, err, sizeof(err)) == -EINVAL);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK(meta_k8s_incluster("/nonexistent/sa", &c, err, sizeof(err)) == -ENOENT);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	/* An explicit kubeconfig that is not there is an error, not "off". */
	cfg.kubeconfig = "/nonexistent/kubeconfig";
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/kubeconfig") != NULL);
	fake_stop(&f);
	attrib_close(a);
}

/* ---- against the fake API server -------------------------------------------------- */

static void test_list_watch_bookmark_resume_and_410_relist(void)
{
	static const char *const pods_watch[] = {"\"/api/v1/pods\"", "\"watch\": \"1\"", NULL};
	static const char *const ns_watch[] = {"\"/api/v1/namespaces\"", "\"watch\": \"1\"", NULL};
	static const char *const pods_req[] = {"\"/api/v1/pods\"", NULL};
	struct fake_capture cap;
	struct meta_config cfg;
	struct meta_k8s *k = NULL;
	struct meta_pod p;
	struct attrib *a = reg_open();
	struct obs *o = calloc(1, sizeof(*o));
	struct fake f;
	char err[512], ca[160], rvs[16][64], want[128], sel[16][64];
	const char *kc;
	uint64_t t0;
	int n;

	unsetenv("KUBECONFIG");
	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_pki(&f) == 0);
	CHECK(fake_start(&f, "k8s_main.json", "tls") == 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", f.pki);
	kc = write_kubeconfig(&f, "kubeconfig", ca, "    token: test-token-abc\n");
	cfg_init(&cfg, o);
	cfg.kubeconfig = kc;
	fake_capture_start(&f, &cap);
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == 0);

	/* The first list: two pages of pods, the namespaces. */
	WAIT_FOR(stats_of(k).state == META_IN_USE, 5000);
	CHECK_EQ_U(stats_of(k).state, META_IN_USE);
	CHECK_EQ_U(stats_of(k).objects, 4);
	CHECK(ip_is(a, "10.244.1.10", "prod/redis-0"));
	CHECK(ip_is(a, "fd00:10:244:1::a", "prod/redis-0"));
	CHECK(ip_is(a, "10.244.1.11", "prod/web-7d4b9c6f5-x2x9q"));
	CHECK(ip_is(a, "fd00:10:244:1::b", "prod/web-7d4b9c6f5-x2x9q"));
	CHECK(pod_named(a, "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7", "kube-system/kube-proxy-8xk2v"));
	CHECK(ip_is(a, "192.168.10.5", NULL));	/* hostNetwork: the node's IP */
	CHECK(ip_is(a, "10.244.1.12", NULL));	/* Succeeded: released */
	{
		struct attrib_ref r;

		CHECK(attrib_lookup_container(a, "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
					      "e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2", &r) == 0 &&
		      !strcmp(r.workload, "prod/redis-0"));
	}
	CHECK(label_is(a, "prod/redis-0", "app", "redis"));
	CHECK(ns_label_is(a, "prod", "team", "core"));
	CHECK(ns_label_is(a, "monitoring", "team", "sre"));
	CHECK(obs_pod(o, "web-7d4b9c6f5-x2x9q", &p) == 0 && !strcmp(p.workload_kind, "Deployment") &&
	      !strcmp(p.workload_name, "web") && p.n_ports == 3);
	CHECK(obs_pod(o, "kube-proxy-8xk2v", &p) == 0 && p.host_network);
	/* The node's pods only, and the token. */
	n = fake_requests(&f, pods_req, "fieldSelector", sel, 16);
	CHECK(n >= 2);
	for (int i = 0; i < n && i < 16; i++)
		CHECK_STR(sel[i], "spec.nodeName=node-a");
	{
		static const char *const auth[] = {"\"auth\": \"Bearer test-token-abc\"", NULL};

		CHECK(fake_requests(&f, auth, NULL, NULL, 0) >= 3);
	}

	/* Watch: ADDED.  The registry and the observer hear of the pod one
	 * after the other: wait for both. */
	WAIT_FOR(ip_is(a, "10.244.1.20", "prod/api-5f8c7d9b44-q7w2e") &&
		 obs_pod(o, "api-5f8c7d9b44-q7w2e", &p) == 0, 3000);
	CHECK(ip_is(a, "10.244.1.20", "prod/api-5f8c7d9b44-q7w2e"));
	CHECK(ip_is(a, "fd00:10:244:1::14", "prod/api-5f8c7d9b44-q7w2e"));
	CHECK(obs_pod(o, "api-5f8c7d9b44-q7w2e", &p) == 0 && !strcmp(p.workload_name, "api") &&
	      p.n_ports == 1 && !strcmp(p.ports[0].name, "grpc") && p.ports[0].proto == 6);
	fake_gate(&f, "pods-a");
	/* MODIFIED: a new label. */
	WAIT_FOR(label_is(a, "prod/redis-0", "role", "primary"), 3000);
	CHECK(label_is(a, "prod/redis-0", "role", "primary"));
	/* A namespace's labels change; that watch then ends cleanly and is
	 * reopened at once from the event's resourceVersion. */
	fake_gate(&f, "ns-a");
	WAIT_FOR(ns_label_is(a, "prod", "env", "production"), 3000);
	CHECK(ns_label_is(a, "prod", "env", "production"));
	WAIT_FOR(fake_requests(&f, ns_watch, NULL, NULL, 0) >= 2, 3000);
	n = fake_requests(&f, ns_watch, "resourceVersion", rvs, 16);
	CHECK(n >= 2 && !strcmp(rvs[0], "1000") && !strcmp(rvs[1], "1001"));
	fake_gate(&f, "pods-b");
	/* DELETED, then a BOOKMARK. */
	WAIT_FOR(ip_is(a, "10.244.1.11", NULL), 3000);
	CHECK(ip_is(a, "10.244.1.11", NULL));
	CHECK(pod_named(a, "0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1", NULL));
	WAIT_FOR(stats_of(k).bookmarks >= 1, 3000);
	CHECK_EQ_U(stats_of(k).bookmarks, 1);
	CHECK_EQ_U(stats_of(k).objects, 4);	/* 4 + api - web */
	t0 = stats_of(k).lists;
	CHECK_EQ_U(t0, 1);

	/* The stream is cut inside an event: resumed from the bookmark's
	 * resourceVersion, where an ERROR 410 says it is too old: re-list. */
	fake_gate(&f, "pods-c");
	WAIT_FOR(stats_of(k).lists >= 3 &&
		 fake_requests(&f, pods_watch, NULL, NULL, 0) >= 4, 5000);
	n = fake_requests(&f, pods_watch, "resourceVersion", rvs, 16);
	CHECK(n >= 4);
	if (n >= 4) {
		CHECK_STR(rvs[0], "1050");
		CHECK_STR(rvs[1], "1070");	/* the bookmark, not the last event */
		CHECK_STR(rvs[2], "1200");	/* after the re-list; then HTTP 410 */
		CHECK_STR(rvs[3], "1300");	/* after the second re-list */
	}
	CHECK_EQ_U(stats_of(k).gone, 2);
	CHECK(stats_of(k).errors >= 1);		/* the cut stream */
	/* The re-lists are the truth: the api pod (gone while we were not
	 * watching) left, worker-0 came, redis-0 lost the watched label. */
	WAIT_FOR(ip_is(a, "10.244.1.30", "prod/worker-0"), 3000);
	CHECK(ip_is(a, "10.244.1.30", "prod/worker-0"));
	CHECK(ip_is(a, "10.244.1.20", NULL));
	CHECK(pod_named(a, "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f", NULL));
	CHECK(label_is(a, "prod/redis-0", "role", NULL));
	CHECK(ip_is(a, "10.244.1.10", "prod/redis-0"));
	CHECK(pod_named(a, "cf2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5e", "prod/api-5f8c7d9b44-pend1"));
	CHECK(ns_label_is(a, "monitoring", NULL, NULL));	/* no longer listed */
	CHECK(ns_label_is(a, "prod", "env", "production"));
	CHECK_EQ_U(stats_of(k).objects, 5);
	CHECK_EQ_U(stats_of(k).state, META_IN_USE);
	pthread_mutex_lock(&o->mu);
	CHECK(o->kinds[META_EV_SYNC_BEGIN] >= 3 && o->kinds[META_EV_SYNC_END] >= 3);
	CHECK(o->kinds[META_EV_POD_GONE] == 1);
	pthread_mutex_unlock(&o->mu);

	/* A stop does not wait for the open watches. */
	t0 = ew_mono_ns();
	meta_k8s_close(k);
	CHECK(ew_mono_ns() - t0 < 1500ull * 1000000);
	snprintf(want, sizeof(want), "metadata: kubernetes API https://127.0.0.1:%d: in use "
		 "(4 pods on node node-a)", f.port);
	CHECK(fake_capture_end(&cap, want));
	fake_stop(&f);
	attrib_close(a);
	free(o);
}

static void test_malformed_oversized_slow_and_forbidden_are_counted(void)
{
	static const char *const pods_watch[] = {"\"/api/v1/pods\"", "\"watch\": \"1\"", NULL};
	static const char *const ns_watch[] = {"\"/api/v1/namespaces\"", "\"watch\": \"1\"", NULL};
	struct fake_capture cap;
	struct meta_source_stats s;
	struct meta_config cfg;
	struct meta_k8s *k = NULL;
	struct attrib *a = reg_open();
	struct fake f;
	char err[512], ca[160], rvs[16][64];
	const char *kc;
	int n;

	unsetenv("KUBECONFIG");
	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_pki(&f) == 0);
	CHECK(fake_start(&f, "k8s_faults.json", "tls") == 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", f.pki);
	kc = write_kubeconfig(&f, "kubeconfig", ca, "    token: t\n");
	cfg_init(&cfg, NULL);
	cfg.kubeconfig = kc;
	cfg.request_timeout_ms = 400;
	fake_capture_start(&f, &cap);
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == 0);
	/* Lists: malformed, too big, too slow, 500, then good. */
	WAIT_FOR(stats_of(k).state == META_IN_USE, 8000);
	s = stats_of(k);
	CHECK_EQ_U(s.state, META_IN_USE);
	CHECK(s.malformed >= 1);
	CHECK(s.too_big >= 1);
	CHECK(s.timeouts >= 1);
	CHECK(s.http_errors >= 2);	/* the 500 and the 403s */
	CHECK(ip_is(a, "10.244.1.12", NULL));
	CHECK(pod_named(a, "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7", "kube-system/kube-proxy-8xk2v"));
	/* Watches: a line that is not JSON (resume from the same version), a
	 * line over the cap (re-list), an ERROR 500 (resume), then quiet. */
	WAIT_FOR(fake_requests(&f, pods_watch, NULL, NULL, 0) >= 4, 8000);
	n = fake_requests(&f, pods_watch, "resourceVersion", rvs, 16);
	CHECK(n >= 4);
	for (int i = 0; i < n && i < 16; i++)
		CHECK_STR(rvs[i], "1050");
	s = stats_of(k);
	CHECK(s.malformed >= 2);
	CHECK(s.too_big >= 2);
	CHECK(s.lists >= 2);
	CHECK_EQ_U(s.gone, 0);
	/* Namespaces are forbidden: never watched, pods still are. */
	CHECK_EQ_U(fake_requests(&f, ns_watch, NULL, NULL, 0), 0);
	WAIT_FOR(stats_of(k).state == META_IN_USE, 3000);
	CHECK_EQ_U(stats_of(k).state, META_IN_USE);
	meta_k8s_close(k);
	CHECK(fake_capture_end(&cap, "namespaces not readable (403 Forbidden)"));
	fake_stop(&f);
	attrib_close(a);
}

static void test_client_certificate_auth_and_wrong_ca(void)
{
	struct meta_config cfg;
	struct meta_k8s *k = NULL;
	struct attrib *a = reg_open();
	struct fake f;
	struct fake_capture cap;
	char err[512], path[160], user[16384], ca[160], *cert, *key;
	const char *kc;

	unsetenv("KUBECONFIG");
	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_pki(&f) == 0);
	CHECK(fake_start(&f, "k8s_small.json", "mtls") == 0);
	snprintf(path, sizeof(path), "%s/client.crt", f.pki);
	cert = fake_b64_file(path);
	snprintf(path, sizeof(path), "%s/client.key", f.pki);
	key = fake_b64_file(path);
	CHECK(cert && key);
	snprintf(user, sizeof(user), "    client-certificate-data: %s\n    client-key-data: %s\n",
		 cert ? cert : "", key ? key : "");
	snprintf(ca, sizeof(ca), "%s/ca.crt", f.pki);
	cfg_init(&cfg, NULL);
	fake_capture_start(&f, &cap);

	/* The node's client certificate, from the kubeconfig's data. */
	cfg.kubeconfig = write_kubeconfig(&f, "kc-mtls", ca, user);
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == 0);
	WAIT_FOR(stats_of(k).state == META_IN_USE, 5000);
	CHECK_EQ_U(stats_of(k).state, META_IN_USE);
	CHECK_EQ_U(stats_of(k).objects, 2);
	meta_k8s_close(k);

	/* A server the configured CA did not sign: refused, counted, retried. */
	snprintf(path, sizeof(path), "%s/other-ca.crt", f.pki);
	kc = write_kubeconfig(&f, "kc-badca", path, user);
	cfg.kubeconfig = kc;
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == 0);
	WAIT_FOR(stats_of(k).errors >= 2, 5000);
	CHECK(stats_of(k).errors >= 2);
	CHECK_EQ_U(stats_of(k).state, META_FAILING);
	CHECK_EQ_U(stats_of(k).lists, 0);
	meta_k8s_close(k);

	/* No client certificate where one is required. */
	cfg.kubeconfig = write_kubeconfig(&f, "kc-nocert", ca, "    token: x\n");
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == 0);
	WAIT_FOR(stats_of(k).errors >= 1, 5000);
	CHECK(stats_of(k).errors >= 1);
	CHECK_EQ_U(stats_of(k).lists, 0);
	meta_k8s_close(k);
	CHECK(fake_capture_end(&cap, "failing ("));
	free(cert);
	free(key);
	fake_stop(&f);
	attrib_close(a);
}

static void test_in_cluster_service_account_token(void)
{
	static const char *const auth[] = {"\"auth\": \"Bearer sa-token-123\"", NULL};
	struct meta_config cfg;
	struct meta_k8s *k = NULL;
	struct attrib *a = reg_open();
	struct fake f;
	struct fake_capture cap;
	char err[512], sa[160], port[16], cmd[512];

	unsetenv("KUBECONFIG");
	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_pki(&f) == 0);
	CHECK(fake_start(&f, "k8s_small.json", "tls") == 0);
	snprintf(sa, sizeof(sa), "%s/sa", f.dir);
	mkdir(sa, 0700);
	fake_write(&f, "sa/token", "sa-token-123\n");
	snprintf(cmd, sizeof(cmd), "cp '%s/ca.crt' '%s/ca.crt'", f.pki, sa);
	CHECK(system(cmd) == 0);
	snprintf(port, sizeof(port), "%d", f.port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	cfg_init(&cfg, NULL);
	cfg.sa_dir = sa;
	cfg.node_name = NULL;
	setenv("NODE_NAME", "node-a", 1);
	fake_capture_start(&f, &cap);
	CHECK(meta_k8s_open(&cfg, a, &k, err, sizeof(err)) == 0);
	WAIT_FOR(stats_of(k).state == META_IN_USE, 5000);
	CHECK_EQ_U(stats_of(k).state, META_IN_USE);
	CHECK(fake_requests(&f, auth, NULL, NULL, 0) >= 2);
	meta_k8s_close(k);
	CHECK(fake_capture_end(&cap, "in-cluster service account, node node-a"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("NODE_NAME");
	fake_stop(&f);
	attrib_close(a);
}

int main(void)
{
	/* Nothing from the environment may point the tests elsewhere. */
	unsetenv("HTTPS_PROXY");
	unsetenv("https_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	RUN(test_json_caps_refuse_depth_duplicates_and_long_strings);
	RUN(test_url_escape_and_backoff);
	RUN(test_owner_replicaset_becomes_deployment);
	RUN(test_pod_objects_extract_ips_owner_ports_and_ids);
	RUN(test_kubeconfig_current_context_data_fields_and_refusals);
	RUN(test_not_configured_and_in_cluster_settings);
	RUN(test_list_watch_bookmark_resume_and_410_relist);
	RUN(test_malformed_oversized_slow_and_forbidden_are_counted);
	RUN(test_client_certificate_auth_and_wrong_ca);
	RUN(test_in_cluster_service_account_token);
	return T_DONE();
}
