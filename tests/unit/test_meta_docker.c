/*
 * test_meta_docker.c - the Docker / Podman Engine API metadata source
 * (capture/meta_docker.c).
 *
 * There is no container engine on the test machine.  The client is run
 * against tests/meta/fake_server.py listening on a unix socket, as dockerd
 * and podman do, and serving recorded, realistic responses
 * (tests/meta/docker/): /version, /containers/json, each container's
 * inspect, and /events as a chunked stream of one JSON event per line.
 * The events are held behind gates the test opens one at a time, after
 * checking what the registry says.
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

#define ID_WEB "4f1c9a7e2b3d4f1c9a7e2b3d4f1c9a7e2b3d4f1c9a7e2b3d4f1c9a7e2b3d4f1c"
#define ID_SHOP "7a2e4c6b8d0f7a2e4c6b8d0f7a2e4c6b8d0f7a2e4c6b8d0f7a2e4c6b8d0f7a2e"
#define ID_SANDBOX "9c3e5a7b1d2f9c3e5a7b1d2f9c3e5a7b1d2f9c3e5a7b1d2f9c3e5a7b1d2f9c3e"
#define ID_NGINX "2b4d6f8a0c1e2b4d6f8a0c1e2b4d6f8a0c1e2b4d6f8a0c1e2b4d6f8a0c1e2b4d"
#define ID_API "5e7a9c1b3d4f5e7a9c1b3d4f5e7a9c1b3d4f5e7a9c1b3d4f5e7a9c1b3d4f5e7a"
#define ID_EXPORTER "8d0f2b4c6e8a8d0f2b4c6e8a8d0f2b4c6e8a8d0f2b4c6e8a8d0f2b4c6e8a8d0f"
#define ID_BROKEN "3c5e7a9b1d0f3c5e7a9b1d0f3c5e7a9b1d0f3c5e7a9b1d0f3c5e7a9b1d0f3c5e"
#define POD_UID "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"

/* ---- what the source reports ------------------------------------------------ */

#define OBS_CTRS 16

struct obs {
	pthread_mutex_t mu;
	unsigned kinds[16];
	struct meta_container ctrs[OBS_CTRS];	/* last report per id */
	size_t n_ctrs;
	struct meta_pod pod;			/* last pod report */
};

static void obs_fn(void *ctx, const struct meta_event *ev)
{
	struct obs *o = ctx;

	pthread_mutex_lock(&o->mu);
	o->kinds[ev->kind & 15]++;
	if (ev->container && ev->kind == META_EV_CONTAINER) {
		size_t i;

		for (i = 0; i < o->n_ctrs; i++)
			if (!strcmp(o->ctrs[i].id, ev->container->id))
				break;
		if (i < OBS_CTRS) {
			o->ctrs[i] = *ev->container;
			if (i == o->n_ctrs)
				o->n_ctrs++;
		}
	}
	if (ev->pod)
		o->pod = *ev->pod;
	pthread_mutex_unlock(&o->mu);
}

static int obs_ctr(struct obs *o, const char *id, struct meta_container *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->n_ctrs; i++)
		if (!strcmp(o->ctrs[i].id, id)) {
			*out = o->ctrs[i];
			rc = 0;
		}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

