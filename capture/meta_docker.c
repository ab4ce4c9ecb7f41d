/*
 * meta_docker.c - the Docker or Podman Engine API as a metadata source: the
 * running containers of this host, kept current from the engine's events.
 *
 * Over the engine's unix socket (--docker-socket, else the first of
 * /var/run/docker.sock and /run/podman/podman.sock that exists), with the
 * unversioned paths both engines accept
 * (https://docs.docker.com/engine/api/):
 *
 *   GET /version                   engine name and version, for the log
 *   GET /events?filters={"type":["container","network"]}
 *                                  opened first, so nothing that happens
 *                                  while we list is missed
 *   GET /containers/json           the running containers
 *   GET /containers/{id}/json      each one's name, labels, image, State.Pid
 *                                  and NetworkSettings addresses
 *
 * all inside one attrib_sync_begin/end bracket, so that containers gone
 * while we were not listening leave the registry.  Then each event is
 * acted on: start, rename and network connect/disconnect re-inspect the
 * container; die and destroy (Podman: died, remove) withdraw it.  Event
 * lines only queue work (META_DOCKER_QUEUE entries; beyond, everything is
 * listed again), because an inspect must not run inside a stream callback.
 * A stream that ends, a line that is not JSON or too long, or a failed
 * list: everything is listed again after a back-off delay.  Only running
 * containers are asserted: a stopped one has no network namespace and its
 * addresses may already be another's.
 *
 * Workloads:
 *   - containers with io.kubernetes.pod.uid/.namespace/.name labels
 *     (Kubernetes on Docker, via dockershim or cri-dockerd) are that pod:
 *     one pod statement with every container id of the pod, the addresses
 *     of its containers (in practice the sandbox's), and the sandbox's
 *     labels less the io.kubernetes.* and annotation.* ones the kubelet
 *     adds, which are the pod's labels;
 *   - any other container is the workload <project>/<name>: the Compose
 *     project (label com.docker.compose.project) when it is a valid
 *     namespace name, else "docker"; <name> is the container's name.
 *     Containers with NetworkMode "host" get no addresses (they would be
 *     the host's).
 * The registry ranks the Kubernetes API above this source for names, so on
 * a node where both run, pods keep their API names.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "meta.h"

#define DOCKER_WORKLOAD_NS "docker"
#define EVENTS_PATH "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D"

/* A running container as last inspected. */
struct dctr {
	char id[ATTRIB_CID_LEN + 1];
	char uid[ATTRIB_UID_MAX];	/* "" unless Kubernetes-managed */
	char pns[ATTRIB_NS_MAX];
	char pname[ATTRIB_NAME_MAX];
	char ref[ATTRIB_REF_MAX];	/* plain: "namespace/name" asserted */
	uint8_t sandbox, host_network, n_ips;
	uint8_t ips[ATTRIB_MAX_IPS][16];
	struct attrib_labels *labels;	/* sandbox: the pod's labels; else NULL */
};

enum { OP_INSPECT = 1, OP_GONE };

struct dop {
	uint8_t op;
	char id[ATTRIB_CID_LEN + 1];
};

struct meta_docker {
	struct attrib *a;
	struct meta_config cfg;		/* strings not kept */
	char socket[PATH_MAX];
	char endpoint[PATH_MAX + 8];
	char runtime[ATTRIB_RUNTIME_MAX];	/* "docker" or "podman" */
	char engine[96];		/* "Docker Engine 24.0.7" */
	struct meta_http *h;
	struct meta_counters c;
	pthread_t thread;
	int started;
	uint32_t backoff;
	uint64_t sync_at;		/* monotonic: next full list not before */
	int need_sync;
	struct dctr *ctrs;
	size_t n_ctrs, cap_ctrs;
	struct dop q[META_DOCKER_QUEUE];
	size_t qn;
	int overflow;
	struct meta_xfer ev;
	int ev_active;
	struct meta_container ctr;	/* scratch */
	struct meta_pod pod;
};

/* ---- inspect -> record ------------------------------------------------------- */

