/*
 * suggest.c - `egresswatch policy suggest`: a policy that allows exactly the
 * flows that were observed, as Kubernetes NetworkPolicies or in our own
 * format, so a user can review it and go from watching to enforcing.
 *
 * Input is what the store keeps: workloads with their labels (a JSON
 * object) and flows seen from their local workload.  Each flow becomes an
 * observation (local workload, direction, protocol, service port, peer),
 * where the service port is the remote port of an egress flow and the local
 * port of an ingress one, and the peer is the remote workload when there is
 * one, else its address.  Observations are deduplicated; both sets are
 * capped (SUGGEST_MAX_*), and what did not fit is counted in the output's
 * header, never silently left out.
 *
 * Output:
 *   - Workloads are grouped by namespace and their stable labels (the
 *     labels a controller sets per pod - pod-template-hash,
 *     controller-revision-hash, statefulset pod-name, ... - are left out,
 *     so the replicas of one Deployment or StatefulSet share one selector).
 *     A workload without stable labels is selected by name in our format;
 *     a NetworkPolicy cannot select a pod by name, so it is listed in a
 *     comment and left out of that format (and so are plain containers).
 *   - Peers: a remote workload by its namespace and stable labels (our
 *     format falls back to its name; NetworkPolicy to its address), any
 *     other address as a /32 or /128.  More than SUGGEST_MAX_PEERS_PER_PORT
 *     distinct client addresses on one served port widen that port's
 *     ingress rule to any address (a public service); egress is never
 *     widened.
 *   - Every workload with egress rules also gets DNS to kube-dns
 *     (kube-system, k8s-app=kube-dns, udp/53 and tcp/53).
 *   - Protocols without ports (ICMP) are `icmp` in our format; a
 *     NetworkPolicy cannot name them, so their peer gets a rule without
 *     ports (every port), said so in a comment.
 *   - Each rule says how many flows it covers and how many of them had the
 *     verdict alert: the output allows what was observed, including what
 *     should not have happened, and a person has to read it.
 *
 * Every string is written as a JSON string literal, which is also a valid
 * YAML double-quoted scalar, so no label value can break the YAML.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy.h"
#include "util.h"

#define LABELS_MAX 64
#define LABEL_TEXT_MAX 1024

struct sg_label {
	char *k, *v;
};

struct sg_wl {
	char *ns, *name;
	struct sg_label *labels;	/* stable labels, sorted by key */
	uint32_t n_labels;
	uint32_t group;			/* while writing */
	uint8_t local;			/* has flows as the local side */
};

enum { PEER_WL = 1, PEER_IP = 2, PEER_ANY = 3, PEER_DNS = 4 };

struct sg_obs {
	uint32_t wl;
	uint8_t dir, proto, peer_kind;
	uint16_t port;
	uint32_t peer_wl;
	uint8_t ip[16];
	uint64_t flows, alerts;
};

/* open addressing over indices + 1 (0 = empty) */
struct imap {
	uint32_t *slot;
	uint32_t cap;			/* power of two */
	uint32_t n;
};

struct suggest {
	struct sg_wl *wl;
	uint32_t n_wl, cap_wl;
	struct imap wl_map;
	struct sg_obs *obs;
	uint32_t n_obs, cap_obs;
	struct imap obs_map;
	uint64_t flows, alert_flows, first_ns, last_ns;
	uint64_t dropped_workloads, dropped_peers, bad_labels, dropped_labels;
};

static const uint8_t zero_key[16];

/* ---- small maps ---------------------------------------------------------- */

static int imap_grow(struct imap *m, uint32_t (*hash)(const void *ctx, uint32_t idx),
		     const void *ctx)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 256, *ns;

	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		uint32_t v = m->slot[i], j;
		if (!v)
			continue;
		for (j = hash(ctx, v - 1) & (ncap - 1); ns[j]; j = (j + 1) & (ncap - 1))
			;
		ns[j] = v;
	}
	free(m->slot);
	m->slot = ns;
	m->cap = ncap;
	return 0;
}

static uint32_t wl_hash_str(const char *ns, const char *name)
{
	char buf[POLICY_WORKLOAD_MAX + 2];
	int n = snprintf(buf, sizeof(buf), "%s/%s", ns, name);

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	return (uint32_t)ew_siphash(zero_key, buf, (size_t)n);
}

static uint32_t wl_hash(const void *ctx, uint32_t idx)
{
	const struct suggest *s = ctx;

	return wl_hash_str(s->wl[idx].ns, s->wl[idx].name);
}

struct obs_key {
	uint32_t wl, peer_wl;
	uint8_t dir, proto, peer_kind, pad;
	uint16_t port;
	uint8_t ip[16];
};

static void obs_key_of(const struct sg_obs *o, struct obs_key *k)
{
	memset(k, 0, sizeof(*k));
	k->wl = o->wl;
	k->peer_wl = o->peer_wl;
	k->dir = o->dir;
	k->proto = o->proto;
	k->peer_kind = o->peer_kind;
	k->port = o->port;
	memcpy(k->ip, o->ip, 16);
}

static uint32_t obs_hash(const void *ctx, uint32_t idx)
{
	const struct suggest *s = ctx;
	struct obs_key k;

	obs_key_of(&s->obs[idx], &k);
	return (uint32_t)ew_siphash(zero_key, &k, sizeof(k));
}

/* ---- lifetime -------------------------------------------------------------- */

struct suggest *suggest_new(void)
{
	return calloc(1, sizeof(struct suggest));
}

void suggest_free(struct suggest *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->n_wl; i++) {
		for (uint32_t j = 0; j < s->wl[i].n_labels; j++) {
			free(s->wl[i].labels[j].k);
			free(s->wl[i].labels[j].v);
		}
		free(s->wl[i].labels);
		free(s->wl[i].ns);
		free(s->wl[i].name);
	}
	free(s->wl);
	free(s->wl_map.slot);
	free(s->obs);
	free(s->obs_map.slot);
	free(s);
}