static void cfg_init(struct meta_config *c, struct obs *o, const char *sock)
{
	meta_config_defaults(c);
	c->kube_off = 1;
	c->docker_socket = sock;
	c->connect_timeout_ms = 2000;
	c->request_timeout_ms = 3000;
	c->backoff_min_ms = 20;
	c->backoff_max_ms = 120;
	c->max_list_bytes = 1u << 20;
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

static int ctr_is(struct attrib *a, const char *id, const char *want)
{
	struct attrib_ref r;

	if (attrib_lookup_container(a, id, &r) < 0)
		return want == NULL;
	return want && !strcmp(r.workload, want);
}

static struct meta_source_stats stats_of(struct meta_docker *d)
{
	struct meta_source_stats s;

	meta_docker_stats(d, &s);
	return s;
}

static json_t *fixture_json(const char *name, int *parse_rc)
{
	char path[4096], err[200], *text = NULL;
	size_t len;
	json_t *j = NULL;

	snprintf(path, sizeof(path), "%s/tests/meta/docker/%s", fake_src(), name);
	*parse_rc = -ENOENT;
	if (meta_read_file(path, 1u << 20, &text, &len) == 0)
		*parse_rc = meta_json_parse(text, len, &j, err, sizeof(err));
	free(text);
	return j;
}

static int from_fixture(const char *name, struct meta_container *c)
{
	char err[200];
	int rc;
	json_t *j = fixture_json(name, &rc);

	if (!j)
		return rc;
	rc = meta_docker_from_json(j, "docker", c, err, sizeof(err));
	json_decref(j);
	return rc;
}

/* ---- pure functions ---------------------------------------------------------- */

static void test_inspect_answers_become_containers(void)
{
	struct meta_container c;
	char t[EW_IPSTR_MAX];
	int rc;

	CHECK(from_fixture("inspect_web.json", &c) == 0);
	CHECK_STR(c.id, ID_WEB);
	CHECK_STR(c.name, "web");		/* no leading '/' */
	CHECK_STR(c.namespace, "docker");
	CHECK_STR(c.image, "nginx:1.25.3");
	CHECK_STR(c.runtime, "docker");
	CHECK(c.running);
	CHECK_EQ_U(c.pid, 4242);
	CHECK_EQ_U(c.n_ips, 2);
	ew_ip_to_str(c.ips[0], t);
	CHECK_STR(t, "172.17.0.2");
	ew_ip_to_str(c.ips[1], t);
	CHECK_STR(t, "2001:db8:1::2");
	CHECK(!c.pod_uid[0]);

	CHECK(from_fixture("inspect_shop.json", &c) == 0);
	CHECK_STR(c.namespace, "shop");	/* the Compose project */
	CHECK_STR(c.name, "shop-redis-1");
	CHECK_EQ_U(c.n_ips, 1);

	CHECK(from_fixture("inspect_sandbox.json", &c) == 0);
	CHECK_STR(c.pod_uid, POD_UID);
	CHECK_STR(c.pod_namespace, "default");
	CHECK_STR(c.pod_name, "nginx-abc");
	CHECK(c.sandbox);
	CHECK_EQ_U(c.n_ips, 1);

	CHECK(from_fixture("inspect_k8s_nginx.json", &c) == 0);
	CHECK_STR(c.pod_uid, POD_UID);
	CHECK(!c.sandbox);
	CHECK_EQ_U(c.n_ips, 0);		/* shares the sandbox's netns */

	CHECK(from_fixture("inspect_exporter.json", &c) == 0);
	CHECK(c.host_network);
	CHECK_EQ_U(c.n_ips, 0);

	CHECK(from_fixture("inspect_shop_exited.json", &c) == 0);
	CHECK(!c.running);
	CHECK_EQ_U(c.pid, 0);
	CHECK_EQ_U(c.n_ips, 0);

	rc = from_fixture("inspect_broken.json", &c);
	CHECK(rc == -EINVAL);		/* cut off: not JSON */
}

/* A name the attribution registry would refuse is refused when the answer
 * is read, so that an accepted container is always one the registry takes
 * (found by fuzz_meta: tests/fuzz/regressions/meta/). */
static void test_inspect_with_a_name_the_registry_refuses(void)
{
	static const char *names[] = {"/?api", "/", "/-web", "/web/x",
				      "/web\\u0007"};
	struct meta_container c;
	char text[512], err[200];

	for (size_t i = 0; i < EW_ARRAY_LEN(names); i++) {
		json_t *j;

		snprintf(text, sizeof(text), "{\"Id\": \"%s\", \"Name\": \"%s\"}",
			 ID_WEB, names[i]);
		CHECK(meta_json_parse(text, strlen(text), &j, err, sizeof(err)) == 0);
		CHECK(meta_docker_from_json(j, "docker", &c, err, sizeof(err)) == -EINVAL);
		json_decref(j);
	}
	snprintf(text, sizeof(text), "{\"Id\": \"%s\", \"Name\": \"/web_1.a-b\"}",
		 ID_WEB);
	json_t *j;
	CHECK(meta_json_parse(text, strlen(text), &j, err, sizeof(err)) == 0);
	CHECK(meta_docker_from_json(j, "docker", &c, err, sizeof(err)) == 0);
	CHECK_STR(c.name, "web_1.a-b");
	json_decref(j);
}

static void test_no_socket_means_not_available(void)
{
	struct meta_config cfg;
	struct meta_docker *d = NULL;
	struct attrib *a = reg_open();
	char err[512];

	cfg_init(&cfg, NULL, "/nonexistent/docker.sock");
	CHECK(meta_docker_open(&cfg, a, &d, err, sizeof(err)) == -ENOENT);
	CHECK_STR(err, "not available (no socket at /nonexistent/docker.sock)");
	CHECK(d == NULL);
	cfg.docker_socket = "none";
	CHECK(meta_docker_open(&cfg, a, &d, err, sizeof(err)) == -ENOENT);
	if (access(META_DOCKER_SOCKET, F_OK) < 0 && access(META_PODMAN_SOCKET, F_OK) < 0) {
		cfg.docker_socket = NULL;
		CHECK(meta_docker_open(&cfg, a, &d, err, sizeof(err)) == -ENOENT);
		CHECK(strstr(err, META_DOCKER_SOCKET) && strstr(err, META_PODMAN_SOCKET));
	}
	attrib_close(a);
}

/* ---- against the fake engine ------------------------------------------------------- */

static void test_list_inspect_events_and_resync(void)
{
	static const char *const events_req[] = {
		"\"/events\"",
		"\"filters\": \"{\\\"type\\\":[\\\"container\\\",\\\"network\\\"]}\"", NULL};
	static const char *const list_req[] = {"\"/containers/json\"", NULL};
	struct fake_capture cap;
	struct meta_config cfg;
	struct meta_docker *d = NULL;
	struct meta_container c;
	struct attrib *a = reg_open();
	struct obs *o = calloc(1, sizeof(*o));
	struct fake f;
	char err[512], want[256];

	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_start(&f, "docker_main.json", "unix") == 0);
	cfg_init(&cfg, o, f.sock);
	fake_capture_start(&f, &cap);
	CHECK(meta_docker_open(&cfg, a, &d, err, sizeof(err)) == 0);

	/* The first list: every running container, inspected. */
	WAIT_FOR(stats_of(d).state == META_IN_USE, 5000);
	CHECK_EQ_U(stats_of(d).state, META_IN_USE);
	CHECK_EQ_U(stats_of(d).objects, 5);
	CHECK(ip_is(a, "172.17.0.2", "docker/web"));
	CHECK(ip_is(a, "2001:db8:1::2", "docker/web"));
	CHECK(ip_is(a, "172.18.0.3", "shop/shop-redis-1"));
	CHECK(ctr_is(a, ID_EXPORTER, "docker/node-exporter"));
	/* Kubernetes on Docker: both containers are the pod. */
	CHECK(ip_is(a, "172.17.0.7", "default/nginx-abc"));
	CHECK(ctr_is(a, ID_SANDBOX, "default/nginx-abc"));
	CHECK(ctr_is(a, ID_NGINX, "default/nginx-abc"));
	{
		static struct attrib_workload w;
		struct attrib_ref r;

		CHECK(attrib_lookup_pod(a, POD_UID, &r) == 0);
		CHECK(attrib_get(a, r.id, &w) == 0);
		CHECK_STR(w.runtime, "docker");
		CHECK_STR(attrib_labels_get(&w.labels, "app"), "nginx");
		CHECK_STR(attrib_labels_get(&w.labels, "tier"), "edge");
		CHECK(attrib_labels_get(&w.labels, "io.kubernetes.pod.uid") == NULL);
		CHECK(attrib_labels_get(&w.labels, "annotation.kubernetes.io/config.source") == NULL);
		CHECK_EQ_U(w.n_containers, 2);
	}
	/* The one whose inspect is cut off: counted, skipped, nothing else hurt. */
	CHECK(ctr_is(a, ID_BROKEN, NULL));
	CHECK(stats_of(d).malformed >= 1);
	CHECK(obs_ctr(o, ID_WEB, &c) == 0 && c.pid == 4242 && !strcmp(c.image, "nginx:1.25.3"));
	CHECK(obs_ctr(o, ID_EXPORTER, &c) == 0 && c.host_network && c.pid == 7001);
	CHECK_EQ_U(fake_requests(&f, events_req, NULL, NULL, 0), 1);

	/* start: a new container is inspected. */
	fake_gate(&f, "ev1");
	WAIT_FOR(ip_is(a, "172.17.0.5", "docker/api"), 3000);
	CHECK(ip_is(a, "172.17.0.5", "docker/api"));
	CHECK(obs_ctr(o, ID_API, &c) == 0 && c.pid == 6001);
	/* rename. */
	fake_gate(&f, "ev2");
	WAIT_FOR(ip_is(a, "172.17.0.2", "docker/frontend"), 3000);
	CHECK(ip_is(a, "172.17.0.2", "docker/frontend"));
	CHECK(ctr_is(a, ID_WEB, "docker/frontend"));
	{
		struct attrib_ref r;

		CHECK(attrib_lookup_name(a, "docker/web", &r) == -ENOENT);
	}
	/* network connect: the second network's address. */
	fake_gate(&f, "ev3");
	WAIT_FOR(ip_is(a, "172.20.0.4", "docker/api"), 3000);
	CHECK(ip_is(a, "172.20.0.4", "docker/api"));
	CHECK(ip_is(a, "172.17.0.5", "docker/api"));
	/* die, network disconnect (inspect: exited), destroy. */
	fake_gate(&f, "ev4");
	WAIT_FOR(ctr_is(a, ID_SHOP, NULL), 3000);
	CHECK(ctr_is(a, ID_SHOP, NULL));
	CHECK(ip_is(a, "172.18.0.3", NULL));
	/* A pod's container dies; the sandbox keeps the pod. */
	fake_gate(&f, "ev5");
	WAIT_FOR(ctr_is(a, ID_NGINX, NULL), 3000);
	CHECK(ctr_is(a, ID_NGINX, NULL));
	CHECK(ctr_is(a, ID_SANDBOX, "default/nginx-abc"));
	CHECK(ip_is(a, "172.17.0.7", "default/nginx-abc"));
	CHECK(stats_of(d).events >= 7);

	/* The stream ends (dockerd restarting): everything listed again. */
	fake_gate(&f, "ev6");
	WAIT_FOR(stats_of(d).lists >= 2 && stats_of(d).state == META_IN_USE, 5000);
	CHECK_EQ_U(stats_of(d).lists, 2);
	CHECK_EQ_U(fake_requests(&f, list_req, NULL, NULL, 0), 2);
	CHECK_EQ_U(fake_requests(&f, events_req, NULL, NULL, 0), 2);
	CHECK(ip_is(a, "172.17.0.2", "docker/frontend"));
	CHECK(ip_is(a, "172.20.0.4", "docker/api"));
	CHECK(ctr_is(a, ID_SANDBOX, NULL));		/* gone while not listening */
	CHECK(ip_is(a, "172.17.0.7", NULL));
	CHECK(ctr_is(a, ID_EXPORTER, NULL));
	CHECK_EQ_U(stats_of(d).objects, 2);
	pthread_mutex_lock(&o->mu);
	CHECK(o->kinds[META_EV_SYNC_BEGIN] == 2 && o->kinds[META_EV_SYNC_END] == 2);
	CHECK(o->kinds[META_EV_CONTAINER_GONE] >= 2);
	pthread_mutex_unlock(&o->mu);

	meta_docker_close(d);
	snprintf(want, sizeof(want), "metadata: docker API unix://%s: in use (Docker "
		 "Engine 24.0.7, 5 containers)", f.sock);
	CHECK(fake_capture_end(&cap, want));
	fake_stop(&f);
	attrib_close(a);
	free(o);
}