static void scopy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static void add_net_ips(const json_t *o, struct meta_container *out)
{
	char ip[EW_IPSTR_MAX + 8];

	if (meta_json_copy(o, "IPAddress", ip, sizeof(ip)) == 0)
		meta_add_ip(out->ips, &out->n_ips, ATTRIB_MAX_IPS, ip);
	if (meta_json_copy(o, "GlobalIPv6Address", ip, sizeof(ip)) == 0)
		meta_add_ip(out->ips, &out->n_ips, ATTRIB_MAX_IPS, ip);
}

int meta_docker_from_json(const json_t *j, const char *runtime,
			  struct meta_container *out, char *err, size_t errlen)
{
	const json_t *cfg = meta_json_obj(j, "Config");
	const json_t *state = meta_json_obj(j, "State");
	const json_t *host = meta_json_obj(j, "HostConfig");
	const json_t *net = meta_json_obj(j, "NetworkSettings");
	const char *key, *project, *v;
	char raw[ATTRIB_NAME_MAX + 1], mode[64] = "";
	json_t *n;

	memset(out, 0, sizeof(*out));
	if (meta_json_copy(j, "Id", out->id, sizeof(out->id)) < 0 ||
	    !attrib_cid_valid(out->id, strlen(out->id))) {
		snprintf(err, errlen, "container without a valid Id");
		return -EINVAL;
	}
	/* The registry's rule for names (attrib_name_valid): a name it would
	 * refuse is refused here, where the error names the container. */
	if (meta_json_copy(j, "Name", raw, sizeof(raw)) < 0 ||
	    !attrib_name_valid(raw + (raw[0] == '/'))) {
		snprintf(err, errlen, "container %.12s without a valid Name", out->id);
		return -EINVAL;
	}
	scopy(out->name, sizeof(out->name), raw + (raw[0] == '/'));
	scopy(out->runtime, sizeof(out->runtime), runtime);
	meta_json_copy(cfg, "Image", out->image, sizeof(out->image));
	meta_json_labels(meta_json_obj(cfg, "Labels"), &out->labels);
	out->running = (uint8_t)meta_json_true(state, "Running");
	{
		long long pid = meta_json_int(state, "Pid", 0);

		out->pid = pid > 0 && pid <= INT32_MAX ? (int32_t)pid : 0;
	}
	meta_json_copy(host, "NetworkMode", mode, sizeof(mode));
	out->host_network = !strcmp(mode, "host");
	if (!out->host_network) {
		add_net_ips(net, out);
		json_object_foreach((json_t *)meta_json_obj(net, "Networks"), key, n)
			add_net_ips(n, out);
	}

	/* Kubernetes on Docker: the kubelet's labels name the pod. */
	if ((v = attrib_labels_get(&out->labels, "io.kubernetes.pod.uid")) &&
	    attrib_uid_valid(v, strlen(v))) {
		const char *pns = attrib_labels_get(&out->labels, "io.kubernetes.pod.namespace");
		const char *pn = attrib_labels_get(&out->labels, "io.kubernetes.pod.name");
		const char *type = attrib_labels_get(&out->labels, "io.kubernetes.docker.type");

		if (pns && pn && attrib_namespace_valid(pns) && attrib_name_valid(pn)) {
			scopy(out->pod_uid, sizeof(out->pod_uid), v);
			scopy(out->pod_namespace, sizeof(out->pod_namespace), pns);
			scopy(out->pod_name, sizeof(out->pod_name), pn);
			out->sandbox = type && !strcmp(type, "podsandbox");
		}
	}
	project = attrib_labels_get(&out->labels, "com.docker.compose.project");
	scopy(out->namespace, sizeof(out->namespace),
	      project && attrib_namespace_valid(project) ? project : DOCKER_WORKLOAD_NS);
	return 0;
}

/* ---- the source ----------------------------------------------------------------- */

static void observe(struct meta_docker *d, int kind, int applied,
		    const struct meta_container *c, const struct meta_pod *p)
{
	struct meta_event ev = {
		.kind = (uint8_t)kind,
		.source = ATTRIB_SRC_RUNTIME,
		.applied = applied,
		.container = c,
		.pod = p,
	};

	if (d->cfg.observe)
		d->cfg.observe(d->cfg.observe_ctx, &ev);
}