/* ---- workloads ---------------------------------------------------------------- */

static int find_wl(const struct suggest *s, const char *ns, const char *name)
{
	uint32_t j;

	if (!s->wl_map.cap)
		return -1;
	for (j = wl_hash_str(ns, name) & (s->wl_map.cap - 1); s->wl_map.slot[j];
	     j = (j + 1) & (s->wl_map.cap - 1)) {
		const struct sg_wl *w = &s->wl[s->wl_map.slot[j] - 1];
		if (strcmp(w->ns, ns) == 0 && strcmp(w->name, name) == 0)
			return (int)(s->wl_map.slot[j] - 1);
	}
	return -1;
}

/* Index of (ns, name), added without labels when new; -errno. */
static int get_wl(struct suggest *s, const char *ns, const char *name)
{
	int i = find_wl(s, ns, name);
	struct sg_wl *w;
	uint32_t j;

	if (i >= 0)
		return i;
	if (s->n_wl >= SUGGEST_MAX_WORKLOADS) {
		s->dropped_workloads++;
		return -ENOSPC;
	}
	if (s->n_wl == s->cap_wl) {
		uint32_t nc = s->cap_wl ? s->cap_wl * 2 : 64;
		struct sg_wl *nw = realloc(s->wl, nc * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		s->wl = nw;
		s->cap_wl = nc;
	}
	if ((s->wl_map.n + 1) * 2 > s->wl_map.cap &&
	    imap_grow(&s->wl_map, wl_hash, s))
		return -ENOMEM;
	w = &s->wl[s->n_wl];
	memset(w, 0, sizeof(*w));
	w->ns = strdup(ns);
	w->name = strdup(name);
	if (!w->ns || !w->name) {
		free(w->ns);
		free(w->name);
		return -ENOMEM;
	}
	for (j = wl_hash_str(ns, name) & (s->wl_map.cap - 1); s->wl_map.slot[j];
	     j = (j + 1) & (s->wl_map.cap - 1))
		;
	s->wl_map.slot[j] = ++s->n_wl;
	s->wl_map.n++;
	return (int)(s->n_wl - 1);
}

/* Labels a controller sets differently on every pod (or every rollout). */
static int unstable_label(const char *k)
{
	static const char *const keys[] = {
		"pod-template-hash", "controller-revision-hash",
		"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
		"pod-template-generation", "controller-uid",
		"batch.kubernetes.io/controller-uid",
	};

	for (size_t i = 0; i < EW_ARRAY_LEN(keys); i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

/* Kubernetes label syntax (what selectors accept): a value is empty or at
 * most 63 of [A-Za-z0-9._-] with alphanumerics at both ends; a key is such
 * a name, optionally after a DNS-subdomain prefix and '/'. */
static int alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int label_name_ok(const char *v, size_t n, int empty_ok)
{
	if (n == 0)
		return empty_ok;
	if (n > 63 || !alnum(v[0]) || !alnum(v[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!alnum(v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
			return 0;
	return 1;
}

static int label_ok(const char *k, const char *v)
{
	const char *slash = strrchr(k, '/');

	if (slash) {
		size_t pn = (size_t)(slash - k);
		if (pn == 0 || pn > 253)
			return 0;
		for (size_t i = 0; i < pn; i++)
			if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') ||
			      k[i] == '-' || k[i] == '.'))
				return 0;
		k = slash + 1;
	}
	return label_name_ok(k, strlen(k), 0) && label_name_ok(v, strlen(v), 1);
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sg_label *)a)->k, ((const struct sg_label *)b)->k);
}

/* {"k": "v", ...}: string values only, LABELS_MAX at most.  Labels that
 * are not valid Kubernetes labels (Docker's may be anything) are left out
 * and counted in *dropped: a selector without them is wider, never
 * narrower, than the workload. */
static int parse_labels(const char *json, struct sg_label **out, uint32_t *n_out,
			uint64_t *dropped)
{
	struct sg_label *l = NULL;
	uint32_t n = 0;
	json_t *root, *jv;
	const char *k, *v;

	*out = NULL;
	*n_out = 0;
	root = json_loads(json, 0, NULL);
	if (!json_is_object(root))
		goto bad;
	if (json_object_size(root) == 0) {
		json_decref(root);
		return 0;
	}
	l = calloc(LABELS_MAX, sizeof(*l));
	if (!l)
		goto bad;
	json_object_foreach(root, k, jv) {
		if (!json_is_string(jv) || n == LABELS_MAX ||
		    strlen(k) >= LABEL_TEXT_MAX ||
		    json_string_length(jv) >= LABEL_TEXT_MAX)
			goto bad;
		v = json_string_value(jv);
		if (!label_ok(k, v)) {
			(*dropped)++;
		} else if (!unstable_label(k)) {
			l[n].k = strdup(k);
			l[n].v = strdup(v);
			if (!l[n].k || !l[n].v) {
				free(l[n].k);
				free(l[n].v);
				goto bad;
			}
			n++;
		}
	}
	json_decref(root);
	if (n)
		qsort(l, n, sizeof(*l), label_cmp);
	*out = l;
	*n_out = n;
	return 0;
bad:
	json_decref(root);
	for (uint32_t i = 0; i < n; i++) {
		free(l[i].k);
		free(l[i].v);
	}
	free(l);
	return -EINVAL;
}

int suggest_add_workload(struct suggest *s, const char *ns, const char *name,
			 const char *labels_json)
{
	int i = get_wl(s, ns ? ns : "", name ? name : "");
	struct sg_wl *w;
	int rc = 0;

	if (i < 0)
		return i;
	w = &s->wl[i];
	if (labels_json && labels_json[0] && w->n_labels == 0) {
		rc = parse_labels(labels_json, &w->labels, &w->n_labels,
				  &s->dropped_labels);
		if (rc == -EINVAL)
			s->bad_labels++;
	}
	return rc;
}

/* ---- flows ---------------------------------------------------------------------- */

static int split_wl(const char *full, char *ns, size_t nslen, const char **name)
{
	const char *slash = strchr(full, '/');
	size_t n;

	if (!slash) {			/* a plain container has no namespace */
		ns[0] = '\0';
		*name = full;
		return 0;
	}
	n = (size_t)(slash - full);
	if (n >= nslen)
		return -EINVAL;
	memcpy(ns, full, n);
	ns[n] = '\0';
	*name = slash + 1;
	return 0;
}

static int has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

int suggest_add_flow(struct suggest *s, const struct suggest_flow *f)
{
	char ns[POLICY_WORKLOAD_MAX];
	const char *name;
	struct sg_obs o, *e;
	struct obs_key k, ek;
	int wi, alert;
	uint32_t j;

	if (!f->workload || !f->workload[0] ||
	    split_wl(f->workload, ns, sizeof(ns), &name) || !name[0])
		return -EINVAL;
	wi = get_wl(s, ns, name);
	if (wi < 0)
		return wi;
	memset(&o, 0, sizeof(o));
	o.wl = (uint32_t)wi;
	o.dir = f->direction == POLICY_INGRESS ? POLICY_INGRESS : POLICY_EGRESS;
	o.proto = f->proto;
	if (has_ports(f->proto))
		o.port = o.dir == POLICY_EGRESS ? f->remote_port : f->local_port;
	if (f->remote_workload && f->remote_workload[0] &&
	    split_wl(f->remote_workload, ns, sizeof(ns), &name) == 0 && name[0]) {
		int pi = get_wl(s, ns, name);
		if (pi < 0)
			return pi;
		o.peer_kind = PEER_WL;
		o.peer_wl = (uint32_t)pi;
	} else {
		o.peer_kind = PEER_IP;
	}
	/* Kept for workload peers too: a NetworkPolicy names a pod without
	 * labels by its address. */
	memcpy(o.ip, f->remote_ip, 16);
	alert = f->verdict && strcmp(f->verdict, "alert") == 0;
	s->wl[wi].local = 1;
	s->flows++;
	s->alert_flows += (uint64_t)alert;
	if (f->start_ns && (!s->first_ns || f->start_ns < s->first_ns))
		s->first_ns = f->start_ns;
	if (f->start_ns > s->last_ns)
		s->last_ns = f->start_ns;

	obs_key_of(&o, &k);
	if (s->obs_map.cap)
		for (j = (uint32_t)ew_siphash(zero_key, &k, sizeof(k)) &
			 (s->obs_map.cap - 1);
		     s->obs_map.slot[j]; j = (j + 1) & (s->obs_map.cap - 1)) {
			e = &s->obs[s->obs_map.slot[j] - 1];
			obs_key_of(e, &ek);
			if (memcmp(&k, &ek, sizeof(k)) == 0) {
				e->flows++;
				e->alerts += (uint64_t)alert;
				return 0;
			}
		}
	if (s->n_obs >= SUGGEST_MAX_PEERS) {
		s->dropped_peers++;
		return -ENOSPC;
	}
	if (s->n_obs == s->cap_obs) {
		uint32_t nc = s->cap_obs ? s->cap_obs * 2 : 256;
		struct sg_obs *no = realloc(s->obs, nc * sizeof(*no));
		if (!no)
			return -ENOMEM;
		s->obs = no;
		s->cap_obs = nc;
	}
	if ((s->obs_map.n + 1) * 2 > s->obs_map.cap &&
	    imap_grow(&s->obs_map, obs_hash, s))
		return -ENOMEM;
	o.flows = 1;
	o.alerts = (uint64_t)alert;
	s->obs[s->n_obs] = o;
	for (j = (uint32_t)ew_siphash(zero_key, &k, sizeof(k)) & (s->obs_map.cap - 1);
	     s->obs_map.slot[j]; j = (j + 1) & (s->obs_map.cap - 1))
		;
	s->obs_map.slot[j] = ++s->n_obs;
	s->obs_map.n++;
	return 0;
}

/* ---- writing ---------------------------------------------------------------------- */

struct group {
	uint32_t first_wl;		/* selector comes from this workload */
	char *key;			/* namespace and selector, for grouping */
	char *base;			/* name part for the output */
	int byname;			/* no stable labels: select by name */
	uint32_t members;
};

/* One (group, direction, peer) with its ports, while writing. */
struct port {
	uint8_t proto;
	uint16_t port;
};
struct rulepeer {
	uint32_t group;
	uint8_t dir, kind;
	uint32_t peer_wl;		/* PEER_WL */
	uint8_t ip[16];			/* PEER_IP */
	struct port *ports;
	uint32_t n_ports, cap_ports;
	uint64_t flows, alerts;
	char *pkey;			/* peer identity for sorting/merging */
	char *portsig;			/* ports, for merging rules */
};

struct writer {
	struct suggest *s;
	struct group *g;
	uint32_t n_g;
	struct rulepeer *rp;
	uint32_t n_rp, cap_rp;
	struct imap rp_map;		/* (group, dir, pkey) -> rp */
	enum suggest_format fmt;
	struct ew_buf *out;
	uint64_t widened;
};

static char *sel_key(const struct sg_wl *w)
{
	struct ew_buf b;
	char *r;

	ew_buf_init(&b, 1u << 20);
	ew_buf_printf(&b, "%s\x01", w->ns);
	if (!w->n_labels)
		ew_buf_printf(&b, "\x02%s", w->name);
	for (uint32_t i = 0; i < w->n_labels; i++)
		ew_buf_printf(&b, "%s=%s\x03", w->labels[i].k, w->labels[i].v);
	if (b.toobig || !b.data) {
		ew_buf_free(&b);
		return NULL;
	}
	r = b.data;			/* ownership moves to the caller */
	return r;
}

/* The output name of a group: its app label, else the workload's name
 * (without a StatefulSet ordinal). */
static char *group_base(const struct sg_wl *w)
{
	static const char *const prefer[] = {
		"app.kubernetes.io/name", "app", "k8s-app", "name", "component",
	};

	for (size_t p = 0; p < EW_ARRAY_LEN(prefer); p++)
		for (uint32_t i = 0; i < w->n_labels; i++)
			if (strcmp(w->labels[i].k, prefer[p]) == 0 && w->labels[i].v[0])
				return strdup(w->labels[i].v);
	return strdup(w->name);
}

struct keyed {
	char *key;
	uint32_t wl;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->wl < y->wl ? -1 : x->wl > y->wl);
}

/* Local workloads (of `namespace`) grouped by selector, in selector order. */
static int build_groups(struct writer *wr, const char *namespace)
{
	struct suggest *s = wr->s;
	struct keyed *k;
	uint32_t n = 0, i;
	int rc = 0;

	k = calloc(s->n_wl ? s->n_wl : 1, sizeof(*k));
	wr->g = calloc(s->n_wl ? s->n_wl : 1, sizeof(*wr->g));
	if (!k || !wr->g) {
		free(k);
		return -ENOMEM;
	}
	for (i = 0; i < s->n_wl; i++) {
		struct sg_wl *w = &s->wl[i];

		w->group = UINT32_MAX;
		if (!w->local || (namespace && strcmp(w->ns, namespace) != 0))
			continue;
		if (!(k[n].key = sel_key(w))) {
			rc = -ENOMEM;
			goto done;
		}
		k[n++].wl = i;
	}
	if (n)
		qsort(k, n, sizeof(*k), keyed_cmp);
	for (i = 0; i < n; i++) {
		struct group *g;

		if (!wr->n_g || strcmp(k[i].key, wr->g[wr->n_g - 1].key) != 0) {
			g = &wr->g[wr->n_g++];
			g->key = k[i].key;
			k[i].key = NULL;
			g->first_wl = k[i].wl;
			g->byname = s->wl[k[i].wl].n_labels == 0;
			if (!(g->base = group_base(&s->wl[k[i].wl]))) {
				rc = -ENOMEM;
				goto done;
			}
		}
		g = &wr->g[wr->n_g - 1];
		g->members++;
		s->wl[k[i].wl].group = wr->n_g - 1;
	}
done:
	for (i = 0; i < n; i++)
		free(k[i].key);
	free(k);
	return rc;
}

static char *peer_key(const struct writer *wr, uint8_t kind, uint32_t peer_wl,
		      const uint8_t ip[16])
{
	char a[EW_IPSTR_MAX + 4];

	switch (kind) {
	case PEER_WL: {
		char *k = sel_key(&wr->s->wl[peer_wl]);
		char *r;
		if (!k)
			return NULL;
		r = malloc(strlen(k) + 3);
		if (r)
			sprintf(r, "w:%s", k);
		free(k);
		return r;
	}
	case PEER_IP:
		ew_ip_to_str(ip, a);
		/* v4 before v6, and in address order within each */
		{
			char *r = malloc(64);
			if (!r)
				return NULL;
			snprintf(r, 64, "c:%d:", ew_ip_is_v4(ip) ? 4 : 6);
			for (int i = 0; i < 16; i++)
				sprintf(r + strlen(r), "%02x", ip[i]);
			return r;
		}
	case PEER_ANY:
		return strdup("a:any");
	default:
		return strdup("d:kube-dns");
	}
}

static uint32_t rp_hash3(uint32_t g, uint8_t dir, const char *pkey)
{
	uint8_t key[16] = {0};

	memcpy(key, &g, 4);
	key[4] = dir;
	return (uint32_t)ew_siphash(key, pkey, strlen(pkey));
}

static uint32_t rp_hash(const void *ctx, uint32_t idx)
{
	const struct writer *wr = ctx;
	const struct rulepeer *r = &wr->rp[idx];

	return rp_hash3(r->group, r->dir, r->pkey);
}

/* The rule peer (g, dir, peer), created when new; NULL on ENOMEM.  The
 * array may move: pointers into it do not survive a call. */
static struct rulepeer *rule_peer(struct writer *wr, uint32_t g, uint8_t dir,
				  uint8_t kind, uint32_t peer_wl,
				  const uint8_t ip[16])
{
	static const uint8_t zip[16];
	char *k = peer_key(wr, kind, peer_wl, ip ? ip : zip);
	struct rulepeer *r;
	uint32_t h, j;

	if (!k)
		return NULL;
	h = rp_hash3(g, dir, k);
	for (j = wr->rp_map.cap ? h & (wr->rp_map.cap - 1) : 0;
	     wr->rp_map.cap && wr->rp_map.slot[j]; j = (j + 1) & (wr->rp_map.cap - 1)) {
		r = &wr->rp[wr->rp_map.slot[j] - 1];
		if (r->group == g && r->dir == dir && strcmp(r->pkey, k) == 0) {
			free(k);
			return r;
		}
	}
	if (wr->n_rp == wr->cap_rp) {
		uint32_t nc = wr->cap_rp ? wr->cap_rp * 2 : 64;
		struct rulepeer *n = realloc(wr->rp, nc * sizeof(*n));
		if (!n) {
			free(k);
			return NULL;
		}
		wr->rp = n;
		wr->cap_rp = nc;
	}
	if ((wr->rp_map.n + 1) * 2 > wr->rp_map.cap &&
	    imap_grow(&wr->rp_map, rp_hash, wr)) {
		free(k);
		return NULL;
	}
	r = &wr->rp[wr->n_rp];
	memset(r, 0, sizeof(*r));
	r->group = g;
	r->dir = dir;
	r->kind = kind;
	r->peer_wl = peer_wl;
	if (ip)
		memcpy(r->ip, ip, 16);
	r->pkey = k;
	for (j = h & (wr->rp_map.cap - 1); wr->rp_map.slot[j];
	     j = (j + 1) & (wr->rp_map.cap - 1))
		;
	wr->rp_map.slot[j] = ++wr->n_rp;
	wr->rp_map.n++;
	return r;
}

static int add_port(struct rulepeer *r, uint8_t proto, uint16_t port)
{
	for (uint32_t i = 0; i < r->n_ports; i++)
		if (r->ports[i].proto == proto && r->ports[i].port == port)
			return 0;
	if (r->n_ports == r->cap_ports) {
		uint32_t nc = r->cap_ports ? r->cap_ports * 2 : 4;
		struct port *n = realloc(r->ports, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->ports = n;
		r->cap_ports = nc;
	}
	r->ports[r->n_ports].proto = proto;
	r->ports[r->n_ports].port = port;
	r->n_ports++;
	return 0;
}

static void del_port(struct rulepeer *r, uint8_t proto, uint16_t port)
{
	for (uint32_t i = 0; i < r->n_ports; i++)
		if (r->ports[i].proto == proto && r->ports[i].port == port) {
			r->ports[i] = r->ports[--r->n_ports];
			return;
		}
}

static int port_cmp(const void *a, const void *b)
{
	const struct port *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

static int rp_cmp(const void *a, const void *b)
{
	const struct rulepeer *x = a, *y = b;
	int c;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if ((c = strcmp(x->portsig, y->portsig)))
		return c;
	return strcmp(x->pkey, y->pkey);
}

/* A (group, port) an ingress client address was seen on. */
struct client {
	uint32_t group, rp;
	uint8_t proto;
	uint16_t port;
};

static int client_cmp(const void *a, const void *b)
{
	const struct client *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Served ports with more than SUGGEST_MAX_PEERS_PER_PORT client
 * addresses: the port moves from every client to one "any address" peer. */
static int widen(struct writer *wr)
{
	struct client *c;
	uint32_t n = 0, i, j;

	for (i = 0; i < wr->n_rp; i++)
		if (wr->rp[i].kind == PEER_IP && wr->rp[i].dir == POLICY_INGRESS)
			n += wr->rp[i].n_ports;
	if (!n)
		return 0;
	c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < wr->n_rp; i++) {
		const struct rulepeer *r = &wr->rp[i];
		if (r->kind != PEER_IP || r->dir != POLICY_INGRESS)
			continue;
		for (uint32_t p = 0; p < r->n_ports; p++)
			c[n++] = (struct client){r->group, i, r->ports[p].proto,
						 r->ports[p].port};
	}
	qsort(c, n, sizeof(*c), client_cmp);
	for (i = 0; i < n; i = j) {
		struct rulepeer *any;
		uint32_t any_i;
		uint64_t fl = 0, al = 0;

		for (j = i; j < n && client_cmp(&c[i], &c[j]) == 0; j++)
			;
		if (j - i <= SUGGEST_MAX_PEERS_PER_PORT)
			continue;
		any = rule_peer(wr, c[i].group, POLICY_INGRESS, PEER_ANY, 0, NULL);
		if (!any) {
			free(c);
			return -ENOMEM;
		}
		any_i = (uint32_t)(any - wr->rp);
		for (uint32_t k = i; k < j; k++) {
			struct rulepeer *r = &wr->rp[c[k].rp];
			del_port(r, c[k].proto, c[k].port);
			fl += r->flows;
			al += r->alerts;
		}
		any = &wr->rp[any_i];
		if (add_port(any, c[i].proto, c[i].port)) {
			free(c);
			return -ENOMEM;
		}
		any->flows += fl;
		any->alerts += al;
		wr->widened++;
	}
	free(c);
	return 0;
}

/* Observations -> rule peers; widen busy public ports; add DNS. */
static int build_rules(struct writer *wr)
{
	struct suggest *s = wr->s;

	for (uint32_t i = 0; i < s->n_obs; i++) {
		const struct sg_obs *o = &s->obs[i];
		uint32_t g = s->wl[o->wl].group;
		uint8_t kind = o->peer_kind;
		struct rulepeer *r;

		if (g == UINT32_MAX)
			continue;
		/* A NetworkPolicy selects pods by labels only: a peer without
		 * them (or a plain container) is named by its address. */
		if (kind == PEER_WL && wr->fmt == SUGGEST_NETWORKPOLICY &&
		    (!s->wl[o->peer_wl].n_labels || !s->wl[o->peer_wl].ns[0]))
			kind = PEER_IP;
		r = rule_peer(wr, g, o->dir, kind, o->peer_wl, o->ip);
		if (!r || add_port(r, o->proto, o->port))
			return -ENOMEM;
		r->flows += o->flows;
		r->alerts += o->alerts;
	}
	if (widen(wr))
		return -ENOMEM;
	/* DNS to kube-dns for every group (egress is restricted for all). */
	for (uint32_t g = 0; g < wr->n_g; g++) {
		struct rulepeer *r = rule_peer(wr, g, POLICY_EGRESS, PEER_DNS, 0, NULL);
		if (!r || add_port(r, 17, 53) || add_port(r, 6, 53))
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < wr->n_rp; i++) {
		struct rulepeer *r = &wr->rp[i];
		struct ew_buf b;

		qsort(r->ports, r->n_ports, sizeof(*r->ports), port_cmp);
		ew_buf_init(&b, 1u << 20);
		ew_buf_puts(&b, "");
		for (uint32_t p = 0; p < r->n_ports; p++)
			ew_buf_printf(&b, "%u/%05u,", r->ports[p].proto, r->ports[p].port);
		if (!b.data || b.toobig) {
			ew_buf_free(&b);
			return -ENOMEM;
		}
		r->portsig = b.data;
	}
	/* Sorted, the map's indices are stale; it is not used after this. */
	if (wr->n_rp)
		qsort(wr->rp, wr->n_rp, sizeof(*wr->rp), rp_cmp);
	return 0;
}

/* ---- YAML -------------------------------------------------------------------------- */

static void q(struct ew_buf *b, const char *s)
{
	ew_buf_json_str(b, s);
}

static void match_labels(struct ew_buf *b, const struct sg_wl *w)
{
	ew_buf_puts(b, "{");
	for (uint32_t i = 0; i < w->n_labels; i++) {
		ew_buf_puts(b, i ? ", " : "");
		q(b, w->labels[i].k);
		ew_buf_puts(b, ": ");
		q(b, w->labels[i].v);
	}
	ew_buf_puts(b, "}");
}

static void cidr_text(const uint8_t ip[16], char *out, size_t len)
{
	char a[EW_IPSTR_MAX];

	ew_ip_to_str(ip, a);
	snprintf(out, len, "%s/%d", a, ew_ip_is_v4(ip) ? 32 : 128);
}

static void port_text(const struct port *p, char *out, size_t len)
{
	const char *pn = ew_proto_name(p->proto);
	char num[8];

	if (!pn) {
		snprintf(num, sizeof(num), "%u", p->proto);
		pn = num;
	}
	if (has_ports(p->proto))
		snprintf(out, len, "%s/%u", pn, p->port);
	else
		snprintf(out, len, "%s", pn);
}

/* "prod.redis" style names: our `name` characters only, at most 63,
 * unique (a counter is appended on a clash). */
static void entry_name(struct writer *wr, uint32_t g, char *out, size_t len)
{
	const struct sg_wl *w = &wr->s->wl[wr->g[g].first_wl];
	char raw[256];
	size_t o = 0;
	unsigned dup = 0;

	snprintf(raw, sizeof(raw), "%s%s%s", w->ns, w->ns[0] ? "." : "",
		 wr->g[g].base);
	for (const char *p = raw; *p && o < 55; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		out[o++] = ok ? c : '-';
	}
	if (!o)
		out[o++] = 'w';
	out[o] = '\0';
	/* Earlier groups with the same base name get the plain one. */
	for (uint32_t h = 0; h < g; h++) {
		const struct sg_wl *x = &wr->s->wl[wr->g[h].first_wl];
		if (strcmp(x->ns, w->ns) == 0 && strcmp(wr->g[h].base, wr->g[g].base) == 0)
			dup++;
	}
	if (dup)
		snprintf(out + o, len - o, "-%u", dup + 1);
}

/* NetworkPolicy names are DNS-1123 subdomains: lower case, digits, '-'. */
static void netpol_name(struct writer *wr, uint32_t g, char *out, size_t len)
{
	const struct sg_wl *w = &wr->s->wl[wr->g[g].first_wl];
	size_t o = (size_t)snprintf(out, len, "egresswatch-");
	unsigned dup = 0;
	int dash = 1;

	for (const char *p = wr->g[g].base; *p && o < 55; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c | 0x20);
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			out[o++] = c;
			dash = 0;
		} else if (!dash) {
			out[o++] = '-';
			dash = 1;
		}
	}
	while (o && out[o - 1] == '-')
		o--;
	out[o] = '\0';
	for (uint32_t h = 0; h < g; h++) {
		const struct sg_wl *x = &wr->s->wl[wr->g[h].first_wl];
		if (strcmp(x->ns, w->ns) == 0 && strcmp(wr->g[h].base, wr->g[g].base) == 0)
			dup++;
	}
	if (dup)
		snprintf(out + o, len - o, "-%u", dup + 1);
}

static void header(struct writer *wr, const char *fmt_name, const char *namespace)
{
	struct suggest *s = wr->s;
	struct ew_buf *b = wr->out;
	char t1[EW_TIME_STRLEN], t2[EW_TIME_STRLEN];

	ew_fmt_time(s->first_ns, t1);
	ew_fmt_time(s->last_ns, t2);
	if (s->flows)
		ew_buf_printf(b, "# Suggested by `egresswatch policy suggest` (%s) from "
			      "%llu observed flow%s\n# started between %s and %s%s%s.\n",
			      fmt_name, (unsigned long long)s->flows,
			      s->flows == 1 ? "" : "s", t1, t2,
			      namespace ? ", namespace " : "", namespace ? namespace : "");
	else
		ew_buf_printf(b, "# Suggested by `egresswatch policy suggest` (%s): no "
			      "flows of known workloads%s%s.\n", fmt_name,
			      namespace ? " in namespace " : "",
			      namespace ? namespace : "");
	ew_buf_puts(b, "# It allows exactly what was observed, plus DNS to kube-dns. "
		       "Review it before\n# enforcing: ");
	if (s->alert_flows)
		ew_buf_printf(b, "%llu of the flows had the verdict alert and are "
			      "allowed here too\n# (see the comments \"with the verdict "
			      "alert\").\n", (unsigned long long)s->alert_flows);
	else
		ew_buf_puts(b, "none of the flows had the verdict alert.\n");
	if (s->dropped_workloads || s->dropped_peers)
		ew_buf_printf(b, "# INCOMPLETE: %llu workloads and %llu observations "
			      "did not fit (limits %u and %u).\n",
			      (unsigned long long)s->dropped_workloads,
			      (unsigned long long)s->dropped_peers,
			      SUGGEST_MAX_WORKLOADS, SUGGEST_MAX_PEERS);
	if (s->bad_labels)
		ew_buf_printf(b, "# %llu workloads had labels that were not a JSON "
			      "object of strings; they are selected by name.\n",
			      (unsigned long long)s->bad_labels);
	if (s->dropped_labels)
		ew_buf_printf(b, "# %llu labels that are not valid Kubernetes labels "
			      "were left out of the selectors.\n",
			      (unsigned long long)s->dropped_labels);
	if (wr->widened)
		ew_buf_printf(b, "# %llu served port%s had more than %u client "
			      "addresses and allow%s any address.\n",
			      (unsigned long long)wr->widened,
			      wr->widened == 1 ? "" : "s", SUGGEST_MAX_PEERS_PER_PORT,
			      wr->widened == 1 ? "s" : "");
}

static void flows_comment(struct ew_buf *b, const struct rulepeer *r, size_t n,
			  const char *indent)
{
	uint64_t fl = 0, al = 0;

	for (size_t i = 0; i < n; i++) {
		fl += r[i].flows;
		al += r[i].alerts;
	}
	if (r[0].kind == PEER_DNS && n == 1 && !fl) {
		ew_buf_printf(b, "%s# DNS (added: every workload needs it)\n", indent);
		return;
	}
	ew_buf_printf(b, "%s# %llu flow%s", indent, (unsigned long long)fl,
		      fl == 1 ? "" : "s");
	if (al)
		ew_buf_printf(b, ", %llu with the verdict alert", (unsigned long long)al);
	ew_buf_puts(b, "\n");
}

/* ---- our format ---- */

static void ew_peer(struct writer *wr, const struct rulepeer *r, const char *ind)
{
	struct ew_buf *b = wr->out;
	char c[EW_IPSTR_MAX + 8];

	switch (r->kind) {
	case PEER_WL: {
		const struct sg_wl *w = &wr->s->wl[r->peer_wl];
		ew_buf_printf(b, "%s- workload: {namespace: ", ind);
		q(b, w->ns);
		if (w->n_labels) {
			ew_buf_puts(b, ", matchLabels: ");
			match_labels(b, w);
		} else {
			ew_buf_puts(b, ", name: ");
			q(b, w->name);
		}
		ew_buf_puts(b, "}\n");
		break;
	}
	case PEER_IP:
		cidr_text(r->ip, c, sizeof(c));
		ew_buf_printf(b, "%s- cidr: ", ind);
		q(b, c);
		ew_buf_puts(b, "\n");
		break;
	case PEER_ANY:
		ew_buf_printf(b, "%s- cidr: [\"0.0.0.0/0\", \"::/0\"]\n", ind);
		break;
	default:
		ew_buf_printf(b, "%s- workload: {namespace: \"kube-system\", "
			      "matchLabels: {\"k8s-app\": \"kube-dns\"}}\n", ind);
	}
}

static void write_ours(struct writer *wr)
{
	struct ew_buf *b = wr->out;
	char name[80], pt[32];

	ew_buf_puts(b, "apiVersion: egresswatch/v1\nkind: Policy\n"
		       "name: suggested\nmode: enforce\nworkloads:\n");
	if (!wr->n_g)
		ew_buf_puts(b, "  []\n");
	for (uint32_t g = 0; g < wr->n_g; g++) {
		const struct sg_wl *w = &wr->s->wl[wr->g[g].first_wl];

		entry_name(wr, g, name, sizeof(name));
		ew_buf_puts(b, "  - name: ");
		q(b, name);
		ew_buf_printf(b, "\n    description: \"%u workload%s, e.g. %s%s",
			      wr->g[g].members, wr->g[g].members == 1 ? "" : "s",
			      w->ns, w->ns[0] ? "/" : "");
		{
			/* the name, escaped, inside the quoted description */
			struct ew_buf t;
			ew_buf_init(&t, 1024);
			ew_buf_json_str(&t, w->name);
			if (t.data && t.len >= 2)
				ew_buf_append(b, t.data + 1, t.len - 2);
			ew_buf_free(&t);
		}
		ew_buf_puts(b, "\"\n    select:\n      namespace: ");
		q(b, w->ns);
		ew_buf_puts(b, "\n");
		if (wr->g[g].byname) {
			ew_buf_puts(b, "      name: ");
			q(b, w->name);
			ew_buf_puts(b, "\n");
		} else {
			ew_buf_puts(b, "      matchLabels: ");
			match_labels(b, w);
			ew_buf_puts(b, "\n");
		}
		for (uint8_t dir = 0; dir <= 1; dir++) {
			uint32_t i = 0, rules = 0;

			ew_buf_printf(b, "    %s:", dir == POLICY_EGRESS ? "egress" : "ingress");
			while (i < wr->n_rp) {
				const struct rulepeer *r = &wr->rp[i];
				uint32_t j = i;

				if (r->group != g || r->dir != dir || !r->n_ports) {
					i++;
					continue;
				}
				while (j < wr->n_rp && wr->rp[j].group == g &&
				       wr->rp[j].dir == dir &&
				       strcmp(wr->rp[j].portsig, r->portsig) == 0)
					j++;
				ew_buf_puts(b, rules ? "" : "\n");
				flows_comment(b, r, j - i, "      ");
				if (r->kind == PEER_DNS)
					ew_buf_puts(b, "      - name: dns\n        ");
				else
					ew_buf_puts(b, "      - ");
				ew_buf_puts(b, dir == POLICY_EGRESS ? "to:\n" : "from:\n");
				for (uint32_t k = i; k < j; k++)
					ew_peer(wr, &wr->rp[k], "          ");
				ew_buf_puts(b, "        ports: [");
				for (uint32_t p = 0; p < r->n_ports; p++) {
					port_text(&r->ports[p], pt, sizeof(pt));
					ew_buf_puts(b, p ? ", " : "");
					q(b, pt);
				}
				ew_buf_puts(b, "]\n");
				rules++;
				i = j;
			}
			if (!rules)
				ew_buf_printf(b, " []    # nothing %s observed\n",
					      dir == POLICY_EGRESS ? "outbound" : "inbound");
		}
	}
}

/* ---- NetworkPolicy ---- */

static void np_peer(struct writer *wr, const struct rulepeer *r, const char *ind)
{
	struct ew_buf *b = wr->out;
	char c[EW_IPSTR_MAX + 8];

	switch (r->kind) {
	case PEER_WL: {
		const struct sg_wl *w = &wr->s->wl[r->peer_wl];
		ew_buf_printf(b, "%s- namespaceSelector: {matchLabels: "
			      "{\"kubernetes.io/metadata.name\": ", ind);
		q(b, w->ns);
		ew_buf_printf(b, "}}\n%s  podSelector: {matchLabels: ", ind);
		match_labels(b, w);
		ew_buf_puts(b, "}\n");
		break;
	}
	case PEER_IP:
		cidr_text(r->ip, c, sizeof(c));
		ew_buf_printf(b, "%s- ipBlock: {cidr: ", ind);
		q(b, c);
		ew_buf_puts(b, "}\n");
		break;
	case PEER_ANY:
		ew_buf_printf(b, "%s- ipBlock: {cidr: \"0.0.0.0/0\"}\n"
			      "%s- ipBlock: {cidr: \"::/0\"}\n", ind, ind);
		break;
	default:
		ew_buf_printf(b, "%s- namespaceSelector: {matchLabels: "
			      "{\"kubernetes.io/metadata.name\": \"kube-system\"}}\n"
			      "%s  podSelector: {matchLabels: {\"k8s-app\": "
			      "\"kube-dns\"}}\n", ind, ind);
	}
}

static int np_proto(uint8_t p)
{
	return p == 6 || p == 17 || p == 132;
}

/* The ports a NetworkPolicy can name (TCP, UDP, SCTP), or for the rest a
 * comment: their rule has no ports, i.e. every port of the peer. */
static void np_ports(struct ew_buf *b, const struct rulepeer *r, int portless)
{
	if (portless) {
		ew_buf_puts(b, "      # a NetworkPolicy cannot name this protocol "
			       "(ICMP, ...): every port of this peer\n");
		return;
	}
	ew_buf_puts(b, "      ports:\n");
	for (uint32_t p = 0; p < r->n_ports; p++) {
		const struct port *pt = &r->ports[p];
		if (!np_proto(pt->proto))
			continue;
		ew_buf_printf(b, "        - {protocol: %s, port: %u}\n",
			      pt->proto == 6 ? "TCP" : pt->proto == 17 ? "UDP" : "SCTP",
			      pt->port);
	}
}

static void write_netpol(struct writer *wr)
{
	struct ew_buf *b = wr->out;
	char name[80];
	int skipped_hdr = 0, written = 0;

	for (uint32_t g = 0; g < wr->n_g; g++) {
		const struct sg_wl *w = &wr->s->wl[wr->g[g].first_wl];
		if (!wr->g[g].byname && w->ns[0])
			continue;
		if (!skipped_hdr)
			ew_buf_puts(b, "# Not selectable by a NetworkPolicy (no labels, "
				       "or not a pod), left out:\n");
		skipped_hdr = 1;
		ew_buf_printf(b, "#   %s%s%s\n", w->ns, w->ns[0] ? "/" : "", w->name);
	}
	for (uint32_t g = 0; g < wr->n_g; g++) {
		const struct sg_wl *w = &wr->s->wl[wr->g[g].first_wl];

		if (wr->g[g].byname || !w->ns[0])
			continue;
		written++;
		netpol_name(wr, g, name, sizeof(name));
		ew_buf_puts(b, "---\napiVersion: networking.k8s.io/v1\n"
			       "kind: NetworkPolicy\nmetadata:\n  name: ");
		q(b, name);
		ew_buf_puts(b, "\n  namespace: ");
		q(b, w->ns);
		ew_buf_puts(b, "\nspec:\n  podSelector:\n    matchLabels: ");
		match_labels(b, w);
		ew_buf_puts(b, "\n  policyTypes: [\"Ingress\", \"Egress\"]\n");
		for (int dir = 1; dir >= 0; dir--) {
			uint32_t rules = 0, i = 0;

			ew_buf_printf(b, "  %s:", dir == POLICY_EGRESS ? "egress" : "ingress");
			while (i < wr->n_rp) {
				const struct rulepeer *r = &wr->rp[i];
				uint32_t j = i, np = 0, pl = 0;

				if (r->group != g || r->dir != dir || !r->n_ports) {
					i++;
					continue;
				}
				while (j < wr->n_rp && wr->rp[j].group == g &&
				       wr->rp[j].dir == dir &&
				       strcmp(wr->rp[j].portsig, r->portsig) == 0)
					j++;
				for (uint32_t p = 0; p < r->n_ports; p++) {
					np += np_proto(r->ports[p].proto);
					pl += !np_proto(r->ports[p].proto);
				}
				/* Up to two rules: the nameable ports, then the rest
				 * as "every port". */
				for (int pass = 0; pass < 2; pass++) {
					if ((pass == 0 && !np) || (pass == 1 && !pl))
						continue;
					ew_buf_puts(b, rules ? "" : "\n");
					flows_comment(b, r, j - i, "    ");
					ew_buf_printf(b, "    - %s:\n",
						      dir == POLICY_EGRESS ? "to" : "from");
					for (uint32_t k = i; k < j; k++)
						np_peer(wr, &wr->rp[k], "        ");
					np_ports(b, r, pass == 1);
					rules++;
				}
				i = j;
			}
			if (!rules)
				ew_buf_printf(b, " []    # nothing %s observed\n",
					      dir == POLICY_EGRESS ? "outbound" : "inbound");
		}
	}
	/* Nothing to write is still a valid manifest: an empty list. */
	if (!written)
		ew_buf_puts(b, "apiVersion: networking.k8s.io/v1\n"
			       "kind: NetworkPolicyList\nitems: []\n");
}

static void writer_free(struct writer *wr)
{
	for (uint32_t g = 0; g < wr->n_g; g++) {
		free(wr->g[g].key);
		free(wr->g[g].base);
	}
	free(wr->g);
	for (uint32_t i = 0; i < wr->n_rp; i++) {
		free(wr->rp[i].ports);
		free(wr->rp[i].pkey);
		free(wr->rp[i].portsig);
	}
	free(wr->rp);
	free(wr->rp_map.slot);
}

int suggest_write(struct suggest *s, enum suggest_format fmt,
		  const char *namespace, struct ew_buf *out)
{
	struct writer wr = {.s = s, .out = out, .fmt = fmt};
	int rc;

	if ((rc = build_groups(&wr, namespace)) || (rc = build_rules(&wr)))
		goto done;
	header(&wr, fmt == SUGGEST_NETWORKPOLICY ? "NetworkPolicy" : "egresswatch/v1",
	       namespace);
	if (fmt == SUGGEST_NETWORKPOLICY)
		write_netpol(&wr);
	else
		write_ours(&wr);
	rc = out->toobig ? -E2BIG : 0;
done:
	writer_free(&wr);
	return rc;
}