static void test_podman_and_a_malformed_event_relists(void)
{
	static const char *const list_req[] = {"\"/containers/json\"", NULL};
	struct fake_capture cap;
	struct meta_config cfg;
	struct meta_docker *d = NULL;
	struct attrib *a = reg_open();
	struct fake f;
	char err[512];
	uint64_t t0;

	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_start(&f, "docker_podman.json", "unix") == 0);
	cfg_init(&cfg, NULL, f.sock);
	fake_capture_start(&f, &cap);
	CHECK(meta_docker_open(&cfg, a, &d, err, sizeof(err)) == 0);
	WAIT_FOR(stats_of(d).state == META_IN_USE, 5000);
	CHECK(ip_is(a, "172.17.0.2", "docker/frontend"));
	{
		static struct attrib_workload w;
		struct attrib_ref r;

		CHECK(attrib_lookup_container(a, ID_API, &r) == 0 &&
		      attrib_get(a, r.id, &w) == 0 && !strcmp(w.runtime, "podman"));
	}
	fake_gate(&f, "bad");
	WAIT_FOR(stats_of(d).lists >= 2 && stats_of(d).state == META_IN_USE, 5000);
	CHECK(stats_of(d).malformed >= 1);
	CHECK_EQ_U(stats_of(d).lists, 2);
	CHECK_EQ_U(fake_requests(&f, list_req, NULL, NULL, 0), 2);
	CHECK(ip_is(a, "172.20.0.4", "docker/api"));
	/* A stop does not wait for the quiet event stream. */
	t0 = ew_mono_ns();
	meta_docker_close(d);
	CHECK(ew_mono_ns() - t0 < 1500ull * 1000000);
	CHECK(fake_capture_end(&cap, "(Podman Engine 4.3.1, 2 containers)"));
	fake_stop(&f);
	attrib_close(a);
}