static void set_state(struct meta_docker *d, int state, const char *why)
{
	int prev;

	pthread_mutex_lock(&d->c.mu);
	prev = d->c.s.state;
	d->c.s.state = (uint8_t)state;
	d->c.s.objects = d->n_ctrs;
	pthread_mutex_unlock(&d->c.mu);
	if (state == META_IN_USE && prev != META_IN_USE)
		log_info("metadata: %s API %s: in use (%s, %zu containers)",
			 d->runtime, d->endpoint, d->engine, d->n_ctrs);
	else if (state == META_FAILING && prev != META_FAILING)
		log_warnx("metadata: %s API %s: failing (%s); retrying with back-off",
			  d->runtime, d->endpoint, why);
	else if (state == META_FAILING)
		log_debug("metadata: %s API %s: %s", d->runtime, d->endpoint, why);
}

static void failing(struct meta_docker *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void failing(struct meta_docker *d, const char *fmt, ...)
{
	char why[META_ERR_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	d->backoff = meta_backoff_next(d->backoff, d->cfg.backoff_min_ms,
				       d->cfg.backoff_max_ms);
	d->need_sync = 1;
	d->sync_at = ew_mono_ns() + (uint64_t)d->backoff * 1000000;
	set_state(d, META_FAILING, why);
}

static struct dctr *ctr_find(struct meta_docker *d, const char *id)
{
	for (size_t i = 0; i < d->n_ctrs; i++)
		if (!strcmp(d->ctrs[i].id, id))
			return &d->ctrs[i];
	return NULL;
}

static void ctr_del(struct meta_docker *d, struct dctr *c)
{
	free(c->labels);
	*c = d->ctrs[--d->n_ctrs];
	d->ctrs[d->n_ctrs].labels = NULL;
}

static void ctrs_clear(struct meta_docker *d)
{
	for (size_t i = 0; i < d->n_ctrs; i++)
		free(d->ctrs[i].labels);
	d->n_ctrs = 0;
}

/* The kubelet's own labels on a sandbox are not the pod's. */
static int kubelet_label(const char *key)
{
	return !strncmp(key, "io.kubernetes.", 14) || !strncmp(key, "annotation.", 11);
}

/* Re-derive pod `uid`'s statement from its containers in the table. */
static void pod_apply(struct meta_docker *d, const char *uid, const char *pns,
		      const char *pname)
{
	struct meta_pod *p = &d->pod;
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	const char *cids[ATTRIB_MAX_CONTAINERS];
	const struct attrib_labels *src = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	scopy(p->uid, sizeof(p->uid), uid);
	scopy(p->namespace, sizeof(p->namespace), pns);
	scopy(p->name, sizeof(p->name), pname);
	scopy(p->runtime, sizeof(p->runtime), d->runtime);
	scopy(p->phase, sizeof(p->phase), "Running");
	for (size_t i = 0; i < d->n_ctrs; i++) {
		const struct dctr *c = &d->ctrs[i];

		if (strcmp(c->uid, uid))
			continue;
		if (p->n_containers < ATTRIB_MAX_CONTAINERS) {
			cids[p->n_containers] = c->id;
			memcpy(p->containers[p->n_containers++], c->id, sizeof(c->id));
		} else if (p->dropped < UINT8_MAX) {
			p->dropped++;
		}
		if (c->sandbox) {
			src = c->labels;
			p->host_network = c->host_network;
		}
		for (size_t k = 0; k < c->n_ips; k++) {
			char t[EW_IPSTR_MAX];

			ew_ip_to_str(c->ips[k], t);
			if (meta_add_ip(p->ips, &p->n_ips, ATTRIB_MAX_IPS, t) < 0 &&
			    p->dropped < UINT8_MAX)
				p->dropped++;
		}
	}
	if (!p->n_containers) {
		rc = attrib_remove_pod(d->a, ATTRIB_SRC_RUNTIME, uid);
		observe(d, META_EV_POD_GONE, rc, NULL, p);
		return;
	}
	if (p->host_network)
		p->n_ips = 0;
	if (src)
		for (size_t i = 0; i < src->n; i++)
			if (!kubelet_label(attrib_label_key(src, i)))
				attrib_labels_add(&p->labels, attrib_label_key(src, i),
						  attrib_label_value(src, i));
	struct attrib_pod_meta m = {
		.uid = p->uid,
		.namespace = p->namespace,
		.name = p->name,
		.labels = kv,
		.n_labels = meta_labels_kv(&p->labels, kv, EW_ARRAY_LEN(kv)),
		.ips = (const uint8_t (*)[16])p->ips,
		.n_ips = p->n_ips,
		.container_ids = cids,
		.n_container_ids = p->n_containers,
		.runtime = p->runtime,
	};
	rc = attrib_set_pod(d->a, ATTRIB_SRC_RUNTIME, &m);
	if (rc < 0) {
		META_COUNT(&d->c, rejected, 1);
		log_debug("metadata: %s API: pod %s/%s not applied: %s", d->runtime,
			  p->namespace, p->name, strerror(-rc));
	}
	observe(d, META_EV_POD, rc, NULL, p);
}

/* The container `id` is no longer running. */
static void ctr_gone(struct meta_docker *d, const char *id)
{
	struct dctr *c = ctr_find(d, id);
	struct meta_container gone;
	int rc;

	memset(&gone, 0, sizeof(gone));
	scopy(gone.id, sizeof(gone.id), id);
	scopy(gone.runtime, sizeof(gone.runtime), d->runtime);
	if (c && c->uid[0]) {
		char uid[ATTRIB_UID_MAX], pns[ATTRIB_NS_MAX], pname[ATTRIB_NAME_MAX];

		memcpy(uid, c->uid, sizeof(uid));
		memcpy(pns, c->pns, sizeof(pns));
		memcpy(pname, c->pname, sizeof(pname));
		ctr_del(d, c);
		observe(d, META_EV_CONTAINER_GONE, 0, &gone, NULL);
		pod_apply(d, uid, pns, pname);
		return;
	}
	if (c)
		ctr_del(d, c);
	rc = attrib_remove_container(d->a, ATTRIB_SRC_RUNTIME, id);
	observe(d, META_EV_CONTAINER_GONE, rc, &gone, NULL);
}

/* Record and apply one inspected, running container. */
static void ctr_apply(struct meta_docker *d, const struct meta_container *m)
{
	struct attrib_kv kv[ATTRIB_MAX_LABELS];
	struct dctr *c = ctr_find(d, m->id);
	char ref[ATTRIB_REF_MAX];
	int rc;

	snprintf(ref, sizeof(ref), "%s/%s", m->namespace, m->name);
	/* The registry takes a new name from the same source for a new
	 * workload: a renamed container's old statement goes first. */
	if (c && !m->pod_uid[0] && c->ref[0] && strcmp(c->ref, ref) != 0)
		attrib_remove_container(d->a, ATTRIB_SRC_RUNTIME, m->id);
	if (!c) {
		if (d->n_ctrs >= META_DOCKER_MAX_CONTAINERS) {
			META_COUNT(&d->c, rejected, 1);
			return;
		}
		if (d->n_ctrs == d->cap_ctrs) {
			size_t cap = d->cap_ctrs ? d->cap_ctrs * 2 : 64;
			void *p = realloc(d->ctrs, cap * sizeof(*d->ctrs));

			if (!p) {
				META_COUNT(&d->c, rejected, 1);
				return;
			}
			d->ctrs = p;
			d->cap_ctrs = cap;
		}
		c = &d->ctrs[d->n_ctrs++];
		memset(c, 0, sizeof(*c));
	}
	free(c->labels);
	memset(c, 0, sizeof(*c));
	memcpy(c->id, m->id, sizeof(c->id));
	memcpy(c->uid, m->pod_uid, sizeof(c->uid));
	memcpy(c->pns, m->pod_namespace, sizeof(c->pns));
	memcpy(c->pname, m->pod_name, sizeof(c->pname));
	if (!m->pod_uid[0])
		memcpy(c->ref, ref, sizeof(ref));
	c->sandbox = m->sandbox;
	c->host_network = m->host_network;
	c->n_ips = m->n_ips;
	memcpy(c->ips, m->ips, sizeof(c->ips));
	if (m->pod_uid[0] && m->sandbox && (c->labels = malloc(sizeof(*c->labels))))
		*c->labels = m->labels;

	if (m->pod_uid[0]) {
		observe(d, META_EV_CONTAINER, 0, m, NULL);
		pod_apply(d, m->pod_uid, m->pod_namespace, m->pod_name);
		return;
	}
	struct attrib_container_meta cm = {
		.id = m->id,
		.name = m->name,
		.namespace = m->namespace,
		.runtime = m->runtime,
		.labels = kv,
		.n_labels = meta_labels_kv(&m->labels, kv, EW_ARRAY_LEN(kv)),
		.ips = (const uint8_t (*)[16])m->ips,
		.n_ips = m->n_ips,
	};
	rc = attrib_set_container(d->a, ATTRIB_SRC_RUNTIME, &cm);
	if (rc < 0) {
		META_COUNT(&d->c, rejected, 1);
		log_debug("metadata: %s API: container %s (%.12s) not applied: %s",
			  d->runtime, m->name, m->id, strerror(-rc));
	}
	observe(d, META_EV_CONTAINER, rc, m, NULL);
}

/*
 * GET `path` into `x` and parse it.  0 with *out set; 1 for a 404 (x->status
 * says); -ECANCELED; -EBADMSG for an answer that is not JSON and -EFBIG for
 * one over the cap (counted, the caller decides); or another -errno,
 * counted and reported with failing().
 */
static int get_json(struct meta_docker *d, struct meta_xfer *x, const char *path,
		    size_t max, json_t **out)
{
	char err[200];
	int rc;

	*out = NULL;
	rc = meta_http_get(d->h, x, path, max, d->cfg.request_timeout_ms);
	meta_count_xfer(&d->c, x);
	if (rc == -ECANCELED || rc == -EFBIG)
		return rc;
	if (rc < 0) {
		failing(d, "GET %s: %s", path, x->error);
		return rc;
	}
	if (x->status == 404)
		return 1;
	if (x->status < 200 || x->status > 299) {
		meta_body_message(&x->body, err, sizeof(err));
		failing(d, "GET %s: HTTP %ld%s%s", path, x->status, err[0] ? ": " : "", err);
		return -EIO;
	}
	if ((rc = meta_json_parse(x->body.data, x->body.len, out, err, sizeof(err))) < 0) {
		META_COUNT(&d->c, malformed, 1);
		meta_count_error(&d->c, "GET %s: malformed answer: %s", path, err);
		return -EBADMSG;
	}
	return 0;
}

/* get_json for what a sync cannot do without: any failure fails it. */
static int get_json_sync(struct meta_docker *d, struct meta_xfer *x,
			 const char *path, size_t max, json_t **out)
{
	int rc = get_json(d, x, path, max, out);

	if (rc == 1 || rc == -EBADMSG || rc == -EFBIG) {
		failing(d, "GET %s: %s", path, rc == 1 ? "404 Not Found" :
			rc == -EFBIG ? x->error : "malformed answer");
		return -EIO;
	}
	return rc;
}

/* Inspect `id` and apply what it says.  0, or -errno when the engine could
 * not answer (then everything is listed again later).  An answer that is
 * not JSON, too large or not a container is counted and skipped: one odd
 * container must not keep all the others from being listed. */
static int inspect(struct meta_docker *d, const char *id)
{
	char path[128], err[160];
	struct meta_xfer x;
	json_t *j;
	int rc;

	memset(&x, 0, sizeof(x));
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	rc = get_json(d, &x, path, d->cfg.max_object_bytes, &j);
	meta_xfer_free(&x);
	if (rc == 1) {
		ctr_gone(d, id);
		return 0;
	}
	if (rc == -EBADMSG || rc == -EFBIG)
		return 0;
	if (rc < 0)
		return rc;
	if (meta_docker_from_json(j, d->runtime, &d->ctr, err, sizeof(err)) < 0 ||
	    strcmp(d->ctr.id, id) != 0) {
		META_COUNT(&d->c, malformed, 1);
		meta_count_error(&d->c, "inspect %.12s: %s", id, err);
		json_decref(j);
		return 0;
	}
	json_decref(j);
	if (d->ctr.running)
		ctr_apply(d, &d->ctr);
	else
		ctr_gone(d, id);
	return 0;
}

/* ---- events ---------------------------------------------------------------------- */

static void enqueue(struct meta_docker *d, int op, const char *id)
{
	for (size_t i = 0; i < d->qn; i++)
		if (d->q[i].op == op && !strcmp(d->q[i].id, id))
			return;
	if (d->qn >= META_DOCKER_QUEUE) {
		d->overflow = 1;
		return;
	}
	d->q[d->qn].op = (uint8_t)op;
	scopy(d->q[d->qn].id, sizeof(d->q[d->qn].id), id);
	d->qn++;
}

static int on_event_line(void *ctx, char *line, size_t len)
{
	struct meta_docker *d = ctx;
	char type[32], action[64], id[ATTRIB_CID_LEN + 1], err[200];
	const json_t *actor;
	json_t *j;
	int op = 0;

	if (meta_json_parse(line, len, &j, err, sizeof(err)) < 0) {
		META_COUNT(&d->c, malformed, 1);
		snprintf(d->ev.error, sizeof(d->ev.error), "malformed event: %s", err);
		return -EBADMSG;
	}
	actor = meta_json_obj(j, "Actor");
	if (meta_json_copy(j, "Type", type, sizeof(type)) < 0 ||
	    meta_json_copy(j, "Action", action, sizeof(action)) == -EINVAL || !actor) {
		json_decref(j);
		META_COUNT(&d->c, malformed, 1);
		snprintf(d->ev.error, sizeof(d->ev.error),
			 "malformed event: no Type, Action or Actor");
		return -EBADMSG;
	}
	id[0] = '\0';
	if (!strcmp(type, "container")) {
		meta_json_copy(actor, "ID", id, sizeof(id));
		if (!strcmp(action, "start") || !strcmp(action, "rename") ||
		    !strcmp(action, "unpause"))
			op = OP_INSPECT;
		else if (!strcmp(action, "die") || !strcmp(action, "died") ||
			 !strcmp(action, "destroy") || !strcmp(action, "remove"))
			op = OP_GONE;
	} else if (!strcmp(type, "network") &&
		   (!strcmp(action, "connect") || !strcmp(action, "disconnect"))) {
		meta_json_copy(meta_json_obj(actor, "Attributes"), "container", id,
			       sizeof(id));
		op = OP_INSPECT;
	}
	json_decref(j);
	if (op && attrib_cid_valid(id, strlen(id))) {
		enqueue(d, op, id);
		META_COUNT(&d->c, events, 1);
		meta_http_break(d->h);
	}
	return 0;
}

static int events_start(struct meta_docker *d)
{
	memset(&d->ev, 0, sizeof(d->ev));
	d->ev.on_line = on_event_line;
	d->ev.ctx = d;
	if (meta_xfer_start(d->h, &d->ev, EVENTS_PATH, d->cfg.max_object_bytes, 0) < 0) {
		meta_count_xfer(&d->c, &d->ev);
		failing(d, "events: %s", d->ev.error);
		meta_xfer_free(&d->ev);
		return -EIO;
	}
	d->ev_active = 1;
	META_COUNT(&d->c, watches, 1);
	return 0;
}

static void events_stop(struct meta_docker *d)
{
	if (d->ev_active)
		meta_xfer_free(&d->ev);
	d->ev_active = 0;
}

/* Work the queue; stops early when the engine fails. */
static int drain(struct meta_docker *d)
{
	while (d->qn && !d->need_sync) {
		struct dop op = d->q[0];
		int rc;

		memmove(d->q, d->q + 1, (d->qn - 1) * sizeof(d->q[0]));
		d->qn--;
		if (op.op == OP_GONE) {
			ctr_gone(d, op.id);
			continue;
		}
		if ((rc = inspect(d, op.id)) < 0)
			return rc;
	}
	pthread_mutex_lock(&d->c.mu);
	d->c.s.objects = d->n_ctrs;
	pthread_mutex_unlock(&d->c.mu);
	return 0;
}

static void engine_name(struct meta_docker *d, const json_t *v)
{
	char name[48] = "", ver[40] = "";
	size_t i;
	json_t *c;

	meta_json_copy(v, "Version", ver, sizeof(ver));
	json_array_foreach(meta_json_arr(v, "Components"), i, c) {
		char n[48];

		if (meta_json_copy(c, "Name", n, sizeof(n)) == 0 && strstr(n, "Podman")) {
			scopy(name, sizeof(name), n);
			meta_json_copy(c, "Version", ver, sizeof(ver));
		}
	}
	if (name[0]) {
		scopy(d->runtime, sizeof(d->runtime), "podman");
		snprintf(d->engine, sizeof(d->engine), "%s %s", name, ver);
	} else {
		scopy(d->runtime, sizeof(d->runtime), "docker");
		snprintf(d->engine, sizeof(d->engine), "Docker Engine %s", ver);
	}
}

/* Version, events stream, list, inspect each: one sync bracket. */
static int sync_all(struct meta_docker *d)
{
	struct meta_xfer x;
	json_t *j, *c;
	size_t i;
	int rc;

	memset(&x, 0, sizeof(x));
	events_stop(d);
	d->qn = 0;
	d->overflow = 0;
	rc = get_json_sync(d, &x, "/version", d->cfg.max_object_bytes, &j);
	meta_xfer_free(&x);
	if (rc)
		return rc;
	engine_name(d, j);
	json_decref(j);
	if ((rc = events_start(d)) < 0)
		return rc;

	rc = get_json_sync(d, &x, "/containers/json", d->cfg.max_list_bytes, &j);
	meta_xfer_free(&x);
	if (rc)
		return rc;
	if (!json_is_array(j)) {
		json_decref(j);
		META_COUNT(&d->c, malformed, 1);
		failing(d, "GET /containers/json: not a list");
		return -EBADMSG;
	}
	attrib_sync_begin(d->a, ATTRIB_SRC_RUNTIME);
	observe(d, META_EV_SYNC_BEGIN, 0, NULL, NULL);
	ctrs_clear(d);
	json_array_foreach(j, i, c) {
		char id[ATTRIB_CID_LEN + 1];

		if (meta_json_copy(c, "Id", id, sizeof(id)) < 0 ||
		    !attrib_cid_valid(id, strlen(id))) {
			META_COUNT(&d->c, malformed, 1);
			continue;
		}
		if ((rc = inspect(d, id)) < 0) {
			json_decref(j);
			return rc;
		}
	}
	json_decref(j);
	attrib_sync_end(d->a, ATTRIB_SRC_RUNTIME);
	observe(d, META_EV_SYNC_END, 0, NULL, NULL);
	META_COUNT(&d->c, lists, 1);
	/* What happened while we listed. */
	if ((rc = drain(d)) < 0)
		return rc;
	set_state(d, META_IN_USE, NULL);
	return 0;
}

static void *docker_main(void *arg)
{
	struct meta_docker *d = arg;

	meta_thread_init("ew-meta-engine");
	d->need_sync = 1;
	d->sync_at = 0;
	while (!meta_http_stopping(d->h)) {
		uint64_t now = ew_mono_ns();
		int rc;

		if (d->need_sync) {
			events_stop(d);
			if (now < d->sync_at) {
				uint32_t ms = (uint32_t)((d->sync_at - now) / 1000000 + 1);

				if (meta_http_pump(d->h, ms) < 0)
					break;
				continue;
			}
			d->need_sync = 0;
			rc = sync_all(d);
			if (rc == -ECANCELED)
				break;
			if (rc < 0) {
				d->need_sync = 1;
				continue;
			}
		}
		if ((rc = meta_http_pump(d->h, 1000)) < 0)
			break;
		/* An event stream open for backoff_max_ms is healthy: the
		 * back-off starts over (not at each list, or an engine whose
		 * stream dies at once would be listed every backoff_min_ms). */
		if (d->backoff && d->ev_active && !d->ev.done &&
		    meta_xfer_status(&d->ev) / 100 == 2 &&
		    ew_mono_ns() - d->ev.started_ns >= (uint64_t)d->cfg.backoff_max_ms * 1000000)
			d->backoff = 0;
		if (d->overflow) {
			meta_count_error(&d->c, "events: more than %d waiting: listing again",
					 META_DOCKER_QUEUE);
			d->need_sync = 1;
			d->sync_at = 0;
			continue;
		}
		if (drain(d) == -ECANCELED)
			break;
		if (d->ev_active && d->ev.done) {
			d->ev_active = 0;
			meta_count_xfer(&d->c, &d->ev);
			if (d->ev.result < 0)
				failing(d, "events: %s", d->ev.error);
			else
				failing(d, "events: stream ended (HTTP %ld)", d->ev.status);
			meta_xfer_free(&d->ev);
		}
	}
	events_stop(d);
	return NULL;
}

/* ---- open / close --------------------------------------------------------------------- */

static int is_socket(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

int meta_docker_open(const struct meta_config *cfg, struct attrib *a,
		     struct meta_docker **out, char *err, size_t errlen)
{
	struct meta_http_config hc;
	struct meta_docker *d;
	const char *path = cfg->docker_socket;
	int rc;

	*out = NULL;
	if (path && (!*path || !strcmp(path, "none"))) {
		snprintf(err, errlen, "turned off");
		return -ENOENT;
	}
	if (path && strlen(path) >= sizeof(d->socket)) {
		snprintf(err, errlen, "socket path too long");
		return -EINVAL;
	}
	if (path && !is_socket(path)) {
		snprintf(err, errlen, "not available (no socket at %s)", path);
		return -ENOENT;
	}
	if (!path) {
		if (is_socket(META_DOCKER_SOCKET))
			path = META_DOCKER_SOCKET;
		else if (is_socket(META_PODMAN_SOCKET))
			path = META_PODMAN_SOCKET;
		else {
			snprintf(err, errlen, "not available (no socket at %s or %s)",
				 META_DOCKER_SOCKET, META_PODMAN_SOCKET);
			return -ENOENT;
		}
	}
	if (!(d = calloc(1, sizeof(*d)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->a = a;
	d->cfg = *cfg;
	d->cfg.kubeconfig = d->cfg.node_name = d->cfg.sa_dir = d->cfg.docker_socket = NULL;
	scopy(d->socket, sizeof(d->socket), path);
	snprintf(d->endpoint, sizeof(d->endpoint), "unix://%s", d->socket);
	scopy(d->runtime, sizeof(d->runtime), "docker");
	scopy(d->engine, sizeof(d->engine), "engine not asked yet");
	memset(&hc, 0, sizeof(hc));
	hc.base_url = "http://localhost";
	hc.unix_socket = d->socket;
	hc.connect_timeout_ms = cfg->connect_timeout_ms;
	if (!(d->h = meta_http_open(&hc, err, errlen))) {
		free(d);
		return -ENOMEM;
	}
	meta_counters_init(&d->c, d->endpoint);
	if ((rc = -pthread_create(&d->thread, NULL, docker_main, d)) < 0) {
		snprintf(err, errlen, "thread: %s", strerror(-rc));
		meta_counters_destroy(&d->c);
		meta_http_close(d->h);
		free(d);
		return rc;
	}
	d->started = 1;
	*out = d;
	return 0;
}

void meta_docker_close(struct meta_docker *d)
{
	if (!d)
		return;
	if (d->started) {
		meta_http_stop(d->h);
		pthread_join(d->thread, NULL);
	}
	events_stop(d);
	meta_counters_destroy(&d->c);
	meta_http_close(d->h);
	ctrs_clear(d);
	free(d->ctrs);
	free(d);
}

void meta_docker_stats(struct meta_docker *d, struct meta_source_stats *out)
{
	meta_counters_get(&d->c, out);
}