/* meta_open: what `egresswatch run` starts.  Kubernetes off, the engine on. */
static void test_meta_open_starts_what_is_configured(void)
{
	struct meta_config cfg;
	struct meta_stats st;
	struct meta *m;
	struct attrib *a = reg_open();
	struct fake f;
	char err[512];

	CHECK(fake_mkdir(&f) == 0);
	CHECK(fake_start(&f, "docker_podman.json", "unix") == 0);
	cfg_init(&cfg, NULL, f.sock);
	CHECK((m = meta_open(&cfg, a, err, sizeof(err))) != NULL);
	if (m) {
		meta_get_stats(m, &st);
		CHECK_EQ_U(st.kube.state, META_OFF);
		CHECK_STR(st.kube.last_error, "turned off");
		WAIT_FOR((meta_get_stats(m, &st), st.runtime.state == META_IN_USE), 5000);
		CHECK_EQ_U(st.runtime.state, META_IN_USE);
		CHECK(strstr(st.runtime.endpoint, "engine.sock") != NULL);
		meta_close(m);
	}
	/* A socket named explicitly that is not there is an error. */
	cfg.docker_socket = "/nonexistent/podman.sock";
	CHECK(meta_open(&cfg, a, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/podman.sock") != NULL);
	meta_close(NULL);
	fake_stop(&f);
	attrib_close(a);
}

int main(void)
{
	RUN(test_inspect_answers_become_containers);
	RUN(test_inspect_with_a_name_the_registry_refuses);
	RUN(test_no_socket_means_not_available);
	RUN(test_list_inspect_events_and_resync);
	RUN(test_podman_and_a_malformed_event_relists);
	RUN(test_meta_open_starts_what_is_configured);
	return T_DONE();
}
